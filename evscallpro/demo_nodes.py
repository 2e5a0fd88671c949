"""`evscallpro demo` as the product runs: the demo's simulated Asterisk boxes, and `serve`'s
processes (local nats-server, analytics, one node per box, one gateway) under the
supervisor.

`--nodes N` (default 1) starts N ARI simulators (demo/sim-phones.toml each; the first on
`--ari-port`, the others on free ports), writes the settings the processes read to
`data_dir`/demo-run.toml with one `[[nodes]]` entry per simulator ("n1", "n2", ...), and
spreads the demo agents over them (`demo_nodes_settings`). The autopilot drives its agents
through the bus (NodeCommands to each agent's node, views from every node), as a gateway
does.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from asterisk.sim.testing import SimulatorThread
from bus.protocol import GetSnapshot, LogIn, NodeCommand, PlaceCall, Qualify, ViewChange
from core.domain import Refusal
from core.settings import AgentSettings
from core.views import AgentView, CallView
from evscallpro import toml_write
from evscallpro.demo import (
    AUTOPILOT_AGENTS,
    DEFAULT_ARI_PORT,
    DEFAULT_DATA_DIR,
    DemoError,
    banner_lines,
    scaled_timeouts,
    sip_ws_url,
    start_simulator,
    status_text,
)
from evscallpro.demo_autopilot import Autopilot
from evscallpro.demo_seed import (
    DEMO_DIR,
    PHONES_FILE,
    SETTINGS_FILE,
    SeedReport,
    load_campaign_scripts,
    load_demo_settings,
    seed_data_dir,
)
from evscallpro.node_client import NodeClient, NodeUnavailable
from evscallpro.serve import PROGRAM, Processes
from evscallpro.settings_file import Settings, parse_settings, read_toml
from gateway.contacts import ContactStore

log = logging.getLogger(__name__)

RUN_SETTINGS_FILE = "demo-run.toml"


# ---------------------------------------------------------------------- settings
def node_ids(count: int) -> list[str]:
    return [f"n{i}" for i in range(1, count + 1)]


def spread_agents(agents: Sequence[AgentSettings], nodes: Sequence[str]) -> dict[str, str]:
    """agent id -> node. An agent with the browser softphone stays on the first node: the
    page registers to `[softphone] ws_url`, the first simulator. The others go round-robin,
    in the file's order."""
    placed: dict[str, str] = {}
    turn = 0
    for agent in agents:
        if agent.softphone_endpoint and agent.softphone_password:
            placed[agent.id] = nodes[0]
        else:
            placed[agent.id] = nodes[turn % len(nodes)]
            turn += 1
    return placed


def demo_nodes_settings(
    raw: dict[str, Any],
    base: Settings,
    *,
    ari_urls: Sequence[str],
    data_dir: str,
    host: str | None,
    port: int | None,
    time_scale: float,
    campaign_scripts: dict[str, str],
) -> dict[str, Any]:
    """The demo's settings file (`raw`, as read) for this run: one `[[nodes]]` entry per
    simulator address, the agents spread over them, the data dir, the web address, the
    campaign scripts and the time-scaled timers. Raises DemoError if it does not validate."""
    if not ari_urls:
        raise DemoError("--nodes must be at least 1")
    nodes = node_ids(len(ari_urls))
    ari = dict(raw.get("ari") or {})
    placed = spread_agents(base.agents, nodes)
    gateway = dict(raw.get("gateway") or {})
    if host is not None:
        gateway["host"] = host
    if port is not None:
        gateway["port"] = port
    gateway["campaign_scripts"] = dict(campaign_scripts)
    timeouts = msgspec.to_builtins(scaled_timeouts(base.timeouts, time_scale))
    out = {
        **raw,
        "data_dir": str(Path(data_dir).resolve()),
        "ari": {**ari, "url": ari_urls[0]},
        "gateway": gateway,
        "timeouts": {k: v for k, v in timeouts.items() if v is not None},
        "nodes": [
            {"id": n, "ari": {**ari, "url": url}} for n, url in zip(nodes, ari_urls, strict=True)
        ],
        "agents": [{**agent, "node": placed[agent["id"]]} for agent in raw.get("agents") or []],
    }
    if raw.get("softphone", {}).get("ws_url"):
        out["softphone"] = {**raw["softphone"], "ws_url": sip_ws_url(ari_urls[0])}
    checked = parse_settings(out, env={})
    if isinstance(checked, list):
        raise DemoError("invalid demo settings: " + "; ".join(checked))
    return out


# ---------------------------------------------------------------------- the bus desk
class BusDesk:
    """What the autopilot needs of a call center, over the bus: commands to each agent's
    node, views from every node (in arrival order), snapshots asked of each node."""

    def __init__(self, settings: Settings, client: NodeClient) -> None:
        self._settings = settings
        self._client = client
        self._listeners: list[Callable[[AgentView | CallView], None]] = []
        self._lock = threading.Lock()
        client.subscribe_views(self._on_change)

    def _on_change(self, change: ViewChange) -> None:
        view = change.agent or change.call
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            if view is not None:
                listener(view)

    def subscribe(self, listener: Callable[[AgentView | CallView], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _ask(self, agent_id: str, command: NodeCommand) -> Refusal | None:
        node = self._settings.node_of_agent(agent_id)
        try:
            return self._client.ask(node, command).refusal
        except NodeUnavailable as exc:
            return Refusal("node_unavailable", str(exc))

    def log_in(self, agent_id: str) -> Refusal | None:
        return self._ask(agent_id, LogIn(agent_id))

    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None:
        return self._ask(agent_id, PlaceCall(agent_id, customer_number, contact_id))

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None:
        return self._ask(agent_id, Qualify(agent_id, call_id, disposition, comment, callback_at))

    def snapshot(self) -> list[AgentView]:
        views: list[AgentView] = []
        for node in self._settings.node_ids():
            try:
                reply = self._client.ask(node, GetSnapshot())
            except NodeUnavailable as exc:
                log.warning("autopilot: no snapshot from node %s: %s", node, exc)
                continue
            if reply.snapshot is not None:
                views += [agent.view for agent in reply.snapshot.agents]
        return views


# ---------------------------------------------------------------------- the demo
class NodesDemo:
    """Seed, simulators, processes: started in that order, stopped in reverse."""

    def __init__(
        self,
        *,
        nodes: int = 1,
        data_dir: str = DEFAULT_DATA_DIR,
        host: str | None = None,
        port: int | None = None,
        ari_port: int = DEFAULT_ARI_PORT,
        time_scale: float = 1.0,
        demo_dir: Path = DEMO_DIR,
        reset: bool = False,
        autopilot: bool = False,
        emit: Callable[[dict[str, Any]], None] | None = None,
        program: Sequence[str] = PROGRAM,
    ) -> None:
        """`emit` gets the processes' JSON lines (default: logged at INFO); `program` runs
        the processes (tests run stand-ins)."""
        if nodes < 1:
            raise DemoError(f"--nodes must be at least 1, not {nodes}")
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise DemoError(f"--time-scale must be a number > 0, not {time_scale}")
        self.nodes = nodes
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ari_port = ari_port
        self.time_scale = time_scale
        self.demo_dir = demo_dir
        self.reset = reset
        self._autopilot_wanted = autopilot
        self._emit = emit or (lambda event: log.info("%s", event))
        self.seed: SeedReport | None = None
        self.simulators: list[SimulatorThread] = []
        self.settings: Settings | None = None
        self.settings_path = Path(data_dir) / RUN_SETTINGS_FILE
        self.processes: Processes | None = None
        self.client: NodeClient | None = None
        self.autopilot: Autopilot | None = None
        self._error: BaseException | None = None
        self._program = tuple(program)

    @property
    def url(self) -> str:
        if self.processes is None:
            raise RuntimeError("the demo is not running")
        return self.processes.url.rstrip("/")

    def start(self) -> NodesDemo:
        base = load_demo_settings(self.demo_dir)
        self.seed = seed_data_dir(
            msgspec.structs.replace(base, data_dir=self.data_dir), self.demo_dir, reset=self.reset
        )
        scripts = load_campaign_scripts(self.demo_dir)
        data = Path(self.data_dir)
        try:
            for index in range(self.nodes):
                self.simulators.append(
                    start_simulator(
                        self.demo_dir / PHONES_FILE,
                        self.time_scale,
                        self.ari_port if index == 0 else 0,
                        data / "recordings",
                    )
                )
            raw = demo_nodes_settings(
                read_toml(self.demo_dir / SETTINGS_FILE),
                base,
                ari_urls=[sim.base_url for sim in self.simulators],
                data_dir=self.data_dir,
                host=self.host,
                port=self.port,
                time_scale=self.time_scale,
                campaign_scripts=scripts,
            )
            self.settings_path.write_text(toml_write.dumps(raw), encoding="utf-8")
            settings = parse_settings(raw, env={})
            assert isinstance(settings, Settings)
            self.settings = settings
            self.processes = Processes(
                self.settings_path, settings, self._emit, program=self._program
            )
            self.processes.start()
            if self._autopilot_wanted:
                self._start_autopilot(settings)
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def error(self) -> str:
        """Why the processes ended on their own (a configuration error), or ""."""
        error = self.processes.error if self.processes is not None else self._error
        return str(error) if error is not None else ""

    def request_stop(self) -> None:
        """From a signal handler too: ends `wait()` and a start under way."""
        if self.processes is not None:
            self.processes.request_stop()

    def wait(self, stop: threading.Event) -> None:
        """Until `stop` is set or the processes end on their own."""
        processes = self.processes
        if processes is None:
            return

        def stop_when_finished() -> None:
            processes.finished.wait()
            stop.set()

        threading.Thread(target=stop_when_finished, name="demo-finished", daemon=True).start()
        stop.wait()

    def _start_autopilot(self, settings: Settings) -> None:
        assert self.processes is not None
        self.client = NodeClient(settings.bus, self.processes.bus_servers, "demo autopilot")
        self.client.start()
        contacts = ContactStore.in_data_dir(self.data_dir).search("", limit=10_000)
        self.autopilot = Autopilot(
            BusDesk(settings, self.client), AUTOPILOT_AGENTS, contacts, self.time_scale
        ).start()

    def stop(self) -> None:
        if self.autopilot is not None:
            self.autopilot.stop()
            self.autopilot = None
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.processes is not None:
            self.processes.stop()
            self._error = self.processes.error
            self.processes = None
        while self.simulators:
            self.simulators.pop().stop()

    def banner(self) -> str:
        assert self.seed is not None and self.settings is not None
        autopilot = self.autopilot.agent_ids if self.autopilot is not None else None
        lines = banner_lines(self.url, self.seed, self.settings.gateway.host, autopilot)
        if self.nodes > 1:
            assert self.settings is not None
            by_node: dict[str, list[str]] = {}
            for agent in self.settings.agents:
                by_node.setdefault(self.settings.node_of_agent(agent.id), []).append(agent.id)
            lines.insert(-1, "  Nodes:")
            for node, sim in zip(self.settings.node_ids(), self.simulators, strict=True):
                lines.insert(-1, f"    {node}  {sim.base_url}  {', '.join(by_node.get(node, []))}")
        return "\n".join(lines)

    def status_line(self) -> str:
        assert self.seed is not None and self.settings is not None
        return status_text(
            [sim.base_url for sim in self.simulators], self.time_scale, self.settings, self.seed
        )
