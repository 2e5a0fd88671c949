"""Setup time the agent feels: click -> customer ringing and click -> connected, with the
customer dialed after the "customer is being called" prompt (`after_announcement`, before)
and at the agent's confirmation (`at_confirmation`, the default).

The ARI simulator runs in its own process at time scale 1, so prompts last what Debian's core
sound files last (asterisk/sim/core_sounds.json: French `pls-hold-while-try` 3.28 s). The agent's
mobile answers after --agent-ring seconds, the customer's phone after --customer-ring seconds
and hangs up --talk seconds later. For each timing the core (CallCenterApp) is started afresh
and --calls calls are placed at once (the "20 calls at once" of issue 12); every figure comes
from the call records, i.e. the core's own timestamps:

  click             record.started_at (the call request)
  confirmation      the step that follows the agent's answer (announcing / customer_dialing)
  customer ringing  record.customer_leg.ringing_at (Dial RINGING of the customer leg)
  connected         record.connected_at (the customer answered)

    .venv/bin/python load-tests/setup_time_bench.py --calls 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sim import core_config, start_simulator  # noqa: E402  (load-tests/bench_sim.py)

from actors.sinks import MemoryRecordSink  # noqa: E402
from core.call_config import CallRequest, CallSettings, CustomerDialTiming  # noqa: E402
from core.domain import CallOutcome, CallStep  # noqa: E402
from core.records import CallRecord  # noqa: E402
from evscallpro.root import CallCenterApp  # noqa: E402

APP = "evscallpro-setup-bench"
TARGET_MS = 300.0  # customer ringing at most this long after the agent's confirmation

SIM_CONFIG = """
time_scale = 1.0
[profiles.setup-agent]
kind = "answer"
ring_s = {agent_ring}
[profiles.setup-customer]
kind = "answer"
ring_s = {customer_ring}
talk_s = {talk}
[[rules]]
pattern = "Local/setup-agent@sim-phones"
profile = "setup-agent"
[[rules]]
pattern = "Local/setup-customer@sim-phones"
profile = "setup-customer"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def confirmation_at(record: CallRecord) -> float | None:
    """When the machine moved on from the agent's answer (or "press 1"): the first
    announcing / customer_dialing step."""
    for step in record.steps:
        if step.step in (CallStep.ANNOUNCING, CallStep.CUSTOMER_DIALING):
            return step.at
    return None


def run_timing(
    sim: Any, timing: CustomerDialTiming, calls: int, language: str, wait_s: float
) -> dict[str, Any]:
    sink = MemoryRecordSink()
    settings = CallSettings(app=APP, language=language, customer_dial_timing=timing)
    app = CallCenterApp(core_config(sim, settings), sink=sink)
    prefix = f"{timing.value[:5]}{int(time.time())}-"
    try:
        app.start(wait_for_link_s=20)
        for i in range(calls):
            app.start_call(
                CallRequest(
                    call_id=f"{prefix}{i:03d}",
                    agent_id="bench",
                    agent_endpoint="Local/setup-agent@sim-phones",
                    customer_number="+33600000001",
                    customer_endpoint="Local/setup-customer@sim-phones",
                    requested_at=time.time(),
                )
            )
        deadline = time.monotonic() + wait_s
        while len(sink.records) < calls and time.monotonic() < deadline:
            sink.wait_for(lambda _: len(sink.records) >= calls, 1.0)
    finally:
        app.stop()
    records = [r for r in sink.records if isinstance(r, CallRecord)]
    ringing, connected, after_confirmation = [], [], []
    for record in records:
        leg = record.customer_leg
        confirmed = confirmation_at(record)
        if leg is not None and leg.ringing_at is not None:
            ringing.append((leg.ringing_at - record.started_at) * 1000)
            if confirmed is not None:
                after_confirmation.append((leg.ringing_at - confirmed) * 1000)
        if record.connected_at is not None:
            connected.append((record.connected_at - record.started_at) * 1000)
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[str(record.outcome)] = outcomes.get(str(record.outcome), 0) + 1

    def summary(values: list[float]) -> dict[str, float | int]:
        if not values:
            return {"n": 0}
        return {"n": len(values), "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99)}

    return {
        "timing": timing.value,
        "calls": calls,
        "records": len(records),
        "completed": outcomes.get(str(CallOutcome.COMPLETED), 0),
        "outcomes": outcomes,
        "click_to_customer_ringing": summary(ringing),
        "confirmation_to_customer_ringing": summary(after_confirmation),
        "click_to_connected": summary(connected),
    }


def fmt(summary: dict[str, Any]) -> str:
    if not summary.get("n"):
        return "n=0"
    return f"p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms (n={summary['n']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls placed at once, per timing")
    parser.add_argument("--agent-ring", type=float, default=2.0)
    parser.add_argument("--customer-ring", type=float, default=4.0)
    parser.add_argument("--talk", type=float, default=2.0)
    parser.add_argument("--language", default="fr")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="evs-setup-bench-"))
    sim = start_simulator(
        SIM_CONFIG.format(
            agent_ring=args.agent_ring, customer_ring=args.customer_ring, talk=args.talk
        ),
        folder,
        time_scale=1.0,
    )
    wait_s = 60.0 + args.agent_ring + args.customer_ring + args.talk
    results = []
    try:
        for timing in (CustomerDialTiming.AFTER_ANNOUNCEMENT, CustomerDialTiming.AT_CONFIRMATION):
            result = run_timing(sim, timing, args.calls, args.language, wait_s)
            results.append(result)
            print(
                f"{timing.value:>18}: {result['records']}/{args.calls} records "
                f"({result['completed']} completed)\n"
                f"  click -> customer ringing:        {fmt(result['click_to_customer_ringing'])}\n"
                f"  confirmation -> customer ringing: "
                f"{fmt(result['confirmation_to_customer_ringing'])}\n"
                f"  click -> connected:               {fmt(result['click_to_connected'])}",
                flush=True,
            )
    finally:
        sim.stop()
    after = results[-1]["confirmation_to_customer_ringing"]
    met = bool(after.get("n")) and after["p99_ms"] <= TARGET_MS
    print(
        f"target: customer ringing <= {TARGET_MS:.0f} ms after the agent's confirmation "
        f"(at_confirmation, p99): {'met' if met else 'NOT met'}"
    )
    print(f"command: .venv/bin/python load-tests/setup_time_bench.py --calls {args.calls}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0 if all(r["records"] == args.calls for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
