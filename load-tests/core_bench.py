"""Telephony core benchmark: latency from an ARI event to the next ARI command, and how many
concurrent calls one core process holds.

The ARI simulator runs in its own process (`python -m evscallpro.cli sim`), the core
(CallCenterApp: ARI link, port, Switchboard, one CallActor per call) in this one, under its
own app name. Two hooks, installed after start, timestamp (time.perf_counter) each decoded
event as the link hands it to the Switchboard and each command as an actor hands it to the
ARI port. Latency (causal, the figure the targets are about): from the events-socket frame handed to
the ARI link (before its msgspec decode) to the first ARI command the CallActor hands to the
port while handling that event (decode -> Switchboard hop -> CallActor hop -> machine ->
port), for every event that made the call send something. The older, loose figure (the first
command of the call after the event, when no other event of the call came in between: it
also counts commands caused by a REST answer in between) is printed beside it.

The floor (load-tests/floor.py): after phase 1, the same events, decoded again from the same
frames, are fed to fresh CallMachines in one thread (no actors, loop or HTTP); core / floor is
the ratio that holds from one machine to another.

Phase 1 (latency): --calls complete calls (agent and customer answer, the customer hangs up
after a few seconds) placed at --rate per second.
Phase 2 (hold): --hold calls placed at --rate per second that stay connected; measured when
all are connected (or --ramp-max passes): connected count, threads, RSS; then every call is
hung up from the core and the records counted.

Also printed: CPU of the core and the simulator per ARI event, context switches per event,
ARI events per second (over the phase and its busiest second), every cyclic-GC collection
of the core's process (`--gc-mode default` puts Python's own GC settings back, for A/B
against the core's tuning, evscallpro/gc_tuning.py). Progress lines while it runs, a summary,
and a JSON result file (--json). Bounded: phase 1
waits at most 120 s for its records, the ramp --ramp-max, the hang-up 120 s.

    .venv/bin/python load-tests/core_bench.py --calls 300 --rate 60 --hold 1000 --json core.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_sim import core_config, start_simulator  # noqa: E402  (load-tests/bench_sim.py)
from floor import InputRecorder, replay  # noqa: E402  (load-tests/floor.py)

from actors import ari_link  # noqa: E402
from actors import messages as actor_messages  # noqa: E402
from actors.call_actor import CallActor  # noqa: E402
from actors.call_journal import JournaledCall  # noqa: E402
from actors.messages import Arrived  # noqa: E402
from actors.sinks import MemoryRecordSink  # noqa: E402
from core.ari_events import decode_event_json, event_channel_id  # noqa: E402
from core.call_config import CallRequest, CallSettings  # noqa: E402
from core.domain import CallOutcome, CallStep  # noqa: E402
from core.ids import call_id_of  # noqa: E402
from core.views import CallView  # noqa: E402
from evscallpro.root import CallCenterApp, CoreConfig  # noqa: E402

# Absent before the ARI link batched its bursts: the bench also runs on older code (A/B).
ArrivedBatch: Any = getattr(actor_messages, "ArrivedBatch", ())
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


def cpu_s(pid: int) -> float:
    """utime + stime of a process, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
        self.frame_at: dict[int, float] = {}  # id(decoded event) -> frame handed to the link
        self.causal: list[float] = []  # ms, frame -> first command it caused
        self.frames = 0
        self.tells = 0  # ARI link -> Switchboard messages (a batch counts once)
        self.local = threading.local()  # in a CallActor thread: [frame time, first send]

    def clear(self) -> None:
        with self.lock:
            self.events.clear()
            self.commands.clear()
            self.frame_at.clear()
            self.causal.clear()
            self.frames = 0
            self.tells = 0

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


class GcPauses:
    """Every cyclic-GC collection in this (the core's) process: generation and duration."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], (time.perf_counter() - self._started) * 1000))

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for gen in (0, 1, 2):
            ms = [d for g, d in self.pauses if g == gen]
            if ms:
                out[f"gen{gen}"] = {"n": len(ms), "max_ms": round(max(ms), 2),
                                    "total_ms": round(sum(ms), 1)}  # fmt: skip
        return out

    def clear(self) -> None:
        self.pauses.clear()


class EventRate(threading.Thread):
    """ARI events per second into the core: samples the probe's frame count every 0.25 s."""

    def __init__(self, probe: Probe) -> None:
        super().__init__(name="event-rate", daemon=True)
        self.probe = probe
        self.samples: list[tuple[float, int]] = []
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.25):
            self.samples.append((time.perf_counter(), self.probe.frames))

    def stop(self) -> None:
        self._done.set()
        self.join(2)

    def peak(self) -> float:
        """The most events counted in any 1-s window."""
        best, j = 0.0, 0
        for i, (t, n) in enumerate(self.samples):
            while self.samples[j][0] < t - 1.0:
                j += 1
            if i > j:
                best = max(best, (n - self.samples[j][1]) / (t - self.samples[j][0]))
        return best


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 0.5), 3),
        "p90": round(pct(values, 0.9), 3),
        "p99": round(pct(values, 0.99), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


def line(name: str, s: dict[str, float]) -> str:
    if not s.get("n"):
        return f"  {name}: no pairs"
    return (
        f"  {name}: n={s['n']:.0f} p50={s['p50']:.3f} ms p90={s['p90']:.3f} ms "
        f"p99={s['p99']:.3f} ms max={s['max']:.2f} ms"
    )


def ratios(core: dict[str, float], floor: dict[str, float]) -> dict[str, float]:
    return {
        q: round(core[q] / floor[q], 1)
        for q in ("p50", "p90", "p99", "max")
        if core.get(q) and floor.get(q)
    }


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


def paced(n: int, rate: float, fn: Any, progress: Any = None) -> float:
    started = time.perf_counter()
    tick = threading.Event()
    next_report = started + 2.0
    for i in range(n):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            tick.wait(delay)
        fn(i)
        if progress is not None and time.perf_counter() >= next_report:
            next_report += 2.0
            progress(i + 1, time.perf_counter() - started)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--hold", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--ramp-max", type=float, default=180.0)
    parser.add_argument("--json", type=Path, help="write the results to this file")
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="after phase 2: stop the core with the --hold calls up, start a new one on the "
        "same live-calls journal and time its adoption of them (start -> reconciled)",
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the floor replay")
    parser.add_argument(
        "--lean",
        action="store_true",
        help="long runs: no floor, no loose figure, no recorded inputs (memory stays flat)",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="ms: sys.setswitchinterval for this (the core's) process, instead of the core's own",
    )
    parser.add_argument(
        "--gc-mode",
        choices=("default", "freeze", "tuned", "tuned10k"),
        default=None,
        help="A/B only: override the core's cyclic-GC setting after start",
    )
    args = parser.parse_args()
    if args.lean:
        args.no_floor = True
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "load-tests/core_bench.py", *sys.argv[1:]]),
        "calls": args.calls,
        "rate": args.rate,
        "hold": args.hold,
        "started_at": time.time(),
        "loadavg_start": os.getloadavg(),
    }

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
    config = core_config(sim, settings)
    # --adopt: the calls are journaled as the node journals them: in memory at once, the
    # node's bucket being written behind, on its loop (bus/live_calls_kv.py)
    journal = HeldJournal() if args.adopt else None
    app = CallCenterApp(config, sink=sink, journal=journal)
    app.subscribe(on_view)
    actor_on_receive = CallActor.on_receive
    try:
        app.start(wait_for_link_s=20)
        if args.gc_mode == "default":
            gc.set_threshold(700, 10, 10)
            gc.unfreeze()
        elif args.gc_mode == "freeze":
            gc.freeze()
        elif args.gc_mode == "tuned":
            gc.freeze()
            gc.set_threshold(50_000, 20, 100)
        elif args.gc_mode == "tuned10k":
            gc.freeze()
            gc.set_threshold(10_000, 20, 100)
        results["gc_threshold"] = gc.get_threshold()
        results["gc_frozen"] = gc.get_freeze_count()
        print(f"cyclic GC thresholds {gc.get_threshold()}, {gc.get_freeze_count()} objects frozen")
        if args.switch_interval is not None:
            sys.setswitchinterval(args.switch_interval / 1000)
        results["switch_interval_ms"] = sys.getswitchinterval() * 1000
        print(f"GIL switch interval {sys.getswitchinterval() * 1000:g} ms", flush=True)
        assert app.link is not None and app.port is not None
        deliver = app.link._deliver
        send = app.port.send
        recorder = InputRecorder()
        if not args.no_floor:
            recorder.install()
        decode = ari_link.decode_event_json

        def probed_decode(text: str | bytes) -> Any:
            at = time.perf_counter()  # the frame handed to the link, before its decode
            event = decode(text)
            if len(probe.frame_at) > 200_000:  # unrouted events' entries: keep memory flat
                probe.frame_at.clear()
            probe.frame_at[id(event)] = at
            if not args.no_floor:
                recorder.note_frame(event, text)
            return event

        def probed_deliver(message: Any) -> None:
            items = message.items if isinstance(message, ArrivedBatch) else (message,)
            probe.tells += 1
            for arrived in items:
                probe.frames += 1
                if not args.lean:
                    probe.event(call_of(event_channel_id(arrived.event)))
            deliver(message)

        def probed_send(command: Any, reply_to: Any) -> None:
            pending = getattr(probe.local, "pending", None)
            if pending is not None and pending[1] is None:
                pending[1] = time.perf_counter()
            if not args.lean:
                probe.command(command_call(command))
            send(command, reply_to)

        def probed_on_receive(actor: Any, message: Any) -> Any:
            if not isinstance(message, Arrived):
                return actor_on_receive(actor, message)
            pending = probe.local.pending = [probe.frame_at.pop(id(message.event), None), None]
            try:
                return actor_on_receive(actor, message)
            finally:
                probe.local.pending = None
                if pending[0] is not None and pending[1] is not None:
                    probe.causal.append((pending[1] - pending[0]) * 1000)

        ari_link.decode_event_json = probed_decode
        app.link._deliver = probed_deliver
        app.port.send = probed_send  # type: ignore[method-assign]
        CallActor.on_receive = probed_on_receive  # type: ignore[method-assign]

        def placing(what: str) -> Any:
            def report(n: int, elapsed: float) -> None:
                with connected_lock:
                    up = len(connected)
                print(
                    f"  {what}: {n} placed in {elapsed:.0f}s ({n / elapsed:.1f}/s), "
                    f"{len(sink.records)} records, {up} ever connected, "
                    f"{len(probe.causal)} pairs, load {os.getloadavg()[0]:.1f}",
                    flush=True,
                )

            return report

        # ---- phase 1: latency over complete calls
        ids = [f"lat{i:05d}" for i in range(args.calls)]
        rate_meter = EventRate(probe)
        rate_meter.start()
        gc_pauses = GcPauses()
        gc.callbacks.append(gc_pauses)
        print(f"phase 1: {args.calls} complete calls at {args.rate}/s", flush=True)
        phase_started = time.perf_counter()
        cpu_before = cpu_s(os.getpid()), cpu_s(sim.pid)
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        wall = paced(
            args.calls,
            args.rate,
            lambda i: place(app, ids[i], "Local/bench-short@sim-phones"),
            placing("phase 1"),
        )
        deadline = time.monotonic() + 120
        tick = threading.Event()
        while len(sink.records) < args.calls and time.monotonic() < deadline:
            tick.wait(0.2)
        phase_s = time.perf_counter() - phase_started
        rate_meter.stop()
        peak_events_per_s = rate_meter.peak()
        frames_per_s = probe.frames / phase_s
        core_cpu = cpu_s(os.getpid()) - cpu_before[0]
        sim_cpu = cpu_s(sim.pid) - cpu_before[1]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        switches = (usage.ru_nvcsw - usage_before.ru_nvcsw) + (
            usage.ru_nivcsw - usage_before.ru_nivcsw
        )
        outcomes: dict[str, int] = {}
        for record in sink.records:
            outcomes[str(record.outcome)] = outcomes.get(str(record.outcome), 0) + 1
        print(
            f"phase 1: {args.calls} calls placed in {wall:.1f}s ({args.calls / wall:.1f}/s); "
            f"records {len(sink.records)}: {outcomes}; {probe.frames} ARI events "
            f"({frames_per_s:.0f}/s over the phase, {peak_events_per_s:.0f}/s in its busiest second)"
        )
        print(
            f"  CPU over the phase ({phase_s:.1f} s): core {core_cpu:.1f} s "
            f"({100 * core_cpu / phase_s:.0f}% of a core, "
            f"{1e6 * core_cpu / max(1, probe.frames):.0f} µs per ARI event), "
            f"simulator {sim_cpu:.1f} s ({100 * sim_cpu / phase_s:.0f}%); "
            f"{switches / max(1, probe.frames):.2f} context switches per ARI event, "
            f"{probe.frames / max(1, probe.tells):.2f} events per link -> Switchboard message"
        )
        print(f"  cyclic GC in the core process: {gc_pauses.summary()}")
        core = summary(list(probe.causal))
        loose = summary(probe.latencies_ms())
        print(line("event -> next command (causal, core)", core))
        print(line("event -> next command (loose, as before)", loose))
        results["phase1"] = {
            "placed_per_s": round(args.calls / wall, 2),
            "records": len(sink.records),
            "outcomes": outcomes,
            "ari_events": probe.frames,
            "ari_events_per_s": round(frames_per_s, 1),
            "ari_events_per_s_peak_1s": round(peak_events_per_s, 1),
            "gc": gc_pauses.summary(),
            "core_cpu_s": round(core_cpu, 2),
            "core_cpu_us_per_event": round(1e6 * core_cpu / max(1, probe.frames), 1),
            "simulator_cpu_s": round(sim_cpu, 2),
            "context_switches_per_event": round(switches / max(1, probe.frames), 2),
            "events_per_switchboard_message": round(probe.frames / max(1, probe.tells), 2),
            "core_ms": core,
            "loose_ms": loose,
            "loadavg": os.getloadavg(),
        }
        if not args.no_floor:
            floor = replay(recorder)
            fl = summary(floor.latencies_ms)
            print(line("floor (decode + pure CallMachine, one thread)", fl))
            print(
                f"  floor replay: {floor.calls} calls, {floor.events} events, "
                f"{floor.diverged} diverged, {floor.without_frame} events without a frame; "
                f"core / floor: {ratios(core, fl)}"
            )
            results["phase1"]["floor_ms"] = fl
            results["phase1"]["core_over_floor"] = ratios(core, fl)
            results["phase1"]["floor_diverged"] = floor.diverged
        recorder.clear()

        # ---- phase 2: concurrent calls held
        probe.clear()
        gc_pauses.clear()
        recorder.uninstall()  # the ramp is measured without recording inputs
        base_records = len(sink.records)
        hold_ids = [f"hold{i:05d}" for i in range(args.hold)]
        threads_before = threading.active_count()
        print(f"phase 2: {args.hold} calls held, placed at {args.rate}/s", flush=True)
        wall = paced(
            args.hold,
            args.rate,
            lambda i: place(app, hold_ids[i], "Local/bench-agent@sim-phones"),
            placing("phase 2"),
        )
        deadline = time.monotonic() + args.ramp_max
        next_report = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            with connected_lock:
                up = len(connected & set(hold_ids))
            if up >= args.hold:
                break
            if time.monotonic() >= next_report:
                next_report += 2.0
                print(f"  phase 2: {up}/{args.hold} connected", flush=True)
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
        ramp = summary(list(probe.causal))
        print(f"  cyclic GC in the core process during the ramp: {gc_pauses.summary()}")
        print(line("during the ramp, event -> next command (causal, core)", ramp))
        print(line("during the ramp (loose, as before)", summary(probe.latencies_ms())))
        ratio = ratios(ramp, results.get("phase1", {}).get("floor_ms", {}))
        print(f"  ramp core / phase-1 floor: {ratio}")
        results["phase2"] = {
            "placed_per_s": round(args.hold / wall, 2),
            "connected": up,
            "live_call_actors": live,
            "threads": threading.active_count(),
            "core_rss_mib": round(rss_mib(os.getpid()), 1),
            "simulator_rss_mib": round(rss_mib(sim.pid), 1),
            "ramp_core_ms": ramp,
            "ramp_gc": gc_pauses.summary(),
            "ramp_core_over_phase1_floor": ratio,
            "loadavg": os.getloadavg(),
        }
        if args.adopt:
            app = adopt_after_restart(app, config, sink, journal, args.hold, results["phase2"])
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
        results["phase2"].update(
            hung_up_records=ended,
            hung_up_completed=completed,
            hang_up_s=round(time.perf_counter() - started, 2),
        )
    finally:
        CallActor.on_receive = actor_on_receive  # type: ignore[method-assign]
        ari_link.decode_event_json = decode_event_json
        app.stop()
        sim.stop()
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


class HeldJournal:
    """The live-calls journal as a node holds it: a table in memory (the node's bucket is
    written behind it, off the actors' thread, and read back whole at its start)."""

    def __init__(self) -> None:
        self._calls: dict[str, JournaledCall] = {}
        self._lock = threading.Lock()

    def started(self, request: CallRequest, at: float) -> None:
        with self._lock:
            self._calls[request.call_id] = JournaledCall(request=request)

    def connected(self, call_id: str, at: float) -> None:
        with self._lock:
            call = self._calls.get(call_id)
            if call is not None:
                self._calls[call_id] = JournaledCall(
                    request=call.request, last_step=CallStep.CONNECTED, connected_at=at
                )

    def ended(self, call_id: str, at: float) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    def live_calls(self) -> dict[str, JournaledCall]:
        with self._lock:
            return dict(self._calls)

    def compact(self) -> None:
        """Nothing to compact."""


def adopt_after_restart(
    app: CallCenterApp,
    config: CoreConfig,
    sink: MemoryRecordSink,
    journal: HeldJournal | None,
    held: int,
    results: dict[str, Any],
) -> CallCenterApp:
    """Stop the core with the calls up (as a crash leaves them), start a new core on the
    same journal, and time start -> reconciled (its adoption of every live call)."""
    reports: list[Any] = []
    app.stop()  # the live calls stay up in Asterisk
    again = CallCenterApp(
        config,
        sink=sink,
        journal=journal,  # what the restarted node reads back from its bucket
        on_reconciled=reports.append,
    )
    started = time.perf_counter()
    again.start(wait_for_link_s=120)
    took = time.perf_counter() - started
    report = reports[0] if reports else None
    adopted = len(report.adopted) if report is not None else 0
    live = len(again.live_call_ids())
    print(
        f"adoption: a new core adopted {adopted} of {held} live calls, start -> reconciled "
        f"{took:.2f} s (listing {getattr(report, 'listing_s', '?')} s, adopting "
        f"{getattr(report, 'adopting_s', '?')} s); live CallActors {live}",
        flush=True,
    )
    results["adoption"] = {
        "held": held,
        "adopted": adopted,
        "live_call_actors": live,
        "start_to_reconciled_s": round(took, 3),
        "listing_s": getattr(report, "listing_s", None),
        "adopting_s": getattr(report, "adopting_s", None),
    }
    return again


def msgspec_prompts_none() -> Any:
    from core.call_config import CallPrompts

    return CallPrompts(customer_being_called=())


if __name__ == "__main__":
    sys.exit(main())
