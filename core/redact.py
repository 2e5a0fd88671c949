"""Secrets out of log lines, error messages and metric labels.

Asterisk's events socket takes its credentials in the URL (`?api_key=user:password`), and
aiohttp puts the URL in its exceptions (`WSServerHandshakeError: 503, ..., url='...'`), so a
refused reconnect would write the ARI password into a WARNING. Everything that formats a URL
or an exception from the ARI link, the simulator clients or `evscallpro dial` goes through
`redact` first. Pure string work: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# ?api_key=user:password, &password=..., token=..., secret=... (query strings and forms)
_QUERY_SECRET = re.compile(
    r"(?i)(\b(?:api_key|apikey|password|passwd|pwd|secret|token|access_token)=)[^&\s'\"<>]*"
)
# {'api_key': 'user:password'} (a dict of request parameters in a library's debug line)
_MAPPING_SECRET = re.compile(
    r"(?i)(['\"](?:api_key|apikey|password|passwd|pwd|secret|token|access_token)['\"]\s*:\s*"
    r"['\"])[^'\"]*"
)
# scheme://user:password@host
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/:@\s'\"]*):[^@/\s'\"]*@")
# Authorization: Basic xxx / Bearer xxx (a header dumped into a message)
_AUTH_HEADER = re.compile(r"(?i)\b(authorization['\"]?\s*[:=]\s*['\"]?)(?:basic|bearer)\s+[^\s'\",}]+")


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """`text` (any object, formatted with str) with credentials replaced by ***.

    Known secret values (the configured ARI password) are masked wherever they appear,
    besides the patterns above; values shorter than 4 characters are only masked through
    the patterns (masking every "a" would make logs unreadable)."""
    out = str(text)
    out = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, out)
    out = _MAPPING_SECRET.sub(lambda m: m.group(1) + MASK, out)
    out = _URL_USERINFO.sub(lambda m: m.group(1) + ":" + MASK + "@", out)
    out = _AUTH_HEADER.sub(lambda m: m.group(1) + MASK, out)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    return out


def redact_exception(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """`Type: message` of an exception, redacted (for log lines and error reports)."""
    return redact(f"{type(exc).__name__}: {exc}", secrets)
