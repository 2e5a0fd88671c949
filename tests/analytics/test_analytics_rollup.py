"""The statistics page from the per-day rollup (analytics.rollup) against the live queries,
over generated calls and agent-state intervals spanning several local days, including a
record that arrives late for a finished day."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from support.synthetic import generate_calls
from test_analytics_agent_legs import switched

from analytics import page_pool, rollup, rollup_page, rows
from analytics.dashboard import Dashboard, StatsFilter, dashboard, period_window
from analytics.intervals import AgentStateInterval
from analytics.store import Batch, CallStore
from core.costs import LegCost
from core.domain import AgentState, WorkstationMode

TZ = "Europe/Paris"
START = datetime(2026, 3, 25, 5, 0, tzinfo=UTC).timestamp()  # the DST change of the 29th inside
TODAY = date(2026, 3, 31)


def _intervals(records: list, spanning: bool = True) -> list[AgentStateInterval]:  # type: ignore[type-arg]
    out = []
    for r in records:
        ws = str(r.workstation)
        if r.agent_leg.answered_at is not None:
            out.append(AgentStateInterval(agent_id=r.agent_id, state=AgentState.ON_CALL,
                                          started_at=r.agent_leg.answered_at,
                                          ended_at=r.ended_at, workstation=ws,
                                          call_id=r.call_id))
        out.append(AgentStateInterval(agent_id=r.agent_id, state=AgentState.WRAP_UP,
                                      started_at=r.ended_at, ended_at=r.ended_at + 17.5,
                                      workstation=ws, call_id=r.call_id,
                                      call_connected=r.connected_at is not None))
    # availability spanning local midnights: clipped to each day by the rollup
    for k in range(4 if spanning else 0):
        agent = records[k].agent_id
        begin = START + k * 86_400 + 12 * 3600
        out.append(AgentStateInterval(agent_id=agent, state=AgentState.AVAILABLE,
                                      started_at=begin, ended_at=begin + 20 * 3600,
                                      workstation=str(records[k].workstation)))
    return out


def _filled_store(path: Path, calls: int, spacing: float, seed: int) -> CallStore:
    """A store holding `calls` calls of 3 agents from START, with their state intervals."""
    records = list(generate_calls(calls, agents=3, start=START, spacing=spacing, seed=seed))
    s = CallStore(path)
    _write(s, records, _intervals(records))
    return s


def _write(store: CallStore, records: list, intervals: list[AgentStateInterval]) -> None:  # type: ignore[type-arg]
    store.write(Batch(calls=[rows.call_row(r) for r in records],
                      legs=[leg for r in records for leg in rows.leg_rows(r)],
                      intervals=[rows.interval_row(i) for i in intervals]))


def _same(fast: Dashboard, live: Dashboard) -> None:
    def close(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
        return a == b

    for field in Dashboard.__struct_fields__:
        a, b = getattr(fast, field), getattr(live, field)
        if field == "agents":
            assert len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                for f in type(x).__struct_fields__:
                    assert close(getattr(x, f), getattr(y, f)), (x.agent_id, f)
        elif field == "leg_costs":
            assert [(m.mode, m.legs, m.cost is None) for m in a] == [
                (m.mode, m.legs, m.cost is None) for m in b]
            for x, y in zip(a, b, strict=True):
                assert close(x.seconds, y.seconds), x.mode
                assert x.cost is None or close(x.cost, y.cost), x.mode
        elif field == "billed_days":
            assert [d.day for d in a] == [d.day for d in b]
            for x, y in zip(a, b, strict=True):
                assert close(x.agent_billed_seconds, y.agent_billed_seconds)
                assert close(x.customer_billed_seconds, y.customer_billed_seconds)
        else:
            assert close(a, b), field


def _rollup_days(con: duckdb.DuckDBPyConnection) -> list[tuple[date, int]]:
    return con.execute("SELECT day, calls FROM stats_rollup_days ORDER BY day").fetchall()


def test_rollup_and_live_give_the_same_figures_and_a_late_record_rebuilds_its_day(
    tmp_path: Path,
) -> None:
    records = list(generate_calls(900, agents=5, start=START, spacing=600.0, seed=33))
    late, kept = records[100], records[:100] + records[101:]
    s = CallStore(tmp_path / "rollup.duckdb")
    _write(s, kept, _intervals(kept))
    start, end = period_window("7d", TODAY, TZ)
    flt = StatsFilter(start=start, end=end, tz=TZ)
    con = s.cursor()

    live = dashboard(con, flt, TODAY, use_rollup=False)
    fast = dashboard(con, flt, TODAY)
    assert fast.calls == live.calls > 700
    assert fast.bucket == "day" and fast.talk_p50 is not None and fast.setup_p90 is not None
    _same(fast, live)
    built = _rollup_days(con)
    assert [d for d, _ in built] == [TODAY - timedelta(days=k) for k in range(6, 0, -1)]
    # a workstation filter reads the same rollup
    for mode in WorkstationMode:
        f = StatsFilter(start=start, end=end, tz=TZ, workstation=mode.value)
        _same(dashboard(con, f, TODAY), dashboard(con, f, TODAY, use_rollup=False))

    # a record adopted after a restart, for a finished day, with its wrap-up interval
    late_day = datetime.fromtimestamp(late.started_at, ZoneInfo(TZ)).date()
    assert late_day < TODAY
    _write(s, [late], _intervals([late], spanning=False))
    again = dashboard(con, flt, TODAY)
    assert again.calls == fast.calls + 1
    _same(again, dashboard(con, flt, TODAY, use_rollup=False))
    rebuilt = dict(_rollup_days(con))
    assert sum(rebuilt.values()) == sum(n for _, n in built) + 1
    # forgotten: built again at the next fetch, same figures
    rollup.forget(con)
    assert _rollup_days(con) == []
    _same(dashboard(con, flt, TODAY), again)
    assert dict(_rollup_days(con)) == rebuilt
    s.close()


def test_a_window_entirely_in_the_past_is_all_rollup(tmp_path: Path) -> None:
    s = _filled_store(tmp_path / "past.duckdb", 500, 700.0, seed=4)
    start, end = period_window("custom", TODAY, TZ, date(2026, 3, 25), date(2026, 3, 28))
    flt = StatsFilter(start=start, end=end, tz=TZ)
    con = s.cursor()
    _same(dashboard(con, flt, TODAY), dashboard(con, flt, TODAY, use_rollup=False))
    assert len(_rollup_days(con)) == 4
    s.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_quantiles_match_duckdb_with_ties_and_bucket_edges(tmp_path: Path, seed: int) -> None:
    con = duckdb.connect(str(tmp_path / "q.duckdb"))
    con.execute("CREATE TABLE calls (started_at TIMESTAMP, connected_at TIMESTAMP,"
                " agent_answered_at TIMESTAMP, talk_seconds DOUBLE)")
    import random
    rnd = random.Random(seed)
    values = [rnd.choice([float(rnd.randint(0, 9)), round(rnd.uniform(0, 10), 3)])
              for _ in range(rnd.randint(1, 60))]
    t = datetime(2026, 1, 1)
    con.executemany("INSERT INTO calls VALUES (?, ?, NULL, ?)", [[t, t, v] for v in values])
    hist: dict[int, int] = {}
    for v in values:
        hist[math.floor(v)] = hist.get(math.floor(v), 0) + 1
    got = rollup.exact_quantiles(con, "talk", hist, "true", [], qs=(0.0, 0.5, 0.9, 1.0))
    (want,) = con.execute(
        "SELECT quantile_cont(talk_seconds, [0.0, 0.5, 0.9, 1.0]) FROM calls").fetchone()
    assert got == pytest.approx(want, rel=1e-12)


def test_leg_costs_and_percentiles_from_the_rollup_match_the_live_queries_at_any_rates(
    tmp_path: Path,
) -> None:
    """The per-call agent legs (switched calls at their recorded costs, the others at the
    configured rates) and the percentile buckets' values come from per-day tables for the
    finished days: the same figures as the live queries; other rates build the days again."""
    records = [switched(r, n) if n % 3 == 0 else r for n, r in
               enumerate(generate_calls(700, agents=4, start=START, spacing=700.0, seed=8))]
    s = CallStore(tmp_path / "legs.duckdb")
    s.write(Batch(calls=[rows.call_row(r) for r in records],
                  legs=[leg for r in records for leg in rows.leg_rows(r)],
                  agent_legs=[leg for r in records for leg in rows.agent_leg_rows(r)],
                  intervals=[rows.interval_row(i) for i in _intervals(records)]))
    start, end = period_window("7d", TODAY, TZ)
    con = s.cursor()
    rates = {"mobile": LegCost(per_minute=0.12, per_call=0.05),
             "softphone": LegCost(per_minute=0.01, per_call=0.0)}
    for mode in (None, *(m.value for m in WorkstationMode)):
        flt = StatsFilter(start=start, end=end, tz=TZ, workstation=mode)
        fast = dashboard(con, flt, TODAY, costs=rates)
        live = dashboard(con, flt, TODAY, use_rollup=False, costs=rates)
        assert fast.leg_costs[0].legs > 100 and fast.leg_costs[0].cost
        _same(fast, live)
    # the percentiles' buckets kept at the first ask (then read, not the finished days' calls):
    # a few buckets (at most 8 per filter: 2 kinds, 2 percentiles, 2 ranks), each for every
    # finished day of the window
    buckets, values = con.execute(
        "SELECT count(DISTINCT (kind, second)), sum(len(vals)) FROM stats_rollup_values"
    ).fetchone() or (0, 0)
    marks, marked = con.execute(
        "SELECT count(*), count(DISTINCT (kind, second)) FROM stats_rollup_buckets"
    ).fetchone() or (0, 0)
    assert 0 < buckets <= marked <= 3 * 8 and values > 0 and marks == 6 * marked
    before = _rollup_days(con)
    cheaper = {"mobile": LegCost(per_minute=0.06, per_call=0.01)}
    flt = StatsFilter(start=start, end=end, tz=TZ)
    other = dashboard(con, flt, TODAY, costs=cheaper)
    _same(other, dashboard(con, flt, TODAY, use_rollup=False, costs=cheaper))
    assert other.leg_costs[0].cost != fast.leg_costs[0].cost
    assert _rollup_days(con) == before
    (keys,) = con.execute("SELECT list(DISTINCT rates) FROM stats_rollup_days").fetchone() or ([],)
    assert keys == [rollup.rates_key(cheaper)]
    s.close()


def test_a_rollup_of_an_older_layout_is_dropped_and_built_again(tmp_path: Path) -> None:
    s = _filled_store(tmp_path / "old.duckdb", 300, 1500.0, seed=5)
    con = s.cursor()
    # the first layout: four tables, days without their leg rates
    con.execute("""CREATE TABLE stats_rollup_days (tz VARCHAR, day DATE, calls BIGINT,
                   intervals BIGINT, built_at TIMESTAMP)""")
    for table in ("stats_rollup_calls", "stats_rollup_states", "stats_rollup_hist"):
        con.execute(f"CREATE TABLE {table} (tz VARCHAR, day DATE)")
    start, end = period_window("7d", TODAY, TZ)
    flt = StatsFilter(start=start, end=end, tz=TZ)
    _same(dashboard(con, flt, TODAY), dashboard(con, flt, TODAY, use_rollup=False))
    assert len(_rollup_days(con)) == 6
    s.close()


def test_the_finished_days_kept_in_memory_serve_until_a_day_is_built_again(
    tmp_path: Path,
) -> None:
    """The finished days' part of a window is read once per rollup version: a record of
    today is counted at the next fetch (today is live), a late record for a finished day
    builds its day again and the next fetch reads the new part."""
    records = list(generate_calls(400, agents=3, start=START, spacing=1300.0, seed=12))
    today_calls = [r for r in records
                   if datetime.fromtimestamp(r.started_at, ZoneInfo(TZ)).date() == TODAY]
    assert today_calls
    held = [today_calls[-1], records[3]]  # one call of today, one of a finished day
    s = CallStore(tmp_path / "kept.duckdb")
    kept = [r for r in records if r not in held]
    _write(s, kept, _intervals(kept))
    start, end = period_window("7d", TODAY, TZ)
    flt = StatsFilter(start=start, end=end, tz=TZ)
    con = s.cursor()
    first = dashboard(con, flt, TODAY)
    entries = set(rollup_page._cache)
    _write(s, [held[0]], _intervals([held[0]], spanning=False))
    second = dashboard(con, flt, TODAY)
    assert set(rollup_page._cache) == entries  # the same part, from memory
    assert second.calls == first.calls + 1
    _same(second, dashboard(con, flt, TODAY, use_rollup=False))
    _write(s, [held[1]], _intervals([held[1]], spanning=False))
    third = dashboard(con, flt, TODAY)
    assert set(rollup_page._cache) - entries  # a new version: read again
    assert third.calls == second.calls + 1
    _same(third, dashboard(con, flt, TODAY, use_rollup=False))
    s.close()


def test_the_page_is_the_same_with_its_queries_in_turn_or_side_by_side(tmp_path: Path) -> None:
    s = _filled_store(tmp_path / "pool.duckdb", 300, 1800.0, seed=21)
    con = s.cursor()
    for period in ("today", "7d"):
        start, end = period_window(period, TODAY, TZ)
        flt = StatsFilter(start=start, end=end, tz=TZ)
        side_by_side = dashboard(con, flt, TODAY)
        page_pool.PARALLEL = False
        try:
            in_turn = dashboard(con, flt, TODAY)
        finally:
            page_pool.PARALLEL = True
        _same(side_by_side, in_turn)
    s.close()


def test_a_late_record_is_seen_in_a_small_and_in_a_large_window(tmp_path: Path) -> None:
    """Both windows were built and kept in memory: the late record changes their row
    count, its day is built again, and both pages count it."""
    records = list(generate_calls(500, agents=3, start=START, spacing=1100.0, seed=17))
    late = next(r for r in records
                if datetime.fromtimestamp(r.started_at, ZoneInfo(TZ)).date() == date(2026, 3, 26))
    kept = [r for r in records if r is not late]
    s = CallStore(tmp_path / "late.duckdb")
    _write(s, kept, _intervals(kept))
    con = s.cursor()
    lo, hi = period_window("custom", TODAY, TZ, date(2026, 3, 25), date(2026, 3, 27))
    small = StatsFilter(start=lo, end=hi, tz=TZ)  # fewer than half of the rows
    start, end = period_window("7d", TODAY, TZ)
    large = StatsFilter(start=start, end=end, tz=TZ)  # most of the table
    before = {f: dashboard(con, f, TODAY).calls for f in (small, large)}
    _write(s, [late], _intervals([late], spanning=False))
    for f in (small, large):
        after = dashboard(con, f, TODAY)
        assert after.calls == before[f] + 1
        _same(after, dashboard(con, f, TODAY, use_rollup=False))
    s.close()
