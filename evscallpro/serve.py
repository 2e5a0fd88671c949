"""`evscallpro serve --config F`: run the telephony core headless.

The configuration is the project's settings file (core.settings). Connects to ARI, starts
one AgentActor per configured agent, reconciles with what Asterisk has (adopting live calls),
then runs until SIGTERM / SIGINT. Stopping leaves live calls up in Asterisk: the next start
adopts them. Under `data_dir`: `calls.jsonl` (records), `live-calls.jsonl` (the live-calls
journal recovery reads), `evscallpro.duckdb` (through the AnalyticsWriter). Records also go,
one JSON line each, to stdout, with every call step change ({"event": "call", ...}) and each
reconciliation report; {"event": "ready", ...} comes once the first reconciliation is done.

`--call AGENT_ID:NUMBER` logs the agent in and places one call at start (smoke tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import msgspec

from actors.analytics_writer import AnalyticsWriter, AnalyticsWriterSink, WriterConfig
from actors.call_journal import CallJournal
from actors.recovery import ReconcileReport
from actors.sinks import FanOutSink, JsonLinesRecordSink
from core.views import CallView
from evscallpro.config_file import ConfigFileError, load_core_config
from evscallpro.root import CallCenterApp


class StdoutSink:
    def write(self, record: Any) -> None:
        _emit({"event": "record", "record": msgspec.to_builtins(record)})


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the telephony core headless")
    p.add_argument("--config", required=True, help="core TOML configuration")
    p.add_argument("--call", default=None, help="AGENT_ID:NUMBER, placed once at start")
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
    data_dir = Path(settings.data_dir)
    writer = AnalyticsWriter.start(WriterConfig(db_path=str(data_dir / "evscallpro.duckdb")))
    sinks: list[Any] = [
        StdoutSink(),
        JsonLinesRecordSink(data_dir / "calls.jsonl"),
        AnalyticsWriterSink(writer),
    ]
    journal = CallJournal(data_dir / "live-calls.jsonl")

    stop = threading.Event()

    def on_reconciled(report: ReconcileReport) -> None:
        _emit({"event": "reconciled", **msgspec.to_builtins(report)})

    app = CallCenterApp(
        config, sink=FanOutSink(*sinks), journal=journal, on_reconciled=on_reconciled
    )

    def on_view(view: Any) -> None:
        if isinstance(view, CallView):
            _emit({"event": "call", "call_id": view.call_id, "step": str(view.step)})

    app.subscribe(on_view)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        app.start(wait_for_link_s=15.0)
    except Exception as exc:
        writer.stop()
        _emit({"event": "error", "error": f"cannot start: {exc}"})
        return 2
    _emit({"event": "ready", "app": config.app, "agents": [a.agent_id for a in config.agents]})

    if args.call:
        agent_id, _, number = args.call.partition(":")
        refusal = app.log_in(agent_id) or app.place_call(agent_id, number)
        _emit(
            {"event": "place_call", "agent_id": agent_id, "refusal": msgspec.to_builtins(refusal)}
        )

    stop.wait()
    app.stop()
    writer.stop()  # flushes what is buffered into DuckDB
    _emit({"event": "stopped", "live_calls_left_up": app.live_call_ids()})
    return 0
