"""How good each agent desk's link is: WebSocket round-trip time and loss, measured with
heartbeats (WebSocket Ping frames, answered by every browser with a Pong, no page code).

`LinkQuality` is pure (fed the heartbeats' outcomes); `watch_link` runs the heartbeats on
one connection. A desk whose link is degraded (median RTT over the window at or above
`rtt_degraded_s`, or lost heartbeats at or above `loss_degraded`) is offered "Move the call
to my mobile" when its call rides the browser softphone (ui/templates/fragments/call_panel.html);
the same link carries the softphone's signalling, and its media takes the same path.
"""

from __future__ import annotations

import asyncio
import collections
import statistics
import time
from collections.abc import Callable
from typing import Any


class LinkQuality:
    """The last `window` heartbeats of one desk: each a round-trip time, or lost (None)."""

    def __init__(self, rtt_degraded_s: float, loss_degraded: float, window: int = 10) -> None:
        self.rtt_degraded_s = rtt_degraded_s
        self.loss_degraded = loss_degraded
        self._beats: collections.deque[float | None] = collections.deque(maxlen=max(1, window))

    def answered(self, rtt_s: float) -> bool:
        """A Pong came after `rtt_s`; True when `degraded` changed."""
        return self._add(max(0.0, rtt_s))

    def lost(self) -> bool:
        """No Pong in time; True when `degraded` changed."""
        return self._add(None)

    @property
    def rtt_s(self) -> float | None:
        """The median round-trip time of the answered heartbeats of the window."""
        answered = [b for b in self._beats if b is not None]
        return statistics.median(answered) if answered else None

    @property
    def loss(self) -> float:
        """The share of the window's heartbeats that got no Pong in time (0..1)."""
        if not self._beats:
            return 0.0
        return sum(1 for b in self._beats if b is None) / len(self._beats)

    @property
    def degraded(self) -> bool:
        rtt = self.rtt_s
        return self.loss >= self.loss_degraded or (rtt is not None and rtt >= self.rtt_degraded_s)

    def _add(self, beat: float | None) -> bool:
        before = self.degraded
        self._beats.append(beat)
        return self.degraded != before


async def watch_link(
    connection: Any,
    quality: LinkQuality,
    interval_s: float,
    on_change: Callable[[], None],
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Ping `connection` every `interval_s`; a Pong not back within `interval_s` is lost.
    `on_change()` when the link turns degraded or recovers. Ends when the connection does."""
    while True:
        await asyncio.sleep(interval_s)
        sent = clock()
        try:
            pong = await connection.ping()
        except Exception:  # the connection closed: the socket's own loop ends the desk
            return
        try:
            await asyncio.wait_for(pong, timeout=interval_s)
            changed = quality.answered(clock() - sent)
        except TimeoutError:
            changed = quality.lost()
        except Exception:
            return
        if changed:
            on_change()
