"""aiohttp handlers for /ari: authentication, argument decoding, fault injection, routing.

Arguments come from the path, the query string and a JSON object body, exactly as
Asterisk accepts them (body keys override query keys; `variables` lives in the body).
Malformed input is answered 400 with a message; nothing here raises past the handler.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from asterisk.sim.engine import AriError, Engine
from asterisk.sim.faults import Faults
from asterisk.sim.routes import ROUTES, Args, Param, RawBody, Route
from asterisk.sim.swagger import resource_document, resources_listing

log = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()

ENGINE_KEY: web.AppKey[Engine] = web.AppKey("engine", Engine)
FAULTS_KEY: web.AppKey[Faults] = web.AppKey("faults", Faults)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(body), status=status,
                        content_type="application/json")


def ari_error(status: int, message: str, key: str = "message") -> web.Response:
    return json_response({key: message}, status)


# ----------------------------------------------------------------------------- auth
def credentials_ok(request: web.Request, users: dict[str, str]) -> bool:
    """HTTP Basic or `?api_key=user:password`, as Asterisk's http.conf/ari.conf allow."""
    api_key = request.query.get("api_key")
    if api_key is not None:
        user, _, password = api_key.partition(":")
        return users.get(user) == password and user in users
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        return user in users and users[user] == password
    return False


def auth_middleware(users: dict[str, str]) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/ari") and not credentials_ok(request, users):
            response = ari_error(401, "Authentication required")
            response.headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
            return response
        return await handler(request)

    return middleware


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown /ari paths answer like Asterisk; a simulator bug answers 500, never crashes."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        if request.path.startswith("/ari"):
            return ari_error(404, "Resource not found")
        raise
    except web.HTTPMethodNotAllowed:
        return ari_error(405, "Invalid method")
    except web.HTTPException:
        raise
    except Exception:
        log.exception("simulator error on %s %s", request.method, request.path)
        return ari_error(500, "Internal Server Error")


# ----------------------------------------------------------------------------- arguments
class BadRequest(Exception):
    pass


def _convert(param: Param, raw: Any) -> Any:
    if param.allow_multiple:
        values = raw if isinstance(raw, list) else [raw]
        items: list[str] = []
        for value in values:
            if not isinstance(value, str | int | float):
                raise BadRequest(f"{param.name}: expected a string or a list of strings")
            items.extend(part for part in str(value).split(",") if part)
        return items
    if param.data_type in ("int", "long"):
        if isinstance(raw, bool):
            raise BadRequest(f"{param.name}: expected an integer")
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"{param.name}: expected an integer, got {raw!r}") from exc
    if param.data_type == "double":
        try:
            return float(raw)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"{param.name}: expected a number, got {raw!r}") from exc
    if param.data_type == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise BadRequest(f"{param.name}: expected true or false, got {raw!r}")
    if param.data_type == "containers":
        if not isinstance(raw, dict):
            raise BadRequest(f"{param.name}: expected a JSON object")
        return {str(k): v if isinstance(v, str) else _encoder.encode(v).decode()
                for k, v in raw.items()}
    if isinstance(raw, dict | list):
        raise BadRequest(f"{param.name}: expected a string")
    return raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)


async def decode_args(route: Route, request: web.Request) -> Args:
    raw: dict[str, Any] = {}
    for param in route.params:
        if param.param_type == "path":
            raw[param.name] = request.match_info[param.name]
        elif param.param_type == "query" and param.name in request.query:
            values = request.query.getall(param.name)
            raw[param.name] = values if param.allow_multiple else values[-1]
    body_bytes = await request.read()
    if body_bytes.strip():
        try:
            body = _decoder.decode(body_bytes)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"Invalid JSON body: {exc}") from exc
        if not isinstance(body, dict):
            raise BadRequest("The JSON body must be an object")
        known = {p.name for p in route.params if p.param_type != "path"}
        for key, value in body.items():
            if key in known:
                raw[key] = value
    args: Args = {}
    by_name = {p.name: p for p in route.params}
    for name, value in raw.items():
        args[name] = _convert(by_name[name], value)
    for param in route.params:
        if param.name not in args and param.default is not None:
            args[param.name] = param.default
    return args


# ----------------------------------------------------------------------------- routing
def make_handler(route: Route) -> Handler:
    assert route.handler is not None
    call = route.handler

    async def handle(request: web.Request) -> web.StreamResponse:
        faults = request.app[FAULTS_KEY]
        injected = faults.take_failure(route)
        if injected is not None:
            return ari_error(injected[0], injected[1])
        try:
            args = await decode_args(route, request)
            result = call(request.app[ENGINE_KEY], args)
        except BadRequest as exc:
            return ari_error(400, str(exc))
        except AriError as exc:
            return json_response(exc.body, exc.status)
        if isinstance(result, RawBody):
            return web.Response(body=result.data, content_type=result.content_type)
        if result is None:
            return web.Response(status=204)
        return json_response(result, route.status)

    return handle


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}/ari"


async def api_docs_listing(request: web.Request) -> web.Response:
    return json_response(resources_listing(_base_url(request)))


async def api_docs_resource(request: web.Request) -> web.Response:
    document = resource_document(request.match_info["resource"], _base_url(request))
    if document is None:
        return ari_error(404, "Resource not found")
    return json_response(document)


async def not_found(request: web.Request) -> web.Response:
    return ari_error(404, "Resource not found")


def add_ari_routes(app: web.Application, events_handler: Handler) -> None:
    router = app.router
    router.add_get("/ari/api-docs/resources.json", api_docs_listing)
    router.add_get("/ari/api-docs/{resource}.json", api_docs_resource)
    for route in ROUTES:
        if route.upgrade:
            router.add_get("/ari" + route.path, events_handler)
        else:
            router.add_route(route.method, "/ari" + route.path, make_handler(route))
    router.add_route("*", "/ari/{tail:.*}", not_found)
