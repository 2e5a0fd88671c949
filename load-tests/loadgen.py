"""The load generator of issue 12: the whole product driven from the outside, as a call
center would drive it.

- the ARI simulator in its own process, its customers a random mix of phone profiles drawn
  from --seed (answering after a random ring, busy, not answering, rejecting, congested: the
  mix in --mix), the agents' mobiles answering after --agent-ring seconds;
- the product as `python -m evscallpro.cli serve --config FILE` in a subprocess: only its CLI,
  its stdout JSON lines (`ready`, `call`, `record`, `stopped`), its `/metrics` and its data
  folder are used, never its internals, so the same harness drives one process or a
  supervisor of several;
- --agents synthetic agents that log in over the real HTTP + WebSocket protocol
  (load-tests/product.py `AgentClient`, shared with faults.py), choose their workstation
  (`set_workstation` mobile), get placed calls continuously at --rate calls/s (an idle agent
  is picked for each), hang up after a talk time drawn from a log-normal distribution (mean
  --talk-mean s, sigma --talk-sigma, capped at --talk-max), and qualify each call in wrap-up;
- optionally --supervisors supervisors on the wallboard who listen to a random live call
  every --listen-every seconds;
- optionally a crash: with --kill-at-live N, once N calls are connected the NODE process
  (serve's child `evscallpro node`, found by the pid of its `process_ready` line) is
  SIGKILLed; serve's supervisor restarts it after its back-off, and the new node adopts the
  calls from its live-calls bucket. Measured: kill -> the supervisor's `process_exit` line
  (with the back-off it chose, `restart_in_s`), kill -> the new node's start (its start time
  in /proc), and from that start to its `reconciled` line (the calls it adopted) and to its
  ready line. The gateway, analytics and nats-server stay up; the agents keep their sessions.

A live progress line every 2 s (placed and records per second, calls in progress, errors,
CPU and RSS of the node process and of all the product's processes), a summary at the end, a JSON result file (--json). Bounded: calls
are placed for --duration s, then the run waits at most --drain-max s for every call the
product created to be recorded (at the bound, the agents hang up what is still up and get
10 s more), then stops the product (SIGTERM) and the simulator.

Every figure comes from what the processes themselves record:

- setups per second achieved: the records' `started_at` (the core's click time) over the
  placing window, against --rate asked;
- click -> customer ringing, click -> connected: the records' timestamps;
- customer answer -> "connected" fragment at the agent's browser: the record's
  `connected_at` (the core's clock) to the arrival of the first frame showing the step
  `connected` (the client's clock; same machine);
- event -> next command: each node process's own `evscallpro_event_to_command_seconds`
  histogram (its /metrics, the URL of its ready line), between a scrape at the start and one
  at the end (around a kill: the old node up to the kill, the new one from 0); quantiles are
  bucket upper bounds; beside it the node's cyclic GC collections by generation
  (`python_gc_collections_total`: the tuning of evscallpro/gc_tuning.py makes them rare);
- calls in progress: calls the product announced on stdout and has not recorded yet;
- CPU and RSS: /proc of each process (serve, node-<id>, gateway, analytics, nats-server) and
  the simulator; RSS per concurrent call from the node's;
- records written vs calls placed: place_call sent, call ids the product announced, record
  lines on stdout (duplicates counted), rows of the analytics process's DuckDB `calls`
  table (written from the records stream) after it stopped; before the stop the run waits
  (30 s at most) for analytics to count as many calls written as the nodes recorded.

    .venv/bin/python load-tests/loadgen.py --agents 50 --rate 5 --duration 60 --json lg.json
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_sim import Simulator, free_port, start_simulator  # noqa: E402
from product import (  # noqa: E402
    AgentClient,
    Serve,
    SupervisorClient,
    agent_number,
    histogram_delta,
    parse_metrics,
    process_tree_usage,
    quantiles_of,
    started_monotonic,
    write_serve_config,
    write_users,
)

APP = "evscallpro-loadgen"
DEFAULT_MIX = "answer=0.75,busy=0.08,noanswer=0.07,reject=0.05,congestion=0.05"
PROFILE_SLOTS = 10  # customer numbers +3362<slot><n>: one simulator profile per slot
LOGINS_AT_ONCE = 10  # below the gateway's per-address login ceiling
WRITTEN_WAIT_S = 30.0  # at most, for the analytics process to write the last records
HANG_UP_TRIES = 5
HANG_UP_AGAIN_S = 2.0  # the call still on the agent's screen this long after a hang-up


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if not kind or not weight:
            raise SystemExit(f"--mix: expected kind=weight, got {part!r}")
        mix.append((kind.strip(), float(weight)))
    return mix


def sim_config(rng: random.Random, mix: list[tuple[str, float]], agent_ring: float,
               ring_min: float, ring_max: float, talk_cap: float) -> tuple[str, list[str]]:  # fmt: skip
    """The simulator's TOML: agents' and supervisors' mobiles answer; each customer slot gets a
    profile drawn from the mix (an answering one rings a random time). Returns the text and
    the kind of each slot."""
    kinds = [k for k, _ in mix]
    weights = [w for _, w in mix]
    lines = ["time_scale = 1.0", "rules = ["]
    lines.append('  { pattern = "PJSIP/+3361*", profile = "lg-agent" },')
    lines.append('  { pattern = "PJSIP/+3363*", profile = "lg-agent" },')
    slots = []
    for slot in range(PROFILE_SLOTS):
        slots.append(rng.choices(kinds, weights)[0])
        lines.append(f'  {{ pattern = "PJSIP/+3362{slot}*", profile = "lg-c{slot}" }},')
    lines.append("]")
    lines += ["[profiles.lg-agent]", 'kind = "answer"', f"ring_s = {agent_ring}"]
    for slot, kind in enumerate(slots):
        # a customer hangs up by itself long after the agent should have (a lost hang-up
        # must not leave a call up forever)
        lines += [f"[profiles.lg-c{slot}]", f'kind = "{kind}"',
                  f"ring_s = {rng.uniform(ring_min, ring_max):.2f}", f"talk_s = {talk_cap}"]  # fmt: skip
    return "\n".join(lines) + "\n", slots


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def dist(values: list[float], scale: float = 1000.0) -> dict[str, Any]:
    """n, p50/p90/p99/max (ms by default)."""
    if not values:
        return {"n": 0}
    v = [x * scale for x in values]
    return {"n": len(v), "p50": round(pct(v, 0.5) or 0, 1), "p90": round(pct(v, 0.9) or 0, 1),
            "p99": round(pct(v, 0.99) or 0, 1), "max": round(max(v), 1)}  # fmt: skip


class LoadGen:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.folder = Path(args.folder or tempfile.mkdtemp(prefix="evs-loadgen-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sim: Simulator | None = None
        self.serve: Serve | None = None
        self.http: Any = None
        self.port = 0
        self.agents: list[AgentClient] = []
        self.supervisors: list[SupervisorClient] = []
        self.slots: list[str] = []
        self.number = 0
        self.skipped = 0  # a call was due and no agent was idle
        self.hangups: set[asyncio.Task[Any]] = set()
        self.talk_times: list[float] = []
        self.samples: list[dict[str, Any]] = []
        self.errors: collections.Counter[str] = collections.Counter()
        self.t0 = 0.0
        self.closed = False
        self.crash: dict[str, Any] = {}
        self.killed_at = 0.0
        self.analytics_wait: dict[str, Any] = {}
        self.reconciled_at: dict[str, float] = {}  # node id -> its first reconciled line
        self.first_start: dict[str, float] = {}  # node id -> start -> reconciled, nothing up
        self.killed_node = ""
        # the node scrapes the figures are taken between: (before, after) per node process
        # (before for the histogram, before for the GC counters, after) per node process: the
        # GC counters from its ready line on (a process's start collects with the defaults)
        self.scrape_pairs: list[tuple[dict[str, float], dict[str, float], dict[str, float]]] = []
        self.scraped: dict[str, dict[str, float]] = {}  # node child -> its scrape at the start
        self.gc_scraped: dict[str, dict[str, float]] = {}

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- processes -------------------------------------------------------------------------
    async def start(self) -> None:
        import aiohttp

        a = self.args
        text, self.slots = sim_config(self.rng, parse_mix(a.mix), a.agent_ring, a.ring_min,
                                      a.ring_max, 2 * a.talk_max + 30)  # fmt: skip
        self.sim = await asyncio.to_thread(start_simulator, text, self.folder,
                                           log=self.folder / "sim.log")  # fmt: skip
        self.port = free_port()
        agent_ids = [f"lg{i:04d}" for i in range(a.agents)]
        sup_ids = [f"ls{i:03d}" for i in range(a.supervisors)]
        config = write_serve_config(
            self.folder, self.sim, self.port, agent_ids, a.agent_ring_timeout, app=APP,
            supervisors=sup_ids, customer_ring_s=a.customer_ring_timeout,
        )  # fmt: skip
        await asyncio.to_thread(write_users, self.folder / "data", agent_ids, sup_ids)
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        self.serve = Serve(config, self.folder)
        self.serve.on_line = self.on_line
        print(f"loadgen: folder {self.folder}; starting the product", flush=True)
        await self.serve.start(timeout_s=a.start_max)
        gate = asyncio.Semaphore(LOGINS_AT_ONCE)

        async def connect(client: AgentClient, index: int | None) -> None:
            async with gate:
                client.task = asyncio.create_task(client.run())
                await asyncio.wait_for(client.connected.wait(), 60)
            if index is not None:  # the agent chooses its workstation: its mobile
                await client.set_workstation("mobile", agent_number(index))

        self.agents = [AgentClient(u, self.base, self.http) for u in agent_ids]
        for agent in self.agents:
            agent.on_step = self.on_step
        self.supervisors = [SupervisorClient(u, self.base, self.http) for u in sup_ids]
        started = time.monotonic()
        await asyncio.gather(*(connect(c, i) for i, c in enumerate(self.agents)),
                             *(connect(s, None) for s in self.supervisors))  # fmt: skip
        print(f"loadgen: {len(self.agents)} agents and {len(self.supervisors)} supervisors "
              f"logged in in {time.monotonic() - started:.1f} s", flush=True)  # fmt: skip

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            for task in list(self.hangups):
                task.cancel()
            clients = [*self.agents, *self.supervisors]
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
            if self.serve is not None:
                await self.serve.stop()
        finally:
            try:
                if self.http is not None:
                    await self.http.close()
            finally:
                if self.sim is not None:
                    await asyncio.to_thread(self.sim.stop)

    async def scrape(self, url: str) -> dict[str, float]:
        """One process's /metrics: the product's series and Python's GC counters."""
        try:
            async with self.http.get(url) as resp:
                text = await resp.text()
        except Exception as exc:
            self.errors[f"metrics_{type(exc).__name__}"] += 1
            return {}
        return {**parse_metrics(text), **parse_metrics(text, "python_gc_collections")}

    async def scrape_nodes(self) -> dict[str, dict[str, float]]:
        assert self.serve is not None
        nodes = self.serve.nodes()
        got = await asyncio.gather(*(self.scrape(line["metrics_url"]) for line in nodes.values()))
        return dict(zip(nodes, got, strict=True))

    def on_line(self, event: dict[str, Any]) -> None:
        """At the first start, each node's start -> its (empty) reconciliation: the baseline
        of a restart with nothing to adopt. After the node's kill: the supervisor's exit
        line, the new node's reconciliation (what it adopted) and its ready line."""
        if not self.killed_at:
            if event.get("event") == "reconciled" and event.get("process") == "node":
                self.reconciled_at.setdefault(str(event.get("node")), event["read_at"])
            elif event.get("event") == "process_ready" and event.get("process") == "node":
                spawned = started_monotonic(int(event.get("pid", 0)))
                reconciled = self.reconciled_at.get(str(event.get("node")))
                if spawned is not None and reconciled is not None:
                    self.first_start[str(event.get("node"))] = round(reconciled - spawned, 3)
            return
        if event.get("node") != self.killed_node:
            return
        kind = event.get("event")
        took = round(event["read_at"] - self.killed_at, 3)
        if kind == "process_exit" and "kill_to_exit_seen_s" not in self.crash:
            self.crash["kill_to_exit_seen_s"] = took
            self.crash["backoff_s"] = event.get("restart_in_s")
            self.crash["exit_code"] = event.get("exit_code")
        elif kind == "reconciled" and "kill_to_reconciled_s" not in self.crash:
            self.crash["kill_to_reconciled_s"] = took
            self.crash["adopted"] = len(event.get("adopted") or ())
            self.crash["closed_while_away"] = len(event.get("closed_while_away") or ())
            self.crash["reconcile_listing_s"] = event.get("listing_s")
            self.crash["reconcile_adopting_s"] = event.get("adopting_s")
        elif kind == "process_ready" and "kill_to_ready_s" not in self.crash:
            self.crash["kill_to_ready_s"] = took
            self.crash["restart_steps_s"] = event.get("start_steps_s")
            spawned = started_monotonic(int(event.get("pid", 0)))
            if spawned is not None:  # the new node's own start: the restart it is timed from
                self.crash["kill_to_spawn_s"] = round(spawned - self.killed_at, 3)
                self.crash["spawn_to_ready_s"] = round(event["read_at"] - spawned, 3)
                if "kill_to_reconciled_s" in self.crash:
                    self.crash["spawn_to_reconciled_s"] = round(
                        self.killed_at + self.crash["kill_to_reconciled_s"] - spawned, 3)

    async def crash_at(self, live_calls: int, until: float) -> None:
        """SIGKILL the node process once `live_calls` calls are connected; serve's supervisor
        restarts it."""
        assert self.serve is not None
        serve = self.serve
        while time.monotonic() < until:
            live = sum(1 for c, step in serve.steps.items()
                       if step == "connected" and c not in serve.record_lines)  # fmt: skip
            if live >= live_calls:
                break
            await asyncio.sleep(0.1)
        else:
            self.crash = {"killed": False, "reason": f"{live_calls} calls never connected at once"}
            return
        in_progress = len(serve.calls) - len(serve.record_lines)
        name = sorted(serve.nodes())[0]
        old_pid = int(serve.children[name]["pid"])
        print(f"loadgen: {live} calls connected ({in_progress} in progress): SIGKILL of {name} "
              f"(pid {old_pid})", flush=True)  # fmt: skip
        at_kill = await self.scrape_nodes()  # the old node's figures up to the kill
        before = self.sample()
        rss = sum(r for k, (_, r) in before["usage"].items() if "simulator" not in k)
        node_rss = sum(r for k, (_, r) in before["usage"].items() if k.endswith(f" {name}"))
        self.crash = {"killed": True, "node": name, "live_at_kill": in_progress,
                      "connected_at_kill": live, "product_rss_at_kill_mib": round(rss, 1),
                      "node_rss_at_kill_mib": round(node_rss, 1)}  # fmt: skip
        self.killed_node = str(serve.children[name].get("node", ""))
        if self.killed_node in self.first_start:  # the same node's start with nothing to adopt
            self.crash["first_start_to_reconciled_s"] = self.first_start[self.killed_node]
        self.killed_at = time.monotonic()
        serve.kill_child(name)
        self.scrape_pairs.append((self.scraped.pop(name, {}), self.gc_scraped.pop(name, {}),
                                  at_kill.get(name, {})))  # fmt: skip
        while time.monotonic() < until + self.args.start_max:
            line = serve.children.get(name, {})
            if int(line.get("pid", old_pid)) != old_pid and "kill_to_ready_s" in self.crash:
                break
            await asyncio.sleep(0.05)
        else:
            self.crash["restarted"] = False
            print(f"loadgen: {name} not restarted: {self.crash}", flush=True)
            return
        self.scraped[name] = {}  # the new node's histogram counts from 0 (its adoption included)
        self.gc_scraped[name] = (await self.scrape_nodes()).get(name, {})
        print(f"loadgen: {name} restarted by serve: {self.crash}", flush=True)

    # -- agents ------------------------------------------------------------------------------
    def talk_time(self) -> float:
        a = self.args
        mu = math.log(a.talk_mean) - a.talk_sigma**2 / 2  # mean of the log-normal = talk_mean
        return min(a.talk_max, self.rng.lognormvariate(mu, a.talk_sigma))

    def on_step(self, agent: AgentClient, call_id: str, step: str) -> None:
        if step != "connected":
            return
        talk = self.talk_time()
        self.talk_times.append(talk)

        async def hang_up_later() -> None:
            await asyncio.sleep(talk)
            # a hang-up refused while the node restarts is clicked again, as an agent would
            for _ in range(HANG_UP_TRIES):
                if agent.live_call != call_id:
                    return
                if not await agent.hang_up(call_id):
                    self.errors["hang_up_not_sent"] += 1
                await asyncio.sleep(HANG_UP_AGAIN_S)

        task = asyncio.get_running_loop().create_task(hang_up_later())
        self.hangups.add(task)
        task.add_done_callback(self.hangups.discard)

    async def place(self, duration: float) -> float:
        """Place calls at --rate for `duration` s from idle agents; returns the wall time."""
        rate = self.args.rate
        started = time.monotonic()
        cursor = 0
        n = len(self.agents)
        for i in range(int(duration * rate)):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pick = None
            for k in range(n):
                candidate = self.agents[(cursor + k) % n]
                if candidate.idle():
                    pick, cursor = candidate, (cursor + k + 1) % n
                    break
            if pick is None:
                self.skipped += 1
                continue
            self.number += 1
            slot = self.rng.randrange(PROFILE_SLOTS)
            await pick.place_call(f"+3362{slot}{self.number:06d}")
        rest = started + duration - time.monotonic()
        if rest > 0:
            await asyncio.sleep(rest)
        return time.monotonic() - started

    async def supervise(self, until: float) -> None:
        """Each supervisor listens to a random live call every --listen-every seconds."""
        if not self.supervisors:
            return
        while time.monotonic() < until:
            await asyncio.sleep(self.args.listen_every)
            now = time.time()
            for sup in self.supervisors:
                fresh = [c for c, seen in sup.offered.items() if now - seen < 3.0]
                if fresh:
                    await sup.listen(self.rng.choice(fresh))

    # -- progress ----------------------------------------------------------------------------
    def sample(self) -> dict[str, Any]:
        assert self.serve is not None and self.sim is not None
        usage: dict[str, Any] = {}
        if self.serve.pid is not None:
            for pid, (name, cpu, rss) in process_tree_usage(self.serve.pid).items():
                usage[f"{pid} {name}"] = (cpu, rss)
        for pid, (_, cpu, rss) in process_tree_usage(self.sim.pid).items():
            usage[f"{pid} simulator"] = (cpu, rss)
        live = len(self.serve.calls) - len(self.serve.record_lines)
        s = {"t": time.monotonic() - self.t0, "placed": sum(a.placed for a in self.agents),
             "created": len(self.serve.calls), "records": len(self.serve.record_lines),
             "live": live, "errors": self.error_count(), "usage": usage}  # fmt: skip
        self.samples.append(s)
        return s

    def error_count(self) -> int:
        clients = [*self.agents, *self.supervisors]
        return sum(self.errors.values()) + sum(sum(c.errors.values()) for c in clients)

    async def progress(self, stop: asyncio.Event) -> None:
        previous = self.sample()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
            s = self.sample()
            dt = max(1e-6, s["t"] - previous["t"])
            cpu, rss = cpu_rss(previous, s, lambda k: "simulator" not in k)
            node_cpu, node_rss = cpu_rss(previous, s, lambda k: " node-" in k)
            print(f"  t={s['t']:5.0f}s placed {s['placed']:6d} "
                  f"({(s['placed'] - previous['placed']) / dt:5.1f}/s) records {s['records']:6d} "
                  f"({(s['records'] - previous['records']) / dt:5.1f}/s) in progress {s['live']:5d} "
                  f"errors {s['errors']:4d} | node CPU {node_cpu:3.0f}% RSS {node_rss:4.0f} MiB; "
                  f"all CPU {cpu:3.0f}% RSS {rss:4.0f} MiB", flush=True)  # fmt: skip
            previous = s

    # -- the run -----------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            await self.close()

    async def _run(self) -> dict[str, Any]:
        a = self.args
        await self.start()
        assert self.serve is not None
        self.scraped = await self.scrape_nodes()
        self.gc_scraped = dict(self.scraped)
        first = self.sample()
        self.t0 = time.monotonic()
        stop = asyncio.Event()
        reporter = asyncio.create_task(self.progress(stop))
        placing_started = time.time()
        supervising = asyncio.create_task(self.supervise(time.monotonic() + a.duration))
        crashing = None
        if a.kill_at_live:
            crashing = asyncio.create_task(
                self.crash_at(a.kill_at_live, time.monotonic() + a.duration + a.drain_max)
            )
        wall = await self.place(a.duration)
        placing_ended = time.time()
        await supervising
        if crashing is not None:
            await crashing
        drained = await self.drain(a.drain_max)
        if not drained:
            print("loadgen: drain bound reached: the agents hang up what is still up",
                  flush=True)  # fmt: skip
            for agent in self.agents:
                if agent.live_call:
                    await agent.hang_up(agent.live_call)
            drained = await self.drain(10.0)
        for name, after in (await self.scrape_nodes()).items():
            self.scrape_pairs.append((self.scraped.pop(name, {}), self.gc_scraped.pop(name, {}),
                                      after))  # fmt: skip
        stop.set()
        await reporter
        last = self.sample()
        await self.analytics_caught_up(WRITTEN_WAIT_S)
        await self.close()  # the product stops; then its DuckDB is read
        return self.result(first, last, wall, placing_started, placing_ended, drained)

    async def analytics_caught_up(self, bound_s: float) -> None:
        """Wait (bounded) until the analytics process counted as many ended calls written to
        DuckDB (`evscallpro_calls_total`) as the nodes printed records: at its stop it
        commits its batch in progress but leaves what it has not pulled in JetStream."""
        assert self.serve is not None
        url = self.serve.children.get("analytics", {}).get("metrics_url")
        if not url:
            return
        wanted = len(self.serve.records)
        started = time.monotonic()
        written = 0.0
        while time.monotonic() - started < bound_s:
            metrics = await self.scrape(url)
            written = sum(v for k, v in metrics.items() if k.startswith("evscallpro_calls_total{"))
            if written >= wanted:
                break
            await asyncio.sleep(0.2)
        self.analytics_wait = {"waited_s": round(time.monotonic() - started, 2),
                               "calls_written": written, "records_printed": wanted}  # fmt: skip

    async def drain(self, bound_s: float) -> bool:
        assert self.serve is not None
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline:
            unrecorded = [c for c in self.serve.calls if c not in self.serve.record_lines]
            pending = any(a.awaiting_since for a in self.agents)
            if not unrecorded and not pending:
                return True
            await asyncio.sleep(0.2)
        return False

    def result(self, first: dict[str, Any], last: dict[str, Any], wall: float,
               placing_started: float, placing_ended: float, drained: bool,
               ) -> dict[str, Any]:  # fmt: skip
        assert self.serve is not None
        a = self.args
        records = list(self.serve.records.values())
        outcomes = collections.Counter(r["outcome"] for r in records)
        started = [r["started_at"] for r in records
                   if placing_started <= r["started_at"] <= placing_ended]  # fmt: skip
        ringing = [r["customer_leg"]["ringing_at"] - r["started_at"] for r in records
                   if r.get("customer_leg") and r["customer_leg"].get("ringing_at")]  # fmt: skip
        connected = [r["connected_at"] - r["started_at"] for r in records if r.get("connected_at")]
        seen: dict[str, float] = {}
        for agent in self.agents:
            for (call_id, step), t in agent.steps_seen.items():
                if step == "connected":
                    seen[call_id] = t
        fragment = [seen[r["call_id"]] - r["connected_at"] for r in records
                    if r.get("connected_at") and r["call_id"] in seen]  # fmt: skip
        peak_live = max((s["live"] for s in self.samples), default=0)
        concurrency = peak_from_records(records)
        created = set(self.serve.calls)
        db_ids = self.written_call_ids()
        dup_stdout = {c: n for c, n in self.serve.record_lines.items() if n > 1}
        processes = {}
        seen_last: dict[str, tuple[float, float]] = {}  # a killed process: its last sample
        for sample in [*self.samples, last]:
            seen_last.update(sample["usage"])
        for key, (cpu_end, _) in seen_last.items():
            cpu_start, rss_start = first["usage"].get(key, (0.0, 0.0))
            peak_rss = max((s["usage"].get(key, (0, 0))[1] for s in self.samples), default=0)
            span = max(1e-6, last["t"])
            processes[key] = {"cpu_s": round(cpu_end - cpu_start, 2),
                              "cpu_percent": round(100 * (cpu_end - cpu_start) / span, 1),
                              "rss_start_mib": round(rss_start, 1),
                              "rss_peak_mib": round(peak_rss, 1)}  # fmt: skip
        product_peak = max((sum(r for k, (_, r) in s["usage"].items() if "simulator" not in k)
                            for s in self.samples), default=0.0)  # fmt: skip
        product_start = sum(r for k, (_, r) in first["usage"].items() if "simulator" not in k)
        node_start = sum(r for k, (_, r) in first["usage"].items() if " node-" in k)
        node_peak = max((sum(r for k, (_, r) in s["usage"].items() if " node-" in k)
                         for s in self.samples), default=0.0)  # fmt: skip
        clients = [*self.agents, *self.supervisors]
        errors = collections.Counter(self.errors)
        for c in clients:
            errors.update(c.errors)
        buckets: collections.Counter[float] = collections.Counter()
        gc_runs: collections.Counter[str] = collections.Counter()
        segments = []  # one per node process: with a kill, [the old node's, the new one's]
        for before, gc_before, after in self.scrape_pairs:
            delta = histogram_delta(before, after, "evscallpro_event_to_command_seconds")
            segments.append(ms(quantiles_of(delta)))
            buckets.update(delta)
            for key, value in after.items():
                if key.startswith("python_gc_collections_total{"):
                    gc_runs[key.split('"')[1]] += int(value - gc_before.get(key, 0.0))
        return {
            "command": " ".join([".venv/bin/python", "load-tests/loadgen.py", *sys.argv[1:]]),
            "seed": a.seed, "agents": a.agents, "supervisors": a.supervisors,
            "customer_profiles": self.slots,
            "rate_asked": a.rate, "duration_s": a.duration, "placing_wall_s": round(wall, 1),
            "setups_per_s": round(len(started) / max(1e-6, placing_ended - placing_started), 2),
            "placed": sum(ag.placed for ag in self.agents),
            "refused": sum(ag.refused for ag in self.agents),
            "skipped_no_idle_agent": self.skipped,
            "created": len(created), "records": len(records),
            "records_missing": sorted(created - set(self.serve.records))[:20],
            "records_missing_count": len(created - set(self.serve.records)),
            "db_calls": len(created & db_ids), "db_missing_count": len(created - db_ids),
            "analytics_wait": self.analytics_wait,
            "duplicates_stdout": len(dup_stdout),
            "qualified": sum(ag.qualified for ag in self.agents),
            "listens": sum(s.listens for s in self.supervisors),
            "drained": drained,
            "crash": self.crash,
            "outcomes": dict(outcomes),
            "talk_time_s": dist(self.talk_times, 1.0),
            "click_to_customer_ringing_ms": dist(ringing),
            "click_to_connected_ms": dist(connected),
            "answer_to_connected_fragment_ms": dist(fragment),
            "event_to_command_ms": ms(quantiles_of(dict(buckets))),
            # with --kill-at-live: up to the kill (the ramp), and the new node's (its adoption)
            "event_to_command_before_kill_ms": segments[0] if self.crash.get("killed") else {},
            "event_to_command_after_restart_ms": segments[-1] if self.crash.get("killed") else {},
            "node_gc_collections": dict(sorted(gc_runs.items())),
            "peak_in_progress_stdout": peak_live, "peak_concurrent_records": concurrency,
            "product_rss_start_mib": round(product_start, 1),
            "product_rss_peak_mib": round(product_peak, 1),
            "product_rss_per_concurrent_call_kib": round(
                1024 * (product_peak - product_start) / concurrency, 1) if concurrency else None,
            "node_rss_start_mib": round(node_start, 1), "node_rss_peak_mib": round(node_peak, 1),
            # with a kill: the old node's RSS with the calls it held (the new node's peak is
            # its start and adoption)
            "node_rss_per_concurrent_call_kib": per_call_kib(
                self.crash.get("node_rss_at_kill_mib", node_peak) - node_start,
                self.crash.get("live_at_kill", concurrency)),
            "processes": processes,
            "errors": dict(errors),
            "loadavg_end": os.getloadavg(),
            "folder": str(self.folder),
        }


    def written_call_ids(self) -> set[str]:
        """The call ids of the analytics process's DuckDB `calls` table (after it stopped)."""
        import duckdb

        path = self.folder / "data" / "evscallpro.duckdb"
        if not path.exists():
            return set()
        try:
            with duckdb.connect(str(path), read_only=True) as db:
                return {row[0] for row in db.execute("SELECT call_id FROM calls").fetchall()}
        except duckdb.Error as exc:
            self.errors[f"duckdb_{type(exc).__name__}"] += 1
            return set()


def per_call_kib(mib: float, calls: int) -> float | None:
    return round(1024 * mib / calls, 1) if calls else None


def ms(quantiles: dict[str, float]) -> dict[str, float]:
    """Quantiles in seconds (and a count) -> in ms."""
    return {k: (round(v * 1000, 2) if k != "count" else v) for k, v in quantiles.items()}


def cpu_rss(previous: dict[str, Any], now: dict[str, Any],
            keep: Callable[[str], bool]) -> tuple[float, float]:  # fmt: skip
    """CPU share (%) between two samples (per process: a restarted one counts from its start)
    and RSS now (MiB), of the processes `keep` selects."""
    dt = max(1e-6, now["t"] - previous["t"])
    cpu = rss = 0.0
    for key, (c, r) in now["usage"].items():
        if keep(key):
            cpu += c - previous["usage"].get(key, (0.0, 0.0))[0]
            rss += r
    return 100 * cpu / dt, rss


def peak_from_records(records: list[dict[str, Any]]) -> int:
    """Most calls up at once, from the records' own start and end times."""
    edges = sorted([(r["started_at"], 1) for r in records] + [(r["ended_at"], -1) for r in records])
    peak = live = 0
    for _, step in edges:
        live += step
        peak = max(peak, live)
    return peak


def summary(r: dict[str, Any]) -> str:
    def d(name: str) -> str:
        v = r[name]
        if not v.get("n"):
            return "none"
        return f"p50 {v['p50']} / p90 {v['p90']} / p99 {v['p99']} / max {v['max']} (n={v['n']})"

    e2c = r["event_to_command_ms"]
    return "\n".join([
        f"loadgen summary (seed {r['seed']}, {r['agents']} agents, {r['supervisors']} supervisors)",
        f"  setups/s achieved {r['setups_per_s']} for {r['rate_asked']} asked; placed "
        f"{r['placed']}, refused {r['refused']}, skipped (no idle agent) "
        f"{r['skipped_no_idle_agent']}",
        f"  created {r['created']}, records {r['records']} (missing "
        f"{r['records_missing_count']}, duplicates stdout {r['duplicates_stdout']}, "
        f"DuckDB calls {r['db_calls']}, missing there {r['db_missing_count']}); "
        f"qualified {r['qualified']}; drained {r['drained']}",
        f"  outcomes {r['outcomes']}",
        f"  click -> customer ringing ms: {d('click_to_customer_ringing_ms')}",
        f"  click -> connected ms: {d('click_to_connected_ms')}",
        f"  customer answer -> 'connected' at the agent's browser ms: "
        f"{d('answer_to_connected_fragment_ms')}",
        f"  event -> next command (the node's histogram, bucket bounds) ms: {e2c}; node GC "
        f"collections by generation (from its ready line) {r['node_gc_collections']}",
        *([f"    up to the kill {r['event_to_command_before_kill_ms']}; the restarted node "
           f"{r['event_to_command_after_restart_ms']}"] if r["crash"].get("killed") else []),
        f"  peak concurrent calls {r['peak_concurrent_records']}; node RSS "
        f"{r['node_rss_start_mib']} -> {r['node_rss_peak_mib']} MiB "
        f"({r['node_rss_per_concurrent_call_kib']} KiB per concurrent call); all processes "
        f"{r['product_rss_start_mib']} -> {r['product_rss_peak_mib']} MiB",
        *(f"  {name}: CPU {p['cpu_s']} s ({p['cpu_percent']}%), RSS peak {p['rss_peak_mib']} MiB"
          for name, p in r["processes"].items()),
        *([f"  crash: {r['crash']}"] if r["crash"] else []),
        f"  errors {r['errors']}",
    ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--supervisors", type=int, default=0)
    parser.add_argument("--rate", type=float, default=2.0, help="calls placed per second")
    parser.add_argument("--duration", type=float, default=30.0, help="s of placing calls")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--mix", default=DEFAULT_MIX, help="customer phones: kind=weight,...")
    parser.add_argument("--ring-min", type=float, default=1.0, help="customer ring, s")
    parser.add_argument("--ring-max", type=float, default=4.0)
    parser.add_argument("--agent-ring", type=float, default=0.5, help="agents' mobiles ring, s")
    parser.add_argument("--talk-mean", type=float, default=8.0, help="s, log-normal mean")
    parser.add_argument("--talk-sigma", type=float, default=0.6)
    parser.add_argument("--talk-max", type=float, default=30.0)
    parser.add_argument("--listen-every", type=float, default=5.0)
    parser.add_argument("--agent-ring-timeout", type=int, default=22)
    parser.add_argument("--customer-ring-timeout", type=int, default=10)
    parser.add_argument("--drain-max", type=float, default=60.0)
    parser.add_argument("--start-max", type=float, default=120.0)
    parser.add_argument("--kill-at-live", type=int, default=0,
                        help="SIGKILL the node process once this many calls are connected "
                             "(serve restarts it)")
    parser.add_argument("--folder", help="keep the run's files here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args()
    if args.agents < 1 or args.rate <= 0 or args.duration <= 0 or args.talk_mean <= 0:
        parser.error("--agents, --rate, --duration and --talk-mean must be positive")
    gen = LoadGen(args)
    try:
        result = asyncio.run(gen.run())
    except KeyboardInterrupt:
        return 130
    print(summary(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"results written to {args.json}")
    ok = result["drained"] and not result["records_missing_count"] and not (
        result["duplicates_stdout"] or result["db_missing_count"])  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
