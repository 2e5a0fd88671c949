"""A stand-in for `evscallpro node | gateway | analytics`, following the processes' contract
(docs/scale.md): JSON lines on stdout, a ready line, exit 2 after an error line for a
configuration problem, a clean stop (exit 0, a `stopped` line) on SIGTERM, logs on stderr.

Behaviours for the supervisor's tests (flags):
  --process P [--node ID]   what it says it is
  --journal FILE            appends "start NAME" / "stop NAME" (the order of starts and stops)
  --crashes N --count FILE  the first N starts exit 1 right after their ready line
  --config-error            prints an error line and exits 2 (before ready)
  --config-error-after-ready
  --never-ready             prints nothing, waits to be stopped
  --ignore-sigterm          a stop needs SIGKILL
  --say TEXT                an extra stdout line after ready ({"event": "call", ...})
  --no-pid                  its ready line does not say its pid (as the real node's)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading


def emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--process", required=True)
    p.add_argument("--node", default="")
    p.add_argument("--journal", default="")
    p.add_argument("--crashes", type=int, default=0)
    p.add_argument("--count", default="")
    p.add_argument("--config-error", action="store_true")
    p.add_argument("--config-error-after-ready", action="store_true")
    p.add_argument("--never-ready", action="store_true")
    p.add_argument("--ignore-sigterm", action="store_true")
    p.add_argument("--say", default="")
    p.add_argument("--no-pid", action="store_true")
    args = p.parse_args()
    name = f"{args.process}-{args.node}" if args.node else args.process

    def journal(what: str) -> None:
        if args.journal:
            with open(args.journal, "a", encoding="utf-8") as handle:
                handle.write(f"{what} {name}\n")

    stop = threading.Event()
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    journal("start")
    print(f"{name} starting (pid {os.getpid()})", file=sys.stderr, flush=True)
    if args.config_error:
        print(f"{name}: bad setting nodes[0].ari.url", file=sys.stderr, flush=True)
        emit({"event": "error", "error": "nodes[0].ari.url: not a URL"})
        return 2
    if args.never_ready:
        print(f"{name}: waiting for Asterisk", file=sys.stderr, flush=True)
        stop.wait()
        return 0
    starts = 1
    if args.count:
        with open(args.count, "a+", encoding="utf-8") as handle:
            handle.seek(0)
            starts = len(handle.read().splitlines()) + 1
            handle.write("start\n")
    ready: dict[str, object] = {
        "event": "ready",
        "process": args.process,
        "pid": os.getpid(),
        "start": starts,
        "metrics_url": "http://127.0.0.1:1/metrics",
    }
    if args.no_pid:
        del ready["pid"]
    if args.node:
        ready["node"] = args.node
    if args.process == "gateway":
        ready["url"] = "http://127.0.0.1:9/"
    emit(ready)
    if args.say:
        emit(json.loads(args.say))
        print("not json, on stdout", flush=True)
    if args.config_error_after_ready:
        emit({"event": "error", "error": "agents[0].node: 'n9' is not a node"})
        return 2
    if starts <= args.crashes:
        print(f"{name}: lost the bus, crashing (start {starts})", file=sys.stderr, flush=True)
        return 1
    stop.wait()
    journal("stop")
    emit({"event": "stopped", "live_calls_left_up": [f"call-of-{name}"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
