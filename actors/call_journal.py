"""The live-calls journal: what a restarted core needs to know about calls that were up.

Asterisk forgets a call the moment its channels are gone, so a call that ended while the core
was down (killed, restarting) would leave no record. Each CallActor appends `start` (its
CallRequest), `connected` and `end` lines; on start the reconciler reads the journal, adopts
the calls Asterisk still has and writes a record for each live-in-the-journal call Asterisk
no longer has. One small JSON line per event, appended and flushed (a SIGKILL loses nothing
the OS received); rewritten compactly (live calls only) when the core starts.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

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


class CallJournal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(JournalLine)

    def _append(self, line: JournalLine) -> None:
        data = self._encoder.encode(line) + b"\n"
        with self._lock, self.path.open("ab") as fh:
            fh.write(data)

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
            calls = self.live_calls()
            tmp = self.path.with_suffix(self.path.suffix + ".tmp")
            with tmp.open("wb") as fh:
                for call in calls.values():
                    fh.write(
                        self._encoder.encode(
                            JournalLine(
                                op="start",
                                call_id=call.request.call_id,
                                at=call.request.requested_at,
                                request=call.request,
                            )
                        )
                        + b"\n"
                    )
                    if call.connected_at is not None:
                        fh.write(
                            self._encoder.encode(
                                JournalLine(
                                    op="connected",
                                    call_id=call.request.call_id,
                                    at=call.connected_at,
                                )
                            )
                            + b"\n"
                        )
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
