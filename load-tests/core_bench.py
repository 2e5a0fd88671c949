"""Telephony core benchmark: latency from an ARI event to the next ARI command, and how many
concurrent calls one core process holds.

The ARI simulator runs in its own process (`python -m evscallpro.cli sim`), the core
(CallCenterApp: ARI link, port, Switchboard, one CallActor per call) in this one, under its
own app name. Two hooks, installed after start, timestamp (time.perf_counter) each decoded
event as the link hands it to the Switchboard and each command as an actor hands it to the
ARI port. Latency = for an event of call C, the time to the first command of C sent after it,
counted only when no other event of C arrived in between (so it is this event's reaction:
decode -> Switchboard hop -> CallActor hop -> machine -> port).

Phase 1 (latency): --calls complete calls (agent and customer answer, the customer hangs up
after a few seconds) placed at --rate per second.
Phase 2 (hold): --hold calls placed at --rate per second that stay connected; measured when
all are connected (or --ramp-max passes): connected count, threads, RSS; then every call is
hung up from the core and the records counted.

    .venv/bin/python load-tests/core_bench.py --calls 300 --rate 30 --hold 1000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sim import start_simulator  # noqa: E402  (load-tests/bench_sim.py)

from actors.sinks import MemoryRecordSink  # noqa: E402
from core.ari_events import event_channel_id  # noqa: E402
from core.call_config import CallRequest, CallSettings  # noqa: E402
from core.domain import CallOutcome, CallStep  # noqa: E402
from core.ids import call_id_of  # noqa: E402
from core.views import CallView  # noqa: E402
from evscallpro.root import CallCenterApp, CoreConfig  # noqa: E402

APP = "evscallpro-core-bench"
PAGE = os.sysconf("SC_PAGE_SIZE")

SIM_CONFIG = """
time_scale = {time_scale}
[profiles.bench-agent]
kind = "answer"
ring_s = 1.0
[profiles.bench-short]
kind = "answer"
ring_s = 1.0
talk_s = 3.0
[[rules]]
pattern = "Local/bench-agent@sim-phones"
profile = "bench-agent"
[[rules]]
pattern = "Local/bench-short@sim-phones"
profile = "bench-short"
"""


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def call_of(channel_or_bridge: str | None) -> str | None:
    return call_id_of(channel_or_bridge) if channel_or_bridge else None


def command_call(command: Any) -> str | None:
    for attr in ("channel_id", "bridge_id", "playback_id"):
        value = getattr(command, attr, None)
        if value:
            return call_of(value) or (value if attr == "bridge_id" else None)
    name = getattr(command, "name", None)  # StopRecording: recording name = call id
    return name if isinstance(name, str) else None


class Probe:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: dict[str, list[float]] = {}
        self.commands: dict[str, list[float]] = {}

    def event(self, call_id: str | None) -> None:
        if call_id:
            t = time.perf_counter()
            with self.lock:
                self.events.setdefault(call_id, []).append(t)

    def command(self, call_id: str | None) -> None:
        if call_id:
            t = time.perf_counter()
            with self.lock:
                self.commands.setdefault(call_id, []).append(t)

    def latencies_ms(self) -> list[float]:
        result = []
        for call_id, events in self.events.items():
            commands = sorted(self.commands.get(call_id, []))
            events = sorted(events)
            for i, t_event in enumerate(events):
                t_next_event = events[i + 1] if i + 1 < len(events) else float("inf")
                later = [c for c in commands if c >= t_event]
                if later and later[0] < t_next_event:
                    result.append((later[0] - t_event) * 1000)
        return result


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def place(app: CallCenterApp, call_id: str, customer: str) -> None:
    app.start_call(
        CallRequest(
            call_id=call_id,
            agent_id="bench",
            agent_endpoint="Local/bench-agent@sim-phones",
            customer_number="+33600000001",
            customer_endpoint=customer,
            requested_at=time.time(),
        )
    )


def paced(n: int, rate: float, fn: Any) -> float:
    started = time.perf_counter()
    tick = threading.Event()
    for i in range(n):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            tick.wait(delay)
        fn(i)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--hold", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--ramp-max", type=float, default=180.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="evs-core-bench-"))
    sim = start_simulator(
        SIM_CONFIG.format(time_scale=args.time_scale), folder, time_scale=args.time_scale
    )
    probe = Probe()
    sink = MemoryRecordSink()
    connected: set[str] = set()
    connected_lock = threading.Lock()

    def on_view(view: Any) -> None:
        if isinstance(view, CallView) and view.step == CallStep.CONNECTED:
            with connected_lock:
                connected.add(view.call_id)

    settings = CallSettings(app=APP, language="en", prompts=msgspec_prompts_none())
    app = CallCenterApp(
        CoreConfig(
            ari_url=sim.base_url,
            ari_user=sim.user,
            ari_password=sim.password,
            app=APP,
            call=settings,
            request_timeout_s=30.0,
        ),
        sink=sink,
    )
    app.subscribe(on_view)
    try:
        app.start(wait_for_link_s=20)
        assert app.link is not None and app.port is not None
        deliver = app.link._deliver
        send = app.port.send

        def probed_deliver(event: Any) -> None:
            probe.event(call_of(event_channel_id(getattr(event, "event", event))))
            deliver(event)

        def probed_send(command: Any, reply_to: Any) -> None:
            probe.command(command_call(command))
            send(command, reply_to)

        app.link._deliver = probed_deliver
        app.port.send = probed_send  # type: ignore[method-assign]

        # ---- phase 1: latency over complete calls
        ids = [f"lat{i:05d}" for i in range(args.calls)]
        wall = paced(
            args.calls, args.rate, lambda i: place(app, ids[i], "Local/bench-short@sim-phones")
        )
        deadline = time.monotonic() + 120
        tick = threading.Event()
        while len(sink.records) < args.calls and time.monotonic() < deadline:
            tick.wait(0.2)
        lat = probe.latencies_ms()
        outcomes: dict[str, int] = {}
        for record in sink.records:
            outcomes[str(record.outcome)] = outcomes.get(str(record.outcome), 0) + 1
        print(
            f"phase 1: {args.calls} calls placed in {wall:.1f}s ({args.rate}/s); "
            f"records {len(sink.records)}: {outcomes}"
        )
        if lat:
            print(
                f"  event -> next command: n={len(lat)} p50={pct(lat, 0.5):.2f} ms "
                f"p90={pct(lat, 0.9):.2f} ms p99={pct(lat, 0.99):.2f} ms "
                f"max={max(lat):.1f} ms mean={statistics.fmean(lat):.2f} ms"
            )

        # ---- phase 2: concurrent calls held
        probe.events.clear()
        probe.commands.clear()
        base_records = len(sink.records)
        hold_ids = [f"hold{i:05d}" for i in range(args.hold)]
        threads_before = threading.active_count()
        wall = paced(
            args.hold, args.rate, lambda i: place(app, hold_ids[i], "Local/bench-agent@sim-phones")
        )
        deadline = time.monotonic() + args.ramp_max
        while time.monotonic() < deadline:
            with connected_lock:
                up = len(connected & set(hold_ids))
            if up >= args.hold:
                break
            tick.wait(0.5)
        with connected_lock:
            up = len(connected & set(hold_ids))
        live = len(app.live_call_ids())
        print(
            f"phase 2: {args.hold} calls placed in {wall:.1f}s; connected {up}, "
            f"live CallActors {live}, threads {threading.active_count()} "
            f"(+{threading.active_count() - threads_before}), core RSS {rss_mib(os.getpid()):.0f} MiB, "
            f"simulator RSS {rss_mib(sim.pid):.0f} MiB"
        )
        lat = probe.latencies_ms()
        if lat:
            print(
                f"  during ramp, event -> next command: n={len(lat)} p50={pct(lat, 0.5):.2f} ms "
                f"p99={pct(lat, 0.99):.2f} ms max={max(lat):.1f} ms"
            )
        started = time.perf_counter()
        for call_id in hold_ids:
            app.hang_up_call(call_id, by="bench")
        deadline = time.monotonic() + 120
        while len(sink.records) < base_records + args.hold and time.monotonic() < deadline:
            tick.wait(0.2)
        ended = len(sink.records) - base_records
        completed = sum(
            1 for r in sink.records[base_records:] if r.outcome == CallOutcome.COMPLETED
        )
        print(
            f"  hung up from the core: {ended} records ({completed} completed) in "
            f"{time.perf_counter() - started:.1f}s; live CallActors left {len(app.live_call_ids())}"
        )
    finally:
        app.stop()
        sim.stop()
    return 0


def msgspec_prompts_none() -> Any:
    from core.call_config import CallPrompts

    return CallPrompts(customer_being_called=())


if __name__ == "__main__":
    sys.exit(main())
