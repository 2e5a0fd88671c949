"""The live-calls journal: what a restarted core needs to know about calls that were up.

Asterisk forgets a call the moment its channels are gone, so a call that ended while the core
was down (killed, restarting) would leave no record. Each CallActor appends `start` (its
CallRequest), `connected` and `end` lines; on start the reconciler reads the journal, adopts
the calls Asterisk still has and writes a record for each live-in-the-journal call Asterisk
no longer has. One small JSON line per event, appended and flushed (a SIGKILL loses nothing
the OS received). Rewritten compactly (live calls only) when the core starts and whenever it
grows past `compact_after_lines` lines or `compact_above_bytes` bytes (each bound at least
twice what the last rewrite kept, so many live calls cannot make it rewrite on every line):
a long run keeps a small journal. The rewrite is atomic (temp file, fsync, rename, fsync of
the directory): a SIGKILL at any moment leaves either the old journal or the new one.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Protocol

import msgspec

from core.call_config import CallRequest
from core.domain import CallStep

log = logging.getLogger(__name__)


class JournalLine(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    op: str  # "start" | "connected" | "end"
    call_id: str
    at: float
    request: CallRequest | None = None


class JournaledCall(msgspec.Struct, kw_only=True):
    request: CallRequest
    last_step: CallStep = CallStep.REQUESTED
    connected_at: float | None = None


class LiveCallJournal(Protocol):
    """What CallActors write and recovery reads: this file journal, or a node's JetStream
    key-value bucket (bus/live_calls_kv.py). Writes come from actor threads."""

    def started(self, request: CallRequest, at: float) -> None: ...

    def connected(self, call_id: str, at: float) -> None: ...

    def ended(self, call_id: str, at: float) -> None: ...

    def live_calls(self) -> dict[str, JournaledCall]: ...

    def compact(self) -> None: ...


DEFAULT_COMPACT_AFTER_LINES = 10_000
DEFAULT_COMPACT_ABOVE_BYTES = 8 * 1024 * 1024


class CallJournal:
    def __init__(
        self,
        path: str | Path,
        compact_after_lines: int = DEFAULT_COMPACT_AFTER_LINES,
        compact_above_bytes: int = DEFAULT_COMPACT_ABOVE_BYTES,
    ) -> None:
        if compact_after_lines < 1 or compact_above_bytes < 1:
            raise ValueError(
                "journal compaction bounds must be >= 1, got "
                f"{compact_after_lines} lines / {compact_above_bytes} bytes"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.compact_after_lines = compact_after_lines
        self.compact_above_bytes = compact_above_bytes
        self.compactions = 0
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(JournalLine)
        try:
            existing = self.path.read_bytes()
        except FileNotFoundError:
            existing = b""
        self._lines = existing.count(b"\n")
        self._bytes = len(existing)
        self._kept_lines = 0  # what the last rewrite kept: the growth bounds start above it
        self._kept_bytes = 0

    def _append(self, line: JournalLine) -> None:
        data = self._encoder.encode(line) + b"\n"
        with self._lock:
            with self.path.open("ab") as fh:
                fh.write(data)
            self._lines += 1
            self._bytes += len(data)
            if self._too_big():
                self._compact_locked()

    def _too_big(self) -> bool:
        return self._lines > max(self.compact_after_lines, 2 * self._kept_lines) or (
            self._bytes > max(self.compact_above_bytes, 2 * self._kept_bytes)
        )

    def started(self, request: CallRequest, at: float) -> None:
        self._append(JournalLine(op="start", call_id=request.call_id, at=at, request=request))

    def connected(self, call_id: str, at: float) -> None:
        self._append(JournalLine(op="connected", call_id=call_id, at=at))

    def ended(self, call_id: str, at: float) -> None:
        self._append(JournalLine(op="end", call_id=call_id, at=at))

    def live_calls(self) -> dict[str, JournaledCall]:
        """Calls started and not ended, as the journal says (bad lines are skipped)."""
        calls: dict[str, JournaledCall] = {}
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return calls
        for number, text in enumerate(raw.splitlines(), 1):
            if not text.strip():
                continue
            try:
                line = self._decoder.decode(text)
            except msgspec.DecodeError as exc:
                log.warning("%s:%d: unreadable journal line skipped (%s)", self.path, number, exc)
                continue
            if line.op == "start" and line.request is not None:
                calls[line.call_id] = JournaledCall(request=line.request)
            elif line.op == "connected" and line.call_id in calls:
                calls[line.call_id].last_step = CallStep.CONNECTED
                calls[line.call_id].connected_at = line.at
            elif line.op == "end":
                calls.pop(line.call_id, None)
        return calls

    def compact(self) -> None:
        """Rewrite the journal with the live calls only (atomic rename)."""
        with self._lock:
            self._compact_locked()

    def _compact_locked(self) -> None:
        """The rewrite itself (the lock held: no line is appended meanwhile). A failed
        rewrite leaves the journal as it was and is not tried again before it doubles."""
        try:
            lines, size = self._rewrite(self.live_calls())
        except OSError as exc:
            log.error("%s: compaction failed, journal kept as is (%s)", self.path, exc)
            self._kept_lines, self._kept_bytes = self._lines, self._bytes
            return
        log.info(
            "%s: compacted %d lines (%d bytes) -> %d lines (%d bytes)",
            self.path,
            self._lines,
            self._bytes,
            lines,
            size,
        )
        self._lines = self._kept_lines = lines
        self._bytes = self._kept_bytes = size
        self.compactions += 1

    def _rewrite(self, calls: dict[str, JournaledCall]) -> tuple[int, int]:
        """Write `calls` to a temp file, fsync, rename over the journal, fsync the folder."""
        data = bytearray()
        lines = 0
        for call in calls.values():
            data += self._encoder.encode(
                JournalLine(
                    op="start",
                    call_id=call.request.call_id,
                    at=call.request.requested_at,
                    request=call.request,
                )
            )
            data += b"\n"
            lines += 1
            if call.connected_at is not None:
                data += self._encoder.encode(
                    JournalLine(op="connected", call_id=call.request.call_id, at=call.connected_at)
                )
                data += b"\n"
                lines += 1
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        return lines, len(data)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform opens folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
