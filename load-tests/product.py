"""The product as the load tests drive it from the outside, shared by load-tests/faults.py
(faults under load) and load-tests/loadgen.py (the load generator).

Nothing here reads the product's internals, so it keeps working whatever processes
`evscallpro serve` runs:

- `Serve`: `python -m evscallpro.cli serve --config FILE` in a subprocess; its stdout JSON lines
  (`ready`, `call` per step change, `record` per call record, `stopped`) are collected across
  starts, each stamped with the time the line was read; serve being a supervisor of
  processes, its children's `process_ready` lines (with their pid and /metrics URL) are kept
  by child (`children`), so one child can be killed (`kill_child`, e.g. the node);
- `write_serve_config` / `write_users`: a serve TOML and its users.json (agents on mobile
  phones `PJSIP/+3361...`, supervisors on `PJSIP/+3363...`);
- `AgentClient`: one agent's browser: logs in over HTTP (`POST /login`, Basic), holds `/ws`
  with its session cookie, reads the agent page's fragments (agent state, call panel, wrap-up
  form), qualifies each ended call, reconnects (logging in again when the session is gone);
- `SupervisorClient`: one supervisor's browser on the wallboard: listens to calls;
- `parse_metrics` / `histogram_quantiles`: the product's `/metrics` text (one process's: the
  `process` and `node` labels each process adds are dropped);
- `process_tree_usage`: CPU seconds and RSS of a process and its descendants (/proc), each
  named by its role (`serve`, `node-<id>`, `gateway`, `analytics`, `nats-server`);
- `started_monotonic`: when a process started, on this process's monotonic clock (/proc).

Not a benchmark itself (`run_all.py` runs `*_bench.py` only).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_sim import Simulator  # noqa: E402

AGENT_STATE = re.compile(r'id="agent-state" data-state="([a-z_]+)"')
WRAPUP = re.compile(r'<form ws-send class="card wrapup".*?name="call_id" value="([^"]+)"', re.S)
# The dispositions the form offers depend on the call's outcome: qualify with the first one.
OFFERED = re.compile(r'name="disposition" value="([^"]+)"')
ERROR_NOTICE = re.compile(
    r'class="notice notice-error"[^>]*>(?:<span class="notice-text">)?([^<]*)<'
)
CALL_STEP = re.compile(r'id="call-step" data-step="([a-z_]*)"')
LIVE_CALL = re.compile(r'name="action" value="hang_up">\s*<input type="hidden" name="call_id" '
                       r'value="([^"]+)"')
SUPERVISE = re.compile(r'name="call_id" value="([^"]+)"><input type="hidden" name="mode" '
                       r'value="listen">')
METRIC = re.compile(r'^([a-z_]+)(?:\{([^}]*)\})? ([-+0-9.eE]+|NaN|\+Inf)$', re.M)
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def password(user_id: str) -> str:
    return f"bench-{user_id}"


def agent_number(i: int) -> str:
    return f"+3361{i:07d}"


def supervisor_number(i: int) -> str:
    return f"+3363{i:07d}"


# ============================================================================= processes
class Serve:
    """`evscallpro serve` in a subprocess; its stdout JSON lines are collected across starts."""

    def __init__(self, config: Path, folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.stopped_line: dict[str, Any] | None = None
        self.calls: dict[str, float] = {}  # call id -> first announced (monotonic)
        self.steps: dict[str, str] = {}  # call id -> its last announced step
        self.record_lines: collections.Counter[str] = collections.Counter()
        self.outcomes: dict[str, str] = {}  # call id -> "outcome/reason" of its record
        self.records: dict[str, dict[str, Any]] = {}  # call id -> its (last) record
        self.on_line: Callable[[dict[str, Any]], None] | None = None
        # child name ("node-main", "gateway", "analytics") -> its last process_ready line, with
        # `read_at` (monotonic) added; serve's supervisor adds the child's `pid`
        self.children: dict[str, dict[str, Any]] = {}
        self.starts = 0
        self.stdout_log = (folder / "serve.stdout").open("a", encoding="utf-8")

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    async def start(self, timeout_s: float = 60.0) -> None:
        self.ready = asyncio.Event()
        self.starts += 1
        stderr = (self.folder / f"serve-{self.starts}.stderr").open("wb")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evscallpro.cli", "serve", "--config", str(self.config),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=stderr,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        stderr.close()
        self.reader = asyncio.create_task(self._read(self.proc))
        waiter = asyncio.create_task(self.ready.wait())
        done, _ = await asyncio.wait({waiter, self.reader}, timeout=timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        if waiter not in done:
            waiter.cancel()
            raise RuntimeError(f"serve did not get ready within {timeout_s:.0f} s "
                               f"(see {self.folder}/serve-{self.starts}.stderr)")  # fmt: skip

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            raw = await proc.stdout.readline()
            if not raw:
                return
            line = raw.decode(errors="replace")
            self.stdout_log.write(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            kind = event.get("event")
            event["read_at"] = time.monotonic()
            if kind == "ready":
                self.ready.set()
            elif kind == "process_ready":
                self.children[child_name(event)] = event
            elif kind == "call":
                self.calls.setdefault(event["call_id"], time.monotonic())
                self.steps[event["call_id"]] = event.get("step", "")
            elif kind == "record":
                record = event.get("record") or {}
                if "outcome" in record:
                    self.record_lines[record["call_id"]] += 1
                    self.outcomes[record["call_id"]] = (
                        f"{record['outcome']}/{record.get('reason', '')}")  # fmt: skip
                    self.records[record["call_id"]] = record
            elif kind == "stopped":
                self.stopped_line = event
            if self.on_line is not None:
                self.on_line(event)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        if self.reader is not None:
            await self.reader

    def nodes(self) -> dict[str, dict[str, Any]]:
        """The node children's last ready lines, by child name."""
        return {k: v for k, v in self.children.items() if v.get("process") == "node"}

    def kill_child(self, name: str) -> int:
        """SIGKILL one child of serve (its supervisor restarts it); returns its pid."""
        pid = int(self.children[name]["pid"])
        os.kill(pid, signal.SIGKILL)
        return pid

    async def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            await self.reader
        self.stdout_log.flush()


def child_name(line: dict[str, Any]) -> str:
    """The supervisor's name of the child a relayed line comes from."""
    process = str(line.get("process", ""))
    return f"node-{line['node']}" if process == "node" else process


def write_serve_config(folder: Path, sim: Simulator, port: int, agents: Sequence[str],
                       agent_ring_s: int, *, app: str, supervisors: Sequence[str] = (),
                       customer_ring_s: int = 30, extra: Sequence[str] = ()) -> Path:  # fmt: skip
    """serve's TOML: agents on mobile phones `PJSIP/+3361<i>`, supervisors on `+3363<i>`."""
    lines = [
        f'data_dir = "{folder / "data"}"',
        "[ari]", f'url = "{sim.base_url}"', f'user = "{sim.user}"',
        f'password = "{sim.password}"', f'app = "{app}"',
        "[gateway]", 'host = "127.0.0.1"', f"port = {port}",
        "[timeouts]", f"agent_ring_s = {agent_ring_s}", f"customer_ring_s = {customer_ring_s}",
        "[acceptance]", "mobile = false", "softphone = false",
        "[recording]", "enabled = false",
        "[prompts]", 'language = "en"',
        "[prompts.en]", 'customer_being_called = ["sound:beep"]',
        *extra,
    ]  # fmt: skip
    for i, agent in enumerate(agents):
        lines += ["[[agents]]", f'id = "{agent}"', f'name = "Agent {agent}"',
                  'workstation = "mobile"', f'mobile_number = "{agent_number(i)}"']  # fmt: skip
    for i, sup in enumerate(supervisors):
        lines += ["[[supervisors]]", f'id = "{sup}"', f'name = "Supervisor {sup}"',
                  f'mobile_number = "{supervisor_number(i)}"']  # fmt: skip
    path = folder / "serve.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_users(data_dir: Path, agents: Sequence[str], supervisors: Sequence[str] = ()) -> None:
    from argon2 import PasswordHasher

    from gateway.users import Role, UserDirectory

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # many logins, fast
    users = UserDirectory([], data_dir / "users.json", hasher=cheap)
    for i, agent in enumerate(agents):
        users.add(agent, password(agent), Role.AGENT, f"Agent {agent}", agent_number(i))
    for i, sup in enumerate(supervisors):
        users.add(sup, password(sup), Role.SUPERVISOR, f"Supervisor {sup}",
                  supervisor_number(i))  # fmt: skip
    data_dir.mkdir(parents=True, exist_ok=True)
    users.save()


PROCESS_LABELS = re.compile(r'(?:^|,)(?:process|node)="[^"]*"')


def parse_metrics(text: str, prefix: str = "evscallpro_") -> dict[str, float]:
    """`name{labels}` (or `name`) -> value, for the series whose name starts with `prefix`
    (the product's own by default). The `process` and `node` labels every process adds
    (evscallpro/process_metrics.py) are dropped, and series that differ only by them are
    summed: the pages of several processes (every node's) add up."""
    out: dict[str, float] = {}
    for name, labels, value in METRIC.findall(text):
        if not name.startswith(prefix):
            continue
        labels = PROCESS_LABELS.sub("", labels).strip(",")
        key = f"{name}{{{labels}}}" if labels else name
        out[key] = out.get(key, 0.0) + float(value)
    return out


def histogram_delta(before: dict[str, float], after: dict[str, float],
                    name: str) -> dict[float, float]:  # fmt: skip
    """Bucket upper bound -> what a histogram counted (cumulative) between two scrapes of one
    process; a counter lower after than before means the process restarted in between: its
    counters started again at 0."""
    prefix = f'{name}_bucket{{le="'
    if after.get(f"{name}_count", 0.0) < before.get(f"{name}_count", 0.0):
        before = {}
    return {
        float(key[len(prefix) : -2]): after[key] - before.get(key, 0.0)
        for key in after
        if key.startswith(prefix)
    }


def quantiles_of(buckets: dict[float, float],
                 quantiles: tuple[float, ...] = (0.5, 0.9, 0.99)) -> dict[str, float]:  # fmt: skip
    """Quantiles (the upper bound of the bucket they fall in) of cumulative bucket counts, and
    the count; {} when nothing was counted."""
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return {}
    out = {"count": total}
    for q in quantiles:
        out[f"p{round(q * 100):d}"] = next(le for le, n in ordered if n >= q * total)
    return out


def histogram_quantiles(
    before: dict[str, float], after: dict[str, float], name: str,
    quantiles: tuple[float, ...] = (0.5, 0.9, 0.99),
) -> dict[str, float]:  # fmt: skip
    """Quantiles (the upper bound of the bucket they fall in, seconds) of what a histogram
    counted between two scrapes, and its count; {} when nothing was counted."""
    return quantiles_of(histogram_delta(before, after, name), quantiles)


def _children(pid: int) -> list[int]:
    """Children of every thread of `pid` (serve's supervisor thread forks its children)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out += [int(p) for p in fh.read().split()]
        except OSError:
            continue
    return out


def role(argv: Sequence[str]) -> str:
    """What a process of the product is, from its command line."""
    if "evscallpro.die_with_parent" in argv and "--" in argv:  # the launcher, before its exec
        argv = argv[list(argv).index("--") + 1 :]
    if any(a.endswith("nats-server") for a in argv[:1]):
        return "nats-server"
    for i, arg in enumerate(argv):
        if arg in ("serve", "gateway", "analytics"):
            return arg
        if arg == "node":
            node = argv[argv.index("--node") + 1] if "--node" in argv[:-1] else "?"
            return f"node-{node}"
        if i > 6:
            break
    return " ".join(argv[1:5])


def started_monotonic(pid: int) -> float | None:
    """When `pid` started, on time.monotonic()'s scale (10 ms resolution: clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            start_ticks = int(fh.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    age = time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / TICK
    return time.monotonic() - age


def process_tree_usage(pid: int) -> dict[int, tuple[str, float, float]]:
    """pid -> (its role, CPU seconds, RSS MiB) for `pid` and every descendant."""
    out: dict[int, tuple[str, float, float]] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                head, _, rest = fh.read().rpartition(")")
            fields = rest.split()
            with open(f"/proc/{p}/statm") as fh:
                rss = int(fh.read().split()[1]) * PAGE / 2**20
            with open(f"/proc/{p}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        name = role([a.decode(errors="replace") for a in argv if a]) or head
        out[p] = (name, (int(fields[11]) + int(fields[12])) / TICK, rss)
        todo.extend(_children(p))
    return out


# ============================================================================= browsers
class AgentClient:
    """One agent's browser: logs in, holds /ws, qualifies each ended call, reconnects.

    `on_step(agent, call_id, step)` (optional) is called for each step of the live call its
    panel shows; `steps_seen[(call_id, step)]` is the wall-clock time the first frame showing
    that step arrived."""

    def __init__(self, user_id: str, base: str, http: Any) -> None:
        self.user_id = user_id
        self.base = base
        self.http = http
        self.cookie = ""
        self.ws: Any = None
        self.state = ""
        self.connected = asyncio.Event()
        self.awaiting_since = 0.0  # a place_call was sent and its effect not seen yet
        self.closing = False
        self.dropped = False  # the current socket was cut by the harness
        self.placed = 0
        self.refused = 0
        self.reconnects = 0
        self.qualified = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.task: asyncio.Task[None] | None = None
        self.on_step: Callable[[AgentClient, str, str], None] | None = None
        self.steps_seen: dict[tuple[str, str], float] = {}
        self.live_call = ""

    def idle(self) -> bool:
        if self.awaiting_since and time.monotonic() - self.awaiting_since > 5.0:
            self.awaiting_since = 0.0  # nothing came back: free the agent for another try
        return (self.ws is not None and self.connected.is_set() and self.state == "available"
                and not self.awaiting_since)  # fmt: skip

    async def login(self) -> bool:
        token = base64.b64encode(f"{self.user_id}:{password(self.user_id)}".encode()).decode()
        try:
            async with self.http.post(
                self.base + "/login",
                headers={"Origin": self.base, "Authorization": f"Basic {token}"},
                allow_redirects=False,
            ) as resp:
                cookie = resp.headers.get("Set-Cookie", "")
                if resp.status == 200 and cookie:
                    self.cookie = cookie.split(";")[0]
                    return True
                self.errors[f"login_http_{resp.status}"] += 1
        except Exception as exc:
            self.errors[f"login_{type(exc).__name__}"] += 1
        return False

    async def run(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        ws_url = self.base.replace("http://", "ws://") + "/ws"
        backoff = 0.1
        while not self.closing:
            if not self.cookie and not await self.login():
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            try:
                self.ws = await connect(
                    ws_url, origin=self.base,  # type: ignore[arg-type]
                    additional_headers={"Cookie": self.cookie}, compression=None,
                    max_size=16 * 2**20, open_timeout=10,
                )  # fmt: skip
            except InvalidStatus as exc:
                self.errors[f"ws_http_{exc.response.status_code}"] += 1
                if exc.response.status_code == 401:  # the session is gone (core restarted)
                    self.cookie = ""
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            except Exception as exc:
                self.errors[f"ws_{type(exc).__name__}"] += 1
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            backoff = 0.1
            self.dropped = False
            qualified: set[str] = set()  # a fresh screen: qualify what it shows again
            try:
                async for message in self.ws:
                    if self.dropped:  # frames still buffered from a cut socket: gone
                        break
                    text = message if isinstance(message, str) else message.decode()
                    await self._on_frame(text, qualified)
            except Exception as exc:  # a dropped socket: reconnect below
                self.errors[f"read_{type(exc).__name__}"] += 1
            self.connected.clear()
            self.ws = None
            self.state = ""
            if not self.closing:
                self.reconnects += 1

    async def _on_frame(self, frame: str, qualified: set[str]) -> None:
        now = time.time()
        for detail in ERROR_NOTICE.findall(frame):
            self.errors[f"notice: {detail.strip()[:60]}"] += 1
            if self.awaiting_since:
                self.refused += 1
                self.awaiting_since = 0.0
        match = AGENT_STATE.search(frame)
        if match:
            if match.group(1) != "available":
                self.awaiting_since = 0.0
            self.state = match.group(1)
            self.connected.set()
        live = LIVE_CALL.search(frame)
        step = CALL_STEP.search(frame)
        if live and step:
            call_id, name = live.group(1), step.group(1)
            self.live_call = call_id
            if (call_id, name) not in self.steps_seen:
                self.steps_seen[(call_id, name)] = now
                if self.on_step is not None:
                    self.on_step(self, call_id, name)
        elif step:
            self.live_call = ""
        wrapup = WRAPUP.search(frame)
        if wrapup and wrapup.group(1) not in qualified:
            qualified.add(wrapup.group(1))
            offered = OFFERED.search(frame, wrapup.end())
            if await self.send({"action": "qualify", "call_id": wrapup.group(1),
                                "disposition": offered.group(1) if offered else "sale",
                                "comment": "", "callback_at": ""}):  # fmt: skip
                self.qualified += 1

    async def send(self, message: dict[str, Any]) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps({**message, "HEADERS": {"HX-Request": "true"}}))
            return True
        except Exception as exc:
            self.errors[f"send_{type(exc).__name__}"] += 1
            return False

    async def place_call(self, number: str) -> bool:
        self.awaiting_since = time.monotonic()
        if await self.send({"action": "place_call", "number": number, "contact_id": ""}):
            self.placed += 1
            return True
        self.awaiting_since = 0.0
        return False

    async def hang_up(self, call_id: str) -> bool:
        return await self.send({"action": "hang_up", "call_id": call_id})

    async def set_workstation(self, mode: str, mobile_number: str = "") -> bool:
        return await self.send(
            {"action": "set_workstation", "mode": mode, "mobile_number": mobile_number}
        )

    def drop(self) -> None:
        """The browser vanishes: the TCP connection is cut without a closing handshake."""
        ws = self.ws
        self.dropped = True
        self.connected.clear()  # nothing more is sent on it (the reader sees the drop later)
        self.state = ""
        if ws is not None:
            ws.transport.abort()

    async def close(self) -> None:
        self.closing = True
        ws = self.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


class SupervisorClient(AgentClient):
    """One supervisor's browser on the wallboard: `listen()` asks to listen to one of the
    calls its wallboard offers (the frames' `supervise ... listen` forms)."""

    def __init__(self, user_id: str, base: str, http: Any) -> None:
        super().__init__(user_id, base, http)
        self.offered: dict[str, float] = {}  # call id -> when a frame last offered it
        self.listens = 0

    async def _on_frame(self, frame: str, qualified: set[str]) -> None:
        now = time.time()
        self.connected.set()
        for detail in ERROR_NOTICE.findall(frame):
            self.errors[f"notice: {detail.strip()[:60]}"] += 1
        for call_id in SUPERVISE.findall(frame):
            self.offered[call_id] = now

    async def listen(self, call_id: str) -> bool:
        if await self.send({"action": "supervise", "call_id": call_id, "mode": "listen"}):
            self.listens += 1
            return True
        return False
