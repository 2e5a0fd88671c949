"""Statistics page benchmark: full render time of GET /stats over 1 M (and 10 M) calls,
measured while the AnalyticsWriter keeps writing records into the same database.

What is measured: the wall time of an HTTP GET of the statistics page by a logged-in
supervisor (the real gateway on its own thread, its AnalyticsReader on the writer's database
instance): parsing the request, the five DuckDB queries of `analytics.dashboard`, the Jinja
template and the response, as a browser gets it (the browser's own chart drawing excluded);
and, apart, the page's queries alone: the reader's `dashboard()` timed inside those requests.
Periods: `today`, `7d` and `30d` (every call of the store; the finished days from the
per-day rollup of analytics.rollup, built by each period's first fetch, printed apart).

The store: `generate_calls` (tests/support/synthetic.py: real CallRecords, both legs, steps)
writes a base of 50,000 calls spread over the last 30 days through `CallStore`; DuckDB
then copies it (new call ids, started a few seconds later) until the store holds the asked
number of calls, with one agent per 5,000 calls (about 166 calls per agent per day), and
derives the agents' state intervals (on call for each answered call, 20 s of wrap-up after
each connected one). While the page is fetched, a feeder thread tells the AnalyticsWriter
`--write-rate` new records per second (journal, fsync, batched upserts, as in production).

    .venv/bin/python load-tests/stats_bench.py                       # 1 M calls
    .venv/bin/python load-tests/stats_bench.py --calls 1000000 10000000
"""

from __future__ import annotations

import argparse
import base64
import http.client
import http.cookiejar
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # support.synthetic

from argon2 import PasswordHasher  # noqa: E402
from support.synthetic import generate_calls  # noqa: E402

from actors.analytics_service import AnalyticsService  # noqa: E402
from actors.analytics_writer import GetWriterStatus, WriterConfig  # noqa: E402
from analytics import rows  # noqa: E402
from analytics.dashboard import Dashboard, StatsFilter  # noqa: E402
from analytics.reader import AnalyticsReader  # noqa: E402
from analytics.store import Batch, CallStore  # noqa: E402
from core.views import AgentView  # noqa: E402
from gateway.server import GatewayThread  # noqa: E402
from gateway.settings import GatewaySettings  # noqa: E402
from gateway.users import Role, UserDirectory  # noqa: E402

BASE = 50_000
CALLS_PER_AGENT = 5_000
DAYS = 30
PASSWORD = "bench-supervisor-pw"


class IdleCore:
    """The gateway's CallCenter port with no agent on line: the page reads the archive only."""

    def snapshot(self) -> list[AgentView]:
        return []

    def subscribe(self, listener: Callable[[object], None]) -> Callable[[], None]:
        return lambda: None

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


def build_store(path: Path, calls: int, now: float) -> None:
    agents = max(10, calls // CALLS_PER_AGENT)
    base = min(BASE, calls)
    span = DAYS * 86_400.0
    start = now - span
    t0 = time.perf_counter()
    store = CallStore(path)
    batch = Batch()
    for record in generate_calls(base, agents=agents, start=start, spacing=span / base, seed=9):
        batch.calls.append(rows.call_row(record))
        batch.legs.extend(rows.leg_rows(record))
        if len(batch.calls) >= 20_000:
            store.write(batch)
            batch = Batch()
    store.write(batch)
    copies = calls // base
    con = store.con
    con.execute("SET enable_progress_bar = false")
    step_us = int(span / calls * 1_000_000)  # copy k starts k * step later than the base call
    shift = f"to_microseconds(r.k * {step_us})"
    # The base moves aside, then every copy goes in with one INSERT per table, in time order
    # as the writer appends in production (DuckDB's per-row-group min/max then skip the row
    # groups outside a window).
    con.execute("CREATE TEMP TABLE base_calls AS SELECT * FROM calls")
    con.execute("CREATE TEMP TABLE base_legs AS SELECT * FROM call_legs")
    con.execute("DELETE FROM call_legs")
    con.execute("DELETE FROM calls")
    con.execute(
        f"""INSERT INTO calls SELECT
                CASE WHEN r.k = 0 THEN call_id ELSE call_id || '~' || r.k END, agent_id,
                contact_id, customer_number, workstation, outcome, reason, hung_up_first,
                recording_name, started_at + {shift}, agent_dialing_at + {shift},
                agent_answered_at + {shift}, announcing_at + {shift},
                customer_dialing_at + {shift}, connected_at + {shift}, ended_at + {shift},
                setup_seconds, talk_seconds, recovered, steps, agent_confirming_at + {shift},
                agent_billable_seconds, agent_hangup_cause
            FROM base_calls CROSS JOIN range({copies}) r(k) ORDER BY 10"""
    )
    con.execute(
        f"""INSERT INTO call_legs SELECT
                CASE WHEN r.k = 0 THEN call_id ELSE call_id || '~' || r.k END, role, endpoint,
                channel_id, dialed_at + {shift}, ringing_at + {shift}, answered_at + {shift},
                ended_at + {shift}, hangup_cause, hangup_cause_text, tech_cause, dial_status,
                billable_seconds
            FROM base_legs CROSS JOIN range({copies}) r(k) ORDER BY 5"""
    )
    con.execute(
        """INSERT OR IGNORE INTO agent_state_intervals
           SELECT agent_id, 'on_call', agent_answered_at, ended_at,
                  epoch(ended_at) - epoch(agent_answered_at), NULL, workstation, call_id, NULL
           FROM calls WHERE agent_answered_at IS NOT NULL ORDER BY agent_answered_at"""
    )
    con.execute(
        """INSERT OR IGNORE INTO agent_state_intervals
           SELECT agent_id, 'wrap_up', ended_at, ended_at + INTERVAL 20 SECOND, 20.0, NULL,
                  workstation, call_id, true
           FROM calls WHERE connected_at IS NOT NULL ORDER BY ended_at"""
    )
    store.checkpoint()
    n = store.count("calls")
    intervals = store.count("agent_state_intervals")
    store.close()
    size = path.stat().st_size / 2**20
    print(f"  store: {n:,} calls, {intervals:,} intervals, {agents} agents, "
          f"{size:,.0f} MiB, built in {time.perf_counter() - t0:.0f} s", flush=True)


class Feeder(threading.Thread):
    """Tells the writer `rate` records per second (today's calls) until stopped."""

    def __init__(self, service: AnalyticsService, rate: int, now: float) -> None:
        super().__init__(name="feeder", daemon=True)
        self.service, self.rate, self.now = service, rate, now
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        records = generate_calls(10**7, agents=50, start=self.now - 3600, spacing=0.01,
                                 seed=5, prefix="live")
        sink = self.service.sink
        tick = 0.05
        per_tick = max(1, int(self.rate * tick))
        while not self.stop_event.wait(tick):
            for _ in range(per_tick):
                sink.write(next(records))
                self.sent += 1


def login(base: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    token = base64.b64encode(f"sam:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        base + "/login", method="POST",
        headers={"Authorization": f"Basic {token}", "Origin": base},
    )
    with opener.open(request, timeout=30) as answer:
        answer.read()
    return opener


class QueryClock:
    """Times the reader's `dashboard()` (the page's queries) inside the gateway's requests."""

    def __init__(self, reader: AnalyticsReader) -> None:
        self.times: list[float] = []
        inner = reader.dashboard

        def timed(flt: StatsFilter) -> Dashboard:
            t0 = time.perf_counter()
            try:
                return inner(flt)
            finally:
                self.times.append((time.perf_counter() - t0) * 1000)

        reader.dashboard = timed  # type: ignore[method-assign]


def measure(
    opener: urllib.request.OpenerDirector, url: str, samples: int, clock: QueryClock
) -> tuple[list[float], list[float]]:
    times = []
    clock.times.clear()
    for _ in range(samples + 1):
        t0 = time.perf_counter()
        asked = len(clock.times)
        try:
            with opener.open(url, timeout=120) as answer:
                body = answer.read()
        except http.client.RemoteDisconnected:
            # the gateway's HTTP handshake lasts at most 10 s (websockets' open_timeout): a
            # first fetch that builds many days at 10 M calls can take longer; its build
            # goes on, the next fetch uses it
            waited = (time.perf_counter() - t0) * 1000
            print(f"  a fetch of {url.rsplit('=', 1)[-1]} dropped by the gateway after "
                  f"{waited:.0f} ms (handshake timeout): fetched again", flush=True)
            while len(clock.times) == asked and time.perf_counter() - t0 < 600:
                time.sleep(0.05)  # its queries go on: not counted with the next fetch
            print(f"  (its queries took {clock.times[-1]:.0f} ms)", flush=True)
            clock.times.clear()
            continue
        times.append((time.perf_counter() - t0) * 1000)
        if b'id="kpi-calls"' not in body:
            raise SystemExit(f"the page has no figures: {body[:300]!r}")
    # the first fetch warms DuckDB's caches and the templates, and builds the per-day rollup
    # of the window's finished days (analytics.rollup): printed, not counted
    print(f"  first fetch of {url.rsplit('=', 1)[-1]}: {times[0]:.0f} ms "
          f"(queries {clock.times[0]:.0f} ms)", flush=True)
    return times[1:], clock.times[1:]


def figures(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {"n": len(times), "median": round(statistics.median(times), 1),
            "p90": round(ordered[int(0.9 * (len(times) - 1))], 1), "max": round(max(times), 1)}


def summary(times: list[float]) -> str:
    return (f"median {statistics.median(times):.0f} ms, "
            f"p90 {sorted(times)[int(0.9 * (len(times) - 1))]:.0f} ms, max {max(times):.0f} ms")


def run(calls: int, samples: int, write_rate: int, periods: list[str]) -> dict[str, Any]:
    print(f"== {calls:,} calls", flush=True)
    result: dict[str, Any] = {"calls": calls, "write_rate": write_rate, "periods": {}}
    with tempfile.TemporaryDirectory(prefix="stats-bench-") as folder:
        db = Path(folder) / "calls.duckdb"
        now = datetime.now(UTC).timestamp()
        build_store(db, calls, now)
        service = AnalyticsService(WriterConfig(db_path=str(db)))
        service.start()
        clock = QueryClock(service.reader)
        users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        users.add("sam", PASSWORD, Role.SUPERVISOR, "Sam Leroy")
        settings = GatewaySettings(port=0, data_dir=folder,
                                   session_secret="stats-bench-secret-0123456789abcdef")
        gateway = GatewayThread(IdleCore(), settings, users, archive=service.reader).start()  # type: ignore[arg-type]
        feeder = Feeder(service, write_rate, now)
        try:
            opener = login(gateway.url)
            feeder.start()
            time.sleep(1.0)  # the writer has flushed at least once
            assert service.writer is not None
            before = service.writer.ask(GetWriterStatus(), timeout=30).written  # type: ignore[union-attr]
            t_before = time.perf_counter()
            for period in periods:
                times, queries = measure(opener, f"{gateway.url}/stats?period={period}",
                                         samples, clock)
                print(f"  GET /stats?period={period}: {summary(times)} over {samples} fetches;"
                      f" its queries (dashboard()): {summary(queries)}", flush=True)
                result["periods"][period] = {"page_ms": figures(times),
                                             "queries_ms": figures(queries)}
            after = service.writer.ask(GetWriterStatus(), timeout=30).written  # type: ignore[union-attr]
            elapsed = time.perf_counter() - t_before
            print(f"  the writer committed {after - before:,} records during the fetches "
                  f"({(after - before) / elapsed:.0f}/s over {elapsed:.0f} s)", flush=True)
            result["written_during_fetches"] = after - before
        finally:
            feeder.stop_event.set()
            feeder.join(5)
            gateway.stop()
            service.stop()
        print(f"  records told to the writer meanwhile: {feeder.sent:,} "
              f"({write_rate}/s asked)", flush=True)
    result["loadavg"] = os.getloadavg()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--write-rate", type=int, default=200, help="records per second")
    parser.add_argument("--periods", nargs="+", default=["today", "7d", "30d"])
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args()
    results = [run(calls, args.samples, args.write_rate, args.periods) for calls in args.calls]
    if args.json is not None:
        args.json.write_text(json.dumps({"stores": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
