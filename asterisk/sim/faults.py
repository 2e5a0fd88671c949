"""Faults on demand, and the /_sim admin API that triggers them.

Admin API (not under /ari, no authentication, bind the simulator to 127.0.0.1):
  GET  /_sim/state                                   live channels, bridges, apps, counters
  POST /_sim/drop-websockets                         close every events WebSocket now
  POST /_sim/refuse-websockets?seconds=N             WS upgrades answer 503 for N s
  POST /_sim/restart?how=crash                       everything vanishes, no events (default)
  POST /_sim/restart?how=core_restart_now            every channel hung up first (soft
                                                     hang-up request cause 4, Destroyed 16)
  (both: sockets drop, /asterisk/info gets a new status.startup_time)
  POST /_sim/delay-events?ms=N                       deliver each event N ms late (0: off)
  POST /_sim/fail-next  {"operation": "originate" | "POST /channels"
                                      | "DELETE /channels/{channelId}" | "hangup"
                                      | "DELETE /bridges/{bridgeId}" | ...,
                         "count": 1, "status": 500, "message": "..."}
  POST /_sim/channels/{id}/hangup?cause=16           the phone hangs up now
  POST /_sim/channels/{id}/dtmf?digit=1              the phone presses a digit now
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from asterisk.sim.engine import AriError

if TYPE_CHECKING:
    from asterisk.sim.routes import Route
    from asterisk.sim.server import SimServer


@dataclass(slots=True)
class PlannedFailure:
    operation: str
    remaining: int
    status: int
    message: str


class Faults:
    """Fault state shared by the REST handlers and the events socket handler."""

    def __init__(self) -> None:
        self.failures: list[PlannedFailure] = []
        self.refuse_until = 0.0
        self.delay_s = 0.0

    def fail_next(self, operation: str, count: int = 1, status: int = 500,
                  message: str = "Internal Server Error") -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        self.failures.append(PlannedFailure(_normalise(operation), count, status, message))

    def take_failure(self, route: Route) -> tuple[int, str] | None:
        if not self.failures:
            return None
        keys = {route.nickname, f"{route.method} {route.path}", f"{route.method} /ari{route.path}"}
        for failure in self.failures:
            if failure.operation in keys:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.failures.remove(failure)
                return failure.status, failure.message
        return None

    def refuse_websockets(self, seconds: float) -> None:
        self.refuse_until = time.monotonic() + seconds

    def websockets_refused(self) -> bool:
        return time.monotonic() < self.refuse_until

    def delay_events(self, ms: float) -> None:
        if ms < 0:
            raise ValueError("ms must be >= 0")
        self.delay_s = ms / 1000.0


def _normalise(operation: str) -> str:
    method, sep, path = operation.strip().partition(" ")
    if sep:
        return f"{method.upper()} {path.strip()}"
    return operation.strip()


# ----------------------------------------------------------------------------- admin API
class FailNext(msgspec.Struct, forbid_unknown_fields=True):
    operation: str
    count: int = 1
    status: int = 500
    message: str = "Internal Server Error"


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=msgspec.json.encode(body), status=status,
                        content_type="application/json")


def _number(request: web.Request, name: str, default: float | None = None) -> float:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise web.HTTPBadRequest(text=f'{{"message": "{name} is required"}}',
                                     content_type="application/json")
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f'{{"message": "{name} must be a number"}}',
                                 content_type="application/json") from exc


def add_admin_routes(app: web.Application, server: SimServer) -> None:
    async def state(request: web.Request) -> web.Response:
        return _json(server.engine.state())

    async def drop(request: web.Request) -> web.Response:
        count = await server.drop_websockets()
        return _json({"dropped": count})

    async def refuse(request: web.Request) -> web.Response:
        server.faults.refuse_websockets(_number(request, "seconds"))
        return web.Response(status=204)

    async def restart(request: web.Request) -> web.Response:
        how = request.query.get("how", "crash")
        if how not in ("crash", "core_restart_now"):
            return _json({"message": "how must be crash or core_restart_now"}, 400)
        await server.restart(hang_up_first=how == "core_restart_now")
        return web.Response(status=204)

    async def delay(request: web.Request) -> web.Response:
        try:
            server.faults.delay_events(_number(request, "ms"))
        except ValueError as exc:
            return _json({"message": str(exc)}, 400)
        return web.Response(status=204)

    async def fail_next(request: web.Request) -> web.Response:
        try:
            spec = msgspec.json.decode(await request.read(), type=FailNext)
            server.faults.fail_next(spec.operation, spec.count, spec.status, spec.message)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _json({"message": str(exc)}, 400)
        return web.Response(status=204)

    async def hangup(request: web.Request) -> web.Response:
        try:
            server.engine.far_end_hangup(request.match_info["channel_id"],
                                         int(_number(request, "cause", 16)))
        except AriError as exc:
            return _json(exc.body, exc.status)
        return web.Response(status=204)

    async def dtmf(request: web.Request) -> web.Response:
        try:
            server.engine.press_digit(request.match_info["channel_id"],
                                      request.query.get("digit", ""))
        except AriError as exc:
            return _json(exc.body, exc.status)
        return web.Response(status=204)

    router = app.router
    router.add_get("/_sim/state", state)
    router.add_post("/_sim/drop-websockets", drop)
    router.add_post("/_sim/refuse-websockets", refuse)
    router.add_post("/_sim/restart", restart)
    router.add_post("/_sim/delay-events", delay)
    router.add_post("/_sim/fail-next", fail_next)
    router.add_post("/_sim/channels/{channel_id}/hangup", hangup)
    router.add_post("/_sim/channels/{channel_id}/dtmf", dtmf)
