"""AnalyticsWriter: batching, flush on stop, journal replay after a crash, idempotence, errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import msgspec
import pytest
from analytics_helpers import WAIT_S, count_rows
from prometheus_client import REGISTRY
from support.synthetic import dispositions_for, generate_calls

from actors.analytics_writer import AnalyticsWriter, AnalyticsWriterSink, WriterConfig
from actors.messages import FlushNow, GetWriterStatus, RecordWithAck, WriterStatus
from analytics.journal import Journal
from core.domain import AgentState, CallStep, WorkstationMode
from core.records import CallRecord
from core.views import AgentView, CallView

REPO = Path(__file__).resolve().parents[2]
SLOW = 3600.0  # a flush interval that never fires during a test


def sample(name: str) -> float:
    """A metric's value as /metrics exposes it (0 before its first sample)."""
    return REGISTRY.get_sample_value(name) or 0.0


def _status(ref) -> WriterStatus:  # type: ignore[no-untyped-def]
    status = ref.ask(GetWriterStatus(), timeout=WAIT_S)
    assert isinstance(status, WriterStatus)
    return status


def _calls(n: int, **kw: object) -> list[CallRecord]:
    return list(generate_calls(n, **kw))  # type: ignore[arg-type]


def test_flushes_every_batch_size_records(start_writer, db_path: str) -> None:
    ref, box = start_writer(batch_size=10, max_batch_size=10, flush_interval_s=SLOW)
    for record in _calls(25):
        ref.tell(record)
    store = box.store
    assert store.wait_for(lambda s: len(s.write_sizes) >= 2)
    assert store.write_sizes == [10, 10]
    assert _status(ref).pending == 5  # the rest waits for the next batch or the timer
    ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 25  # flushed on stop
    assert count_rows(db_path, "call_legs") > 25


def test_batches_grow_up_to_max_while_messages_queue(start_writer, db_path: str) -> None:
    ref, box = start_writer(batch_size=10, max_batch_size=40, flush_interval_s=SLOW)
    for record in _calls(100):
        ref.tell(record)
    store = box.store
    assert store.wait_for(lambda s: sum(s.write_sizes) >= 70)
    assert all(10 <= size <= 40 for size in store.write_sizes), store.write_sizes
    ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 100


def test_flushes_after_interval_when_batch_not_full(start_writer) -> None:
    ref, box = start_writer(batch_size=1000, flush_interval_s=0.05)
    for record in _calls(3):
        ref.tell(record)
    store = box.store
    assert store.wait_for(lambda s: sum(s.write_sizes) == 3)
    assert _status(ref).pending == 0


def test_stop_flushes_buffer_and_open_agent_intervals(start_writer, db_path: str) -> None:
    ref, _ = start_writer(batch_size=1000, flush_interval_s=SLOW)
    records = _calls(4)
    for record in records:
        ref.tell(record)
    ref.tell(_agent("a1", AgentState.AVAILABLE, 1000.0))
    ref.tell(_agent("a1", AgentState.PAUSED, 1060.0, pause_reason="lunch"))
    assert _status(ref).pending == 5  # 4 calls + the closed AVAILABLE interval
    ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 4
    # AVAILABLE closed by the PAUSED snapshot, PAUSED closed at stop.
    assert count_rows(db_path, "agent_state_intervals") == 2


def test_journal_replayed_after_crash(tmp_path: Path, db_path: str) -> None:
    """A real crash: the process is SIGKILLed after the records were told, before any flush."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / "tests")!r}]
        from actors.analytics_writer import AnalyticsWriter, WriterConfig
        from actors.messages import GetWriterStatus
        from support.synthetic import generate_calls
        ref = AnalyticsWriter.start(
            WriterConfig(db_path={db_path!r}, batch_size=1000, flush_interval_s=3600)
        )
        for record in generate_calls(7, prefix="crash"):
            ref.tell(record)
        status = ref.ask(GetWriterStatus(), timeout=10)
        print("pending", status.pending, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert "pending 7" in done.stdout
    assert count_rows(db_path) == 0  # nothing reached DuckDB before the kill

    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    try:
        status = _status(ref)
        assert status.replayed == 7
        assert status.written == 7
        assert status.pending == 0
    finally:
        ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 7
    assert Path(f"{db_path}.journal.jsonl").stat().st_size == 0  # emptied after commit


def test_replay_of_already_committed_records_is_idempotent(db_path: str) -> None:
    records = _calls(5)
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    for record in records:
        ref.tell(record)
    status = ref.ask(FlushNow(), timeout=WAIT_S)
    assert isinstance(status, WriterStatus) and status.written == 5
    ref.stop(timeout=WAIT_S)
    # A crash between DuckDB's commit and the journal being emptied leaves them journaled.
    journal = Journal(f"{db_path}.journal.jsonl")
    for record in records:
        journal.append(record)
    journal.close()

    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    try:
        status = _status(ref)
        # Replayed AND written without error (a plain INSERT would hit the primary key).
        assert (status.replayed, status.written, status.write_errors) == (5, 5, 0)
        assert status.pending == 0
    finally:
        ref.stop(timeout=WAIT_S)
    assert Path(f"{db_path}.journal.jsonl").stat().st_size == 0
    assert count_rows(db_path) == 5
    assert count_rows(db_path, "call_legs") == sum(
        1 + (r.customer_leg is not None) for r in records
    )


def test_same_call_twice_in_one_batch_keeps_one_row_last_wins(start_writer, db_path: str) -> None:
    (first,) = _calls(1)
    second = msgspec.structs.replace(first, reason="corrected")
    ref, _ = start_writer(flush_interval_s=SLOW)
    ref.tell(first)
    ref.tell(second)
    ref.ask(FlushNow(), timeout=WAIT_S)
    ref.stop(timeout=WAIT_S)
    import duckdb

    con = duckdb.connect(db_path)
    try:
        rows = con.execute("SELECT call_id, reason FROM calls").fetchall()
    finally:
        con.close()
    assert rows == [(first.call_id, "corrected")]


def test_duckdb_error_keeps_records_in_journal_and_retries(start_writer, db_path: str) -> None:
    errors_before = sample("evscallpro_record_write_errors_total")
    ref, box = start_writer(
        fail_times=2, batch_size=4, flush_interval_s=SLOW, retry_initial_s=0.02, retry_max_s=0.05
    )
    records = _calls(4)
    for record in records:
        ref.tell(record)
    store = box.store
    # Two failed writes, then the retry timer's third attempt commits all four records.
    assert store.wait_for(lambda s: s.failures == 2 and sum(s.write_sizes) == 4)
    status = _status(ref)
    assert status.write_errors == 2
    assert "simulated disk error" in status.last_error
    assert sample("evscallpro_record_write_errors_total") - errors_before == 2
    ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 4


def test_duckdb_down_until_stop_loses_nothing(start_writer, db_path: str) -> None:
    ref, box = start_writer(
        fail_times=10**6, batch_size=3, flush_interval_s=SLOW, retry_initial_s=60
    )
    records = _calls(3)
    for record in records:
        ref.tell(record)
    assert box.store.wait_for(lambda s: s.failures >= 1)
    assert _status(ref).pending == 3
    assert sample("evscallpro_records_pending") == 3  # the backlog shows on the dashboard
    ref.stop(timeout=WAIT_S)  # the flush on stop fails too
    journaled = Journal(f"{db_path}.journal.jsonl").replay()
    assert [r.call_id for r in journaled] == [r.call_id for r in records]  # type: ignore[union-attr]

    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    try:
        assert _status(ref).replayed == 3
    finally:
        ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 3


def test_bad_messages_are_refused_and_writer_survives(start_writer, db_path: str) -> None:
    ref, _ = start_writer(flush_interval_s=SLOW)
    ref.tell("not a record")
    ref.tell(msgspec.structs.replace(_calls(1)[0], started_at="yesterday"))  # type: ignore[arg-type]
    ref.tell(_calls(1, prefix="good")[0])
    status = ref.ask(FlushNow(), timeout=WAIT_S)
    assert status.refused == 2
    assert status.written == 1
    assert ref.is_alive()
    ref.stop(timeout=WAIT_S)
    # The refused record was never journaled: a restart replays nothing.
    assert Journal(f"{db_path}.journal.jsonl").replay() == []


def test_ack_comes_after_the_record_is_in_the_fsynced_journal(start_writer, db_path: str) -> None:
    ref, _ = start_writer(batch_size=1000, flush_interval_s=0.02)
    (record,) = _calls(1)
    acked = threading.Event()
    seen_in_journal: list[bool] = []

    def on_durable(key: str) -> None:
        text = Path(f"{db_path}.journal.jsonl").read_text()
        seen_in_journal.append(record.call_id in text and key == f"call:{record.call_id}")
        acked.set()

    ref.tell(RecordWithAck(record, on_durable))
    assert acked.wait(WAIT_S)
    assert seen_in_journal == [True]


def test_dispositions_and_sink_port(start_writer, db_path: str) -> None:
    ref, _ = start_writer(flush_interval_s=SLOW)
    records = _calls(20)
    sink = AnalyticsWriterSink(ref)
    for record in records:
        sink.write(record)
    dispositions = dispositions_for(records)
    for disposition in dispositions:
        ref.tell(disposition)
    sink.on_view(CallView(call_id="x", agent_id="a", step=CallStep.CONNECTED, customer_number="+1"))
    sink.on_view(_agent("a1", AgentState.AVAILABLE, 1000.0))
    sink.on_view(_agent("a1", AgentState.OFFLINE, 1300.0))
    ref.ask(FlushNow(), timeout=WAIT_S)
    ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 20
    assert count_rows(db_path, "dispositions") == len(dispositions) > 0
    assert count_rows(db_path, "agent_state_intervals") == 1


@pytest.mark.parametrize("garbage", [b"{not json\n", b'{"call": {"call_id": 3}}\n'])
def test_unreadable_journal_line_is_kept_aside(db_path: str, garbage: bytes) -> None:
    journal = Journal(f"{db_path}.journal.jsonl")
    (record,) = _calls(1)
    journal.append(record)
    journal.close()
    with open(f"{db_path}.journal.jsonl", "ab") as fh:
        fh.write(garbage)
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    try:
        assert _status(ref).replayed == 1
    finally:
        ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 1
    assert Path(f"{db_path}.journal.jsonl.corrupt").read_bytes() == garbage


def _agent(agent_id: str, state: AgentState, since: float, **kw: object) -> AgentView:
    return AgentView(
        agent_id=agent_id,
        display_name=agent_id,
        state=state,
        state_since=since,
        workstation=WorkstationMode.MOBILE,
        **kw,  # type: ignore[arg-type]
    )


def test_journaled_record_that_cannot_be_stored_is_kept_aside(db_path: str) -> None:
    good, bad = _calls(2)
    bad = msgspec.structs.replace(bad, started_at=1e20)  # beyond any timestamp DuckDB holds
    journal = Journal(f"{db_path}.journal.jsonl")
    journal.append(good)
    journal.append(bad)
    journal.close()
    ref = AnalyticsWriter.start(WriterConfig(db_path=db_path, flush_interval_s=SLOW))
    try:
        assert _status(ref).written == 1
    finally:
        ref.stop(timeout=WAIT_S)
    assert count_rows(db_path) == 1
    assert bad.call_id in Path(f"{db_path}.journal.jsonl.corrupt").read_text()
