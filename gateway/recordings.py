"""Call recordings: where the gateway finds them, and how they are listed.

Asterisk writes recordings to its own spool (`<astspooldir>/recording`), which the gateway
usually cannot see. `AriRecordings` reads them through ARI, as Asterisk serves them
(`GET /recordings/stored` lists names and formats, `GET /recordings/stored/{name}/file`
sends the file with `Content-Type: audio/<format>`): no shared disk. The Stack uses it with
the `[ari]` settings. `FolderRecordings` reads WAV files from a folder (a gateway run on its
own, tests). Both answer the same two questions, so the pages do not care which one runs.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import re
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import msgspec
from websockets.http11 import Response

from core.views import CallView
from gateway import http
from gateway.archive import epoch
from gateway.contacts import ContactStore, sort_key

log = logging.getLogger(__name__)

# As Asterisk (and the simulator) name recordings; never a path separator or "..".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$")
MAX_FILE_BYTES = 512 * 1024 * 1024  # ~9 h of 8 kHz WAV: more is not a call recording


class RecordingsUnavailable(Exception):
    """The store could not be read (Asterisk unreachable, refused...); the message is safe to
    show (never a password)."""


class RecordingFile(msgspec.Struct, frozen=True):
    data: bytes
    content_type: str


class Stored(msgspec.Struct, frozen=True):
    size_bytes: int = 0  # 0: unknown (ARI does not say)
    modified_at: float | None = None  # None: unknown (ARI does not say)


class RecordingSource(Protocol):
    async def stored(self) -> dict[str, Stored]:
        """Every stored recording by name."""
        ...

    async def fetch(self, name: str) -> RecordingFile | None:
        """The recording's audio, or None when there is no such recording."""
        ...


def is_safe_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name)) and ".." not in name


class FolderRecordings:
    """WAV files in a folder the gateway can read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def stored(self) -> dict[str, Stored]:
        return await asyncio.to_thread(self._stored)

    def _stored(self) -> dict[str, Stored]:
        if not self.directory.is_dir():
            return {}
        found = {}
        for path in self.directory.glob("*.wav"):
            if is_safe_name(path.stem) and path.is_file():
                stat = path.stat()
                found[path.stem] = Stored(stat.st_size, stat.st_mtime)
        return found

    async def fetch(self, name: str) -> RecordingFile | None:
        path = recording_path(self.directory, name)
        if path is None:
            return None
        return RecordingFile(await asyncio.to_thread(path.read_bytes), "audio/wav")


class AriRecordings:
    """Recordings as Asterisk stores them, read through ARI with the core's credentials."""

    def __init__(self, url: str, user: str, password: str, timeout_s: float = 30.0) -> None:
        self.base = url.rstrip("/") + "/ari"
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _get(self, path: str) -> tuple[int, bytes, str]:
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers, timeout=self._timeout) as session,
                session.get(self.base + path) as response,
            ):
                if response.content_length and response.content_length > MAX_FILE_BYTES:
                    raise RecordingsUnavailable(f"{path}: file over {MAX_FILE_BYTES} bytes")
                body = await response.content.read(MAX_FILE_BYTES + 1)
                if len(body) > MAX_FILE_BYTES:
                    raise RecordingsUnavailable(f"{path}: file over {MAX_FILE_BYTES} bytes")
                return response.status, body, response.content_type
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RecordingsUnavailable(
                f"Asterisk ARI at {self.base} unreachable: {type(exc).__name__}"
            ) from exc

    async def stored(self) -> dict[str, Stored]:
        status, body, _ = await self._get("/recordings/stored")
        if status != 200:
            raise RecordingsUnavailable(f"GET /recordings/stored answered {status}")
        try:
            items = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise RecordingsUnavailable("GET /recordings/stored: not JSON") from exc
        return {
            str(item["name"]): Stored()
            for item in items
            if isinstance(item, dict) and is_safe_name(str(item.get("name", "")))
        }

    async def fetch(self, name: str) -> RecordingFile | None:
        if not is_safe_name(name):
            return None
        status, body, content_type = await self._get(
            f"/recordings/stored/{quote(name, safe='')}/file"
        )
        if status == 404:
            return None
        if status != 200:
            raise RecordingsUnavailable(f"GET /recordings/stored/{name}/file answered {status}")
        return RecordingFile(body, content_type or "application/octet-stream")


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # without .wav
    size_bytes: int  # 0 when unknown (ARI does not say) or when the file is not there
    available: bool = True  # the store has the file (False: recorded, then deleted or lost)
    recorded_at: float
    agent_id: str | None = None
    customer_number: str | None = None
    talk_seconds: float | None = None
    outcome: str | None = None
    disposition: str | None = None
    contact_name: str | None = None
    ended_by: str | None = None


def matches(query: str, rec: Recording) -> bool:
    """The recordings search: a number as typed or as displayed ("01 99 00 53 05",
    "0199005305", "+33 1 99..."), part of the contact's name (accents and case ignored),
    or part of the file name."""
    text = query.strip()
    if not text:
        return True
    if text.casefold() in rec.name.casefold():
        return True
    digits = "".join(ch for ch in text if ch.isdigit())
    number = rec.customer_number or ""
    if len(digits) >= 3 and number:
        national = digits[1:] if digits.startswith("0") else digits
        if digits in number or national in number.removeprefix("+"):
            return True
    return bool(rec.contact_name) and sort_key(text) in sort_key(rec.contact_name or "")


def _name_of(contacts: ContactStore | None, contact_id: str | None, number: str | None) -> str | None:
    if contacts is None:
        return None
    contact = contacts.get(contact_id) if contact_id else None
    if contact is None and number:
        contact = contacts.by_phone(number)
    return contact.name if contact is not None else None


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single `Range: bytes=...` request, None when the header
    asks for nothing this file has; ValueError when it is not a single byte range (then
    the whole file is sent, as RFC 9110 allows)."""
    match = _RANGE.match(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        raise ValueError(header)
    first, last = match.group(1), match.group(2)
    if first == "":  # the last N bytes
        count = int(last)
        return (max(size - count, 0), size - 1) if count and size else None
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return None
    return start, end


def audio_response(audio: RecordingFile, ranges: list[str]) -> Response:
    """200 with the whole file, or 206 with the part a seeking <audio> element asked for
    (416 when it asked for bytes past the end)."""
    size = len(audio.data)
    cache = "private, no-store"
    accept = [("Accept-Ranges", "bytes")]
    if len(ranges) == 1:
        try:
            part = byte_range(ranges[0], size)
        except ValueError:
            pass
        else:
            if part is None:
                return http.response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"",
                                     audio.content_type,
                                     [*accept, ("Content-Range", f"bytes */{size}")], cache)
            first, last = part
            return http.response(HTTPStatus.PARTIAL_CONTENT, audio.data[first:last + 1],
                                 audio.content_type,
                                 [*accept, ("Content-Range", f"bytes {first}-{last}/{size}")],
                                 cache)
    return http.response(HTTPStatus.OK, audio.data, audio.content_type, accept, cache)


def recording_path(directory: Path, name: str) -> Path | None:
    """The WAV file for a recording name, or None if the name is not safe or not there."""
    if not is_safe_name(name):
        return None
    path = (directory / f"{name}.wav").resolve()
    if path.parent != directory.resolve() or not path.is_file():
        return None
    return path


def list_recordings(
    stored: dict[str, Stored],
    calls: list[CallView],
    agent: str = "",
    day: str = "",
    query: str = "",
    limit: int = 500,
    contacts: ContactStore | None = None,
    started: dict[str, float] | None = None,
    zone: dt.tzinfo | None = None,
) -> list[Recording]:
    """Every stored recording, described by the calls seen since the gateway started;
    `started`: call id -> start time (the time every page shows for a call)."""
    by_name = {c.recording_name: c for c in calls if c.recording_name}
    wanted_day: dt.date | None = None
    if day:
        try:
            wanted_day = dt.date.fromisoformat(day)
        except ValueError:
            wanted_day = None
    found: list[Recording] = []
    for name, entry in stored.items():
        call = by_name.get(name)
        when = entry.modified_at
        if call is not None:
            when = (started or {}).get(call.call_id, when or call.connected_at or call.step_since)
        talk = (
            call.ended_at - call.connected_at
            if call is not None and call.ended_at and call.connected_at else None
        )
        rec = Recording(
            name=name,
            size_bytes=entry.size_bytes,
            recorded_at=when or 0.0,
            agent_id=call.agent_id if call else None,
            customer_number=call.customer_number if call else None,
            talk_seconds=talk,
            outcome=str(call.outcome) if call is not None and call.outcome else None,
            ended_by=str(call.ended_by) if call is not None and call.ended_by else None,
            contact_name=_name_of(
                contacts, call.contact_id if call else None, call.customer_number if call else None
            ),
        )
        if agent and rec.agent_id != agent:
            continue
        if wanted_day and (not rec.recorded_at or
                           dt.datetime.fromtimestamp(rec.recorded_at, zone).date() != wanted_day):
            continue
        if not matches(query, rec):
            continue
        found.append(rec)
    found.sort(key=lambda r: r.recorded_at, reverse=True)
    return found[:limit]


def archived_recordings(
    stored: dict[str, Stored], items: list[Any], query: str = "", limit: int = 500,
    contacts: ContactStore | None = None,
) -> list[Recording]:
    """Recorded calls from the archive (analytics RecordingItem), each marked available or
    not according to the store."""
    found: list[Recording] = []
    for item in items:
        name = item.recording_name
        if not is_safe_name(name):
            continue
        entry = stored.get(name)
        rec = Recording(
            name=name,
            size_bytes=entry.size_bytes if entry else 0,
            available=entry is not None,
            recorded_at=epoch(item.started_at),
            agent_id=item.agent_id,
            customer_number=item.customer_number,
            talk_seconds=item.talk_seconds,
            outcome=item.outcome,
            disposition=item.disposition,
            contact_name=_name_of(contacts, None, item.customer_number),
        )
        if matches(query, rec):
            found.append(rec)
    return found[:limit]
