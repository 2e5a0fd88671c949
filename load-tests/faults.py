"""Faults under load: the real product (`evscallpro serve`, its own process) against the ARI
simulator (`evscallpro sim`, another process), agents placing calls over the gateway's
WebSocket protocol, and one fault injected after another while calls run.

Shared by the bounded test (tests/e2e/test_faults_under_load.py) and the benchmark
(load-tests/faults_bench.py). Everything is driven from the outside, so the harness does not
depend on the core's internals:

- the simulator's admin API (`/_sim/...`, asterisk/sim/README.md) injects the ARI faults;
- the core runs as `python -m evscallpro.cli serve --config FILE` in a subprocess, so it can
  be SIGKILLed and started again on the same data folder; its stdout (one JSON line per call
  step and per record) tells which calls exist and which were recorded (`product.Serve`,
  load-tests/product.py, shared with the load generator);
- agents log in over HTTP (`POST /login`, Basic) and hold `/ws` with their session cookie
  as a browser does, send `place_call` and `qualify` (the wrap-up form), and reconnect (and
  log in again when the session is gone) whenever their socket drops (`product.AgentClient`);
- a clean state is polled (bounded) on the simulator's `/ari/channels` and `/ari/bridges`,
  the product's `/metrics` (`evscallpro_calls_in_progress`, `evscallpro_agents`) and the
  agents' own screens; after the run, the DuckDB file is read once `serve` has stopped.

One cycle per fault: calls are placed at `rate` for `lead_s`, the fault is injected, calls
go on being placed for `during_s`, placing stops, then the harness waits (at most
`clean_timeout_s`) for a clean state: no channel and no bridge left in the simulator, no call
in progress, every agent available (core and screen), every call the core created recorded.
The time to clean is measured from the injection. If a cycle does not get clean, what is left
is reported, then cleaned by hand (the far ends hang up, empty bridges are deleted over ARI,
agents reconnect) so the next cycle starts clean; its figures say so.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_sim import Simulator, free_port, start_simulator  # noqa: E402
from product import AgentClient, Serve, parse_metrics, write_serve_config, write_users  # noqa: E402

APP = "evscallpro-faults"
SIM_CONFIG = """
time_scale = 1.0
rules = [
  {{ pattern = "PJSIP/+3361*", profile = "faults-agent" }},
  {{ pattern = "PJSIP/+3362*", profile = "faults-customer" }},
]
[profiles.faults-agent]
kind = "answer"
ring_s = {ring}
[profiles.faults-customer]
kind = "answer"
ring_s = {ring}
talk_s = {talk}
"""

FAULTS = (
    "events_socket_dropped",
    "reconnects_refused",
    "simulator_restarted",
    "events_delayed",
    "hangup_5xx",
    "bridge_delete_5xx",
    "originate_5xx",
    "core_sigkilled",
    "browsers_dropped",
)


@dataclass
class FaultSpec:
    """Sizes of a run: the test uses a small one, the benchmark the full one."""

    agents: int = 4
    rate: float = 1.0  # calls placed per second
    ring_s: float = 0.3  # agent and customer phones ring this long
    talk_s: float = 1.5  # the customer hangs up after this
    lead_s: float = 2.0  # calls placed before the fault
    during_s: float = 1.0  # calls placed after the fault (for lasting faults: while it lasts)
    refuse_s: float = 10.0  # reconnects refused this long
    delay_ms: float = 5000.0  # events delayed this long
    delay_hold_s: float = 0.0  # delay lifted after this (0: lifted at the end of `during_s`)
    fail_count: int = 1  # REST requests failing per 5xx fault
    agent_ring_s: int = 22  # the product's agent-leg ring timeout ([timeouts])
    clean_timeout_s: float = 30.0
    clean_timeout_for: dict[str, float] = field(default_factory=dict)  # per fault
    faults: tuple[str, ...] = FAULTS
    baseline: bool = True  # one cycle without a fault first: the drain time for comparison


@dataclass
class CycleResult:
    fault: str
    placed: int = 0  # place_call sent by the agents during the cycle
    refused: int = 0  # place_call answered with an error notice
    created: int = 0  # call ids the core announced during the cycle
    clean: bool = False
    clean_s: float | None = None  # injection -> clean state
    left: dict[str, Any] = field(default_factory=dict)  # what was still wrong at the bound
    forced_cleanup: dict[str, int] = field(default_factory=dict)
    call_ids: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)  # created, not in DuckDB after the run
    duplicates: dict[str, int] = field(default_factory=dict)  # call id -> records when > 1
    outcomes: dict[str, int] = field(default_factory=dict)  # "outcome/reason" -> calls

    def holds(self) -> bool:
        """The targets: clean in time, every call recorded once."""
        return self.clean and not self.missing and not self.duplicates

    def line(self) -> str:
        took = f"{self.clean_s:.1f} s" if self.clean_s is not None else "NOT CLEAN"
        text = (f"{self.fault:24s} placed {self.placed:4d} (refused {self.refused}), "
                f"created {self.created:4d}, clean after {took}")
        if self.left:
            text += f"; left at the bound: {self.left}"
        if self.forced_cleanup:
            text += f"; cleaned by hand: {self.forced_cleanup}"
        if self.missing or self.duplicates:
            text += f"; records missing {len(self.missing)}, duplicated {len(self.duplicates)}"
        return text + f"\n    records: {self.outcomes}"


@dataclass
class RunResult:
    cycles: list[CycleResult]
    calls_created: int
    calls_placed: int
    records_duckdb: int
    records_missing: list[str]  # created, never recorded in DuckDB
    records_unknown: list[str]  # in DuckDB, never announced (should be empty)
    duplicates_jsonl: dict[str, int]  # call id -> lines in calls.jsonl when > 1
    duplicates_stdout: dict[str, int]  # call id -> record lines on serve's stdout when > 1
    agents_stuck: list[str]
    channels_left: int
    bridges_left: int
    outcomes: dict[str, int]
    serve_starts: int
    folder: str
    reconnects: int = 0  # agent sockets opened again after a drop
    client_errors: dict[str, int] = field(default_factory=dict)  # what the agents' side saw

    def cycle(self, fault: str) -> CycleResult:
        return next(c for c in self.cycles if c.fault == fault)

    def summary(self) -> str:
        lines = [c.line() for c in self.cycles]
        lines.append(
            f"calls placed {self.calls_placed}, created by the core {self.calls_created}, "
            f"records in DuckDB {self.records_duckdb}, missing {len(self.records_missing)}, "
            f"unknown {len(self.records_unknown)}, duplicates (calls.jsonl) "
            f"{sum(n - 1 for n in self.duplicates_jsonl.values())}, duplicates (stdout) "
            f"{sum(n - 1 for n in self.duplicates_stdout.values())}"
        )
        lines.append(
            f"agents stuck {len(self.agents_stuck)} {self.agents_stuck[:5]}, channels left "
            f"{self.channels_left}, bridges left {self.bridges_left}, serve starts "
            f"{self.serve_starts}"
        )
        lines.append(f"outcomes {dict(sorted(self.outcomes.items()))}")
        lines.append(f"agent sockets reopened {self.reconnects}; agents' side saw "
                     f"{dict(sorted(self.client_errors.items()))}")
        if self.records_missing:
            lines.append(f"missing records (first 5): {self.records_missing[:5]}")
        return "\n".join(lines)


def agent_ids(n: int) -> list[str]:
    return [f"fa{i:04d}" for i in range(n)]


# ============================================================================= the rig
class FaultRig:
    def __init__(self, spec: FaultSpec, folder: Path | None = None,
                 log: Callable[[str], None] = print) -> None:
        self.spec = spec
        self.folder = folder or Path(tempfile.mkdtemp(prefix="evs-faults-"))
        self.log = log
        self.agent_ids = agent_ids(spec.agents)
        self.sim: Simulator | None = None
        self.serve: Serve | None = None
        self.http: Any = None
        self.agents: list[AgentClient] = []
        self.port = 0
        self.number = 0
        self.cycles: list[CycleResult] = []

    # -- plumbing ------------------------------------------------------------------------
    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ari_auth(self) -> dict[str, str]:
        assert self.sim is not None
        token = base64.b64encode(f"{self.sim.user}:{self.sim.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def ari(self, method: str, path: str) -> Any:
        assert self.sim is not None
        async with self.http.request(method, f"{self.sim.base_url}/ari{path}",
                                     headers=self._ari_auth()) as resp:
            body = await resp.read()
            return json.loads(body) if body and resp.status == 200 else resp.status

    async def admin(self, path: str, body: dict[str, Any] | None = None) -> int:
        assert self.sim is not None
        async with self.http.post(f"{self.sim.base_url}/_sim/{path}", json=body) as resp:
            await resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"/_sim/{path} answered {resp.status}")
            return int(resp.status)

    async def metrics(self) -> dict[str, float]:
        """The nodes' metrics (calls in progress, agents per state live there), summed."""
        assert self.serve is not None
        nodes = [str(line["metrics_url"]) for line in self.serve.children.values()
                 if line.get("process") == "node" and line.get("metrics_url")]
        texts = []
        for url in nodes:
            try:
                async with self.http.get(url) as resp:
                    texts.append(await resp.text())
            except Exception:
                return {}
        return parse_metrics("\n".join(texts)) if texts else {}

    async def start(self) -> None:
        import aiohttp

        self.sim = await asyncio.to_thread(
            start_simulator, SIM_CONFIG.format(ring=self.spec.ring_s, talk=self.spec.talk_s),
            self.folder, log=self.folder / "sim.log",
        )
        self.port = free_port()
        config = write_serve_config(self.folder, self.sim, self.port, self.agent_ids,
                                    self.spec.agent_ring_s, app=APP)
        await asyncio.to_thread(write_users, self.folder / "data", self.agent_ids)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        self.serve = Serve(config, self.folder)
        await self.serve.start()
        gate = asyncio.Semaphore(10)  # below the gateway's per-address login ceiling

        async def connect(agent: AgentClient) -> None:
            async with gate:
                agent.task = asyncio.create_task(agent.run())
                await asyncio.wait_for(agent.connected.wait(), 60)

        self.agents = [AgentClient(a, self.base, self.http) for a in self.agent_ids]
        await asyncio.gather(*(connect(a) for a in self.agents))

    async def close(self) -> None:
        """Stop everything this rig started, each step even if an earlier one failed."""
        try:
            await asyncio.gather(*(a.close() for a in self.agents), return_exceptions=True)
            if self.serve is not None:
                await self.serve.stop()
        finally:
            try:
                if self.http is not None:
                    await self.http.close()
            finally:
                if self.sim is not None:
                    await asyncio.to_thread(self.sim.stop)

    # -- load ----------------------------------------------------------------------------
    async def place_for(self, seconds: float) -> tuple[int, int]:
        """Place calls at `rate` for `seconds` from idle agents; (placed, skipped)."""
        placed = skipped = 0
        started = time.monotonic()
        total = int(seconds * self.spec.rate)
        cursor = 0
        for i in range(total):
            delay = started + i / self.spec.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n = len(self.agents)
            pick = next((self.agents[(cursor + k) % n] for k in range(n)
                         if self.agents[(cursor + k) % n].idle()), None)
            if pick is None:
                skipped += 1
                continue
            cursor = (self.agents.index(pick) + 1) % n
            self.number += 1
            if await pick.place_call(f"+3362{self.number:07d}"):
                placed += 1
        rest = started + seconds - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
        return placed, skipped

    # -- state ---------------------------------------------------------------------------
    async def state(self) -> dict[str, Any]:
        """What is not clean right now (empty dict: clean)."""
        assert self.serve is not None
        wrong: dict[str, Any] = {}
        try:
            channels = await self.ari("GET", "/channels")
            bridges = await self.ari("GET", "/bridges")
        except Exception as exc:
            return {"simulator": repr(exc)}
        if not isinstance(channels, list) or not isinstance(bridges, list):
            return {"simulator": f"channels {channels}, bridges {bridges}"}
        if channels:
            wrong["channels"] = len(channels)
        if bridges:
            wrong["bridges"] = len(bridges)
        metrics = await self.metrics()
        if not metrics:
            wrong["metrics"] = "unreachable"
        else:
            in_progress = metrics.get("evscallpro_calls_in_progress", 0.0)
            if in_progress:
                wrong["calls_in_progress"] = in_progress
            available = metrics.get('evscallpro_agents{state="available"}', 0.0)
            if available != len(self.agents):
                wrong["agents_available_core"] = available
        screens = [a.user_id for a in self.agents if a.state != "available"]
        if screens:
            wrong["agents_not_available_on_screen"] = len(screens)
        unrecorded = [c for c in self.serve.calls if c not in self.serve.record_lines]
        if unrecorded:
            wrong["calls_unrecorded"] = len(unrecorded)
        return wrong

    async def wait_clean(self, since: float, bound_s: float) -> tuple[float | None, dict[str, Any]]:
        deadline = since + bound_s
        wrong: dict[str, Any] = {}
        while True:
            wrong = await self.state()
            if not wrong:
                return time.monotonic() - since, {}
            if time.monotonic() >= deadline:
                return None, wrong
            await asyncio.sleep(0.1)

    async def force_clean(self) -> dict[str, int]:
        """After a cycle that did not get clean: the far ends hang up, empty bridges are
        deleted, then the product gets a bounded time to settle."""
        done: dict[str, int] = {}
        channels = await self.ari("GET", "/channels")
        for channel in channels if isinstance(channels, list) else []:
            with contextlib.suppress(Exception):
                await self.admin(f"channels/{channel['id']}/hangup?cause=16")
                done["channels_hung_up"] = done.get("channels_hung_up", 0) + 1
        await asyncio.sleep(1.0)
        bridges = await self.ari("GET", "/bridges")
        for bridge in bridges if isinstance(bridges, list) else []:
            with contextlib.suppress(Exception):
                await self.ari("DELETE", f"/bridges/{bridge['id']}")
                done["bridges_deleted"] = done.get("bridges_deleted", 0) + 1
        for agent in self.agents:
            if agent.state != "available":
                agent.drop()  # a fresh screen (and a qualify of any wrap-up it shows)
                done["agents_reconnected"] = done.get("agents_reconnected", 0) + 1
        settle_until = time.monotonic() + self.spec.clean_timeout_s
        while time.monotonic() < settle_until and await self.state():
            await asyncio.sleep(0.2)
        return done

    # -- faults --------------------------------------------------------------------------
    async def inject(self, fault: str) -> Callable[[], Awaitable[None]] | None:
        """Inject `fault` now; return what lifts it (for lasting faults) or None."""
        spec = self.spec
        assert self.serve is not None
        if fault == "events_socket_dropped":
            await self.admin("drop-websockets")
        elif fault == "reconnects_refused":
            await self.admin(f"refuse-websockets?seconds={spec.refuse_s}")
            await self.admin("drop-websockets")
        elif fault == "simulator_restarted":
            await self.admin("restart")
        elif fault == "events_delayed":
            await self.admin(f"delay-events?ms={spec.delay_ms}")

            async def lift() -> None:
                await self.admin("delay-events?ms=0")

            return lift
        elif fault in ("hangup_5xx", "bridge_delete_5xx", "originate_5xx"):
            operation = {"hangup_5xx": "DELETE /channels/{channelId}",
                         "bridge_delete_5xx": "DELETE /bridges/{bridgeId}",
                         "originate_5xx": "POST /channels"}[fault]
            await self.admin("fail-next", {"operation": operation, "count": spec.fail_count,
                                           "status": 503, "message": "Service Unavailable"})
        elif fault == "core_sigkilled":
            await self.serve.kill()
            await self.serve.start()
        elif fault == "browsers_dropped":
            for agent in self.agents:
                agent.drop()
        else:
            raise ValueError(f"unknown fault {fault!r}")
        return None

    async def cycle(self, fault: str) -> CycleResult:
        assert self.serve is not None
        result = CycleResult(fault)
        placed_before = sum(a.placed for a in self.agents)
        refused_before = sum(a.refused for a in self.agents)
        known_before = set(self.serve.calls)
        await self.place_for(self.spec.lead_s)
        injected_at = time.monotonic()
        lift = None if fault == "baseline" else await self.inject(fault)
        if fault == "events_delayed" and self.spec.delay_hold_s:
            await self.place_for(self.spec.delay_hold_s)
            assert lift is not None
            await lift()
            lift = None
        await self.place_for(self.spec.during_s)
        if lift is not None:
            await lift()
        bound_s = self.spec.clean_timeout_for.get(fault, self.spec.clean_timeout_s)
        result.clean_s, result.left = await self.wait_clean(injected_at, bound_s)
        result.clean = result.clean_s is not None
        if not result.clean:
            result.forced_cleanup = await self.force_clean()
        result.placed = sum(a.placed for a in self.agents) - placed_before
        result.refused = sum(a.refused for a in self.agents) - refused_before
        result.call_ids = set(self.serve.calls) - known_before
        result.created = len(result.call_ids)
        result.outcomes = dict(collections.Counter(
            self.serve.outcomes.get(c, "no record") for c in result.call_ids).most_common())
        self.log(result.line())
        return result

    async def run(self) -> RunResult:
        try:
            await self.start()
            if self.spec.baseline:
                self.cycles.append(await self.cycle("baseline"))
            for fault in self.spec.faults:
                self.cycles.append(await self.cycle(fault))
            channels = await self.ari("GET", "/channels")
            bridges = await self.ari("GET", "/bridges")
            stuck = [a.user_id for a in self.agents if a.state != "available"]
            available = (await self.metrics()).get('evscallpro_agents{state="available"}')
            if available != len(self.agents):
                stuck = stuck or [f"(core: {available} available)"]
        finally:
            await self.close()
        assert self.serve is not None
        return self._result(
            stuck,
            len(channels) if isinstance(channels, list) else -1,
            len(bridges) if isinstance(bridges, list) else -1,
        )

    def _result(self, stuck: list[str], channels_left: int, bridges_left: int) -> RunResult:
        import duckdb

        assert self.serve is not None
        data = self.folder / "data"
        with duckdb.connect(str(data / "evscallpro.duckdb"), read_only=True) as db:
            rows = db.execute("SELECT call_id, outcome FROM calls").fetchall()
        in_db = {call_id for call_id, _ in rows}
        outcomes = collections.Counter(outcome for _, outcome in rows)
        jsonl: collections.Counter[str] = collections.Counter()
        records_file = data / "calls.jsonl"
        if records_file.exists():
            for line in records_file.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict) and "outcome" in record:
                        jsonl[record["call_id"]] += 1
        created = set(self.serve.calls)
        for cycle in self.cycles:
            cycle.missing = sorted(cycle.call_ids - in_db)
            cycle.duplicates = {
                c: max(jsonl[c], self.serve.record_lines[c]) for c in cycle.call_ids
                if jsonl[c] > 1 or self.serve.record_lines[c] > 1
            }
        return RunResult(
            cycles=self.cycles,
            calls_created=len(created),
            calls_placed=sum(a.placed for a in self.agents),
            records_duckdb=len(rows),
            records_missing=sorted(created - in_db),
            records_unknown=sorted(in_db - created),
            duplicates_jsonl={c: n for c, n in jsonl.items() if n > 1},
            duplicates_stdout={c: n for c, n in self.serve.record_lines.items() if n > 1},
            agents_stuck=stuck,
            channels_left=channels_left,
            bridges_left=bridges_left,
            outcomes=dict(outcomes),
            serve_starts=self.serve.starts,
            folder=str(self.folder),
            reconnects=sum(a.reconnects for a in self.agents),
            client_errors=dict(sum((a.errors for a in self.agents), collections.Counter())),
        )


async def run_faults(spec: FaultSpec, folder: Path | None = None,
                     log: Callable[[str], None] = print) -> RunResult:
    return await FaultRig(spec, folder, log).run()
