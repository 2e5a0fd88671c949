"""SIP messages as they travel over a WebSocket (RFC 3261 text, RFC 7118 framing), and the
digest authentication (RFC 2617 / 8760, MD5 + qop=auth) Asterisk's `auth` section asks for.

One WebSocket text frame carries exactly one SIP message (RFC 7118 section 5.3), so there is
no stream framing here: `parse` takes a whole frame, `SipMessage.encode` gives one.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact",
            "l": "content-length", "c": "content-type", "k": "supported"}
_STATUS_LINE = re.compile(r"^SIP/2\.0 (\d{3}) ?(.*)$")
_REQUEST_LINE = re.compile(r"^([A-Z]+) (\S+) SIP/2\.0$")
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^,\s]+)\s*,?')


class SipParseError(ValueError):
    """A frame is not a SIP message this simulator can read."""


@dataclass(slots=True)
class SipMessage:
    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""

    @property
    def is_request(self) -> bool:
        return not self.start.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        """The request method, or the CSeq method of a response."""
        if self.is_request:
            return self.start.split(" ", 1)[0]
        return (self.header("CSeq") or " ").split()[-1]

    @property
    def uri(self) -> str:
        return self.start.split(" ")[1] if self.is_request else ""

    @property
    def status(self) -> int:
        match = _STATUS_LINE.match(self.start)
        return int(match.group(1)) if match else 0

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if _COMPACT.get(key.lower(), key.lower()) == wanted:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        wanted = name.lower()
        return [v for k, v in self.headers if _COMPACT.get(k.lower(), k.lower()) == wanted]

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    @property
    def cseq(self) -> int:
        try:
            return int((self.header("CSeq") or "0").split()[0])
        except ValueError:
            return 0

    @property
    def branch(self) -> str:
        via = self.header("Via") or ""
        match = re.search(r";\s*branch=([^;,\s]+)", via)
        return match.group(1) if match else ""

    def encode(self) -> str:
        lines = [self.start]
        body = self.body
        for key, value in self.headers:
            if key.lower() != "content-length":
                lines.append(f"{key}: {value}")
        lines.append(f"Content-Length:  {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body


def parse(frame: str) -> SipMessage:
    head, sep, body = frame.partition("\r\n\r\n")
    if not sep:
        head, sep, body = frame.partition("\n\n")
    lines = [line for line in re.split(r"\r?\n", head) if line != ""]
    if not lines:
        raise SipParseError("empty SIP message")
    start = lines[0].strip()
    if not (_STATUS_LINE.match(start) or _REQUEST_LINE.match(start)):
        raise SipParseError(f"not a SIP start line: {start[:80]!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # folded continuation line
            key, value = headers[-1]
            headers[-1] = (key, value + " " + line.strip())
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"bad header line {line[:80]!r}")
        headers.append((key.strip(), value.strip()))
    message = SipMessage(start, headers, body)
    for needed in ("Call-ID", "CSeq", "Via", "From", "To"):
        if message.header(needed) is None:
            raise SipParseError(f"missing {needed} header")
    return message


def response_to(request: SipMessage, status: int, reason: str, to_tag: str = "",
                extra: list[tuple[str, str]] | None = None, body: str = "",
                received: str = "") -> SipMessage:
    """A response copying Via (with rport/received when `received` is 'ip:port'), From,
    To (+ tag), Call-ID and CSeq, as RFC 3261 section 8.2.6 says."""
    headers: list[tuple[str, str]] = []
    for index, via in enumerate(request.header_all("Via")):
        if index == 0 and received:
            host, _, port = received.rpartition(":")
            via = re.sub(r";\s*rport(?==|;|$)(=\d+)?", "", via)
            head, _, rest = via.partition(";")
            via = f"{head};rport={port};received={host}" + (f";{rest}" if rest else "")
        headers.append(("Via", via))
    to = request.header("To") or ""
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    headers += [("Call-ID", request.call_id), ("From", request.header("From") or ""),
                ("To", to), ("CSeq", request.header("CSeq") or "")]
    headers += extra or []
    return SipMessage(f"SIP/2.0 {status} {reason}", headers, body)


def tag_of(header_value: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", header_value)
    return match.group(1) if match else ""


def uri_in(header_value: str) -> str:
    """`"Name" <sip:a@b;transport=ws>;expires=3` -> `sip:a@b;transport=ws`."""
    match = re.search(r"<([^>]*)>", header_value)
    if match:
        return match.group(1)
    return header_value.split(";", 1)[0].strip()


def uri_user(uri: str) -> str:
    match = re.match(r"^sips?:([^@;>]+)@", uri)
    return match.group(1) if match else ""


def header_param(header_value: str, name: str) -> str | None:
    """A parameter after the URI (`;expires=300`), outside the angle brackets."""
    tail = header_value.rsplit(">", 1)[-1] if ">" in header_value else header_value
    match = re.search(rf";\s*{re.escape(name)}=([^;,\s]+)", tail)
    return match.group(1) if match else None


def q850_cause(reason: str | None) -> int | None:
    """`Q.850;cause=16;text="Normal Clearing"` -> 16; absent or another protocol: None."""
    if not reason:
        return None
    match = re.match(r'\s*Q\.850\s*;.*?cause\s*=\s*(\d+)', reason, re.IGNORECASE)
    return int(match.group(1)) if match else None


# ---------------------------------------------------------------------------- digest
def digest_params(header_value: str) -> dict[str, str]:
    scheme, _, rest = header_value.strip().partition(" ")
    if scheme.lower() != "digest":
        return {}
    return {key.lower(): value.strip('"') for key, value in _PARAM.findall(rest)}


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def digest_response(username: str, realm: str, password: str, method: str, uri: str,
                    nonce: str, qop: str = "", nc: str = "", cnonce: str = "") -> str:
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    if qop:
        return _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _md5(f"{ha1}:{nonce}:{ha2}")


def new_nonce(now_s: float) -> str:
    """Asterisk's shape: `<epoch seconds>/<32 hex>`."""
    return f"{int(now_s)}/{secrets.token_hex(16)}"


def new_token(length: int = 10) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
