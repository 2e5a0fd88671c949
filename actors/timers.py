"""Timer service on the core's asyncio loop: `start(key, delay, message, reply_to)` tells
`message` to `reply_to` after `delay` seconds unless `cancel(key)` came first.

Thread-safe and non-blocking for callers (everything hops onto the loop with
`EventLoopThread.post`, batched with the caller's ARI commands); one `loop.call_later` handle per live timer, so thousands of calls
cost no threads. Keys are the owners' (e.g. (call_id, timer name)); restarting a key replaces it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from actors.loop import EventLoopThread
from actors.messages import Teller

log = logging.getLogger(__name__)


class TimerService:
    def __init__(self, loop_thread: EventLoopThread) -> None:
        self._loop_thread = loop_thread
        self._handles: dict[Hashable, asyncio.TimerHandle] = {}
        self.fired = 0

    def start(self, key: Hashable, delay_s: float, message: object, reply_to: Teller) -> None:
        self._loop_thread.post(self._start, key, max(0.0, delay_s), message, reply_to)

    def cancel(self, key: Hashable) -> None:
        if self._loop_thread.running:
            self._loop_thread.post(self._cancel, key)

    def cancel_all(self, prefix: Hashable) -> None:
        """Cancel every timer whose key is a tuple starting with `prefix` (a call ended)."""
        if self._loop_thread.running:
            self._loop_thread.post(self._cancel_prefix, prefix)

    @property
    def pending(self) -> int:
        return len(self._handles)

    def _start(self, key: Hashable, delay_s: float, message: object, reply_to: Teller) -> None:
        self._cancel(key)
        loop = asyncio.get_running_loop()
        self._handles[key] = loop.call_later(delay_s, self._fire, key, message, reply_to)

    def _cancel(self, key: Hashable) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _cancel_prefix(self, prefix: Hashable) -> None:
        for key in [k for k in self._handles if isinstance(k, tuple) and k and k[0] == prefix]:
            self._cancel(key)

    def _fire(self, key: Hashable, message: object, reply_to: Teller) -> None:
        self._handles.pop(key, None)
        self.fired += 1
        try:
            reply_to.tell(message)
        except Exception:  # the owner stopped meanwhile
            log.debug("timer %r fired for a stopped actor", key)
