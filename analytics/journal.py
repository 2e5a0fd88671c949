"""The writer's append-only JSON-lines journal: no call record is lost between tell() and DuckDB.

Every record the AnalyticsWriter accepts is appended here first (one `JournalEntry` per line,
written to the OS at once, so it survives a crash of the process), fsync'd once per batch
(so it survives a crash of the machine) before the batch goes to DuckDB, and the journal is
emptied only after DuckDB has committed everything it holds. On start the writer replays what
is left; the store upserts by key, so a replay of rows already committed changes nothing.

A torn last line (the process died mid-write) or any line that does not decode is kept aside
in `<journal>.corrupt` and reported, never silently dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import msgspec

from analytics.intervals import AgentStateInterval
from core.agent_leg_session import AgentSessionRecord
from core.records import CallRecord, Disposition

log = logging.getLogger(__name__)

JournalRecord = CallRecord | Disposition | AgentStateInterval | AgentSessionRecord


class JournalEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line: exactly one of the fields is set (`agent_leg_session` is optional: lines
    written before it existed decode as before)."""

    call: CallRecord | None = None
    disposition: Disposition | None = None
    interval: AgentStateInterval | None = None
    agent_leg_session: AgentSessionRecord | None = None

    @property
    def record(self) -> JournalRecord:
        record = self.call or self.disposition or self.interval or self.agent_leg_session
        if record is None:
            raise ValueError("empty journal entry")
        return record


def record_key(record: JournalRecord) -> str:
    """The record's identity: the store upserts by it, the bus de-duplicates by it."""
    if isinstance(record, CallRecord):
        return f"call:{record.call_id}"
    if isinstance(record, Disposition):
        return f"disposition:{record.call_id}"
    if isinstance(record, AgentSessionRecord):
        return f"agent_leg_session:{record.agent_id}@{record.started_at}"
    return f"interval:{record.agent_id}@{record.started_at}"


def entry_for(record: JournalRecord) -> JournalEntry:
    if isinstance(record, CallRecord):
        return JournalEntry(call=record)
    if isinstance(record, Disposition):
        return JournalEntry(disposition=record)
    if isinstance(record, AgentStateInterval):
        return JournalEntry(interval=record)
    if isinstance(record, AgentSessionRecord):
        return JournalEntry(agent_leg_session=record)
    raise TypeError(f"not a journal record: {type(record).__name__}")


class Journal:
    """Not thread-safe: the writer actor is its only user."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(JournalEntry)
        self._file: IO[bytes] = self.path.open("ab")
        self._unsynced = 0

    def append(self, record: JournalRecord) -> None:
        """Write one line to the OS (no fsync: `sync` does that once per batch)."""
        self._file.write(self._encoder.encode(entry_for(record)) + b"\n")
        self._file.flush()
        self._unsynced += 1

    def sync(self) -> None:
        if self._unsynced:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._unsynced = 0

    def clear(self) -> None:
        """Everything journaled is committed to the store: start an empty journal."""
        self._file.flush()
        self._file.truncate(0)
        self._file.seek(0)
        os.fsync(self._file.fileno())
        self._unsynced = 0

    def replay(self) -> list[JournalRecord]:
        """Every decodable record in the journal, oldest first."""
        return list(self._read())

    def _read(self) -> Iterator[JournalRecord]:
        self._file.flush()
        with self.path.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield self._decoder.decode(line).record
                except (msgspec.DecodeError, ValueError) as exc:
                    log.error(
                        "journal %s line %d unreadable (%s); kept aside", self.path, number, exc
                    )
                    self._keep_aside(line)

    def keep_aside(self, record: JournalRecord) -> None:
        """A record that decodes but cannot be stored: out of the way, not lost."""
        self._keep_aside(self._encoder.encode(entry_for(record)))

    def _keep_aside(self, line: bytes) -> None:
        corrupt = self.path.with_name(self.path.name + ".corrupt")
        with corrupt.open("ab") as fh:
            fh.write(line if line.endswith(b"\n") else line + b"\n")

    def close(self) -> None:
        try:
            self.sync()
        finally:
            self._file.close()
