"""`evscallpro dial`: place one Connect-to-Phone call through an ARI server and print its
CallRecord as JSON.

It runs the same actors as the core (a minimal CallCenterApp: loop, port, switchboard,
timers, ARI link, one CallActor), so a smoke test exercises the production code path.
Exit status: 0 only when the outcome is `completed`; 1 for any other outcome; 2 when the
core could not start, the arguments are wrong, or no record came within --timeout.

App name: a second process must never open the events socket under the app name a running
core uses (Asterisk would hand it the app, ApplicationReplaced, and the core would hear
nothing more). Against a server where the core runs, pass `--app evscallpro-dial` and make
sure that app's calls are reachable (ari.conf users see every app).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
import time
from typing import Any

import msgspec

from core.call_config import E164, CallRequest
from core.domain import CallOutcome, CallStep, WorkstationMode
from core.records import CallRecord
from core.views import CallView
from evscallpro.root import CallCenterApp, CoreConfig, new_call_id


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("dial", help="place one Connect-to-Phone call and print its record")
    p.add_argument("--ari-url", default=None, help="e.g. http://127.0.0.1:8088")
    p.add_argument("--ari-user", default=None)
    p.add_argument("--ari-password", default=None)
    p.add_argument("--app", default=None, help="Stasis app name (default: evscallpro)")
    p.add_argument("--agent-endpoint", required=True, help="dial string used as is")
    p.add_argument("--customer", default=None, help="E.164 number, dialled via the template")
    p.add_argument(
        "--customer-endpoint",
        default=None,
        help="dial string used as is (the record has no customer number unless --customer)",
    )
    p.add_argument(
        "--customer-template",
        default=None,
        help='e.g. "PJSIP/{number}@carrier" (placeholders {number}, {trunk})',
    )
    p.add_argument(
        "--accept",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ask the agent to press 1 before the customer is dialled",
    )
    p.add_argument("--softphone", action="store_true", help="record the workstation as softphone")
    p.add_argument("--talk", type=float, default=None, help="hang up N s after connecting")
    p.add_argument("--config", default=None, help="core TOML configuration")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after N s")
    p.add_argument(
        "--connect-timeout", type=float, default=5.0, help="give up connecting to ARI after N s"
    )
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


def _fail(message: str) -> int:
    print(json.dumps({"error": message}), file=sys.stdout)
    return 2


def build_config(args: argparse.Namespace) -> CoreConfig:
    config = CoreConfig()
    if args.config:
        from evscallpro.config_file import load_core_config

        config, _ = load_core_config(args.config)
    changes: dict[str, Any] = {}
    for attr, field in (
        ("ari_url", "ari_url"),
        ("ari_user", "ari_user"),
        ("ari_password", "ari_password"),
        ("app", "app"),
    ):
        value = getattr(args, attr)
        if value is not None:
            changes[field] = value
    if args.customer_template is not None:
        changes["templates"] = msgspec.structs.replace(
            config.templates, customer=args.customer_template
        )
    call = config.call
    if args.accept is not None:
        # The flag wins over the file's per-workstation acceptance.
        call = msgspec.structs.replace(call, acceptance=args.accept, acceptance_by_workstation={})
    app = changes.get("app", config.app)
    call = msgspec.structs.replace(call, app=app)
    return msgspec.structs.replace(config, call=call, **changes)


def check_durations(args: argparse.Namespace) -> None:
    """--timeout and --connect-timeout: finite and above 0; --talk: finite, 0 or more."""
    for flag, value, minimum_ok in (
        ("--timeout", args.timeout, False),
        ("--connect-timeout", args.connect_timeout, False),
        ("--talk", args.talk, True),
    ):
        if value is None:
            continue
        if not math.isfinite(value) or value < 0 or (value == 0 and not minimum_ok):
            bound = "0 or more" if minimum_ok else "above 0"
            raise ValueError(f"{flag} takes a number of seconds {bound}, got {value}")


def build_request(args: argparse.Namespace, config: CoreConfig) -> CallRequest:
    if args.customer and not E164.match(args.customer):
        raise ValueError(
            f"--customer takes an E.164 number such as +33612345678, got {args.customer!r}"
        )
    if args.customer_endpoint:
        endpoint = args.customer_endpoint
        number = args.customer or ""  # a raw dial string has no number: the record says so
    elif args.customer:
        number = args.customer
        templates = config.templates
        endpoint = templates.render(templates.customer, number=number)
        if not endpoint:
            raise ValueError(f"bad customer template {templates.customer!r}")
    else:
        raise ValueError("give --customer NUMBER or --customer-endpoint DIALSTRING")
    return CallRequest(
        call_id=new_call_id(),
        agent_id="dial",
        agent_endpoint=args.agent_endpoint,
        customer_number=number,
        customer_endpoint=endpoint,
        workstation=WorkstationMode.SOFTPHONE if args.softphone else WorkstationMode.MOBILE,
        requested_at=time.time(),
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        check_durations(args)
        config = build_config(args)
        request = build_request(args, config)
    except (ValueError, KeyError) as exc:
        return _fail(str(exc))

    app = CallCenterApp(config)
    try:
        app.start(wait_for_link_s=min(args.connect_timeout, args.timeout))
    except Exception as exc:
        return _fail(f"cannot connect to ARI at {config.ari_url}: {exc}")

    ended = threading.Event()
    box: dict[str, CallRecord] = {}
    hangup_timer: list[threading.Timer] = []

    def on_view(view: Any) -> None:
        if (
            isinstance(view, CallView)
            and view.call_id == request.call_id
            and view.step == CallStep.CONNECTED
            and args.talk is not None
            and not hangup_timer
        ):
            timer = threading.Timer(args.talk, app.hang_up_call, (request.call_id, "dial"))
            timer.daemon = True
            hangup_timer.append(timer)
            timer.start()

    def on_ended(record: CallRecord) -> None:
        box["record"] = record
        ended.set()

    app.subscribe(on_view)
    try:
        app.start_call(request, on_ended=on_ended)
        if not ended.wait(args.timeout):
            app.hang_up_call(request.call_id, "dial-timeout")
            ended.wait(10.0)
    finally:
        for timer in hangup_timer:
            timer.cancel()
    record = box.get("record")
    if record is None:
        app.stop()
        return _fail(f"no call record within {args.timeout}s")
    app.stop()
    sys.stdout.write(msgspec.json.encode(record).decode() + "\n")
    sys.stdout.flush()
    return 0 if record.outcome == CallOutcome.COMPLETED else 1
