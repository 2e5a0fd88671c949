"""Small HTTP helpers for `process_request`: responses, cookies, origins, static files.

websockets parses GET (and body-less POST) requests only; nothing here reads a body,
which is why login credentials travel in the Authorization header of a body-less POST.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import mimetypes
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
)


def response(
    status: HTTPStatus,
    body: bytes | str = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[str, str]] | None = None,
    cache: str = "no-store",
    connect_src: str = "",
) -> Response:
    """`connect_src`: one more CSP connect-src source (the softphone's SIP WebSocket)."""
    data = body.encode() if isinstance(body, str) else body
    h = Headers()
    h["Content-Type"] = content_type
    h["Content-Length"] = str(len(data))
    h["Cache-Control"] = cache
    h["Connection"] = "close"
    for name, value in SECURITY_HEADERS:
        if connect_src and name == "Content-Security-Policy":
            value = value.replace("connect-src 'self'", f"connect-src 'self' {connect_src}")
        h[name] = value
    for name, value in headers or []:
        h[name] = value
    return Response(status.value, status.phrase, h, data)


def html(body: str, status: HTTPStatus = HTTPStatus.OK,
         headers: list[tuple[str, str]] | None = None, connect_src: str = "") -> Response:
    return response(status, body, "text/html; charset=utf-8", headers,
                    connect_src=connect_src)


def json_response(payload: object, status: HTTPStatus = HTTPStatus.OK,
                  headers: list[tuple[str, str]] | None = None) -> Response:
    return response(status, json.dumps(payload), "application/json", headers)


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return response(HTTPStatus.SEE_OTHER, b"", headers=[("Location", location), *(headers or [])])


def static_file(path: Path, cache: str = "public, max-age=300") -> Response:
    if not path.is_file():
        return response(HTTPStatus.NOT_FOUND, "not found\n")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "text/javascript"):
        kind += "; charset=utf-8"
    return response(HTTPStatus.OK, path.read_bytes(), kind, cache=cache)


def cookies(request: Request) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in request.headers.get_all("Cookie"):
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in jar:
                jar[name] = value.strip().strip('"')
    return jar


class BadHeader(ValueError):
    """A request header that must appear at most once appears more (answered with 400)."""


def single(request: Request, name: str) -> str | None:
    """The one value of header `name`, None when absent; BadHeader when repeated (a
    duplicate Host or Origin is a malformed or smuggled request, not a server error)."""
    values = request.headers.get_all(name)
    if len(values) > 1:
        raise BadHeader(f"more than one {name} header")
    return values[0] if values else None


LOCAL_HOSTS = frozenset({"localhost", "localhost.localdomain", "127.0.0.1", "::1"})


def host_name(host_header: str) -> str:
    """`example.com:8080` -> `example.com`; `[::1]:80` -> `::1`; lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def _ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(host_header: str | None, allowed: tuple[str, ...], bind_host: str) -> bool:
    """DNS-rebinding protection: the Host header must name this server. Allowed: the
    configured names (a port in them is ignored; `*.example.com` allows the subdomains;
    `*` allows all), localhost names, the bind address, and IP literals (a rebinding
    attack needs a host name the attacker controls)."""
    if "*" in allowed:
        return True
    if not host_header:
        return False
    name = host_name(host_header)
    if not name:
        return False
    names = {host_name(a) for a in allowed} | LOCAL_HOSTS | {host_name(bind_host)}
    if name in names or _ip_literal(name):
        return True
    # "*.example.com" allows the subdomains of example.com (not example.com itself)
    return any(n.startswith("*.") and name.endswith(n[1:]) for n in names)


def same_origin(request: Request, allowed: tuple[str, ...], scheme: str = "http") -> bool:
    """True when the Origin header names this server (scheme://Host, the scheme this server
    is reached by: http, or https behind a TLS proxy) or an allowed origin.

    Browsers send Origin on WebSocket handshakes and on POST; a missing Origin is refused.
    Raises BadHeader when Origin or Host is repeated.
    """
    origin = single(request, "Origin")
    host = single(request, "Host")
    if not origin or origin == "null":
        return False
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return bool(host) and parts.scheme == scheme and parts.netloc == host


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user or len(user) > 64 or len(password) > 256:
        return None
    return user, password
