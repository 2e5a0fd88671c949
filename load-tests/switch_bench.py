"""Mid-call switch of the agent leg (core/call_switch.py): switch time, from the request to
the new agent leg in the call's bridge, both directions.

The ARI simulator runs in its own process at time scale 1. --calls calls are placed at once
and connected (agent and customer answer); each is then asked to switch its agent leg at
once. The new leg rings --ring seconds; to a mobile it hears "press 1" and the simulated
phone presses 1 --digit-after seconds after answering (acceptance on for the mobile, as
`[acceptance]` says by default); a softphone joins at its answer. Every figure comes from the
call records (the core's own timestamps, `CallRecord.agent_legs`):

  switch time    new leg joined_at - dialed_at (request -> ChannelEnteredBridge)
  answer -> in   joined_at - answered_at (the core's part after the answer: "press 1" and
                 the DTMF to a mobile; StasisStart -> addChannel -> entered to a softphone)

    .venv/bin/python load-tests/switch_bench.py --calls 20
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

from actors.messages import GetCallView, UiHangUp  # noqa: E402
from actors.sinks import MemoryRecordSink  # noqa: E402
from core.call_config import CallRequest, CallSettings  # noqa: E402
from core.call_inputs import SwitchAgentLeg  # noqa: E402
from core.domain import CallStep, WorkstationMode  # noqa: E402
from core.records import CallRecord  # noqa: E402
from core.views import CallView  # noqa: E402
from evscallpro.root import CallCenterApp  # noqa: E402

APP = "evscallpro-switch-bench"

SIM_CONFIG = """
time_scale = 1.0
[profiles.switch-old-softphone]
kind = "answer"
ring_s = 1.0
talk_s = 600.0
[profiles.switch-old-mobile]
kind = "answer_dtmf"
ring_s = 1.0
digit = "1"
digit_after_s = 0.5
[profiles.switch-customer]
kind = "answer"
ring_s = 1.0
talk_s = 600.0
[profiles.switch-mobile]
kind = "answer_dtmf"
ring_s = {ring}
digit = "1"
digit_after_s = {digit_after}
[profiles.switch-softphone]
kind = "answer"
ring_s = {ring}
talk_s = 600.0
[[rules]]
pattern = "Local/switch-old-softphone@sim-phones"
profile = "switch-old-softphone"
[[rules]]
pattern = "Local/switch-old-mobile@sim-phones"
profile = "switch-old-mobile"
[[rules]]
pattern = "Local/switch-customer@sim-phones"
profile = "switch-customer"
[[rules]]
pattern = "Local/switch-mobile@sim-phones"
profile = "switch-mobile"
[[rules]]
pattern = "Local/switch-softphone@sim-phones"
profile = "switch-softphone"
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Connected:
    """Call ids whose view reached `connected`."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def __call__(self, view: object) -> None:
        if isinstance(view, CallView) and view.step == CallStep.CONNECTED:
            self.ids.add(view.call_id)


def run_direction(sim: Any, target: WorkstationMode, calls: int, wait_s: float) -> dict[str, Any]:
    sink = MemoryRecordSink()
    settings = CallSettings(
        app=APP, language="fr", acceptance_by_workstation={"mobile": True, "softphone": False}
    )
    app = CallCenterApp(
        core_config(sim, settings),
        sink=sink,
    )
    connected = Connected()
    app.subscribe(connected)
    source = WorkstationMode.SOFTPHONE if target == WorkstationMode.MOBILE else WorkstationMode.MOBILE
    prefix = f"sw{target.value[:3]}{int(time.time())}-"
    ids = [f"{prefix}{i:03d}" for i in range(calls)]
    try:
        app.start(wait_for_link_s=20)
        for call_id in ids:
            app.start_call(CallRequest(
                call_id=call_id, agent_id="bench", agent_endpoint=f"Local/switch-old-{source.value}@sim-phones",
                customer_number="+33600000001", customer_endpoint="Local/switch-customer@sim-phones",
                workstation=source, requested_at=time.time(),
            ))
        deadline = time.monotonic() + wait_s
        while len(connected.ids) < calls and time.monotonic() < deadline:
            time.sleep(0.05)  # a bench, not a test: poll the views
        endpoint = f"Local/switch-{target.value}@sim-phones"
        for call_id in sorted(connected.ids):
            app.live.calls[call_id].tell(SwitchAgentLeg(target=target, endpoint=endpoint))
        # every call switches (or fails), then is hung up once its switch ended
        switched: set[str] = set()
        while len(switched) < len(connected.ids) and time.monotonic() < deadline + wait_s:
            for call_id in sorted(connected.ids - switched):
                ref = app.live.calls.get(call_id)
                view = ref.ask(GetCallView(), timeout=5) if ref is not None else None
                if view is not None and view.switch_result:
                    switched.add(call_id)
                    ref.tell(UiHangUp(requested_by="bench"))  # type: ignore[union-attr]
            time.sleep(0.05)
        sink.wait_for(lambda _: len(sink.records) >= len(connected.ids), wait_s)
    finally:
        app.stop()
    records = [r for r in sink.records if isinstance(r, CallRecord)]
    switch_ms, after_answer_ms, results = [], [], {}
    for record in records:
        if len(record.agent_legs) != 2:
            continue
        new = record.agent_legs[1]
        results[new.end_reason] = results.get(new.end_reason, 0) + 1
        if new.joined_at is not None and new.dialed_at is not None:
            switch_ms.append((new.joined_at - new.dialed_at) * 1000)
            if new.answered_at is not None:
                after_answer_ms.append((new.joined_at - new.answered_at) * 1000)

    def summary(values: list[float]) -> dict[str, float | int]:
        if not values:
            return {"n": 0}
        return {"n": len(values), "p50_ms": pct(values, 0.5), "p99_ms": pct(values, 0.99)}

    return {
        "direction": f"{source.value}_to_{target.value}",
        "calls": calls,
        "connected": len(connected.ids),
        "records": len(records),
        "new_leg_end_reasons": results,
        "switch_time": summary(switch_ms),
        "answer_to_in_bridge": summary(after_answer_ms),
    }


def fmt(summary: dict[str, Any]) -> str:
    if not summary.get("n"):
        return "n=0"
    return f"p50 {summary['p50_ms']:.0f} ms, p99 {summary['p99_ms']:.0f} ms (n={summary['n']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="calls switched at once, per direction")
    parser.add_argument("--ring", type=float, default=2.0, help="the new leg rings (s)")
    parser.add_argument("--digit-after", type=float, default=1.0, help="mobile: 1 pressed (s)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="evs-switch-bench-"))
    sim = start_simulator(
        SIM_CONFIG.format(ring=args.ring, digit_after=args.digit_after), folder, time_scale=1.0
    )
    results = []
    try:
        for target in (WorkstationMode.MOBILE, WorkstationMode.SOFTPHONE):
            result = run_direction(sim, target, args.calls, 60.0)
            results.append(result)
            print(
                f"{result['direction']}: {result['connected']}/{args.calls} connected, "
                f"{result['records']} records, new legs: {result['new_leg_end_reasons']}\n"
                f"  request -> new leg in the bridge: {fmt(result['switch_time'])}\n"
                f"  new leg answered -> in the bridge: {fmt(result['answer_to_in_bridge'])}",
                flush=True,
            )
    finally:
        sim.stop()
    print(f"command: .venv/bin/python load-tests/switch_bench.py --calls {args.calls} "
          f"--ring {args.ring:g} --digit-after {args.digit_after:g}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    ok = all(r["switch_time"].get("n") == args.calls for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
