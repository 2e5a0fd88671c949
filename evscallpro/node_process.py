"""`evscallpro node --config F --node ID [--bus-url URL] [--metrics-port P]`: the actor core of
ONE Asterisk (the `[[nodes]]` entry ID, or "main" on `[ari]`), on the NATS bus.

It runs the node's CallCenterApp (`Settings.for_node(ID)`: its Asterisk, its agents, every
supervisor) as Stack does (evscallpro/core_parts.py), and joins the bus (`[bus] url`, or
`--bus-url`):
- bus/node_service.py answers the gateways' commands on `evs.cmd.ID`, publishes every view
  as a numbered change on `evs.view.ID`, the snapshot on request, a heartbeat each second;
- bus/live_calls_kv.py keeps the calls to adopt after a crash in the KV bucket
  `evs-live-calls-ID` (a node restarted on another machine adopts them);
- bus/record_outbox.py keeps every record (call records, dispositions, the agent state
  intervals cut here from the agents' views) in data_dir/node-ID/ until JetStream stored it.

stdout, one JSON object a line: `{"event": "ready", "process": "node", "node": ID, ...}` once
the first reconciliation with Asterisk is done and commands are answered; `call` (each step
of a call), `record` (each record) and `reconciled` lines as `serve` printed them;
`{"event": "error", "error": ...}` then exit 2 for a configuration problem (a node id the
file does not know included); `{"event": "stopped", ...}` after SIGTERM / SIGINT, exit 0:
live calls stay up in Asterisk (the next start adopts them) and the records JetStream has not
acknowledged yet are flushed first (bounded: what is left waits in the outbox file). Any
other exit (bus unreachable, Asterisk not answering) is a crash, restarted by `serve`.
Logs go to stderr; /metrics (labels process="node", node=ID) on `--metrics-port`, else the
node's `metrics_port` (0: any free port), with the core's metrics and two of the node's:
`evscallpro_node_records_waiting_bytes` (the outbox's backlog) and
`evscallpro_node_live_calls_unsaved` (bucket writes not done yet).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
from prometheus_client import Gauge

from actors.recovery import ReconcileReport
from actors.sinks import FanOutSink, JsonLinesRecordSink
from analytics import metrics
from bus.connect import connect
from bus.jetstream_ready import when_ready
from bus.live_calls_kv import LiveCallsKV
from bus.node_service import NodeService
from bus.record_outbox import AgentIntervals, RecordOutbox
from bus.records import RecordPublisher, ensure_stream
from core.records import CallRecord
from core.views import CallView
from evscallpro import asterisk_check
from evscallpro.core_parts import CoreParts
from evscallpro.line_out import LineOut, log_without_blocking
from evscallpro.people import people_problems
from evscallpro.process_metrics import start_metrics_server
from evscallpro.settings_file import Settings, SettingsError, load_settings

log = logging.getLogger("evscallpro.node")

AUDIT_FILE = "audit.jsonl"
LINK_TIMEOUT_S = 15.0
STOP_FLUSH_S = 10.0  # how long a clean stop waits for JetStream to take the last records
_BUS_SCHEMES = ("nats://", "tls://", "ws://", "wss://")

RECORDS_WAITING = Gauge(
    "evscallpro_node_records_waiting_bytes",
    "Bytes of records in the node's outbox not yet acknowledged by JetStream.",
)
LIVE_CALLS_UNSAVED = Gauge(
    "evscallpro_node_live_calls_unsaved",
    "Live calls whose latest state has not reached the node's KV bucket yet.",
)


def node_folder(settings: Settings, node: str) -> Path:
    """The node's own files (its record outbox): data_dir/node-<id>/."""
    return Path(settings.data_dir) / f"node-{node}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("node", help="run the actor core of one Asterisk on the NATS bus")
    p.add_argument("--config", required=True, help="project TOML settings file")
    p.add_argument("--node", required=True, help="the node id ([[nodes]] id; \"main\" without)")
    p.add_argument("--bus-url", default=None, help="NATS server(s), instead of [bus] url")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="/metrics port, instead of the node's metrics_port (0: any free port)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


LINES = LineOut()  # stdout: the actors' lines never wait on serve reading them


def emit(event: dict[str, Any]) -> None:
    """A lifecycle line (ready, reconciled, stopped, errors): written before returning."""
    LINES.now(event)


class CallMetricsSink:
    """evscallpro_calls_total and the setup/talk histograms, counted where the call ended:
    this node's /metrics carries its `node` label."""

    def write(self, record: object) -> None:
        if isinstance(record, CallRecord):
            metrics.record_call_ended(record)


class StdoutSink:
    def write(self, record: object) -> None:
        LINES.soon({"event": "record", "record": msgspec.to_builtins(record)})


def _on_view(view: object) -> None:
    if isinstance(view, CallView):
        LINES.soon({"event": "call", "call_id": view.call_id, "step": str(view.step)})


def _on_reconciled(report: ReconcileReport) -> None:
    emit({"event": "reconciled", **msgspec.to_builtins(report)})


class StartSteps:
    """How long each step of the start took, from the process's own start (its imports and
    the Asterisk check are in the first step): said on the ready line."""

    def __init__(self) -> None:
        self.taken: dict[str, float] = {"process": round(time.time() - process_started_at(), 3)}
        self._last = time.monotonic()

    def done(self, step: str) -> None:
        now = time.monotonic()
        self.taken[step] = round(now - self._last, 3)
        self._last = now


def process_started_at() -> float:
    """This process's start (epoch seconds), from /proc; now where /proc is missing."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


class ConfigProblem(Exception):
    """The configuration (file or arguments) cannot run this node: exit 2, no restart."""


def node_settings(args: argparse.Namespace) -> tuple[Settings, Settings, int]:
    """(whole settings with the bus override, this node's settings, metrics port)."""
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        raise ConfigProblem(str(exc)) from exc
    if args.bus_url is not None:
        servers = [s.strip() for s in args.bus_url.split(",") if s.strip()]
        bad = [s for s in servers if not s.startswith(_BUS_SCHEMES)]
        if not servers or bad:
            raise ConfigProblem(f"--bus-url: {args.bus_url!r} is not a nats:// (or tls://) URL")
        settings = msgspec.structs.replace(
            settings, bus=msgspec.structs.replace(settings.bus, url=args.bus_url)
        )
    if not settings.bus.servers():
        raise ConfigProblem("no bus: set [bus] url in the settings file, or pass --bus-url")
    try:
        mine = settings.for_node(args.node)
    except SettingsError as exc:
        raise ConfigProblem(str(exc)) from exc
    node = next(n for n in settings.node_list() if n.id == args.node)
    port = node.metrics_port if args.metrics_port is None else args.metrics_port
    if not 0 <= port <= 65535:
        raise ConfigProblem(f"--metrics-port: {port} is not a TCP port")
    return settings, mine, port


def run(args: argparse.Namespace) -> int:
    log_without_blocking(
        logging.INFO if args.verbose else logging.WARNING,
        "%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings, mine, metrics_port = node_settings(args)
    except ConfigProblem as exc:
        emit({"event": "error", "error": str(exc)})
        return 2
    if not asterisk_check.run_start_check(mine, emit):  # prompts, modules (docs/asterisk.md)
        emit({"event": "error", "error": "Asterisk is not ready: see asterisk_check above"})
        return 2
    for problem in people_problems(mine):
        log.error("%s", problem)
        emit({"event": "config_problem", "error": problem})
    return asyncio.run(NodeProcess(settings, mine, args.node, metrics_port).run())


class NodeProcess:
    """The node's parts, started in dependency order on one asyncio loop (the bus's)."""

    def __init__(self, settings: Settings, mine: Settings, node: str, metrics_port: int) -> None:
        self.settings = settings  # the bus, the data folder
        self.mine = mine  # this node's core: its [ari], its agents
        self.node = node
        self.metrics_port = metrics_port
        self.folder = node_folder(settings, node)

    async def run(self) -> int:
        steps = StartSteps()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        metrics_url = start_metrics_server({"process": "node", "node": self.node},
                                           self.metrics_port)
        bus = self.settings.bus
        nc = await connect(bus, f"node {self.node}")  # raises: a crash, restarted by serve
        js = nc.jetstream()
        steps.done("bus")

        async def prepare() -> None:
            await when_ready(lambda: ensure_stream(js, bus.replicas), "records stream")

        await prepare()
        journal = await when_ready(lambda: LiveCallsKV.open(js, self.node, bus.replicas),
                                   "live-calls bucket")
        steps.done("live_calls")
        outbox = RecordOutbox(self.folder)
        outbox.start(RecordPublisher(js, self.node), prepare=prepare)
        intervals = AgentIntervals(outbox.write)
        RECORDS_WAITING.set_function(lambda: outbox.backlog_bytes)
        LIVE_CALLS_UNSAVED.set_function(lambda: journal.pending)
        parts = CoreParts.build(
            self.mine,
            sink=FanOutSink(outbox, StdoutSink(), CallMetricsSink()),
            audit=JsonLinesRecordSink(Path(self.settings.data_dir) / AUDIT_FILE),
            journal=journal,
            on_reconciled=_on_reconciled,
            view_listeners=[intervals.on_view, _on_view, metrics.ViewMetrics().on_view],
        )
        app = parts.app
        service = NodeService(
            nc, self.node, app,
            agent_ids=[a.id for a in self.mine.agents], metrics_url=metrics_url,
        )
        service.attach()  # before the core starts: the agents' first views are numbered
        try:
            stop_core = await asyncio.to_thread(parts.start, LINK_TIMEOUT_S)
            steps.done("core")  # its agents, the ARI link, the first reconciliation
        except Exception as exc:  # ARI not answering: a crash, restarted with back-off
            log.error("node %s: the core did not start: %s", self.node, exc)
            await service.stop()
            await outbox.close(STOP_FLUSH_S)
            await journal.close(STOP_FLUSH_S)
            await nc.close()
            return 1
        await service.start()
        await service.seed_agents()
        steps.done("service")
        emit({
            "event": "ready",
            "start_steps_s": steps.taken,
            "process": "node",
            "node": self.node,
            "app": app.config.app,
            "agents": [a.agent_id for a in app.config.agents],
            "incarnation": service.incarnation,
            "metrics_url": metrics_url,
        })
        await stop.wait()

        await service.stop()  # no more commands; the views queued so far are sent
        left_up = app.live_call_ids()
        await asyncio.to_thread(stop_core)  # live calls stay up in Asterisk
        intervals.close_all(time.time())
        flushed = await outbox.close(STOP_FLUSH_S)
        journaled = await journal.close(STOP_FLUSH_S)
        emit({
            "event": "stopped",
            "process": "node",
            "node": self.node,
            "live_calls_left_up": left_up,
            "records_waiting": not flushed,  # True: kept in the outbox for the next start
            "live_calls_saved": journaled,
        })
        try:  # the bus may be away: a bounded drain, then closed anyway
            await asyncio.wait_for(nc.drain(), STOP_FLUSH_S)
        except Exception as exc:
            log.warning("node %s: bus connection not drained (%s)", self.node, exc)
            with contextlib.suppress(Exception):
                await nc.close()
        return 0
