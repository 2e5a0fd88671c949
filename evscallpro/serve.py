"""`evscallpro serve --config F`: run the product (evscallpro.stack.Stack) in one process.

The configuration is the project's settings file (core.settings). The Stack starts, in
order, analytics (DuckDB writer), the telephony core (connects to ARI, one AgentActor per
configured agent, reconciles with what Asterisk has, adopting live calls) and the web
gateway (agent desktop, wallboard, /metrics) on `[gateway]` host/port (`--port` overrides
it; 0 = any free port), then runs until SIGTERM / SIGINT and stops them in reverse.
Stopping leaves live calls up in Asterisk: the next start adopts them. Under `data_dir`:
`calls.jsonl` (records), `live-calls.jsonl` (the live-calls journal recovery reads),
`audit.jsonl` (changes of agents' mobile numbers), `evscallpro.duckdb`, users, contacts,
recordings. A web user with the supervisor role and no `[[supervisors]]` phone is reported
at start ({"event": "config_problem", ...}, and on stderr). Records also go, one JSON line each, to
stdout, with every call step change ({"event": "call", ...}) and each reconciliation
report; {"event": "ready", "url": ...} comes once the first reconciliation is done and the
gateway listens.

`--call AGENT_ID:NUMBER` logs the agent in and places one call at start (smoke tests).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

import msgspec

from actors.recovery import ReconcileReport
from core.views import CallView
from evscallpro import asterisk_check
from evscallpro.config_file import ConfigFileError, load_core_config
from evscallpro.stack import Stack, StackError


class StdoutSink:
    def write(self, record: Any) -> None:
        _emit({"event": "record", "record": msgspec.to_builtins(record)})


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the call center: core, analytics and web gateway")
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


def _on_reconciled(report: ReconcileReport) -> None:
    _emit({"event": "reconciled", **msgspec.to_builtins(report)})


def _on_view(view: object) -> None:
    if isinstance(view, CallView):
        _emit({"event": "call", "call_id": view.call_id, "step": str(view.step)})


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
    if not asterisk_check.run_start_check(settings, _emit):  # prompts, modules (docs/asterisk.md)
        _emit({"event": "error", "error": "Asterisk is not ready: see asterisk_check above"})
        return 2
    stack = Stack(
        settings,
        gateway_overrides={"port": args.port} if args.port is not None else None,
        extra_sinks=[StdoutSink()],
        on_reconciled=_on_reconciled,
        view_listeners=[_on_view],
    )
    for problem in stack.people_problems():
        logging.getLogger("evscallpro.serve").error("%s", problem)
        _emit({"event": "config_problem", "error": problem})
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stack.start()
    except StackError as exc:
        _emit({"event": "error", "error": f"cannot start: {exc}", "part": exc.part})
        return 2
    app = stack.call_center
    _emit(
        {
            "event": "ready",
            "app": config.app,
            "agents": [a.agent_id for a in config.agents],
            "url": stack.url,
        }
    )

    if args.call:
        agent_id, _, number = args.call.partition(":")
        refusal = app.log_in(agent_id) or app.place_call(agent_id, number)
        _emit(
            {"event": "place_call", "agent_id": agent_id, "refusal": msgspec.to_builtins(refusal)}
        )

    stop.wait()
    stack.stop()  # gateway, core, then analytics (flushes what is buffered into DuckDB)
    _emit({"event": "stopped", "live_calls_left_up": app.live_call_ids()})
    return 0
