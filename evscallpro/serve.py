"""`evscallpro serve --config F`: run the call center as its processes, and supervise them.

What it starts (docs/scale.md):
- with `[bus] url` empty, a local nats-server: JetStream in `data_dir`/nats, loopback, a free
  port (bus.server.NatsServer); with `[bus] url` set, none: the processes join that cluster;
- then, as child processes (`python -m evscallpro.cli <command> --config F --bus-url URL`):
  `analytics` (the one DuckDB writer, data_dir/evscallpro.duckdb), one `node` per
  `[[nodes]]` entry (or the one node "main" on `[ari]`: the actor core of one Asterisk, its
  agents being those whose `node` names it), and one `gateway` (agent desktop, wallboard,
  /healthz, /metrics) on `[gateway]` host/port (`--port` overrides it; 0 = any free port).

Each child is started once the previous one said it is ready, and restarted with back-off
if it dies (evscallpro.supervisor: logged with its exit code and stderr tail; its stderr
goes to data_dir/logs/<process>.log). SIGTERM / SIGINT stop the gateway, the nodes, the
analytics writer, then the nats-server. Stopping leaves live calls up in Asterisk: the
next start adopts them. If `serve` itself is killed, its children die with it.

Before anything starts: the settings file is checked ({"event": "error"} and exit 2 on a
problem), so is each node's Asterisk (asterisk_check), and a web user with the supervisor
role and no `[[supervisors]]` phone is reported ({"event": "config_problem", ...}).

Stdout, one JSON line each: the children's lines with "process" (and "node") added —
`call` and `record` from the nodes, `reconciled` reports; a child's own lifecycle lines are
relayed as `process_ready` (with the child's `pid`), `process_stopped`, `process_error`, and
a restart as `process_exit` — then serve's own `{"event": "ready", "url": ...}` once every child is
ready and the gateway's /healthz says the nodes are up (waited a few seconds at most), and `{"event": "stopped", "live_calls_left_up": [...]}` at the end.

`--call AGENT_ID:NUMBER` logs the agent in and places one call once ready, through the bus
(a NodeCommand to the agent's node) (smoke tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from bus.protocol import HEALTH_INTERVAL_S, LogIn, PlaceCall
from bus.server import NatsServer, NatsServerError
from core.domain import Refusal
from evscallpro import asterisk_check, die_with_parent
from evscallpro.config_file import ConfigFileError, load_core_config
from evscallpro.node_client import NodeClient, NodeUnavailable
from evscallpro.people import people_problems
from evscallpro.settings_file import Settings
from evscallpro.supervisor import ChildSpec, Emit, Supervisor, SupervisorError

log = logging.getLogger(__name__)

LOGS_DIR = "logs"
NATS_DIR = "nats"
READY_TIMEOUT_S = 90.0  # a node is ready after its first reconciliation with Asterisk
HEALTHY_WAIT_S = 4 * HEALTH_INTERVAL_S  # the gateway hears each node's health this often


class ServeError(RuntimeError):
    """The processes did not start; the message names what and why."""


# ---------------------------------------------------------------------- the processes
class LocalNats(NatsServer):
    """The nats-server serve starts when `[bus] url` is empty: killed with serve."""

    def command(self) -> list[str]:
        return die_with_parent.command(super().command())


PROGRAM = (sys.executable, "-m", "evscallpro.cli")


def child_specs(
    config_path: Path,
    settings: Settings,
    bus_url: str | None,
    gateway_port: int | None = None,
    program: Sequence[str] = PROGRAM,
) -> list[ChildSpec]:
    """analytics, each node, the gateway: the order they start in. `program`: the command
    line before the subcommand (tests run stand-ins)."""
    base = ["--config", str(config_path)]
    if bus_url:
        base += ["--bus-url", bus_url]

    def command(name: str, *extra: str) -> tuple[str, ...]:
        return (*program, name, *base, *extra)

    specs = [ChildSpec("analytics", "analytics", command("analytics"))]
    specs += [
        ChildSpec(f"node-{node}", "node", command("node", "--node", node), node=node)
        for node in settings.node_ids()
    ]
    port = () if gateway_port is None else ("--port", str(gateway_port))
    specs.append(ChildSpec("gateway", "gateway", command("gateway", *port)))
    return specs


class Processes:
    """The local nats-server (unless `[bus] url`), then the supervised children.

    `start()` returns once every child is ready (raises ServeError otherwise); `finished`
    is set when the supervisor ends on its own (a configuration error: `error`); `stop()`
    stops everything and returns the live calls the nodes left up."""

    def __init__(
        self,
        config_path: Path,
        settings: Settings,
        emit: Emit,
        *,
        gateway_port: int | None = None,
        ready_timeout_s: float = READY_TIMEOUT_S,
        program: Sequence[str] = PROGRAM,
    ) -> None:
        self.config_path = config_path
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self._emit = emit
        self._gateway_port = gateway_port
        self._ready_timeout_s = ready_timeout_s
        self._program = tuple(program)
        self.nats: LocalNats | None = None
        self.supervisor: Supervisor | None = None
        self.ready_lines: dict[str, dict[str, Any]] = {}
        self.error: SupervisorError | None = None
        self.finished = threading.Event()
        self._settled = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def bus_servers(self) -> list[str]:
        return [self.nats.url] if self.nats is not None else self.settings.bus.servers()

    @property
    def url(self) -> str:
        """The gateway's address (from its ready line)."""
        return str(self.ready_lines.get("gateway", {}).get("url", ""))

    def start(self) -> Processes:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bus_url: str | None = None
        if not self.settings.bus.servers():
            try:
                nats = LocalNats(store_dir=self.data_dir / NATS_DIR)
                nats.start()
            except NatsServerError as exc:
                raise ServeError(f"the local nats-server did not start: {exc}") from exc
            self.nats = nats
            bus_url = nats.url
            self._emit({"event": "bus", "process": "nats-server", "url": bus_url})
        self.supervisor = Supervisor(
            child_specs(
                self.config_path, self.settings, bus_url, self._gateway_port, self._program
            ),
            self.data_dir / LOGS_DIR,
            self._emit,
            ready_timeout_s=self._ready_timeout_s,
        )
        # The thread that runs the supervisor spawns every child and lives until they stop
        # (the kernel's parent-death signal follows the thread that forked).
        self._thread = threading.Thread(target=self._supervise, name="supervisor", daemon=True)
        self._thread.start()
        self._settled.wait()
        if self.error is not None:
            self.stop()
            raise ServeError(str(self.error))
        if self.url and not wait_healthy(self.url, HEALTHY_WAIT_S, self.finished):
            log.warning("the gateway's /healthz is not ok %g s after every process was ready "
                        "(see %s/healthz)", HEALTHY_WAIT_S, self.url)  # fmt: skip
        return self

    def _supervise(self) -> None:
        assert self.supervisor is not None

        def on_ready(lines: dict[str, dict[str, Any]]) -> None:
            self.ready_lines = lines
            self._settled.set()

        try:
            self.supervisor.run(on_ready)
        except SupervisorError as exc:
            self.error = exc
        except Exception as exc:  # a bug here must still end serve, not hang it
            log.exception("the supervisor failed")
            self.error = SupervisorError(f"the supervisor failed: {exc}")
        finally:
            self._settled.set()
            self.finished.set()

    def request_stop(self) -> None:
        """From any thread, a signal handler included: `stop()` does the waiting."""
        if self.supervisor is not None:
            self.supervisor.request_stop()

    def stop(self) -> list[str]:
        """Stop the children (reverse order), then the nats-server; the live calls left up."""
        live: list[str] = []
        if self.supervisor is not None and self._thread is not None:
            self.supervisor.request_stop()
            self._thread.join()
            live = self._live_calls_left_up(self.supervisor)
        if self.nats is not None:
            self.nats.stop()
            self.nats = None
        return live

    def _live_calls_left_up(self, supervisor: Supervisor) -> list[str]:
        """What each node said at its stop; for a node that said nothing, its KV bucket."""
        said = supervisor.stopped_lines()
        live: list[str] = []
        silent: list[str] = []
        for node in self.settings.node_ids():
            line = said.get(f"node-{node}")
            if line is not None:
                live += [str(c) for c in line.get("live_calls_left_up") or []]
            elif supervisor.ready_lines().get(f"node-{node}"):  # it ran: it may have calls
                silent.append(node)
        if silent and self.bus_servers:
            try:
                with NodeClient(self.settings.bus, self.bus_servers, "serve", 5.0) as client:
                    for node in silent:
                        live += client.live_call_ids(node)
            except Exception as exc:
                log.warning("cannot read the live calls the nodes left up: %s", exc)
        return sorted(set(live))


def wait_healthy(url: str, timeout_s: float, stop: threading.Event) -> bool:
    """True once the gateway's /healthz answers 200. A node is ready after its first
    reconciliation, but the gateway learns it from the node's health reports (one each
    HEALTH_INTERVAL_S): serve's ready line waits for that, so ready means calls can be
    placed. A 503 is waited out (until `timeout_s` or `stop`); any other answer is not."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=2) as answer:
                return bool(answer.status == 200)
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                return False
        except OSError:
            return False
        # a child's HTTP endpoint, no event to wait on: look again shortly
        if time.monotonic() >= deadline or stop.wait(0.1):
            return False


# ---------------------------------------------------------------------- checks
def asterisk_ready(settings: Settings, emit: Emit) -> bool:
    """Every node's Asterisk checked (docs/asterisk.md); False if one is not ready."""
    ok = True
    for node in settings.node_ids():

        def emit_for_node(event: dict[str, Any], node: str = node) -> None:
            emit({**event, "node": node})

        ok = asterisk_check.run_start_check(settings.for_node(node), emit_for_node) and ok
    return ok


def place_call(settings: Settings, servers: list[str], spec: str, emit: Emit) -> None:
    """`--call AGENT_ID:NUMBER`: LogIn then PlaceCall, sent to the agent's node."""
    agent_id, _, number = spec.partition(":")
    node = settings.node_of_agent(agent_id)
    refusal: Refusal | None
    if not node:
        refusal = Refusal("unknown_agent", f"no agent {agent_id!r} in the settings")
    else:
        try:
            with NodeClient(settings.bus, servers, "serve --call") as client:
                refusal = (
                    client.ask(node, LogIn(agent_id)).refusal
                    or client.ask(node, PlaceCall(agent_id, number)).refusal
                )
        except NodeUnavailable as exc:
            refusal = Refusal("node_unavailable", str(exc))
        except Exception as exc:  # the bus itself: no server answered
            refusal = Refusal("node_unavailable", f"{type(exc).__name__}: {exc}")
    emit({"event": "place_call", "agent_id": agent_id, "refusal": msgspec.to_builtins(refusal)})


# ---------------------------------------------------------------------- command line
def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "serve", help="run the call center: nats-server, analytics, nodes and web gateway"
    )
    p.add_argument("--config", required=True, help="project TOML settings file")
    p.add_argument("--call", default=None, help="AGENT_ID:NUMBER, placed once at start")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="web gateway port, instead of [gateway] port (0: any free port)",
    )
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


_EMIT_LOCK = threading.Lock()


def _emit(event: dict[str, Any]) -> None:
    line = json.dumps(event) + "\n"
    with _EMIT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config, settings = load_core_config(args.config)
    except ConfigFileError as exc:
        _emit({"event": "error", "error": str(exc)})
        return 2
    if args.port is not None and not 0 <= args.port <= 65535:
        _emit({"event": "error", "error": f"--port: {args.port} is not a TCP port"})
        return 2
    if not asterisk_ready(settings, _emit):
        _emit({"event": "error", "error": "Asterisk is not ready: see asterisk_check above"})
        return 2
    for problem in people_problems(settings):
        log.error("%s", problem)
        _emit({"event": "config_problem", "error": problem})

    processes = Processes(Path(args.config).resolve(), settings, _emit, gateway_port=args.port)
    done = threading.Event()

    def on_signal(*_: object) -> None:
        done.set()
        processes.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        processes.start()
    except ServeError as exc:
        error = processes.error
        _emit({"event": "error", "error": f"cannot start: {exc}",
               "part": error.process if error else "nats-server"})  # fmt: skip
        return 2
    if not done.is_set():
        _emit(
            {
                "event": "ready",
                "app": config.app,
                "agents": [a.agent_id for a in config.agents],
                "nodes": settings.node_ids(),
                "bus": processes.bus_servers,
                "url": processes.url,
            }
        )
        if args.call:
            threading.Thread(
                target=place_call,
                args=(settings, processes.bus_servers, args.call, _emit),
                name="serve-call",
                daemon=True,
            ).start()

    def stop_when_finished() -> None:  # the supervisor ended on its own: a configuration error
        processes.finished.wait()
        done.set()

    threading.Thread(target=stop_when_finished, name="serve-finished", daemon=True).start()
    done.wait()
    live = processes.stop()  # gateway, nodes, analytics, then the nats-server
    if processes.error is not None:
        _emit({"event": "error", "error": str(processes.error), "part": processes.error.process})
        return 2
    _emit({"event": "stopped", "live_calls_left_up": live})
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return 0
