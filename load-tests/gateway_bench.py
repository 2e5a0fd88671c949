"""Gateway benchmark: time from an ARI event reaching the core to the HTML fragment it causes
arriving at a WebSocket client, with (by default) 500 connected clients.

Three processes on the same machine (one clock, `time.time()`):

- the ARI simulator (`python -m evscallpro.cli sim`, time scale 1, its own process);
- this process: the real `Stack` (core + analytics + gateway, as `evscallpro serve` runs it);
- one client process (this script with `--role clients`): 450 agent sessions and 50
  supervisor sessions by default, each logged in over HTTP (Basic header, Origin) and holding
  the `/ws` socket with its session cookie, as a browser does. Agents send the same ws JSON
  the UI sends (`place_call`, then `qualify` from the wrap-up form); supervisors only watch
  the wallboard.

Server-side probes (installed in this process, nothing in gateway/ or actors/ is changed):
`CallActor.on_receive` is wrapped so that, while an actor handles an ARI event (`Arrived`),
the event's arrival time at the core (the link's stamp) is known to its thread; a view
listener then stamps each CallView the actor publishes. So every call step is attributed
exactly: caused by an ARI event (with that event's arrival time) or not (UI request, REST
outcome, timer). The clients stamp each frame on arrival and read the call id and step out of
the HTML (agent: `#call-panel`; wallboard: `#row-<agent>`). Latency = client arrival of the
first fragment showing (call, step) - ARI event arrival; steps a client never saw (the hub
coalesces to the latest state per client) are counted, not timed.

    .venv/bin/python load-tests/gateway_bench.py --agents 450 --supervisors 50 \
        --rate 8 --duration 45 --talk 8

`--processes [--gateways 1|2] [--json FILE]`: the same load and measurement against the
product as processes on a local nats-server (issue 8): one `evscallpro node` (run through
this script, `--role node-probe`, so the StepProbe above is installed in the node process
and the ARI event's arrival time is the node's own link stamp), one or two `evscallpro
gateway` (session i on gateway i mod N), `evscallpro analytics`. "gateway part" is then
node publish -> client, bus hop included; the hop itself (node publish -> gateway receive)
is read from each gateway's /metrics (`evscallpro_bus_view_hop_seconds`, between a scrape
before and after the clients' run). CPU and RSS per process from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")
FINAL = ("ended", "failed", "rejected")
ORIGIN_HEADER = "Origin"

SIM_CONFIG = """
time_scale = 1.0
rules = [
  {{ pattern = "PJSIP/+3361*", profile = "bench-agent" }},
  {{ pattern = "PJSIP/+3362*", profile = "bench-customer" }},
]
[profiles.bench-agent]
kind = "answer"
ring_s = {ring}
[profiles.bench-customer]
kind = "answer"
ring_s = {ring}
talk_s = {talk}
"""


# ----------------------------------------------------------------------------- helpers
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> str:
    if not values:
        return "n=0"
    return (
        f"n={len(values)} p50={pct(values, 0.5):.1f} p90={pct(values, 0.9):.1f} "
        f"p99={pct(values, 0.99):.1f} max={max(values):.1f} ms"
    )


def proc_cpu_s(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (or one of its threads) from /proc, in seconds."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid else f"/proc/{pid}/stat"
    try:
        with open(path) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def run_queue_s(pid: int, tid: int) -> float:
    """Time a thread spent runnable but waiting for a CPU (/proc schedstat, 2nd field).
    Named `*_cpu` so the sampler reports it like CPU: % of the wall time."""
    try:
        with open(f"/proc/{pid}/task/{tid}/schedstat") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * PAGE / 2**20
    except OSError:
        return 0.0


def agent_ids(n: int) -> list[str]:
    return [f"ag{i:04d}" for i in range(n)]


def supervisor_ids(n: int) -> list[str]:
    return [f"sv{i:03d}" for i in range(n)]


def password(user_id: str) -> str:
    return f"bench-{user_id}"


# ============================================================================= clients
CALL_PANEL = re.compile(r'<div id="call-panel".*?(?=<div id="wrapup"|$)', re.S)
STEP = re.compile(r'data-step="([a-z_]*)"')
CALL_ID = re.compile(r'name="call_id" value="([^"]+)"')
AGENT_STATE = re.compile(r'id="agent-state" data-state="([a-z_]+)"')
WRAPUP = re.compile(r'<form ws-send class="card wrapup".*?name="call_id" value="([^"]+)"', re.S)
ROW = re.compile(r'<div id="row-([^"]+)"(.*?)(?=<div id="row-|$)', re.S)
ERROR_NOTICE = re.compile(r'class="notice notice-error"[^>]*>([^<]*)<')


class ClientStats:
    def __init__(self) -> None:
        self.frames = {"agent": 0, "supervisor": 0}
        self.bytes = {"agent": 0, "supervisor": 0}
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if detail and len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {detail[:200]}")


class AgentSession:
    """One agent's browser: reads its call panel, qualifies each ended call, reports idle."""

    def __init__(self, user_id: str, stats: ClientStats, idle: deque[str]) -> None:
        self.user_id = user_id
        self.stats = stats
        self.idle = idle
        self.ws: Any = None
        self.state = ""
        self.busy = False  # a place_call was sent and its call is not qualified yet
        self.current_call = ""
        self.seen: dict[tuple[str, str], float] = {}  # (call, step) -> first arrival
        self.qualified: set[str] = set()
        self.placed_at = 0.0
        self.action_ms: list[float] = []  # place_call sent -> first fragment of the new call
        self.ready = asyncio.Event()

    def on_frame(self, frame: str, t: float) -> None:
        for detail in ERROR_NOTICE.findall(frame):
            self.stats.error("error_notice", detail)
            if self.busy and not self.current_call:  # the call was refused: free the agent
                self.busy = False
        match = AGENT_STATE.search(frame)
        if match:
            self.state = match.group(1)
            self.ready.set()
        panel = CALL_PANEL.search(frame)
        if panel:
            self._panel(panel.group(0), t)
        wrapup = WRAPUP.search(frame)
        if wrapup and wrapup.group(1) not in self.qualified:
            self.qualified.add(wrapup.group(1))
            asyncio.get_running_loop().create_task(self._send({
                "action": "qualify", "call_id": wrapup.group(1), "disposition": "sale",
                "comment": "", "callback_at": "",
            }))
        if (self.state == "available" and self.busy and self.current_call in self.qualified):
            self.busy = False
        if self.state == "available" and not self.busy and self.user_id not in self.idle:
            self.idle.append(self.user_id)

    def _panel(self, html: str, t: float) -> None:
        step_match = STEP.search(html)
        step = step_match.group(1) if step_match else ""
        call_match = CALL_ID.search(html)
        if call_match:  # a live call: the hang-up form names it
            call_id = call_match.group(1)
            if call_id != self.current_call and self.placed_at and self.busy:
                self.action_ms.append((t - self.placed_at) * 1000)
                self.placed_at = 0.0
            self.current_call = call_id
            self.seen.setdefault((call_id, step), t)
        elif step in FINAL and self.current_call:  # the last call, ended: no id shown
            self.seen.setdefault((self.current_call, step), t)

    async def _send(self, message: dict[str, Any]) -> None:
        try:
            await self.ws.send(json.dumps({**message, "HEADERS": {"HX-Request": "true"}}))
        except Exception as exc:  # a closed socket is counted, the run goes on
            self.stats.error("send_failed", repr(exc))

    async def place_call(self, number: str) -> None:
        self.busy = True
        self.current_call = ""
        self.placed_at = time.time()
        await self._send({"action": "place_call", "number": number, "contact_id": ""})


class SupervisorSession:
    """One supervisor's wallboard: first arrival of each (call, step) per agent row."""

    def __init__(self, user_id: str, stats: ClientStats) -> None:
        self.user_id = user_id
        self.stats = stats
        self.ws: Any = None
        self.live: dict[str, str] = {}  # agent -> call id shown live on its row
        self.seen: dict[tuple[str, str], float] = {}
        self.ready = asyncio.Event()

    def on_frame(self, frame: str, t: float) -> None:
        if 'id="wallboard' in frame:
            self.ready.set()
        for agent_id, body in ROW.findall(frame):
            step_match = STEP.search(body)
            call_match = CALL_ID.search(body)
            if step_match and call_match:
                call_id = call_match.group(1)
                self.live[agent_id] = call_id
                self.seen.setdefault((call_id, step_match.group(1)), t)
            elif agent_id in self.live:  # the row lost its call: it ended
                self.seen.setdefault((self.live.pop(agent_id), "final"), t)


async def login(http: Any, base: str, user_id: str, stats: ClientStats) -> str | None:
    import aiohttp

    for attempt in range(3):
        try:
            async with http.post(
                base + "/login",
                headers={ORIGIN_HEADER: base},
                auth=aiohttp.BasicAuth(user_id, password(user_id)),
                allow_redirects=False,
            ) as resp:
                cookie = resp.headers.get("Set-Cookie", "")
                if resp.status == 200 and cookie:
                    return cookie.split(";")[0]
                stats.error("login_refused", f"{user_id}: HTTP {resp.status}")
                return None
        except Exception as exc:
            if attempt == 2:
                stats.error("login_failed", f"{user_id}: {exc!r}")
    return None


async def reader(session: AgentSession | SupervisorSession, role: str, stats: ClientStats,
                 closing: asyncio.Event) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for message in session.ws:
            t = time.time()
            text = message if isinstance(message, str) else message.decode()
            stats.frames[role] += 1
            stats.bytes[role] += len(text)
            session.on_frame(text, t)
    except ConnectionClosed:
        pass
    if not closing.is_set():
        stats.error("socket_closed", f"{session.user_id}: {session.ws.close_code}")


async def run_clients(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp
    from websockets.asyncio.client import connect

    bases: list[str] = spec.get("base_urls") or [spec["base_url"]]
    stats = ClientStats()
    idle: deque[str] = deque()
    agents = {a: AgentSession(a, stats, idle) for a in spec["agents"]}
    sups = {s: SupervisorSession(s, stats) for s in spec["supervisors"]}
    sessions: list[tuple[AgentSession | SupervisorSession, str]] = [
        *((a, "agent") for a in agents.values()), *((s, "supervisor") for s in sups.values())
    ]
    closing = asyncio.Event()
    marks: dict[str, float] = {"start": time.time()}

    # --gateways N: session i on gateway i mod N (agents and wallboards spread alike)
    base_of = {s.user_id: bases[i % len(bases)] for i, (s, _) in enumerate(sessions)}
    gate = asyncio.Semaphore(20)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        async def log_in(user_id: str) -> str | None:
            async with gate:
                return await login(http, base_of[user_id], user_id, stats)

        cookies = await asyncio.gather(*(log_in(s.user_id) for s, _ in sessions))
    marks["logged_in"] = time.time()

    async def open_socket(session: AgentSession | SupervisorSession, cookie: str) -> bool:
        base = base_of[session.user_id]
        async with gate:
            try:
                session.ws = await asyncio.wait_for(connect(
                    base.replace("http://", "ws://") + "/ws", origin=base, additional_headers={"Cookie": cookie},  # type: ignore[arg-type]
                    compression=None, max_size=16 * 2**20, open_timeout=20,
                ), 30)
                return True
            except Exception as exc:
                stats.error("ws_connect_failed", f"{session.user_id}: {exc!r}")
                return False

    opened = await asyncio.gather(*(
        open_socket(s, c) for (s, _), c in zip(sessions, cookies, strict=True) if c
    ))
    live = [(s, role) for s, role in sessions if s.ws is not None]
    readers = [asyncio.create_task(reader(s, role, stats, closing)) for s, role in live]
    marks["connected"] = time.time()
    try:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s, _ in live)), 30)
    except TimeoutError:
        stats.error("not_ready", f"{sum(not s.ready.is_set() for s, _ in live)} sessions")
    marks["ready"] = time.time()

    # ---- calls: one place_call every 1/rate s, from the agent idle the longest
    total = int(spec["rate"] * spec["duration"])
    started = time.monotonic()
    placed = skipped = 0
    for i in range(total):
        delay = started + i / spec["rate"] - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        while idle and (agents[idle[0]].busy or agents[idle[0]].ws is None):
            idle.popleft()
        if not idle:
            skipped += 1
            continue
        agent = agents[idle.popleft()]
        await agent.place_call(f"+3362{i:07d}")
        placed += 1
    marks["last_placed"] = time.time()
    drain_until = time.monotonic() + spec["drain_s"]
    while time.monotonic() < drain_until and any(a.busy for a in agents.values()):
        await asyncio.sleep(0.2)
    marks["drained"] = time.time()
    closing.set()
    await asyncio.gather(*(s.ws.close() for s, _ in live), return_exceptions=True)
    await asyncio.gather(*readers, return_exceptions=True)
    return {
        "marks": marks,
        "sessions": {"agent": sum(r == "agent" for _, r in live),
                     "supervisor": sum(r == "supervisor" for _, r in live)},
        "opened": sum(opened),
        "placed": placed,
        "skipped_no_idle_agent": skipped,
        "still_busy": sum(a.busy for a in agents.values()),
        "frames": stats.frames,
        "bytes": stats.bytes,
        "errors": stats.errors,
        "error_samples": stats.error_samples,
        "action_ms": [ms for a in agents.values() for ms in a.action_ms],
        "agent_seen": {a.user_id: [[c, s, t] for (c, s), t in a.seen.items()]
                       for a in agents.values()},
        "supervisor_seen": {s.user_id: [[c, st, t] for (c, st), t in s.seen.items()]
                            for s in sups.values()},
    }


def clients_main(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(run_clients(spec))
    Path(out_path).write_text(json.dumps(result))
    return 0


# ============================================================================= server
class StepProbe:
    """Which ARI event (and when it reached the core) caused each published call step, and
    when the step was first published (CallView from the call's actor, or an AgentView
    carrying the call, whichever came first)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.local = threading.local()
        self.offset = time.time() - time.perf_counter()  # link stamps are perf_counter
        # (call, step) -> (agent, event type or "" when not caused by an ARI event, t_event)
        self.steps: dict[tuple[str, str], tuple[str, str, float]] = {}
        self.first_pub: dict[tuple[str, str], float] = {}

    def install(self) -> None:
        from actors.call_actor import CallActor
        from actors.messages import Arrived

        original = CallActor.on_receive
        probe = self

        def on_receive(actor: Any, message: Any) -> Any:
            if isinstance(message, Arrived):
                probe.local.cause = (type(message.event).__name__, message.at + probe.offset)
                try:
                    return original(actor, message)
                finally:
                    probe.local.cause = None
            return original(actor, message)

        CallActor.on_receive = on_receive  # type: ignore[method-assign,assignment]

    def on_view(self, view: Any) -> None:
        from core.views import AgentView, CallView

        t_pub = time.time()
        if isinstance(view, AgentView):
            with self.lock:
                for call in (view.call, view.awaiting_disposition):
                    if call is not None:
                        self.first_pub.setdefault((call.call_id, str(call.step)), t_pub)
            return
        if not isinstance(view, CallView):
            return
        cause = getattr(self.local, "cause", None)
        key = (view.call_id, str(view.step))
        with self.lock:
            self.first_pub.setdefault(key, t_pub)
            if key not in self.steps:
                event, t_event = cause if cause else ("", 0.0)
                self.steps[key] = (view.agent_id, event, t_event)


class RenderMeter:
    """Counts the gateway's fragment renders and their thread CPU time (wraps Renderer
    methods on the class, in this process only)."""

    NAMES = ("wallboard_row", "totals", "wallboard", "agent_fragments")

    def __init__(self) -> None:
        self.calls: dict[str, int] = dict.fromkeys(self.NAMES, 0)
        self.cpu_s: dict[str, float] = dict.fromkeys(self.NAMES, 0.0)
        self.bytes: dict[str, int] = dict.fromkeys(self.NAMES, 0)

    def install(self) -> None:
        from gateway.render import Renderer

        for name in self.NAMES:
            setattr(Renderer, name, self._wrap(name, getattr(Renderer, name)))

    def _wrap(self, name: str, fn: Any) -> Any:
        meter = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            html = fn(*args, **kwargs)
            meter.cpu_s[name] += time.thread_time() - started  # loop thread only: no lock
            meter.calls[name] += 1
            meter.bytes[name] += len(html)
            return html

        return timed

    def snapshot(self) -> dict[str, tuple[int, float, int]]:
        return {n: (self.calls[n], self.cpu_s[n], self.bytes[n]) for n in self.NAMES}


class Sampler(threading.Thread):
    """CPU and RSS of the server process (and its gateway thread), simulator and clients."""

    def __init__(self, pids: dict[str, int], gateway_tid: int | None,
                 meter: RenderMeter | None = None) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.pids = pids
        self.meter = meter
        self.gateway_tid = gateway_tid
        self.samples: list[dict[str, float]] = []
        self.halt = threading.Event()

    def sample(self) -> None:
        row: dict[str, float] = {"t": time.time()}
        for name, pid in self.pids.items():
            row[f"{name}_cpu"] = proc_cpu_s(pid)
            row[f"{name}_rss"] = rss_mib(pid)
        if self.gateway_tid:
            row["gateway_thread_cpu"] = proc_cpu_s(os.getpid(), self.gateway_tid)
            row["gateway_thread_runqueue_cpu"] = run_queue_s(os.getpid(), self.gateway_tid)
        if self.meter is not None:  # render CPU reads like CPU (% of one core), plus counts
            for name, (calls, cpu, _) in self.meter.snapshot().items():
                row[f"render_{name}_cpu"] = cpu
                row[f"render_{name}_n"] = calls
        self.samples.append(row)

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.sample()

    def window(self, start: float, end: float) -> dict[str, float]:
        inside = [s for s in self.samples if start <= s["t"] <= end]
        if len(inside) < 2:
            return {}
        first, last = inside[0], inside[-1]
        span = last["t"] - first["t"]
        out = {"seconds": span}
        for key in first:
            if key.endswith("_cpu"):
                out[key] = (last[key] - first[key]) / span * 100  # % of one core
            elif key.endswith("_n"):
                out[key] = last[key] - first[key]
            elif key.endswith("_rss"):
                out[key + "_max"] = max(s[key] for s in inside)
        return out


def bench_settings(folder: Path, ari_url: str, n_agents: int) -> Any:
    from core.call_config import CallPrompts
    from core.domain import WorkstationMode
    from core.settings import (
        AcceptanceSettings,
        AgentSettings,
        AriSettings,
        PromptSettings,
    )
    from evscallpro.settings_file import Settings, validate
    from gateway.settings import GatewaySettings

    settings = Settings(
        ari=AriSettings(url=ari_url, app="evscallpro-gateway-bench"),
        agents=[
            AgentSettings(id=a, name=f"Agent {a}", workstation=WorkstationMode.MOBILE,
                          mobile_number=f"+3361{i:07d}")
            for i, a in enumerate(agent_ids(n_agents))
        ],
        acceptance=AcceptanceSettings(mobile=False, softphone=False),
        prompts=PromptSettings(language="en", en=CallPrompts(customer_being_called=("sound:beep",))),
        data_dir=str(folder / "data"),
        gateway=GatewaySettings(port=0),
    )
    errors = validate(settings)
    if errors:
        raise SystemExit("bench settings invalid: " + "; ".join(errors))
    return settings


def write_users(data_dir: Path, n_agents: int, n_sups: int) -> None:
    from argon2 import PasswordHasher

    from gateway.users import Role, UserDirectory

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # 500 logins, fast
    users = UserDirectory([], data_dir / "users.json", hasher=cheap)
    for i, a in enumerate(agent_ids(n_agents)):
        users.add(a, password(a), Role.AGENT, f"Agent {a}", f"+3361{i:07d}")
    for s in supervisor_ids(n_sups):
        users.add(s, password(s), Role.SUPERVISOR, f"Supervisor {s}")
    data_dir.mkdir(parents=True, exist_ok=True)
    users.save()


def latencies(probe: StepProbe, seen_by: dict[str, list[list[Any]]], wallboard: bool,
              ) -> dict[str, Any]:
    """Per client: event -> arrival for each event-caused step it was shown; plus the core
    part (event -> view published) and the gateway part (published -> arrival)."""
    caused: dict[tuple[str, str], tuple[str, float, float]] = {}
    for (call_id, step), (_, event, t_event) in probe.steps.items():
        if event:
            key = (call_id, "final" if wallboard and step in FINAL else step)
            caused.setdefault(key, (event, t_event, probe.first_pub[(call_id, step)]))
    total: list[float] = []
    core: list[float] = []
    gateway: list[float] = []
    per_step: dict[str, list[float]] = {}
    shown = 0
    for rows in seen_by.values():
        for call_id, step, t in rows:
            shown += 1
            hit = caused.get((call_id, step))
            if hit is None:
                continue
            _, t_event, t_pub = hit
            total.append((t - t_event) * 1000)
            core.append((t_pub - t_event) * 1000)
            gateway.append((t - t_pub) * 1000)
            per_step.setdefault(step, []).append((t - t_event) * 1000)
    return {"total": total, "core": core, "gateway": gateway, "per_step": per_step,
            "shown": shown, "caused": len(caused)}


def report(args: argparse.Namespace, probe: StepProbe, result: dict[str, Any],
           usage: dict[str, float], records: list[Any]) -> bool:
    """Print the figures; False when a client kind timed nothing (e.g. the templates changed
    and the clients no longer find the call id and step in the HTML)."""
    timed_all = True
    marks = result["marks"]
    print(f"clients: {result['sessions']} sockets open "
          f"(logins+sockets {marks['ready'] - marks['start']:.1f}s); "
          f"calls placed {result['placed']}, skipped (no idle agent) "
          f"{result['skipped_no_idle_agent']}, agents still busy at the end {result['still_busy']}")
    outcomes: dict[str, int] = {}
    records = [r for r in records if hasattr(r, "outcome")]  # the sink also gets dispositions
    for record in records:
        outcomes[str(record.outcome)] = outcomes.get(str(record.outcome), 0) + 1
    steps_by_cause: dict[str, int] = {}
    for (_, step), (_, event, _) in probe.steps.items():
        cause = f"{step}<-{event or 'not an ARI event'}"
        steps_by_cause[cause] = steps_by_cause.get(cause, 0) + 1
    print(f"call records {len(records)}: {outcomes}")
    print(f"call steps published {len(probe.steps)}, by cause: {steps_by_cause}")
    for name, key, wallboard in (("agent call panel", "agent_seen", False),
                                 ("wallboard", "supervisor_seen", True)):
        lat = latencies(probe, result[key], wallboard)
        clients = len(result[key])
        timed_all = timed_all and bool(lat["total"])
        print(f"{name} ({clients} clients): ARI event -> fragment at client {summary(lat['total'])}")
        print(f"    core part (event -> view published) {summary(lat['core'])}")
        print(f"    gateway part (published -> client) {summary(lat['gateway'])}")
        expected = lat["caused"] * (1 if not wallboard else clients)
        if not wallboard:
            print(f"    event-caused steps {lat['caused']}, timed at their agent {len(lat['total'])} "
                  f"(the rest coalesced into a later state)")
        else:
            print(f"    event-caused (call, step) {lat['caused']} x {clients} boards = {expected}, "
                  f"timed {len(lat['total'])}")
        for step, values in sorted(lat["per_step"].items()):
            print(f"      {step:16s} {summary(values)}")
    print(f"place_call sent -> first fragment of the new call: {summary(result['action_ms'])}")
    print(f"frames received {result['frames']}, bytes {result['bytes']}")
    print(f"errors {result['errors'] or 'none'} {result['error_samples'][:5]}")
    print("over the calls phase: CPU (% of one core; render_*: the gateway thread's CPU in"
          " that render), RSS max (MiB), render counts (_n):")
    for key, value in usage.items():
        print(f"    {key}: {value:.1f}")
    return timed_all


def server_main(args: argparse.Namespace) -> int:
    from bench_sim import start_simulator  # load-tests/bench_sim.py

    from actors.sinks import MemoryRecordSink
    from evscallpro.stack import Stack

    if args.switch_interval:  # diagnostic: how much of the latency is GIL hand-over
        sys.setswitchinterval(args.switch_interval / 1000)
    folder = Path(tempfile.mkdtemp(prefix="evs-gateway-bench-"))
    sim = start_simulator(SIM_CONFIG.format(ring=args.ring, talk=args.talk), folder)
    settings = bench_settings(folder, sim.base_url, args.agents)
    write_users(Path(settings.data_dir), args.agents, args.supervisors)
    records = MemoryRecordSink()
    probe = StepProbe()
    probe.install()
    meter = RenderMeter()
    meter.install()
    stack = Stack(
        settings,
        gateway_overrides={"login_max_failures_per_address": 100_000,  # 500 logins from one address
                           "session_secret": "gateway-bench-secret-0123456789"},
        extra_sinks=[records],
        link_timeout_s=20,
    )
    client: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    try:
        stack.start()
        stack.call_center.subscribe(probe.on_view)
        assert stack.gateway is not None
        gateway_tid = next(
            (t.native_id for t in threading.enumerate() if t.name == "gateway"), None
        )
        client, out, spec = start_clients(args, folder, {"base_url": stack.url})
        sampler = Sampler({"server": os.getpid(), "sim": sim.pid, "clients": client.pid},
                          gateway_tid, meter)
        sampler.start()
        result = finish_clients(client, folder, out, 60 + args.duration + spec["drain_s"])
        if result is None:
            return 1
        sampler.halt.set()
        usage = sampler.window(result["marks"]["ready"], result["marks"]["drained"])
        print(f"run folder {folder}; server GIL switch interval {sys.getswitchinterval() * 1000:g} ms")
        timed = report(args, probe, result, usage, list(records.records))
        print("gateway renders over the whole client run (calls, thread CPU, bytes):")
        for name, (calls, cpu, size) in meter.snapshot().items():
            per = cpu / calls * 1e6 if calls else 0.0
            print(f"    {name}: {calls} renders, {cpu:.1f} s CPU ({per:.0f} us each), "
                  f"{size / 2**20:.1f} MiB")
        if not timed:
            print("FAILED: a client kind timed no step (call panel / wallboard row HTML changed?)")
            return 1
    finally:
        if sampler is not None:
            sampler.halt.set()
        if client is not None and client.poll() is None:
            client.kill()
        stack.stop()
        sim.stop()
    return 0


# ============================================================================= processes
# `--processes`: the product as `evscallpro node|gateway|analytics` processes on a local
# nats-server (issue 8), instead of the one-process Stack. The node runs through this script
# (`--role node-probe`): the same StepProbe is installed in the node process before
# `evscallpro node` runs there, so each step's ARI event and its arrival time are the node's
# own (its link's stamp), exactly as above; the probe's table is written at the node's stop.
# The gateway's receipt of each view change is observed by the product itself
# (evscallpro_bus_view_hop_seconds, read from the gateways' /metrics).

HOP = "evscallpro_bus_view_hop_seconds"
HOP_BUCKET = re.compile(HOP + r'_bucket\{([^}]*)\} ([-+0-9.eE]+|\+Inf)$', re.M)


def node_probe_main(out_path: str, node_args: list[str]) -> int:
    """`evscallpro node ...` in this process, with the StepProbe installed."""
    probe = StepProbe()
    probe.install()
    import evscallpro.node_process as node_process
    from evscallpro.cli import main as cli_main

    original = node_process._on_view

    def on_view(view: Any) -> None:  # called on the publishing actor's thread, as in Stack
        probe.on_view(view)
        original(view)

    node_process._on_view = on_view
    try:
        return cli_main(node_args)
    finally:
        with probe.lock:
            rows = [[c, st, agent, event, t_event, probe.first_pub.get((c, st), 0.0)]
                    for (c, st), (agent, event, t_event) in probe.steps.items()]
            pubs = [[c, st, t] for (c, st), t in probe.first_pub.items()]
        Path(out_path).write_text(json.dumps({"steps": rows, "first_pub": pubs}))


def load_probe(path: Path) -> StepProbe:
    data = json.loads(path.read_text())
    probe = StepProbe()
    probe.first_pub = {(c, st): t for c, st, t in data["first_pub"]}
    probe.steps = {(c, st): (agent, event, t_event)
                   for c, st, agent, event, t_event, _ in data["steps"]}
    return probe


class Child:
    """One product process: stdout JSON lines collected (a reader thread), stderr to a file."""

    def __init__(self, name: str, argv: list[str], folder: Path) -> None:
        self.name = name
        self.lines: list[dict[str, Any]] = []
        self.cond = threading.Condition()
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=(folder / f"{name}.stderr").open("wb"),
            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
        )
        self.stderr = folder / f"{name}.stderr"
        threading.Thread(target=self._read, name=f"read-{name}", daemon=True).start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def ready(self, timeout_s: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for line in self.lines:
                    if line.get("event") == "ready":
                        return line
                    if line.get("event") == "error":
                        raise SystemExit(f"{self.name}: {line}")
                if time.monotonic() > deadline or self.popen.poll() is not None:
                    tail = self.stderr.read_text(errors="replace")[-2000:]
                    raise SystemExit(f"{self.name}: not ready (exit {self.popen.poll()}): {tail}")
                self.cond.wait(0.5)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.cond:
            return [line for line in self.lines if line.get("event") == kind]

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def processes_config(folder: Path, bus_url: str, sims: dict[str, Any],
                     agents_of: dict[str, list[str]], n_sups: int) -> Path:
    """The TOML of the processes: one [[nodes]] per simulator, agents assigned to nodes."""
    lines = [
        f'data_dir = "{folder / "data"}"',
        "[bus]", f'url = "{bus_url}"',
        "[gateway]", 'host = "127.0.0.1"', 'session_secret = "gateway-bench-secret-0123456789"',
        "login_max_failures_per_address = 100000",  # every login comes from one address
        "[acceptance]", "mobile = false", "softphone = false",
        "[recording]", "enabled = false",
        "[prompts]", 'language = "en"',
        "[prompts.en]", 'customer_being_called = ["sound:beep"]',
    ]  # fmt: skip
    for node, sim in sims.items():
        lines += ["[[nodes]]", f'id = "{node}"', "[nodes.ari]", f'url = "{sim.base_url}"',
                  f'user = "{sim.user}"', f'password = "{sim.password}"',
                  'app = "evscallpro-gateway-bench"']  # fmt: skip
    index = 0
    for node, agents in agents_of.items():
        for agent in agents:
            lines += ["[[agents]]", f'id = "{agent}"', f'name = "Agent {agent}"', f'node = "{node}"',
                      'workstation = "mobile"', f'mobile_number = "+3361{index:07d}"']
            index += 1
    for i, sup in enumerate(supervisor_ids(n_sups)):
        lines += ["[[supervisors]]", f'id = "{sup}"', f'name = "Supervisor {sup}"',
                  f'mobile_number = "+3363{i:07d}"']
    path = folder / "evscallpro.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def scrape(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return str(resp.read().decode())


def hop_buckets(text: str) -> dict[float, float]:
    """le -> cumulative count of evscallpro_bus_view_hop_seconds, summed over label sets."""
    out: dict[float, float] = {}
    for labels, value in HOP_BUCKET.findall(text):
        le = re.search(r'le="([^"]+)"', labels)
        if le:
            bound = float("inf") if le.group(1) == "+Inf" else float(le.group(1))
            out[bound] = out.get(bound, 0.0) + float(value)
    return out


def hop_quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """Count and p50/p90/p99 (ms, linear inside the bucket, as PromQL's histogram_quantile)
    of what the histogram counted between two scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    out: dict[str, float] = {"count": total}
    if total <= 0:
        return out
    for q in (0.5, 0.9, 0.99):
        rank = q * total
        lower, below = 0.0, 0.0
        for bound, cum in zip(bounds, counts, strict=True):
            if cum >= rank:
                upper = bound if bound != float("inf") else lower
                inside = cum - below
                frac = (rank - below) / inside if inside else 1.0
                out[f"p{round(q * 100)}"] = (lower + (upper - lower) * frac) * 1000
                break
            lower, below = bound, cum
    return out


def processes_main(args: argparse.Namespace) -> int:
    from bench_sim import start_simulator  # load-tests/bench_sim.py

    from bus.server import NatsServer

    folder = Path(tempfile.mkdtemp(prefix="evs-gateway-bench-processes-"))
    logs = folder / "logs"
    logs.mkdir()
    nats = NatsServer(store_dir=folder / "nats").start()
    sim = start_simulator(SIM_CONFIG.format(ring=args.ring, talk=args.talk), folder)
    config = processes_config(folder, nats.url, {"n1": sim}, {"n1": agent_ids(args.agents)},
                              args.supervisors)
    write_users(folder / "data", args.agents, args.supervisors)
    cli = [sys.executable, "-m", "evscallpro.cli"]
    probe_out = folder / "probe-n1.json"
    children: list[Child] = []
    client: subprocess.Popen[bytes] | None = None
    sampler: Sampler | None = None
    try:
        analytics = Child("analytics", [*cli, "analytics", "--config", str(config)], logs)
        children.append(analytics)
        node = Child("node-n1", [sys.executable, __file__, "--role", "node-probe",
                                 "--out", str(probe_out), "--", "node", "--config", str(config),
                                 "--node", "n1"], logs)
        children.append(node)
        gateways = [Child(f"gateway-{i + 1}", [*cli, "gateway", "--config", str(config),
                                               "--port", "0"], logs)
                    for i in range(args.gateways)]
        children += gateways
        analytics.ready()
        node.ready()
        ready = [g.ready() for g in gateways]
        print(f"processes ready: nats {nats.url}, node n1, {len(gateways)} gateway(s) "
              f"{[r['url'] for r in ready]}, analytics; load average {os.getloadavg()}", flush=True)
        client, out, spec = start_clients(args, folder, {"base_urls": [r["url"] for r in ready]})
        pids = {"node": node.pid, "analytics": analytics.pid, "nats": nats.process.pid,  # type: ignore[union-attr]
                "sim": sim.pid, "clients": client.pid}
        pids.update({f"gateway{i + 1}": g.pid for i, g in enumerate(gateways)})
        sampler = Sampler(pids, None)
        sampler.start()
        hop_before = [hop_buckets(scrape(r["metrics_url"])) for r in ready]
        load_start = os.getloadavg()
        result = finish_clients(client, folder, out, 60 + args.duration + spec["drain_s"])
        if result is None:
            return 1
        load_end = os.getloadavg()
        hop_after = [hop_buckets(scrape(r["metrics_url"])) for r in ready]
        sampler.halt.set()
        usage = sampler.window(result["marks"]["ready"], result["marks"]["drained"])
        node.stop()  # its probe table is written at its stop
        probe = load_probe(probe_out)
        records = [type("Record", (), {"outcome": line["record"]["outcome"]})()
                   for line in node.of("record") if "outcome" in line["record"]]
        print(f"run folder {folder}; {args.gateways} gateway process(es); load average "
              f"{load_start[0]:.2f} at the start of the clients, {load_end[0]:.2f} at the end")
        timed = report(args, probe, result, usage, records)
        hops = []
        for i, (before, after) in enumerate(zip(hop_before, hop_after, strict=True)):
            q = hop_quantiles(before, after)
            hops.append(q)
            print(f"bus hop (node publish -> gateway{i + 1} receive, {HOP}): " + " ".join(
                f"{k}={v:.2f}" + ("" if k == "count" else " ms") for k, v in q.items()))
        if args.json:
            agent = latencies(probe, result["agent_seen"], False)
            board = latencies(probe, result["supervisor_seen"], True)

            def figures(values: list[float]) -> dict[str, float]:
                if not values:
                    return {"n": 0}
                return {"n": len(values), "p50": pct(values, 0.5), "p90": pct(values, 0.9),
                        "p99": pct(values, 0.99), "max": max(values)}

            Path(args.json).write_text(json.dumps({
                "mode": "processes", "gateways": args.gateways, "agents": args.agents,
                "supervisors": args.supervisors, "rate": args.rate, "duration": args.duration,
                "load_average": {"start": load_start, "end": load_end},
                "placed": result["placed"], "errors": result["errors"],
                "sessions": result["sessions"],
                "agent_panel_ms": figures(agent["total"]), "agent_core_ms": figures(agent["core"]),
                "agent_after_core_ms": figures(agent["gateway"]),
                "wallboard_ms": figures(board["total"]),
                "wallboard_after_core_ms": figures(board["gateway"]),
                "bus_hop_ms": hops, "usage": usage, "run_folder": str(folder),
            }, indent=2))
            print(f"JSON result: {args.json}")
        if not timed:
            print("FAILED: a client kind timed no step (call panel / wallboard row HTML changed?)")
            return 1
    finally:
        if sampler is not None:
            sampler.halt.set()
        if client is not None and client.poll() is None:
            client.kill()
        for child in reversed(children):
            child.stop()
        sim.stop()
        nats.stop()
    return 0


def render_costs(repeat: int = 2000) -> int:
    """CPU cost of the fragments the gateway renders per delivery, on an idle thread."""
    from core.domain import AgentState, CallStep, WorkstationMode
    from core.views import AgentView, CallView
    from gateway.i18n import Catalog
    from gateway.render import AgentDesk, Renderer
    from gateway.settings import GatewaySettings

    now = time.time()
    renderer = Renderer(Catalog(default="en"), GatewaySettings())
    call = CallView(call_id="c1", agent_id="ag0001", step=CallStep.CONNECTED,
                    customer_number="+33620000001", workstation=WorkstationMode.MOBILE,
                    step_since=now, connected_at=now)
    agent = AgentView(agent_id="ag0001", display_name="Agent ag0001", state=AgentState.ON_CALL,
                      state_since=now, workstation=WorkstationMode.MOBILE,
                      mobile_number="+33610000001", call=call)
    history = [msgspec_replace(call, call_id=f"h{i}", step=CallStep.ENDED, ended_at=now)
               for i in range(5)]
    desk = AgentDesk(view=agent, last_call=call, history=history)
    cases = {
        "wallboard_row (one agent, one supervisor)":
            lambda: renderer.wallboard_row("en", "sv000", agent, True),
        "totals": lambda: renderer.totals("en", {"available": 1, "on_call": 1, "wrap_up": 0,
                                                 "paused": 0, "calls": 1}),
        "agent_fragments (status, call panel, wrap-up, history of 5)":
            lambda: renderer.agent_fragments("en", desk),
    }
    for name, fn in cases.items():
        fn()
        started = time.perf_counter()
        for _ in range(repeat):
            size = len(fn())
        cost = (time.perf_counter() - started) / repeat * 1e6
        print(f"{name}: {cost:.0f} us per render, {size} bytes")
    return 0


def msgspec_replace(view: Any, **changes: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(view, **changes)


def start_clients(
    args: argparse.Namespace, folder: Path, where: dict[str, Any]
) -> tuple[subprocess.Popen[bytes], Path, dict[str, Any]]:
    """The client process (agents and supervisors over the WebSocket protocol) of this run,
    told where the gateway(s) listen; (the process, its result file, its spec)."""
    spec = {
        **where,
        "agents": agent_ids(args.agents),
        "supervisors": supervisor_ids(args.supervisors),
        "rate": args.rate,
        "duration": args.duration,
        "drain_s": args.ring * 2 + args.talk + 15,
    }
    (folder / "spec.json").write_text(json.dumps(spec))
    out = folder / "clients.json"
    client = subprocess.Popen(
        [sys.executable, __file__, "--role", "clients", "--spec", str(folder / "spec.json"),
         "--out", str(out)],
        cwd=ROOT, stdout=(folder / "clients.log").open("wb"), stderr=subprocess.STDOUT,
    )
    return client, out, spec


def finish_clients(
    client: subprocess.Popen[bytes], folder: Path, out: Path, budget: float
) -> dict[str, Any] | None:
    """The client process's result, or None (said why) if it failed or overran `budget`."""
    try:
        code = client.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        client.kill()
        print(f"client process did not finish within {budget:.0f}s; see {folder}/clients.log")
        return None
    if code != 0 or not out.exists():
        print(f"client process failed (exit {code}); see {folder}/clients.log")
        print((folder / "clients.log").read_text()[-3000:])
        return None
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--role", choices=("server", "clients", "render", "node-probe"),
                        default="server")
    parser.add_argument("--processes", action="store_true",
                        help="the product as node, gateway and analytics processes on NATS")
    parser.add_argument("--gateways", type=int, choices=(1, 2), default=1,
                        help="(--processes) gateway processes; the clients are spread over them")
    parser.add_argument("--json", default="", help="write the figures to this JSON file")
    parser.add_argument("node_args", nargs="*", help="(node-probe role) evscallpro node args")
    parser.add_argument("--spec", help="(clients role) the spec file written by the server")
    parser.add_argument("--out", help="(clients role) where to write the results")
    parser.add_argument("--agents", type=int, default=450)
    parser.add_argument("--supervisors", type=int, default=50)
    parser.add_argument("--rate", type=float, default=8.0, help="calls placed per second")
    parser.add_argument("--duration", type=float, default=45.0, help="seconds placing calls")
    parser.add_argument("--ring", type=float, default=1.0, help="agent and customer ring, s")
    parser.add_argument("--talk", type=float, default=8.0, help="customer talks, then hangs up")
    parser.add_argument("--switch-interval", type=float, default=0.0,
                        help="ms; set the server's sys.setswitchinterval (default: Python's 5)")
    args = parser.parse_args()
    if args.role == "render":
        return render_costs()
    if args.role == "node-probe":
        if not args.out:
            parser.error("--role node-probe needs --out")
        return node_probe_main(args.out, args.node_args)
    if args.role == "clients":
        if not args.spec or not args.out:
            parser.error("--role clients needs --spec and --out")
        return clients_main(args.spec, args.out)
    for name in ("agents", "supervisors"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not (0 < args.rate <= 100 and 0 < args.duration <= 90):
        parser.error("--rate must be in (0, 100] and --duration in (0, 90] seconds")
    if args.processes:
        return processes_main(args)
    if args.gateways != 1:
        parser.error("--gateways 2 needs --processes")
    return server_main(args)


if __name__ == "__main__":
    sys.exit(main())
