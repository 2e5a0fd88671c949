"""A fake ARI server that plays one recorded trace back, to test the harness itself.

It answers the n-th request with the recorded n-th response and, on each client action,
pushes the events the trace shows between that action and the next one. Replaying a trace
against its own playback must pass; replaying against a doctored playback must fail.
Only for tests of the harness: it knows nothing about telephony.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web
from trace_check import own_recordings, scenario_prefix
from trace_model import conn_of

Json = Any
_ACTIONS = ("connect", "probe_connect", "close")


def _is_action(step: dict[str, Json]) -> bool:
    return step["kind"] == "request" or (step["kind"] == "ws" and step.get("action") in _ACTIONS)


class TracePlayback:
    def __init__(self, trace: dict[str, Json]) -> None:
        self._steps: list[dict[str, Json]] = trace["steps"]
        self._prefix = scenario_prefix(trace)
        self._pos = 0
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self.protocol_errors: list[str] = []

    # ------------------------------------------------------------ cursor

    def _next_action(self, start: int) -> int:
        for index in range(start, len(self._steps)):
            if _is_action(self._steps[index]):
                return index
        return len(self._steps)

    async def _advance(self, index: int) -> None:
        """The client did action `index`: push the events up to the next action."""
        end = self._next_action(index + 1)
        for step in self._steps[index + 1:end]:
            if step["kind"] == "event":
                ws = self._sockets.get(conn_of(step))
                if ws is not None and not ws.closed:
                    await ws.send_str(json.dumps(step["event"]))
        self._pos = end

    async def _skip_closes(self) -> None:
        while self._pos < len(self._steps):
            step = self._steps[self._pos]
            if not (step["kind"] == "ws" and step.get("action") == "close"):
                return
            self._sockets.pop(conn_of(step), None)
            await self._advance(self._pos)

    # ------------------------------------------------------------ HTTP

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        await self._skip_closes()
        index = self._pos
        step = self._steps[index] if index < len(self._steps) else {}
        if step.get("kind") != "request" or step.get("path") != request.path or (
            step.get("method") != request.method
        ):
            self.protocol_errors.append(f"unexpected {request.method} {request.path} at {index}")
            return web.json_response({"message": "not in the trace"}, status=599)
        response = next(
            s for s in self._steps[index:] if s["kind"] == "response" and s["id"] == step["id"]
        )
        await self._advance(index)
        body = response.get("body")
        if request.method == "GET" and request.path == "/ari/recordings/stored":
            body = own_recordings(body, self._prefix)  # a fresh server, as in trace_check
        if response.get("content_type") == "application/json":
            return web.json_response(body, status=int(response["status"]))
        if body is None:
            return web.Response(status=int(response["status"]))
        return web.Response(
            status=int(response["status"]), body=b"RIFF0000", content_type=response["content_type"]
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        await self._skip_closes()
        index = self._pos
        step = self._steps[index] if index < len(self._steps) else {}
        if step.get("action") not in ("connect", "probe_connect"):
            self.protocol_errors.append(f"unexpected WebSocket connect at {index}")
            raise web.HTTPBadRequest()
        status = self._recorded_ws_status(index)
        if status != 101:
            await self._advance(index)
            return web.json_response({"message": "refused"}, status=status or 500)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = conn_of(step)
        self._sockets[conn] = ws
        await self._advance(index)
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
        if self._sockets.get(conn) is ws:
            await self._skip_closes()
        return ws

    def _recorded_ws_status(self, index: int) -> int | None:
        conn = self._steps[index].get("conn")
        for step in self._steps[index + 1:]:
            if step["kind"] == "ws" and step.get("conn") == conn and "status" in step:
                return int(step["status"])
        return None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        return app


@contextlib.asynccontextmanager
async def serving(trace: dict[str, Json]) -> AsyncIterator[tuple[str, TracePlayback]]:
    """Serve `trace` on 127.0.0.1, an ephemeral port; yields (base_url, playback)."""
    playback = TracePlayback(trace)
    runner = web.AppRunner(playback.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", playback
    finally:
        await runner.cleanup()
