"""Call recordings on disk (WAV), listed with what the hub knows of each call."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec

from core.views import CallView
from gateway.archive import epoch
from gateway.contacts import ContactStore, sort_key

# As Asterisk (and the simulator) name recordings; never a path separator or "..".
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$")


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # without .wav
    size_bytes: int  # 0 when the file is not (or no longer) on disk
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


def recording_path(directory: Path, name: str) -> Path | None:
    """The WAV file for a recording name, or None if the name is not safe or not there."""
    if not NAME_PATTERN.match(name) or ".." in name:
        return None
    path = (directory / f"{name}.wav").resolve()
    if path.parent != directory.resolve() or not path.is_file():
        return None
    return path


def list_recordings(
    directory: Path,
    calls: list[CallView],
    agent: str = "",
    day: str = "",
    query: str = "",
    limit: int = 500,
    contacts: ContactStore | None = None,
    started: dict[str, float] | None = None,
    zone: dt.tzinfo | None = None,
) -> list[Recording]:
    """The WAV files on disk, described by the calls seen since the gateway started;
    `started`: call id -> start time (the time every page shows for a call)."""
    if not directory.is_dir():
        return []
    by_name = {c.recording_name: c for c in calls if c.recording_name}
    wanted_day: dt.date | None = None
    if day:
        try:
            wanted_day = dt.date.fromisoformat(day)
        except ValueError:
            wanted_day = None
    found: list[Recording] = []
    for path in directory.glob("*.wav"):
        name = path.stem
        if not NAME_PATTERN.match(name):
            continue
        stat = path.stat()
        call = by_name.get(name)
        talk = (
            call.ended_at - call.connected_at
            if call is not None and call.ended_at and call.connected_at else None
        )
        rec = Recording(
            name=name,
            size_bytes=stat.st_size,
            recorded_at=(started or {}).get(call.call_id, stat.st_mtime) if call else stat.st_mtime,
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
        if wanted_day and dt.datetime.fromtimestamp(rec.recorded_at, zone).date() != wanted_day:
            continue
        if not matches(query, rec):
            continue
        found.append(rec)
    found.sort(key=lambda r: r.recorded_at, reverse=True)
    return found[:limit]


def archived_recordings(
    directory: Path, items: list[Any], query: str = "", limit: int = 500,
    contacts: ContactStore | None = None,
) -> list[Recording]:
    """Recorded calls from the archive (analytics RecordingItem), with their file's size."""
    found: list[Recording] = []
    for item in items:
        name = item.recording_name
        if not NAME_PATTERN.match(name) or ".." in name:
            continue
        path = directory / f"{name}.wav"
        rec = Recording(
                name=name,
                size_bytes=path.stat().st_size if path.is_file() else 0,
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
