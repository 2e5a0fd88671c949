"""AnalyticsWriter: the only DuckDB writer. Records arrive by tell(), leave in batches.

    tell(CallRecord | Disposition | AgentStateInterval | AgentSessionRecord)
                                                          journaled at once, buffered
    tell(AgentView)                                       cut into agent state intervals
    tell(RecordWithAck(record, on_durable))               same, `on_durable(key)` after fsync
    tell(FlushDue(...))                                    (its own timer) flush if due
    ask(FlushNow())  -> WriterStatus                       flush now (composition root, tests)
    ask(GetWriterStatus()) -> WriterStatus

Order of a record's life: append to the JSON-lines journal (written to the OS immediately:
a killed process loses nothing) -> buffer -> at `batch_size` records (up to `max_batch_size`
while more messages are queued) or `flush_interval_s` after the first one: fsync the journal, acknowledge, upsert the whole buffer into
DuckDB in one transaction, empty the journal. If DuckDB fails, the buffer and the journal are
kept, the error is logged and counted (`evscallpro_record_write_errors_total`), and the flush
is retried with back-off. On start, what the journal still holds is replayed (upserts are
idempotent by key). On stop, open agent intervals are closed and everything is flushed.

Every handler is guarded: a bad message is logged and refused, it never stops the actor.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pykka

from actors.messages import (
    FlushDue,
    FlushNow,
    GetWriterStatus,
    RecordWithAck,
    Teller,
    WriterStatus,
)
from analytics import metrics
from analytics.intervals import AgentIntervalTracker, AgentStateInterval
from analytics.journal import Journal, JournalRecord, record_key
from analytics.rows import RowError
from analytics.store import DEFAULT_DB_PATH, Batch, CallStore
from core.agent_leg_session import AgentSessionRecord
from core.records import CallRecord, Disposition
from core.views import AgentView, CallView

log = logging.getLogger(__name__)


class WriterConfig(msgspec.Struct, frozen=True, kw_only=True):
    db_path: str = str(DEFAULT_DB_PATH)
    journal_path: str | None = None  # default: <db_path>.journal.jsonl
    batch_size: int = 500
    # While more messages wait in the inbox (a burst, a replay), keep filling the batch up to
    # this size: one bigger upsert costs much less per record than several small ones.
    max_batch_size: int = 5000
    flush_interval_s: float = 1.0
    retry_initial_s: float = 0.5
    retry_max_s: float = 30.0

    @property
    def journal(self) -> Path:
        return Path(self.journal_path or f"{self.db_path}.journal.jsonl")


class AnalyticsWriter(pykka.ThreadingActor):
    def __init__(
        self,
        config: WriterConfig | None = None,
        clock: Callable[[], float] = time.time,
        store_factory: Callable[[str], CallStore] = CallStore,
    ) -> None:
        super().__init__()
        self.config = config or WriterConfig()
        self._clock = clock
        self._store_factory = store_factory
        self._store: CallStore | None = None
        self._journal: Journal | None = None
        self._tracker = AgentIntervalTracker()
        self._batch = Batch()
        self._acks: list[tuple[str, Callable[[str], None]]] = []
        self._timer: threading.Timer | None = None
        self._generation = 0
        self._retry_s = self.config.retry_initial_s
        self._failing = False  # a write failed: only the retry timer flushes until one works
        self._written = 0
        self._replayed = 0
        self._errors = 0
        self._refused = 0
        self._last_error = ""

    # --- lifecycle --------------------------------------------------------------------------

    def on_start(self) -> None:
        self._journal = Journal(self.config.journal)
        self._open_store()
        replay = self._journal.replay()
        for record in replay:
            try:
                self._buffer(record)
            except RowError as exc:
                log.error("journaled record cannot be stored (%s); kept aside", exc)
                self._journal.keep_aside(record)
        self._replayed = len(replay)
        if replay:
            log.warning("replaying %d journaled records into %s", len(replay), self.config.db_path)
            metrics.journal_replayed(len(replay))
            self._flush()

    def on_stop(self) -> None:
        self._cancel_timer()
        try:
            for interval in self._tracker.close_all(self._clock()):
                self._accept(interval)
            self._flush()
        finally:
            self._cancel_timer()  # a failed last flush armed a retry that will never run
            self._close()

    def on_failure(self, *_: object) -> None:
        self._cancel_timer()
        self._close()

    def _close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- messages ---------------------------------------------------------------------------

    def on_receive(self, message: object) -> WriterStatus | None:
        try:
            return self._dispatch(message)
        except Exception as exc:  # the actor outlives any bad message
            self._refused += 1
            log.exception("AnalyticsWriter refused %s", type(message).__name__)
            self._last_error = f"{type(exc).__name__}: {exc}"
            return None

    def _dispatch(self, message: object) -> WriterStatus | None:
        match message:
            case CallRecord() | Disposition() | AgentStateInterval() | AgentSessionRecord():
                self._accept(message)
            case RecordWithAck(record=record, on_durable=on_durable):
                self._accept(record)
                self._acks.append((record_key(record), on_durable))
            case AgentView():
                for interval in self._tracker.observe(message):
                    self._accept(interval)
            case CallView():
                pass  # live progress; the CallRecord at the end is what is stored
            case FlushDue(generation=generation):
                if generation == self._generation:
                    self._timer = None
                    self._flush()
            case FlushNow():
                self._flush()
                return self._status()
            case GetWriterStatus():
                return self._status()
            case _:
                self._refused += 1
                log.error("AnalyticsWriter: not a record: %r", type(message).__name__)
        return None

    def _accept(self, record: JournalRecord) -> None:
        """Refuse what cannot be stored before journaling it; journal; buffer; maybe flush."""
        rows = _rows_of(record)  # raises RowError: nothing journaled, nothing buffered
        assert self._journal is not None
        try:
            self._journal.append(record)
        except OSError as exc:  # disk full...: the record is only in memory, still try DuckDB
            self._journal_failed(f"append of {record_key(record)}", exc)
        self._batch.extend(rows)
        if self._batch_full() and not self._failing:
            self._flush()
        else:
            metrics.records_pending(self.pending)
            self._arm_timer(self.config.flush_interval_s)

    def _buffer(self, record: JournalRecord) -> None:
        """A replayed record: already in the journal."""
        rows = _rows_of(record)
        self._batch.extend(rows)

    def _batch_full(self) -> bool:
        pending = self.pending
        if pending < self.config.batch_size:
            return False
        return pending >= self.config.max_batch_size or self.actor_inbox.empty()

    @property
    def pending(self) -> int:
        return len(self._batch)

    # --- flushing ---------------------------------------------------------------------------

    def _flush(self) -> None:
        try:
            self._flush_batch()
        finally:
            metrics.records_pending(self.pending)

    def _flush_batch(self) -> None:
        self._cancel_timer()
        if self._journal is None:
            return
        try:
            self._journal.sync()
            self._acknowledge()  # only once the journal is on disk
        except OSError as exc:
            self._journal_failed("fsync", exc)
        if not self.pending:
            return
        if self._store is None and not self._open_store():
            self._arm_retry()
            return
        assert self._store is not None
        try:
            written = self._store.write(self._batch)
        except Exception as exc:
            self._write_failed(exc)
            return
        self._batch = Batch()
        self._written += written
        self._failing = False
        self._retry_s = self.config.retry_initial_s
        metrics.records_written(written)
        try:
            self._journal.clear()
        except OSError as exc:  # a later replay re-upserts the same rows: harmless
            self._journal_failed("truncate", exc)

    def _journal_failed(self, what: str, exc: OSError) -> None:
        self._errors += 1
        self._last_error = f"journal {what}: {exc}"
        metrics.record_write_error()
        log.error("journal %s failed: %s", what, exc)

    def _acknowledge(self) -> None:
        acks, self._acks = self._acks, []
        for key, on_durable in acks:
            try:
                on_durable(key)
            except Exception:
                log.exception("ack callback for %s failed", key)

    def _write_failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        metrics.record_write_error()
        log.error(
            "DuckDB write of %d records failed (%s); kept in the journal, retry in %.1fs",
            self.pending,
            self._last_error,
            self._retry_s,
        )
        self._arm_retry()

    def _open_store(self) -> bool:
        try:
            self._store = self._store_factory(self.config.db_path)
            return True
        except Exception as exc:
            self._store = None
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            metrics.record_write_error()
            log.error("cannot open %s (%s); records stay in the journal", self.config.db_path, exc)
            return False

    # --- timer (tells this actor; never runs writer code on the timer thread) -------------

    def _arm_retry(self) -> None:
        self._failing = True
        self._arm_timer(self._retry_s, force=True)
        self._retry_s = min(self._retry_s * 2, self.config.retry_max_s)

    def _arm_timer(self, delay_s: float, force: bool = False) -> None:
        if self._timer is not None and not force:
            return
        self._cancel_timer()
        self._generation += 1
        generation = self._generation
        ref = self.actor_ref
        timer = threading.Timer(delay_s, _tell_quietly, args=(ref, FlushDue(generation)))
        timer.daemon = True
        timer.name = "analytics-flush-timer"
        self._timer = timer
        timer.start()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _status(self) -> WriterStatus:
        return WriterStatus(
            pending=self.pending,
            written=self._written,
            replayed=self._replayed,
            write_errors=self._errors,
            refused=self._refused,
            last_error=self._last_error,
            store_open=self._store is not None,
        )


def _rows_of(record: object) -> Batch:
    """The rows of one record, in a batch of their own (raises RowError)."""
    batch = Batch()
    batch.add(record)
    return batch


def _tell_quietly(ref: Teller, message: object) -> None:
    with contextlib.suppress(pykka.ActorDeadError):
        ref.tell(message)


class AnalyticsWriterSink:
    """The `actors.sinks.CallRecordSink` port onto the writer: `write` is a tell().

    Wiring in the composition root: put it in the record sink (CallRecords and Dispositions)
    and `subscribe(sink.on_view)` so agent views become state intervals.
    """

    def __init__(self, ref: AnalyticsWriterRef) -> None:
        self._ref = ref

    def write(self, record: object) -> None:
        try:
            self._ref.tell(record)
        except pykka.ActorDeadError:
            log.error(
                "AnalyticsWriter is stopped; %s %s NOT stored",
                type(record).__name__,
                getattr(record, "call_id", "?"),
            )

    def on_view(self, view: AgentView | CallView) -> None:
        """A CallCenter.subscribe listener: only agent views matter (state intervals)."""
        if isinstance(view, AgentView):
            with contextlib.suppress(pykka.ActorDeadError):
                self._ref.tell(view)


AnalyticsWriterRef = pykka.ActorRef[AnalyticsWriter]
"""How the composition root and the sink hold the writer (typed)."""
