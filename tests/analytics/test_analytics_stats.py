"""Statistics SQL against answers computed independently in Python from the same records."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support.synthetic import dispositions_for, generate_calls

from analytics import rows, stats
from analytics.intervals import AgentStateInterval
from analytics.stats import Period, StatsError
from analytics.store import Batch, CallStore
from core.domain import AgentState, CallOutcome, CallStep
from core.records import CallRecord, Disposition

DAY1 = date(2026, 5, 28)
DAY1_START = datetime(2026, 5, 28).replace(tzinfo=UTC).timestamp()


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


def _quantile_cont(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (what quantile_cont does)."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# Two agents, hand-made intervals crossing the DAY1 window edges on purpose.
INTERVALS = [
    ("a1", AgentState.AVAILABLE, -600.0, 600.0),  # 10 min before midnight: clipped to 600 s
    ("a1", AgentState.ON_CALL, 600.0, 1500.0),
    ("a1", AgentState.WRAP_UP, 1500.0, 1620.0),
    ("a1", AgentState.PAUSED, 1620.0, 3420.0),
    ("a1", AgentState.AVAILABLE, 86_000.0, 86_800.0),  # crosses the next midnight: 400 s
    ("a2", AgentState.AVAILABLE, 100.0, 400.0),
    ("a2", AgentState.PAUSED, 400.0, 500.0),
]


@pytest.fixture(scope="module")
def dataset(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[object, list[CallRecord], list[Disposition]]]:
    path = Path(tmp_path_factory.mktemp("stats")) / "stats.duckdb"
    # 600 calls, one every 5 minutes from DAY1 00:00 -> a little over two days.
    records = list(generate_calls(600, agents=4, start=DAY1_START, spacing=300.0, seed=3))
    dispositions = dispositions_for(records)[::2]  # half of the connected calls qualified
    intervals = [
        AgentStateInterval(
            agent_id=a, state=s, started_at=DAY1_START + lo, ended_at=DAY1_START + hi
        )
        for a, s, lo, hi in INTERVALS
    ]
    store = CallStore(path)
    store.write(
        Batch(
            calls=[rows.call_row(r) for r in records],
            legs=[leg for r in records for leg in rows.leg_rows(r)],
            dispositions=[rows.disposition_row(d) for d in dispositions],
            intervals=[rows.interval_row(i) for i in intervals],
        )
    )
    yield store.cursor(), records, dispositions
    store.close()


def _on(day: date, records: list[CallRecord]) -> list[CallRecord]:
    return [r for r in records if _utc(r.started_at).date() == day]


def test_calls_per_outcome_per_day(dataset) -> None:
    con, records, _ = dataset
    expected = Counter((_utc(r.started_at).date(), str(r.outcome)) for r in records)
    got = stats.calls_per_outcome(con, DAY1, DAY1 + timedelta(days=3), Period.DAY)
    assert {(c.period_start.date(), c.outcome): c.calls for c in got} == dict(expected)
    assert sum(c.calls for c in got) == 600


def test_calls_per_outcome_per_hour_window(dataset) -> None:
    con, records, _ = dataset
    lo, hi = datetime(2026, 5, 28, 10), datetime(2026, 5, 28, 12)
    inside = [r for r in records if lo <= _utc(r.started_at) < hi]
    got = stats.calls_per_outcome(con, lo, hi, "hour")
    assert sum(c.calls for c in got) == len(inside) == 24  # 12 per hour
    assert {c.period_start for c in got} == {lo, lo + timedelta(hours=1)}


def test_connect_rate(dataset) -> None:
    con, records, _ = dataset
    day = _on(DAY1, records)
    attempted = [r for r in day if r.outcome is not CallOutcome.REJECTED]
    dialed = [r for r in day if any(s.step is CallStep.CUSTOMER_DIALING for s in r.steps)]
    connected = [r for r in day if r.connected_at is not None]
    got = stats.connect_rate(con, DAY1, DAY1 + timedelta(days=1))
    assert (got.calls, got.attempted, got.customer_dialed, got.connected) == (
        len(day),
        len(attempted),
        len(dialed),
        len(connected),
    )
    assert got.connect_rate == pytest.approx(len(connected) / len(attempted))
    assert got.customer_answer_rate == pytest.approx(len(connected) / len(dialed))


def test_talk_time_average_and_percentiles(dataset) -> None:
    con, records, _ = dataset
    talks = [
        r.customer_leg.billable_seconds
        for r in records
        if r.connected_at is not None and r.customer_leg is not None
    ]
    got = stats.talk_time(con, DAY1, DAY1 + timedelta(days=3))
    assert got.connected_calls == len(talks)
    assert got.total_seconds == pytest.approx(sum(talks))
    assert got.average_seconds == pytest.approx(sum(talks) / len(talks))
    assert got.p50_seconds == pytest.approx(_quantile_cont(talks, 0.5))
    assert got.p90_seconds == pytest.approx(_quantile_cont(talks, 0.9))
    assert got.p95_seconds == pytest.approx(_quantile_cont(talks, 0.95))


def test_talk_time_of_empty_window_is_none(dataset) -> None:
    con, _, _ = dataset
    got = stats.talk_time(con, date(2020, 1, 1), date(2020, 1, 2))
    assert got.connected_calls == 0
    assert got.average_seconds is None and got.p95_seconds is None


def test_agent_occupancy_clips_intervals_to_window(dataset) -> None:
    con, _, _ = dataset
    got = {o.agent_id: o for o in stats.agent_occupancy(con, DAY1, DAY1 + timedelta(days=1))}
    a1 = got["a1"]
    assert a1.available_seconds == pytest.approx(600 + 400)
    assert a1.on_call_seconds == pytest.approx(900)
    assert a1.wrap_up_seconds == pytest.approx(120)
    assert a1.paused_seconds == pytest.approx(1800)
    assert a1.occupancy == pytest.approx((900 + 120) / (1000 + 900 + 120))
    assert got["a2"].occupancy == pytest.approx(0.0)
    assert got["a2"].logged_in_seconds == pytest.approx(400)


def test_agent_daily_summary(dataset) -> None:
    con, records, dispositions = dataset
    qualified = {d.call_id for d in dispositions}
    got = {s.agent_id: s for s in stats.agent_daily_summary(con, DAY1)}
    day = _on(DAY1, records)
    for agent in {r.agent_id for r in day}:
        mine = [r for r in day if r.agent_id == agent]
        connected = [r for r in mine if r.connected_at is not None]
        talk = sum(r.customer_leg.billable_seconds for r in connected if r.customer_leg)
        line = got[agent]
        assert (line.calls, line.connected) == (len(mine), len(connected))
        assert line.talk_seconds == pytest.approx(talk)
        assert line.qualified == len([r for r in mine if r.call_id in qualified])
        assert line.occupancy is None  # synthetic agents have no intervals
    assert got["a1"].calls == 0 and got["a1"].occupancy is not None  # logged in, no calls


def test_calls_for_agent_is_that_agents_day_newest_first(dataset) -> None:
    con, records, dispositions = dataset
    codes = {d.call_id: d.code for d in dispositions}
    day2 = DAY1 + timedelta(days=1)
    expected = sorted(
        (r for r in _on(day2, records) if r.agent_id == "agent-002"),
        key=lambda r: r.started_at,
        reverse=True,
    )
    got = stats.calls_for_agent(con, "agent-002", day2)
    assert [c.call_id for c in got] == [r.call_id for r in expected]
    assert [c.disposition for c in got] == [codes.get(r.call_id) for r in expected]
    assert abs(got[0].started_at - _utc(expected[0].started_at)) <= timedelta(microseconds=1)
    assert stats.calls_for_agent(con, "nobody", day2) == []


def test_recordings_filters(dataset) -> None:
    con, records, _ = dataset
    lo, hi = datetime(2026, 5, 28, 6), datetime(2026, 5, 29, 6)
    expected = [
        r.call_id
        for r in sorted(records, key=lambda r: r.started_at, reverse=True)
        if r.recording_name and r.agent_id == "agent-001" and lo <= _utc(r.started_at) < hi
    ]
    got = stats.recordings(con, agent_id="agent-001", start=lo, end=hi, limit=1000)
    assert [r.call_id for r in got] == expected and expected
    assert all(r.outcome == "completed" for r in got)
    every = stats.recordings(con, limit=1000)
    assert len(every) == sum(1 for r in records if r.recording_name)
    assert stats.recordings(con, outcome="customer_busy") == []
    page = stats.recordings(con, limit=5, offset=5)
    assert [r.call_id for r in page] == [r.call_id for r in every[5:10]]


@pytest.mark.parametrize(
    "call",
    [
        lambda con: stats.recordings(con, outcome="sold"),
        lambda con: stats.calls_per_outcome(con, DAY1, DAY1, "day"),
        lambda con: stats.calls_per_outcome(con, DAY1, DAY1 + timedelta(days=1), "fortnight"),
        lambda con: stats.calls_for_agent(con, "a1", DAY1, limit=0),
        lambda con: stats.talk_time(con, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2)),
    ],
)
def test_bad_arguments_raise_stats_error(dataset, call) -> None:
    con, _, _ = dataset
    with pytest.raises(StatsError):
        call(con)


def test_summary_matches_parts(dataset) -> None:
    con, records, _ = dataset
    got = stats.summary(con, DAY1, DAY1 + timedelta(days=3))
    assert sum(got.outcomes.values()) == len(records)
    assert got.outcomes["completed"] == sum(
        1 for r in records if r.outcome is CallOutcome.COMPLETED
    )
    assert {a.agent_id for a in got.agents} == {"a1", "a2"}


def test_local_day_window_in_the_call_centers_time_zone() -> None:
    # Paris is UTC+2 in summer: its 28 May runs from 27 May 22:00 to 28 May 22:00 UTC.
    assert stats.day_window(DAY1, "Europe/Paris") == (
        datetime(2026, 5, 27, 22),
        datetime(2026, 5, 28, 22),
    )
    # Daylight-saving change (29 March 2026 in Europe): a 23-hour local day.
    lo, hi = stats.day_window(date(2026, 3, 29), "Europe/Paris")
    assert hi - lo == timedelta(hours=23)
    with pytest.raises(StatsError):
        stats.day_window(DAY1, "Mars/Olympus_Mons")


def test_calls_for_agent_local_day(dataset) -> None:
    con, records, _ = dataset
    lo, hi = datetime(2026, 5, 27, 22), datetime(2026, 5, 28, 22)  # Paris's 28 May in UTC
    expected = [
        r.call_id
        for r in sorted(records, key=lambda r: r.started_at, reverse=True)
        if r.agent_id == "agent-003" and lo <= _utc(r.started_at) < hi
    ]
    got = stats.calls_for_agent(con, "agent-003", DAY1, tz="Europe/Paris")
    assert [c.call_id for c in got] == expected
    utc_day = stats.calls_for_agent(con, "agent-003", DAY1)
    assert {c.call_id for c in got} != {c.call_id for c in utc_day}  # 2 hours differ


def test_not_qualified_calls_are_not_counted_as_qualified(tmp_path: Path) -> None:
    """Bug 3 (issue 9): a wrap-up that timed out leaves the code "not_qualified"; it is a
    disposition row, not a qualification, and must not count in `qualified`."""
    from core.agent import AUTO_DISPOSITION

    records = [r for r in generate_calls(40, agents=1, start=DAY1_START, seed=5)
               if r.connected_at is not None][:3]
    assert len(records) == 3
    dispositions = [
        Disposition(call_id=records[0].call_id, agent_id=records[0].agent_id, code="sale"),
        Disposition(call_id=records[1].call_id, agent_id=records[1].agent_id,
                    code=AUTO_DISPOSITION),
        Disposition(call_id=records[2].call_id, agent_id=records[2].agent_id,
                    code=AUTO_DISPOSITION),
    ]
    store = CallStore(tmp_path / "q.duckdb")
    try:
        store.write(Batch(calls=[rows.call_row(r) for r in records],
                          dispositions=[rows.disposition_row(d) for d in dispositions]))
        (line,) = stats.agent_daily_summary(store.cursor(), DAY1)
        assert line.calls == 3
        assert line.qualified == 1
    finally:
        store.close()
