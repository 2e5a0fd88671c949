"""analytics.dashboard and analytics.stats_export against answers computed in Python from the
same synthetic records (and by hand for periods and time zones)."""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from support.synthetic import generate_calls

from analytics import rows
from analytics.dashboard import StatsFilter, dashboard, period_window
from analytics.intervals import AgentStateInterval
from analytics.schema import SCHEMA_VERSION
from analytics.stats import StatsError
from analytics.stats_export import ExportTooLarge, export_filtered_calls
from analytics.store import Batch, CallStore
from core.domain import AgentState, CallOutcome
from core.records import CallRecord, Disposition

START = datetime(2026, 5, 28, 6, 0, tzinfo=UTC).timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _quantile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CallStore, list[CallRecord]]]:
    path = Path(tmp_path_factory.mktemp("dash")) / "dash.duckdb"
    records = list(generate_calls(400, agents=4, start=START, spacing=150.0, seed=21))
    s = CallStore(path)
    s.write(Batch(calls=[rows.call_row(r) for r in records],
                  legs=[leg for r in records for leg in rows.leg_rows(r)]))
    yield s, records
    s.close()


def test_dashboard_matches_python(store: tuple[CallStore, list[CallRecord]]) -> None:
    s, records = store
    lo, hi = datetime(2026, 5, 28, 6), datetime(2026, 5, 28, 18)
    mine = [r for r in records if lo <= _utc(r.started_at) < hi]
    board = dashboard(s.cursor(), StatsFilter(start=lo, end=hi, tz="UTC"))
    connected = [r for r in mine if r.connected_at is not None]
    attempted = [r for r in mine if r.outcome is not CallOutcome.REJECTED]
    talk = [r.customer_leg.billable_seconds for r in connected if r.customer_leg]
    assert (board.calls, board.attempted, board.connected) == (len(mine), len(attempted),
                                                               len(connected))
    assert board.talk_p50 == pytest.approx(_quantile_cont(talk, 0.5))
    assert board.talk_p90 == pytest.approx(_quantile_cont(talk, 0.9))
    # no wrap-up intervals stored: handle time is talk time
    assert board.average_handle_seconds == pytest.approx(sum(talk) / len(talk))
    answered = [r for r in mine if r.agent_leg.answered_at is not None]
    setups = [r.agent_leg.answered_at - r.started_at for r in answered]  # type: ignore[operator]
    assert board.setup_p50 == pytest.approx(_quantile_cont(setups, 0.5), abs=1e-5)
    assert board.agent_billed_seconds == pytest.approx(
        sum(r.agent_leg.billable_seconds for r in mine))
    assert board.hung_up_first == dict(Counter(str(r.hung_up_first) for r in connected))
    per_hour = Counter((_utc(r.started_at).replace(minute=0, second=0, microsecond=0),
                        str(r.outcome)) for r in mine)
    assert {(b.start, b.outcome): b.calls for b in board.series} == per_hour
    assert board.bucket == "hour"
    agent = board.agents[1]
    theirs = [r for r in mine if r.agent_id == agent.agent_id]
    assert agent.calls == len(theirs)
    assert agent.connected == len([r for r in theirs if r.connected_at is not None])


def test_filters_agent_workstation_campaign(store: tuple[CallStore, list[CallRecord]]) -> None:
    s, records = store
    lo, hi = datetime(2026, 5, 28), datetime(2026, 5, 29)
    con = s.cursor()
    assert dashboard(con, StatsFilter(start=lo, end=hi, agent_id="agent-001")).calls == len(
        [r for r in records if r.agent_id == "agent-001" and _utc(r.started_at) < hi])
    mobile = [r for r in records if r.workstation == "mobile" and _utc(r.started_at) < hi]
    assert dashboard(con, StatsFilter(start=lo, end=hi, workstation="mobile")).calls == len(mobile)
    campaign = (records[0].contact_id or "", records[5].contact_id or "", "nobody")
    assert dashboard(con, StatsFilter(start=lo, end=hi, campaign_contacts=campaign)).calls == 2
    assert dashboard(con, StatsFilter(start=lo, end=hi, campaign_contacts=())).calls == 0
    with pytest.raises(StatsError, match="workstation"):
        dashboard(con, StatsFilter(start=lo, end=hi, workstation="fax"))
    with pytest.raises(StatsError, match="time zone"):
        dashboard(con, StatsFilter(start=lo, end=hi, tz="Mars/Olympus"))


def test_local_buckets_across_a_dst_change(tmp_path: Path) -> None:
    """2026-03-29 02:00 Paris: clocks jump from UTC+1 to UTC+2. A call at 00:30 UTC is at
    01:30 local, one at 01:30 UTC is at 03:30 local."""
    records = [
        r for r in generate_calls(2, agents=1, start=datetime(2026, 3, 29, 0, 30, tzinfo=UTC).timestamp(),
                                  spacing=3600.0, seed=1)
    ]
    s = CallStore(tmp_path / "dst.duckdb")
    try:
        s.write(Batch(calls=[rows.call_row(r) for r in records]))
        lo, hi = period_window("today", date(2026, 3, 29), "Europe/Paris")
        assert (lo, hi) == (datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22))  # 23 hours
        board = dashboard(s.cursor(), StatsFilter(start=lo, end=hi, tz="Europe/Paris"))
        assert sorted({b.start.hour for b in board.series}) == [1, 3]
    finally:
        s.close()


def test_periods() -> None:
    today = date(2026, 5, 28)
    assert period_window("yesterday", today) == (datetime(2026, 5, 27), datetime(2026, 5, 28))
    assert period_window("7d", today) == (datetime(2026, 5, 22), datetime(2026, 5, 29))
    assert period_window("30d", today, "Europe/Paris") == (datetime(2026, 4, 28, 22),
                                                           datetime(2026, 5, 28, 22))
    assert period_window("custom", today, first=date(2026, 5, 1), last=date(2026, 5, 1)) == (
        datetime(2026, 5, 1), datetime(2026, 5, 2))
    for bad in (dict(first=date(2026, 5, 2), last=date(2026, 5, 1)), dict(first=None, last=None),
                dict(first=date(2025, 1, 1), last=date(2026, 5, 1))):
        with pytest.raises(StatsError):
            period_window("custom", today, **bad)  # type: ignore[arg-type]
    with pytest.raises(StatsError, match="unknown period"):
        period_window("fortnight", today)


def test_csv_export_neutralises_formulas_parquet_keeps_values(tmp_path: Path) -> None:
    records = list(generate_calls(3, agents=1, start=START, seed=2))
    comments = ["=1+1", "@SUM(A1)", "\tTab", "-2", "+cmd", "\rcr", "plain"]
    s = CallStore(tmp_path / "x.duckdb")
    try:
        s.write(Batch(
            calls=[rows.call_row(r) for r in records],
            dispositions=[rows.disposition_row(Disposition(
                call_id=records[0].call_id, agent_id=records[0].agent_id, code="sale",
                comment=comments[0]))]))
        flt = StatsFilter(start=datetime(2026, 5, 28), end=datetime(2026, 5, 29))
        out = tmp_path / "calls.csv"
        assert export_filtered_calls(s.cursor(), out, "csv", flt) == 3
        with out.open(newline="", encoding="utf-8") as fh:
            got = list(csv.DictReader(fh))
        assert got[0]["disposition_comment"] == "'=1+1"
        assert got[0]["customer_number"] == "'" + records[0].customer_number
        assert got[0]["call_id"] == records[0].call_id  # untouched
        pq = tmp_path / "calls.parquet"
        assert export_filtered_calls(s.cursor(), pq, "parquet", flt) == 3
        raw = duckdb.connect().execute(
            "SELECT disposition_comment FROM read_parquet(?) WHERE disposition_comment IS NOT NULL",
            [str(pq)]).fetchall()
        assert raw == [("=1+1",)]
        big = tmp_path / "big.csv"
        with pytest.raises(ExportTooLarge, match="3 calls"):
            export_filtered_calls(s.cursor(), big, "csv", flt, max_rows=2)
        assert not big.exists()
        with pytest.raises(StatsError, match="format"):
            export_filtered_calls(s.cursor(), out, "xlsx", flt)
        with pytest.raises(StatsError, match="directory"):
            export_filtered_calls(s.cursor(), tmp_path / "nope" / "x.csv", "csv", flt)
    finally:
        s.close()


@pytest.mark.parametrize("text", ["=1+1", "@SUM(A1)", "\tTab", "-2", "+cmd", "\rcr"])
def test_every_formula_start_is_neutralised(tmp_path: Path, text: str) -> None:
    (record,) = generate_calls(1, agents=1, start=START, seed=4)
    s = CallStore(tmp_path / "n.duckdb")
    try:
        s.write(Batch(calls=[rows.call_row(record)], dispositions=[rows.disposition_row(
            Disposition(call_id=record.call_id, agent_id=record.agent_id, code="x",
                        comment=text))]))
        out = tmp_path / "n.csv"
        export_filtered_calls(s.cursor(), out, "csv", StatsFilter(
            start=datetime(2026, 5, 28), end=datetime(2026, 5, 29)))
        with out.open(newline="", encoding="utf-8") as fh:
            (row,) = list(csv.DictReader(fh))
        assert row["disposition_comment"] == "'" + text
    finally:
        s.close()


def test_a_version_1_store_gets_the_new_columns_filled(tmp_path: Path) -> None:
    """Opening a store written before the agent-leg columns existed fills them from `steps`
    and `call_legs`, so its calls count on the statistics page."""
    path = tmp_path / "v1.duckdb"
    records = list(generate_calls(30, agents=2, start=START, seed=8))
    talked = next(r for r in records if r.connected_at is not None)
    missed = next(r for r in records if r.connected_at is None)
    wrap_ups = [AgentStateInterval(agent_id=r.agent_id, state=AgentState.WRAP_UP,
                                   started_at=r.ended_at, ended_at=r.ended_at + 9,
                                   call_id=r.call_id) for r in (talked, missed)]
    s = CallStore(path)
    s.write(Batch(calls=[rows.call_row(r) for r in records],
                  legs=[leg for r in records for leg in rows.leg_rows(r)],
                  intervals=[rows.interval_row(i) for i in wrap_ups]))
    con = s.con
    for column in ("agent_confirming_at", "agent_billable_seconds", "agent_hangup_cause"):
        con.execute("DROP VIEW call_report")
        con.execute(f"ALTER TABLE calls DROP COLUMN {column}")
        con.execute("CREATE VIEW call_report AS SELECT c.* FROM calls c")
    con.execute("UPDATE calls SET steps = replace(steps, '\"announcing\"', "
                "'\"agent_confirming\",1780000000.5],[\"announcing\"')")
    con.execute("UPDATE schema_info SET value = '1' WHERE key = 'version'")
    s.close()
    s = CallStore(path)
    try:
        got = dict(s.con.execute(
            "SELECT call_id, agent_billable_seconds FROM calls").fetchall())
        assert got == {r.call_id: pytest.approx(r.agent_leg.billable_seconds) for r in records}
        confirming = s.con.execute(
            "SELECT DISTINCT agent_confirming_at FROM calls WHERE announcing_at IS NOT NULL"
        ).fetchall()
        assert confirming == [(datetime(2026, 5, 28, 20, 26, 40, 500000),)]
        version = s.con.execute("SELECT value FROM schema_info").fetchall()
        assert version == [(str(SCHEMA_VERSION),)]
        assert len(s.con.execute("SELECT * FROM call_report").fetchall()) == 30
        assert dict(s.con.execute(
            "SELECT call_id, call_connected FROM agent_state_intervals").fetchall()) == {
            talked.call_id: True, missed.call_id: False}
    finally:
        s.close()
