"""Small HTTP helpers for `process_request`: responses, cookies, origins, static files.

websockets parses GET (and body-less POST) requests only; nothing here reads a body,
which is why login credentials travel in the Authorization header of a body-less POST.
"""

from __future__ import annotations

import base64
import binascii
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
) -> Response:
    data = body.encode() if isinstance(body, str) else body
    h = Headers()
    h["Content-Type"] = content_type
    h["Content-Length"] = str(len(data))
    h["Cache-Control"] = cache
    h["Connection"] = "close"
    for name, value in SECURITY_HEADERS:
        h[name] = value
    for name, value in headers or []:
        h[name] = value
    return Response(status.value, status.phrase, h, data)


def html(body: str, status: HTTPStatus = HTTPStatus.OK,
         headers: list[tuple[str, str]] | None = None) -> Response:
    return response(status, body, "text/html; charset=utf-8", headers)


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


def same_origin(request: Request, allowed: tuple[str, ...]) -> bool:
    """True when the Origin header names this server (scheme://Host) or an allowed origin.

    Browsers send Origin on WebSocket handshakes and on POST; a missing Origin is refused.
    """
    origin = request.headers.get("Origin")
    host = request.headers.get("Host")
    if not origin or origin == "null":
        return False
    if origin in allowed:
        return True
    parts = urlsplit(origin)
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host


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
