"""Analytics benchmark: AnalyticsWriter records/s, append methods compared, stats latency at 1M calls.

Three phases, each bounded, about 30-50 s in all on a 2-vCPU machine:

1. writer: pre-built synthetic CallRecords are told to a real AnalyticsWriter (journal, fsync
   per batch, DuckDB upsert Appender) and `ask(FlushNow())` waits until all are committed;
   records/s is end to end, from the first tell() to the last commit.
2. append methods: the same call rows inserted into an empty `calls` table by each way the
   Python duckdb package offers without pandas/pyarrow (executemany on a small sample).
3. statistics: 1,000,000 calls (and a month of agent state intervals) generated in SQL,
   then each analytics.stats query timed (best and median of 5 runs) and one Parquet export.

    .venv/bin/python load-tests/analytics_bench.py [--records 50000] [--calls 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.synthetic
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import duckdb
from support.synthetic import generate_calls

from actors.analytics_writer import AnalyticsWriter, WriterConfig
from actors.messages import FlushNow, WriterStatus
from analytics import rows, stats
from analytics.export import export
from analytics.schema import CALL_COLUMNS
from analytics.store import CallStore


def bench_writer(workdir: Path, n: int) -> dict[str, float]:
    records = list(generate_calls(n, prefix="bench"))
    ref = AnalyticsWriter.start(
        WriterConfig(db_path=str(workdir / "writer.duckdb"), batch_size=1000, flush_interval_s=0.2)
    )
    try:
        t0 = time.perf_counter()
        for record in records:
            ref.tell(record)
        status = ref.ask(FlushNow(), timeout=120)
        assert isinstance(status, WriterStatus)
        elapsed = time.perf_counter() - t0
    finally:
        ref.stop(timeout=60)
    assert status.written == n, status
    legs = sum(1 + (r.customer_leg is not None) for r in records)
    return {
        "records": n,
        "seconds": elapsed,
        "records_per_s": n / elapsed,
        "rows_per_s": (n + legs) / elapsed,
    }


def bench_append_methods(workdir: Path, n: int) -> dict[str, float]:
    call_rows = [rows.call_row(r) for r in generate_calls(n, prefix="m")]
    results: dict[str, float] = {}

    def fresh(name: str) -> duckdb.DuckDBPyConnection:
        return CallStore(workdir / f"{name}.duckdb").con

    def timed(name: str, count: int, fn: Callable[[duckdb.DuckDBPyConnection], None]) -> None:
        con = fresh(name)
        t0 = time.perf_counter()
        fn(con)
        results[name] = count / (time.perf_counter() - t0)
        got = con.execute("SELECT count(*) FROM calls").fetchall()[0][0]
        assert got == count, (name, got)
        con.close()

    def appender(
        action: Literal["insert", "upsert"],
    ) -> Callable[[duckdb.DuckDBPyConnection], None]:
        def run(con: duckdb.DuckDBPyConnection) -> None:
            app = con.appender("calls", action=action)
            app.append_rows(call_rows)
            app.flush()

        return run

    def ndjson(con: duckdb.DuckDBPyConnection) -> None:
        path = workdir / "rows.ndjson"
        with path.open("w") as fh:
            for row in call_rows:
                fh.write(json.dumps(dict(zip(CALL_COLUMNS, row, strict=True)), default=str))
                fh.write("\n")
        con.execute(
            f"INSERT OR REPLACE INTO calls SELECT * FROM read_json('{path}', "
            "format='newline_delimited')"
        ).fetchall()

    sample = call_rows[:2000]
    marks = ",".join("?" * len(CALL_COLUMNS))
    timed("appender_insert", n, appender("insert"))
    timed("appender_upsert", n, appender("upsert"))
    timed("ndjson_read_json", n, ndjson)

    def executemany(con: duckdb.DuckDBPyConnection) -> None:
        con.executemany(f"INSERT INTO calls VALUES ({marks})", sample)

    timed("executemany", len(sample), executemany)
    return results


GENERATE_CALLS = """
INSERT INTO calls
SELECT 'c' || i, 'agent-' || lpad((i % {agents})::VARCHAR, 3, '0'), 'contact-' || i,
       '+33612' || lpad((i % 1000000)::VARCHAR, 6, '0'),
       CASE WHEN i % 2 = 0 THEN 'mobile' ELSE 'softphone' END,
       o.outcome, o.outcome,
       CASE WHEN o.outcome = 'completed' THEN 'customer' END,
       CASE WHEN o.outcome = 'completed' THEN 'rec-c' || i END,
       s.t, s.t + INTERVAL 10 MILLISECOND, s.t + INTERVAL 5 SECOND, s.t + INTERVAL 6 SECOND,
       CASE WHEN o.dialed THEN s.t + INTERVAL 8 SECOND END,
       CASE WHEN o.outcome = 'completed' THEN s.t + INTERVAL 15 SECOND END,
       s.t + to_seconds(15 + s.talk), CASE WHEN o.outcome = 'completed' THEN 15.0 END,
       CASE WHEN o.outcome = 'completed' THEN s.talk ELSE 0 END, false, '[]'
FROM range({n}) r(i)
CROSS JOIN LATERAL (SELECT TIMESTAMP '{start}' + to_seconds(i * {spacing}) AS t,
                           (hash(i) % 600)::DOUBLE + 5 AS talk, hash(i * 7) % 100 AS pick) s
CROSS JOIN LATERAL (SELECT CASE WHEN s.pick < 55 THEN 'completed'
                                WHEN s.pick < 70 THEN 'customer_no_answer'
                                WHEN s.pick < 78 THEN 'customer_busy'
                                WHEN s.pick < 84 THEN 'agent_no_answer'
                                WHEN s.pick < 90 THEN 'agent_busy'
                                WHEN s.pick < 95 THEN 'agent_abandoned'
                                ELSE 'rejected' END AS outcome,
                           s.pick < 78 OR (s.pick >= 90 AND s.pick < 95) AS dialed) o
"""

GENERATE_INTERVALS = """
INSERT INTO agent_state_intervals
SELECT 'agent-' || lpad(a::VARCHAR, 3, '0'),
       ['available', 'on_call', 'wrap_up', 'paused'][1 + (k % 4)],
       TIMESTAMP '{start}' + to_seconds(d * 86400 + 8 * 3600 + k * 300),
       TIMESTAMP '{start}' + to_seconds(d * 86400 + 8 * 3600 + (k + 1) * 300),
       300.0, NULL, 'mobile', NULL
FROM range({agents}) x(a), range({days}) y(d), range(96) z(k)
"""


def bench_stats(workdir: Path, n: int, agents: int = 50) -> dict[str, Any]:
    days = 30
    start = datetime(2026, 5, 1)
    spacing = days * 86400 / n
    store = CallStore(workdir / "stats.duckdb")
    t0 = time.perf_counter()
    store.con.execute(
        GENERATE_CALLS.format(n=n, agents=agents, start=start, spacing=spacing)
    ).fetchall()
    store.con.execute(GENERATE_INTERVALS.format(agents=agents, days=days, start=start)).fetchall()
    store.checkpoint()
    generated = time.perf_counter() - t0
    con = store.cursor()
    lo, hi = start, start + timedelta(days=days)
    day = date(2026, 5, 15)
    queries: dict[str, Callable[[], object]] = {
        "calls_per_outcome (30 days, per day)": lambda: stats.calls_per_outcome(con, lo, hi),
        "connect_rate (30 days)": lambda: stats.connect_rate(con, lo, hi),
        "talk_time avg+p50/p90/p95 (30 days)": lambda: stats.talk_time(con, lo, hi),
        "agent_occupancy (30 days, 50 agents)": lambda: stats.agent_occupancy(con, lo, hi),
        "agent_daily_summary (1 day)": lambda: stats.agent_daily_summary(con, day),
        "calls_for_agent (1 agent, 1 day)": lambda: stats.calls_for_agent(con, "agent-007", day),
        "recordings (agent + 7 days, 200)": lambda: stats.recordings(
            con, agent_id="agent-007", start=day, end=day + timedelta(days=7)
        ),
        "summary (30 days)": lambda: stats.summary(con, lo, hi),
    }
    timings: dict[str, tuple[float, float]] = {}
    for name, query in queries.items():
        runs = []
        for _ in range(5):
            t = time.perf_counter()
            query()
            runs.append((time.perf_counter() - t) * 1000)
        timings[name] = (min(runs), statistics.median(runs))
    t = time.perf_counter()
    exported = export(con, workdir / "calls.parquet", "parquet")
    export_s = time.perf_counter() - t
    store.close()
    return {
        "calls": n,
        "generated_s": generated,
        "timings_ms": timings,
        "export_rows": exported,
        "export_s": export_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000, help="records told to the writer")
    parser.add_argument("--methods", type=int, default=50_000, help="rows per append method")
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls for the stats phase")
    args = parser.parse_args()
    print(f"duckdb {duckdb.__version__}, python {sys.version.split()[0]}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="evs-analytics-bench-") as tmp:
        workdir = Path(tmp)
        w = bench_writer(workdir, args.records)
        print(
            f"writer: {w['records']:.0f} CallRecords in {w['seconds']:.2f}s = "
            f"{w['records_per_s']:,.0f} records/s ({w['rows_per_s']:,.0f} rows/s with legs)"
        )
        for name, rate in bench_append_methods(workdir, args.methods).items():
            print(f"append {name:<18} {rate:>12,.0f} call rows/s")
        s = bench_stats(workdir, args.calls)
        print(f"stats: {s['calls']:,} calls generated in SQL in {s['generated_s']:.1f}s")
        for name, (best, median) in s["timings_ms"].items():
            print(f"  {name:<40} best {best:8.1f} ms  median {median:8.1f} ms")
        print(f"  export {s['export_rows']:,} calls to Parquet: {s['export_s']:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
