"""Click -> customer ringing with a persistent agent leg vs a leg per call (issue 11).

The ARI simulator runs in its own process at time scale 1. One agent places --calls calls one
after another through the whole core (CallCenterApp: port -> agent actor -> call actor):
first with a leg per call (the agent's mobile rings --agent-ring s, the agent presses 1
--digit-after s after answering, then the customer is dialed), then with a persistent leg
(opened once, before the first call: each call dials the customer at once). The customer
rings --customer-ring s, answers and hangs up --talk s later. Figures from the call records:

  click -> customer ringing   customer_leg.ringing_at - started_at
  click -> connected          connected_at - started_at

    .venv/bin/python load-tests/persistent_leg_bench.py --calls 10
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sim import core_config, start_simulator  # noqa: E402  (load-tests/bench_sim.py)

from actors.sinks import MemoryRecordSink  # noqa: E402
from core.agent_leg_session import SessionState  # noqa: E402
from core.call_config import CallSettings, DialTemplates  # noqa: E402
from core.domain import WorkstationMode  # noqa: E402
from core.records import CallRecord  # noqa: E402
from evscallpro.core_config import AgentDirectoryEntry  # noqa: E402
from evscallpro.root import CallCenterApp  # noqa: E402

APP = "evscallpro-leg-bench"
AGENT_MOBILE = "+33612340777"
CUSTOMER = "+33612340888"

SIM_CONFIG = """
time_scale = 1.0
[profiles.bench-mobile]
kind = "answer_dtmf"
ring_s = {agent_ring}
digit = "1"
digit_after_s = {digit_after}
[profiles.bench-customer]
kind = "answer"
ring_s = {customer_ring}
talk_s = {talk}
[[rules]]
pattern = "PJSIP/{agent}@*"
profile = "bench-mobile"
[[rules]]
pattern = "PJSIP/{customer}@*"
profile = "bench-customer"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_mode(sim: Any, persistent: bool, calls: int, wait_s: float) -> dict[str, Any]:
    sink = MemoryRecordSink()
    alice = AgentDirectoryEntry(agent_id="a1", display_name="Alice", mobile_number=AGENT_MOBILE,
                                workstation=WorkstationMode.MOBILE)
    app = CallCenterApp(
        core_config(
            sim,
            CallSettings(app=APP, language="fr",
                         acceptance_by_workstation={"mobile": True, "softphone": False}),
            templates=DialTemplates(trunk="carrier"),
            agents=(alice,),
        ),
        sink=sink,
    )
    pause = threading.Event()
    try:
        app.start(wait_for_link_s=20)
        assert app.log_in("a1") is None
        if persistent:
            assert app.open_agent_session("a1") is None
        for i in range(calls):
            deadline = time.monotonic() + wait_s
            while persistent and time.monotonic() < deadline:  # the leg is back, waiting
                view = app.sessions.view("a1")
                if view is not None and view.state == SessionState.WAITING and view.calls == i:
                    break
                pause.wait(0.02)
            refusal = app.place_call("a1", CUSTOMER)
            assert refusal is None, refusal
            done = i + 1
            sink.wait_for(lambda _, n=done: len([r for r in sink.records
                                                 if isinstance(r, CallRecord)]) >= n, wait_s)
            record = [r for r in sink.records if isinstance(r, CallRecord)][-1]
            assert app.qualify("a1", record.call_id, "sale") is None
    finally:
        app.stop()
    records = [r for r in sink.records if isinstance(r, CallRecord)]
    ringing = [(r.customer_leg.ringing_at - r.started_at) * 1000 for r in records
               if r.customer_leg is not None and r.customer_leg.ringing_at is not None]
    connected = [(r.connected_at - r.started_at) * 1000 for r in records
                 if r.connected_at is not None]
    legs = {r.agent_leg.channel_id for r in records}

    def summary(values: list[float]) -> dict[str, float | int]:
        if not values:
            return {"n": 0}
        return {"n": len(values), "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99)}

    return {
        "mode": "persistent" if persistent else "per_call",
        "calls": calls,
        "records": len(records),
        "agent_legs": len(legs),
        "click_to_customer_ringing": summary(ringing),
        "click_to_connected": summary(connected),
    }


def fmt(summary: dict[str, Any]) -> str:
    if not summary.get("n"):
        return "n=0"
    return f"p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms (n={summary['n']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10, help="calls one after another, per mode")
    parser.add_argument("--agent-ring", type=float, default=3.0)
    parser.add_argument("--digit-after", type=float, default=2.5)
    parser.add_argument("--customer-ring", type=float, default=2.0)
    parser.add_argument("--talk", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="evs-leg-bench-"))
    sim = start_simulator(
        SIM_CONFIG.format(agent_ring=args.agent_ring, digit_after=args.digit_after,
                          customer_ring=args.customer_ring, talk=args.talk,
                          agent=AGENT_MOBILE, customer=CUSTOMER),
        folder, time_scale=1.0,
    )
    results = []
    try:
        for persistent in (False, True):
            result = run_mode(sim, persistent, args.calls, 60.0)
            results.append(result)
            print(f"{result['mode']:>10}: {result['records']}/{args.calls} records, "
                  f"{result['agent_legs']} agent leg(s)\n"
                  f"  click -> customer ringing: {fmt(result['click_to_customer_ringing'])}\n"
                  f"  click -> connected:        {fmt(result['click_to_connected'])}",
                  flush=True)
    finally:
        sim.stop()
    print(f"command: .venv/bin/python load-tests/persistent_leg_bench.py --calls {args.calls}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if all(r["records"] == args.calls for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
