"""The one asyncio loop of the core, in its own daemon thread.

The ARI link (events WebSocket), the ARI port (REST) and the timer service all live on this
loop; actors reach it only through `asyncio.run_coroutine_threadsafe` / `call_soon_threadsafe`,
so no actor thread ever runs asyncio code and no coroutine ever blocks on an actor.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class HandOver:
    """Callbacks from any thread to one asyncio loop, in order, batched: posts made before
    the loop ran the last batch share one `call_soon_threadsafe` (one write to the loop's
    self-pipe, one wake-up) instead of one each."""

    def __init__(self, loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        self._loop = loop
        self._posted: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._pending = False
        self.wakeups = 0

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Raises RuntimeError as call_soon_threadsafe does when the loop is closed."""
        with self._lock:
            self._posted.append((fn, args))
            if self._pending:
                return
            self._pending = True
        try:
            self._loop().call_soon_threadsafe(self._run)
        except BaseException:
            with self._lock:
                self._pending = False
                self._posted.clear()
            raise
        self.wakeups += 1

    def _run(self) -> None:
        with self._lock:
            batch, self._posted = self._posted, deque()
            self._pending = False
        for fn, args in batch:
            try:
                fn(*args)
            except Exception:  # one bad callback must not lose the others
                log.exception("posted %s failed on the loop", getattr(fn, "__qualname__", fn))


class EventLoopThread:
    """Start/stop an asyncio loop running forever in a named daemon thread."""

    def __init__(self, name: str = "evs-ari-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._hand_over = HandOver(lambda: self.loop)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("event loop thread not started")
        return self._loop

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 5.0) -> None:
        if self.running:
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("asyncio loop thread did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        loop.call_soon(self._ready.set)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Schedule `coro` on the loop from any thread; never blocks."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` on the loop soon, from any thread, in the order posted; never
        blocks; the posts of one actor's turn share one loop wake-up (`HandOver`)."""
        self._hand_over.post(fn, *args)

    def stop(self, timeout: float = 5.0) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("asyncio loop thread did not stop within %.1fs", timeout)
        self._thread = None
        self._loop = None
