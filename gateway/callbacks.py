"""The agents' callback agenda: a qualification "callback" with a date books a callback.

Kept durably in `data_dir/callbacks.json` (a small JSON file written atomically on every
change: a temporary file then `os.replace`), so the agenda survives a restart of the
product. The file holds the open callbacks and those done in the last days only.

A callback is due at `due_at` (epoch seconds); the desk lists an agent's callbacks that are
overdue or due today (in the configured time zone) and offers one click to call; placing
that call marks it done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

log = logging.getLogger(__name__)

FILE_NAME = "callbacks.json"
KEEP_DONE_S = 7 * 86400.0


class Callback(msgspec.Struct, frozen=True, kw_only=True):
    callback_id: str
    agent_id: str
    customer_number: str  # E.164
    due_at: float  # epoch seconds
    call_id: str  # the call whose qualification booked it
    contact_id: str | None = None
    comment: str = ""
    created_at: float = 0.0
    done_at: float | None = None


def callback_id(call_id: str) -> str:
    return "cb" + hashlib.sha1(call_id.encode()).hexdigest()[:10]


def due_epoch(local: str, zone: ZoneInfo) -> float:
    """An HTML datetime-local value ("2026-12-03T14:30"), read in `zone`, as epoch seconds."""
    when = dt.datetime.fromisoformat(local)
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


class CallbackStore:
    """Thread-safe; every change is written to disk before the call returns."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._items: dict[str, Callback] = {}
        if path is not None and path.exists():
            try:
                items = msgspec.json.decode(path.read_bytes(), type=list[Callback])
            except msgspec.DecodeError as exc:
                raise ValueError(f"invalid callbacks file {path}: {exc}") from exc
            self._items = {c.callback_id: c for c in items}

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> CallbackStore:
        return cls(Path(data_dir) / FILE_NAME)

    def _save(self, now: float) -> None:
        self._items = {
            k: c for k, c in self._items.items()
            if c.done_at is None or now - c.done_at < KEEP_DONE_S
        }
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".callbacks.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(msgspec.json.encode(list(self._items.values())))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._path)

    def book(self, callback: Callback) -> None:
        """Add or replace (a re-qualification of the same call moves its callback)."""
        with self._lock:
            self._items[callback.callback_id] = callback
            self._save(callback.created_at)

    def get(self, callback_id: str) -> Callback | None:
        with self._lock:
            return self._items.get(callback_id)

    def for_call(self, call_id: str) -> Callback | None:
        return self.get(callback_id(call_id))

    def done(self, callback_id: str, at: float) -> None:
        with self._lock:
            item = self._items.get(callback_id)
            if item is not None and item.done_at is None:
                self._items[callback_id] = msgspec.structs.replace(item, done_at=at)
                self._save(at)

    def agenda(self, agent_id: str, now: float, zone: ZoneInfo) -> list[Callback]:
        """Open callbacks of the agent due before the end of today (overdue ones too),
        soonest first."""
        today = dt.datetime.fromtimestamp(now, zone).date()
        end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), zone).timestamp()
        with self._lock:
            items = [
                c for c in self._items.values()
                if c.agent_id == agent_id and c.done_at is None and c.due_at < end
            ]
        return sorted(items, key=lambda c: c.due_at)
