"""Faults under load, full size: 200 agents, 10 calls/s, each fault of load-tests/faults.py
injected once while calls run (events socket dropped; reconnects refused 10 s; simulator
restarted; events delayed 5 s; 503 on hang-up, on bridge deletion and on originate; core
SIGKILLed and restarted; every agent's browser dropped and reconnected).

Processes: the ARI simulator, `evscallpro serve` (the product, SIGKILLed once) and this
script (200 agent WebSockets, the fault injection, the polling). Prints one line per fault
(calls placed and created, time from the injection to a clean state, what was left at the
bound) and the totals (records in DuckDB against calls created, duplicates, agents stuck,
channels and bridges left). Exit status 1 when a target fails.

    .venv/bin/python load-tests/faults_bench.py [--agents 200 --rate 10 --talk 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faults


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=200)
    p.add_argument("--rate", type=float, default=10.0, help="calls placed per second")
    p.add_argument("--ring", type=float, default=1.0, help="phones ring this long (s)")
    p.add_argument("--talk", type=float, default=8.0, help="customers hang up after (s)")
    p.add_argument("--lead", type=float, default=10.0, help="calls placed before a fault (s)")
    p.add_argument("--during", type=float, default=5.0, help="... and after it (s)")
    p.add_argument("--clean-timeout", type=float, default=60.0)
    p.add_argument("--faults", default=",".join(faults.FAULTS))
    args = p.parse_args()
    spec = faults.FaultSpec(
        agents=args.agents, rate=args.rate, ring_s=args.ring, talk_s=args.talk,
        lead_s=args.lead, during_s=args.during, refuse_s=10.0, delay_ms=5000.0,
        clean_timeout_s=args.clean_timeout, faults=tuple(args.faults.split(",")),
    )
    started = time.monotonic()
    print(f"faults under load: {args.agents} agents, {args.rate} calls/s, ring {args.ring} s, "
          f"talk {args.talk} s; calls placed {args.lead} s before and {args.during} s after "
          f"each fault; clean state awaited {args.clean_timeout} s at most", flush=True)
    result = asyncio.run(faults.run_faults(spec, log=lambda line: print(line, flush=True)))
    print(result.summary())
    print(f"run took {time.monotonic() - started:.0f} s; files in {result.folder}")
    failed = [c.fault for c in result.cycles if not c.holds()]
    totals_ok = (not result.records_missing and not result.records_unknown
                 and not result.duplicates_jsonl and not result.duplicates_stdout
                 and not result.agents_stuck and result.channels_left == 0
                 and result.bridges_left == 0)
    if failed:
        print(f"TARGETS FAILED for: {', '.join(failed)}")
    return 0 if totals_ok and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
