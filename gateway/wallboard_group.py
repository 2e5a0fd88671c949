"""Wallboard frames built once per window and broadcast to every supervisor who sees the same
board: same language, monitoring no call, browser holding the same rows.

A supervisor's socket starts on its own outbox (the full board on connect, see server.py)
and joins the group of its language once that board is sent and nothing is pending for it.
The group has one outbox on the hub (latest value per row, one frame per `batch_s`); each
frame is rendered once and written to all members at once (`websockets.broadcast`, no
per-socket coroutine). A member leaves the group, back to its own outbox, when it starts
monitoring a call (it needs its own markers: the frame's changes are handed to it), when its
session ended or its socket closed, or when its socket's write buffer holds more than
`slow_bytes` or twice a recent frame (broadcast has no backpressure): such a slow browser is then resynced with one
full board by its own sender, which waits for the socket to drain, so it gets the latest
state and never an ever-growing buffer. Loop thread only.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.hub import ROW_KEY_PREFIX, TOTALS_KEY, WALLBOARD_KEY, Hub, HubClient
from gateway.render import WallboardFragments

log = logging.getLogger(__name__)

SLOW_BYTES = 256 * 1024  # a member whose socket buffers more than this is resynced alone
RECENT_FRAMES = 40  # ~2 s of frames at 50 ms: a big frame widens the allowance that long


@dataclass(frozen=True)
class Seat:
    """A member's socket, as the group sees it."""

    connection: object
    alive: Callable[[], bool]  # session valid and socket open
    buffered: Callable[[], int]  # bytes waiting in the socket's write buffer


class WallboardGroup:
    def __init__(
        self,
        lang: str,
        hub: Hub,
        fragments: WallboardFragments,
        send: Callable[[Sequence[object], str], None],
        batch_s: float,
        slow_bytes: int = SLOW_BYTES,
    ) -> None:
        self.lang = lang
        self.hub = hub
        self.fragments = fragments
        self.slow_bytes = slow_bytes
        self._send = send
        self.outbox = HubClient(f"group:{lang}", wallboard=True, batch_s=batch_s)
        self.members: dict[HubClient, Seat] = {}
        self.known_rows: set[str] | None = None  # the rows every member's browser holds
        self.frames = 0  # frames built (each sent to all members at once)
        self.resyncs = 0  # members sent back to a full board because they fell behind
        self._recent_frame_bytes: deque[int] = deque(maxlen=RECENT_FRAMES)
        hub.attach_group(self.outbox)

    @property
    def allowance(self) -> int:
        """Bytes a member's socket may hold before it counts as slow: at least
        `slow_bytes`, and room for twice the largest of the last `RECENT_FRAMES` frames (a
        full board of many agents may alone exceed `slow_bytes` in a browser that reads at
        full speed)."""
        return max(self.slow_bytes, 2 * max(self._recent_frame_bytes, default=0))

    def close(self) -> None:
        self.hub.detach_group(self.outbox)

    def try_join(self, client: HubClient, seat: Seat) -> bool:
        """Called by the member's own sender right after a send: joins when its browser
        holds a board (no full board pending) with the rows the group's frames assume. Rows
        and totals still pending for it are handed to the group's next frame (under load
        something is nearly always pending; a member may get such a row twice, never
        misses one)."""
        if client in self.members:
            return True
        if (WALLBOARD_KEY in client.pending_keys or client.user_id in self.hub.monitoring()
                or seat.buffered() > self.slow_bytes or not seat.alive()):
            return False
        if not self.members:
            self.known_rows = set(client.known_rows)
            self.outbox.clear()  # older changes: the new (only) member already has them
        elif client.known_rows != self.known_rows:
            return False
        for key in client.take_board_changes():
            self.outbox.offer(key)
        self.hub.share(client)
        self.members[client] = seat
        return True

    def leave(self, client: HubClient, handed: dict[str, object] | None = None) -> None:
        """Back to its own outbox: with the changes of `handed` (a frame it will not get),
        or, without, with a full board (its browser's state is unknown)."""
        if self.members.pop(client, None) is None:
            return
        self.hub.unshare(client)
        if handed is None:
            client.offer(WALLBOARD_KEY)
        else:
            for key in handed:
                if key.startswith(ROW_KEY_PREFIX) or key == TOTALS_KEY:
                    client.offer(key)
        if not self.members:
            self.known_rows = None

    def discard(self, client: HubClient) -> None:
        """The socket closed: no hand-over."""
        if self.members.pop(client, None) is not None and not self.members:
            self.known_rows = None

    async def run(self) -> None:
        while True:
            batch = await self.outbox.next_batch()
            try:
                self.flush(batch)
            except Exception:  # one bad view must not silence every wallboard
                log.exception("wallboard group %s: cannot build a frame", self.lang)

    def flush(self, batch: dict[str, object]) -> str:
        """Build this window's frame once and send it to every member; returns it."""
        monitoring = self.hub.monitoring()
        for client, seat in list(self.members.items()):
            if not seat.alive():
                self.leave(client)  # its sender finds the session ended and closes
            elif client.user_id in monitoring:
                self.leave(client, batch)
            elif seat.buffered() > self.allowance:
                self.resyncs += 1
                log.info("wallboard %s fell behind (%d bytes buffered): resynced alone",
                         client.user_id, seat.buffered())
                self.leave(client)
        if not self.members or not batch:
            return ""
        html = self._frame(batch)
        if html:
            self._send([seat.connection for seat in self.members.values()], html)
            self.frames += 1
            self._recent_frame_bytes.append(len(html))
        return html

    def _frame(self, batch: dict[str, object]) -> str:
        known = self.known_rows or set()
        agents = []
        for key in batch:
            if key.startswith(ROW_KEY_PREFIX):
                agent = self.hub.agent(key.removeprefix(ROW_KEY_PREFIX))
                if agent is not None:
                    agents.append(agent)
        if WALLBOARD_KEY in batch or any(a.agent_id not in known for a in agents):
            # A row no member has yet (an agent appeared): one full board for all, so every
            # browser keeps the same rows.
            board = self.hub.agents()
            self.known_rows = {a.agent_id for a in board}
            for client in self.members:
                client.known_rows = set(self.known_rows)
            return self.fragments.board(self.lang, self.hub.version, board, self.hub.totals())
        parts = [self.fragments.row(self.lang, "", agent, True) for agent in agents]
        if TOTALS_KEY in batch:
            parts.append(self.fragments.totals(self.lang, self.hub.totals()))
        return "".join(parts)
