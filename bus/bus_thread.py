"""A nats-py connection on its own asyncio loop, in a daemon thread, for code that blocks.

The gateway's `CallCenter`, `SessionStore` and archive ports are synchronous (the gateway
calls them through `asyncio.to_thread`, or on its own loop for session lookups), while
nats-py is asyncio. `BusThread` runs one loop and one connection for a whole gateway
process; `run(coro, timeout_s)` waits for a coroutine from any other thread, with a bound,
and `submit(coro)` fires one without waiting.

    bus = BusThread(settings.bus, "gateway").start()
    reply = bus.run(bus.nc.request(subject, payload, timeout=2.0), timeout_s=3.0)
    bus.stop()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from nats.aio.client import Client as NATS

from bus.connect import connect
from evscallpro.settings_file import BusSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


class BusThread:
    def __init__(self, bus: BusSettings, name: str, servers: list[str] | None = None) -> None:
        self.bus = bus
        self.name = name
        self.servers = servers
        self.loop = asyncio.new_event_loop()
        self._nc: NATS | None = None
        self._thread = threading.Thread(target=self._run, name=f"bus-{name}", daemon=True)
        self._reconnected: list[Callable[[], Awaitable[None]]] = []

    @property
    def nc(self) -> NATS:
        if self._nc is None:
            raise RuntimeError("the bus thread is not connected")
        return self._nc

    def on_reconnected(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` (a coroutine function, on the bus loop) after each reconnection."""
        self._reconnected.append(callback)

    def start(self, timeout_s: float = 10.0) -> BusThread:
        """Start the loop and connect; raises (and stops the loop) if no server answers."""
        self._thread.start()
        try:
            self._nc = self.run(
                connect(self.bus, self.name, self.servers, on_reconnected=self._reconnect),
                timeout_s,
            )
        except BaseException:
            self.stop()
            raise
        return self

    async def _reconnect(self) -> None:
        for callback in list(self._reconnected):
            try:
                await callback()
            except Exception:
                log.exception("%s: after the reconnection", self.name)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
            pending = asyncio.all_tasks(self.loop)  # subscriptions, a connect given up on
            for task in pending:
                task.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self.loop.close()

    def in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float) -> T:
        """Run `coro` on the bus loop and wait for it, up to `timeout_s` (TimeoutError)."""
        if self.in_loop():
            coro.close()
            raise RuntimeError("BusThread.run called from the bus loop itself (would deadlock)")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TimeoutError(f"no answer on the bus within {timeout_s:g} s") from exc

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Start `coro` on the bus loop without waiting; its failure is logged."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)

        def done(f: concurrent.futures.Future[Any]) -> None:
            if not f.cancelled() and f.exception() is not None:
                log.warning("%s: %s", self.name, f.exception())

        future.add_done_callback(done)
        return future

    def stop(self, timeout_s: float = 5.0) -> None:
        """Drain and close the connection, then stop the loop."""
        if self.loop.is_closed():
            return
        if self._nc is not None and self._thread.is_alive():
            nc, self._nc = self._nc, None
            try:
                self.run(nc.close(), timeout_s)
            except Exception as exc:
                log.warning("%s: closing the bus connection: %s", self.name, exc)
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout_s)
