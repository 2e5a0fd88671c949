"""Call recordings on disk (WAV), listed with what the hub knows of each call."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import msgspec

from core.views import CallView
from gateway.archive import epoch

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
) -> list[Recording]:
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
        rec = Recording(
            name=name,
            size_bytes=stat.st_size,
            recorded_at=stat.st_mtime,
            agent_id=call.agent_id if call else None,
            customer_number=call.customer_number if call else None,
        )
        if agent and rec.agent_id != agent:
            continue
        if wanted_day and dt.date.fromtimestamp(rec.recorded_at) != wanted_day:
            continue
        if query and query.casefold() not in name.casefold() and query not in (rec.customer_number or ""):
            continue
        found.append(rec)
    found.sort(key=lambda r: r.recorded_at, reverse=True)
    return found[:limit]


def archived_recordings(
    directory: Path, items: list[Any], query: str = "", limit: int = 500
) -> list[Recording]:
    """Recorded calls from the archive (analytics RecordingItem), with their file's size."""
    found: list[Recording] = []
    for item in items:
        name = item.recording_name
        if not NAME_PATTERN.match(name) or ".." in name:
            continue
        if query and query.casefold() not in name.casefold() and query not in item.customer_number:
            continue
        path = directory / f"{name}.wav"
        found.append(
            Recording(
                name=name,
                size_bytes=path.stat().st_size if path.is_file() else 0,
                recorded_at=epoch(item.started_at),
                agent_id=item.agent_id,
                customer_number=item.customer_number,
                talk_seconds=item.talk_seconds,
                outcome=item.outcome,
                disposition=item.disposition,
            )
        )
    return found[:limit]
