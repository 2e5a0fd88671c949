"""`evscallpro analytics --config F [--bus-url URL] [--metrics-port P]`: the one DuckDB writer
and the reports, on the bus (docs/scale.md).

    EVS_RECORDS (JetStream) ── RecordWriter ──► data_dir/evscallpro.duckdb   (ack after commit)
    evs.archive (queue)     ── ArchiveService ─► AnalyticsReader (same database instance)
    /metrics                   labels process="analytics", node="analytics": the writer's own
                               (records written, write errors, pending)

The call and agent metrics (evscallpro_calls_total, the setup/talk histograms,
evscallpro_agents, evscallpro_calls_in_progress) are counted by each node process from its own
records and views, so that they carry the node's label (the Grafana node selector).

The writer pulls and acknowledges on its own lean NATS connection (bus.lean_pull: a fifth of
nats-py's CPU a record), except with a `.creds` file, which only nats-py speaks.

Exactly once: a record is acknowledged to JetStream only after DuckDB committed it (see
bus.records); there is no JSON-lines journal in this process: JetStream is the journal.

stdout, one JSON object a line: `{"event": "joining_bus", "servers"}` at start (the bus is
waited for up to 30 s, then exit 1), `{"event": "ready", "process": "analytics",
"metrics_url", "db"}` once the stream, the consumer, the archive service and /metrics are up;
`{"event": "error", "error": ...}` then exit 2 for a configuration problem; on SIGTERM or
SIGINT the batch in progress is committed and acknowledged, the prefetched records are handed
back to JetStream, `{"event": "stopped", "written": N}`, exit 0. Any other exit is a crash
(no bus at start, the database held by another process...): the supervisor restarts it.
Logs go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec
from nats.aio.client import Client as NATS

from analytics import metrics
from analytics.reader import AnalyticsReader
from analytics.store import CallStore, StoreBusy
from bus.archive_service import ArchiveService
from bus.connect import connect
from bus.jetstream_ready import when_ready
from bus.lean_pull import LeanRecordWriter, lean_supported
from bus.records import RecordWriter, ensure_stream
from core.settings import SettingsError
from evscallpro.process_metrics import start_metrics_server
from evscallpro.settings_file import BusSettings, Settings, load_settings

log = logging.getLogger(__name__)

DB_FILE = "evscallpro.duckdb"  # as Stack's (evscallpro.stack.DB_FILE)
METRICS_LABELS = {"process": "analytics", "node": "analytics"}
JOIN_TIMEOUT_S = 30.0  # no bus by then: exit 1 (a crash: the supervisor retries, backing off)
DRAIN_TIMEOUT_S = 5.0
_EMIT_LOCK = threading.Lock()


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analytics", help="run the analytics process: the DuckDB writer and the reports (bus)"
    )
    p.add_argument("--config", required=True, help="project TOML settings file")
    p.add_argument("--bus-url", default=None, help="NATS server(s), instead of [bus] url")
    p.add_argument(
        "--metrics-port", type=int, default=None,
        help="/metrics port, instead of analytics_metrics_port (0: any free port)",
    )
    p.add_argument(
        "--ack-wait", type=float, default=30.0,
        help="seconds before a record delivered to a writer that died is delivered again "
        "(set when the writer's consumer is created)",
    )
    p.add_argument("--batch", type=int, default=10_000, help="records per DuckDB transaction")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


def emit(event: dict[str, Any]) -> None:
    line = json.dumps(event) + "\n"
    with _EMIT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def configuration_problem(args: argparse.Namespace) -> tuple[Settings, BusSettings] | str:
    """The settings and the bus to join, or what is wrong with them."""
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        return str(exc)
    bus = settings.bus
    if args.bus_url is not None:
        bus = msgspec.structs.replace(bus, url=args.bus_url)
    if not bus.servers():
        return "no NATS server: set [bus] url, or --bus-url (serve passes its own server's)"
    port = args.metrics_port if args.metrics_port is not None else settings.analytics_metrics_port
    if not 0 <= port <= 65535:
        return f"--metrics-port: {port} is not a TCP port"
    if args.ack_wait <= 0:
        return f"--ack-wait: {args.ack_wait} must be more than 0 seconds"
    if args.batch < 1:
        return f"--batch: {args.batch} must be at least 1"
    return settings, bus


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    checked = configuration_problem(args)
    if isinstance(checked, str):
        emit({"event": "error", "error": checked})
        return 2
    settings, bus = checked
    port = args.metrics_port if args.metrics_port is not None else settings.analytics_metrics_port
    return asyncio.run(
        AnalyticsProcess(settings, bus, metrics_port=port, ack_wait_s=args.ack_wait,
                         batch_size=args.batch).run()
    )


class AnalyticsProcess:
    def __init__(
        self, settings: Settings, bus: BusSettings, *, metrics_port: int = 0,
        ack_wait_s: float = 30.0, batch_size: int = 10_000,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.metrics_port = metrics_port
        self.ack_wait_s = ack_wait_s
        self.batch_size = batch_size
        self.db_path = Path(settings.data_dir) / DB_FILE

    async def run(self) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        nc = await self.join_bus(stop)
        js = nc.jetstream()
        await when_ready(lambda: ensure_stream(js, replicas=self.bus.replicas), "records stream")
        try:
            store = CallStore(self.db_path)
        except StoreBusy as exc:  # another process holds it: a crash, the supervisor retries
            log.error("analytics: the database is held by another process: %s", exc)
            await nc.close()
            return 1
        reader = AnalyticsReader(  # the same database instance, its own cursors
            self.db_path, costs=self.settings.costs.by_workstation())
        options: dict[str, Any] = {
            "batch_size": self.batch_size, "ack_wait_s": self.ack_wait_s,
            "on_written": metrics.records_written,
        }
        writer = (LeanRecordWriter(js, store, bus=self.bus, **options)
                  if lean_supported(self.bus) else RecordWriter(js, store, **options))
        archive = ArchiveService(nc, js, reader, replicas=self.bus.replicas,
                                 spool_dir=self.db_path.parent)
        try:
            await writer.subscribe()
            await archive.start()
            metrics_url = start_metrics_server(METRICS_LABELS, self.metrics_port)
            emit({"event": "ready", "process": "analytics", "metrics_url": metrics_url,
                  "db": str(self.db_path)})
            await writer.run(stop)  # returns after the batch in progress, once stop is set
            await archive.stop()
            handed_back = await writer.release()
            emit({"event": "stopped", "process": "analytics", "written": writer.written,
                  "handed_back": handed_back})
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.drain(), DRAIN_TIMEOUT_S)  # the bus may be down
            reader.close()
            store.close()
        return 0

    async def join_bus(self, stop: asyncio.Event) -> NATS:
        """The bus connection. Stopped first: exit 0; no server answering within
        JOIN_TIMEOUT_S: exit 1 (a crash: the supervisor starts the process again later).
        Both exits are immediate (`os._exit`): nats-py's first connect, which retries
        forever, does not always end when cancelled (a cancel landing in its own clean-up
        is swallowed), and nothing is open yet to be closed."""
        emit({"event": "joining_bus", "process": "analytics", "servers": self.bus.servers()})
        joining = asyncio.create_task(connect(self.bus, "analytics"))
        stopping = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({joining, stopping}, timeout=JOIN_TIMEOUT_S,
                                     return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if joining in done:
            return joining.result()
        if stopping in done:
            emit({"event": "stopped", "process": "analytics", "written": 0})
            code = 0
        else:
            log.error("analytics: no NATS server of %s answered within %.0f s",
                      self.bus.servers(), JOIN_TIMEOUT_S)
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
