"""Where finished call records go: a port with an in-memory and a JSON-lines implementation.

`write` is called from CallActor threads; implementations are thread-safe and fast (the DuckDB
writer, elsewhere, batches behind its own actor).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import msgspec

log = logging.getLogger(__name__)


class CallRecordSink(Protocol):
    """Takes frozen Structs: a call's one CallRecord (CallActor, Reconciler), an agent's
    Disposition of it (AgentActor); a sink stores what it is given, whatever its type."""

    def write(self, record: object) -> None: ...


class MemoryRecordSink:
    """Keeps records in a list; `wait_for` lets tests block on a record, never sleep."""

    def __init__(self) -> None:
        self._records: list[object] = []
        self._cond = threading.Condition()
        self._listeners: list[Callable[[object], None]] = []

    def write(self, record: object) -> None:
        with self._cond:
            self._records.append(record)
            self._cond.notify_all()
        for listener in list(self._listeners):
            listener(record)

    def add_listener(self, listener: Callable[[object], None]) -> None:
        self._listeners.append(listener)

    @property
    def records(self) -> list[object]:
        with self._cond:
            return list(self._records)

    def wait_for(self, predicate: Callable[[object], bool], timeout: float) -> object | None:
        """The first record matching `predicate`, waiting up to `timeout` seconds."""
        with self._cond:
            found: list[object] = []

            def match() -> bool:
                found[:] = [r for r in self._records if predicate(r)]
                return bool(found)

            if self._cond.wait_for(match, timeout):
                return found[0]
            return None


class JsonLinesRecordSink:
    """One JSON object per line, appended and flushed per record (crash-safe enough)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()

    def write(self, record: object) -> None:
        line = self._encoder.encode(record) + b"\n"
        with self._lock, self.path.open("ab") as fh:
            fh.write(line)


class FanOutSink:
    """Every sink gets every record: one that fails (a full disk for the JSON lines) is
    logged and the others are still written; then the first failure is raised."""

    def __init__(self, *sinks: CallRecordSink) -> None:
        self.sinks = list(sinks)

    def write(self, record: object) -> None:
        first_error: Exception | None = None
        for sink in self.sinks:
            try:
                sink.write(record)
            except Exception as exc:
                log.exception("record sink %s failed", type(sink).__name__)
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
