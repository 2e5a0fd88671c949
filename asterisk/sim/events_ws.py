"""The events WebSocket `/ari/events?app=a,b&subscribeAll=false`.

Each socket gets a `WsSink`: the engine pushes encoded events without ever waiting; a
writer task sends them as text frames, in order, optionally late (the delay fault).
Incoming frames are ignored, as Asterisk does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from asterisk.sim.model import ari_timestamp

if TYPE_CHECKING:
    from asterisk.sim.server import SimServer

log = logging.getLogger(__name__)


class WsSink:
    def __init__(self, ws: web.WebSocketResponse, subscribe_all: bool, server: SimServer) -> None:
        self.ws = ws
        self.subscribe_all = subscribe_all
        self._server = server
        self._queue: deque[tuple[float, bytes]] = deque()
        self._wakeup = asyncio.Event()
        self._closing = False

    def push(self, data: bytes) -> None:
        if not self._closing:
            self._queue.append((time.monotonic(), data))
            self._wakeup.set()

    @property
    def pending(self) -> int:
        """Events queued, not sent yet."""
        return len(self._queue)

    def close_soon(self) -> None:
        if not self._closing:
            self._closing = True
            asyncio.get_running_loop().create_task(self.ws.close())

    async def run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                stamp, data = self._queue[0]
                delay = self._server.faults.delay_s
                if delay > 0:
                    wait = stamp + delay - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                self._queue.popleft()
                if self.ws.closed:
                    return
                await self.ws.send_str(data.decode("utf-8"))


def _apps_of(request: web.Request) -> list[str]:
    names: list[str] = []
    for value in request.query.getall("app", []):
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(names))


def make_events_handler(
    server: SimServer,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def events(request: web.Request) -> web.StreamResponse:
        if server.faults.websockets_refused():
            return web.json_response({"message": "Service Unavailable"}, status=503)
        apps = _apps_of(request)
        if not apps:
            return web.json_response({"message": "Missing parameter app"}, status=400)
        subscribe_all = request.query.get("subscribeAll", "false").lower() in ("true", "1")
        ws = web.WebSocketResponse(autoping=True)
        sink = WsSink(ws, subscribe_all, server)
        registry = server.engine.registry
        registry.attach(sink, apps, ari_timestamp())  # before the 101: no event is lost
        server.sockets[ws] = sink
        writer: asyncio.Task[None] | None = None
        try:
            await ws.prepare(request)
            writer = asyncio.get_running_loop().create_task(sink.run())
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            registry.detach(sink)
            server.sockets.pop(ws, None)
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await writer
        return ws

    return events
