"""The floor of the event -> next command latency (issue 12): the same ARI events, decoded
from the same JSON text, fed to the pure call machines in one thread, with no actors, no loop
and no HTTP.

`InputRecorder.install()` wraps `CallMachine.receive` (at class level) in the measured core
process: every input each machine receives is recorded in order, with its `at` and, for an ARI
event, the JSON text of the events-socket frame it was decoded from (`note_frame` maps each
decoded event to its frame; core_bench installs it on the ARI link). `replay()` then builds a
fresh `CallMachine` per recorded call (same request, same settings) and feeds it the same
inputs in the same order: an ARI event is decoded again from its text
(`core.ari_events.decode_event_json`) and timed from before the decode to the machine's
outbox drained; the latency counts when that event made the machine send an ARI command
(timer commands are not ARI commands), as the core's does. REST outcomes and timer firings are
fed untimed (in the core they are not ARI events). Each replay is checked: same outcome and
same number of ARI commands as the original machine, else it is counted as diverged.

Not a benchmark itself (`run_all.py` runs `*_bench.py` only).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.ari_events import decode_event_json  # noqa: E402
from core.call import CallMachine  # noqa: E402
from core.timers import TimerCommand  # noqa: E402


def ari_commands(commands: list[Any]) -> int:
    return sum(1 for c in commands if not isinstance(c, TimerCommand))


class InputRecorder:
    """What every CallMachine of this process received, and the frames its events came from."""

    def __init__(self) -> None:
        self.inputs: list[tuple[CallMachine, Any, float]] = []  # list.append: GIL-atomic
        self.sent: dict[int, int] = {}  # id(machine) -> ARI commands it handed out
        self.frames: dict[int, tuple[Any, str | bytes]] = {}  # id(event) -> (event, text)
        self._receive: Any = None
        self._commands_to_send: Any = None

    def install(self) -> None:
        recorder = self
        receive = self._receive = CallMachine.receive
        commands_to_send = self._commands_to_send = CallMachine.commands_to_send

        def recording_receive(machine: CallMachine, inp: Any, at: float) -> None:
            recorder.inputs.append((machine, inp, at))
            receive(machine, inp, at)

        def counting_commands_to_send(machine: CallMachine) -> list[Any]:
            commands = commands_to_send(machine)
            key = id(machine)
            recorder.sent[key] = recorder.sent.get(key, 0) + ari_commands(commands)
            return commands

        CallMachine.receive = recording_receive  # type: ignore[method-assign]
        CallMachine.commands_to_send = counting_commands_to_send  # type: ignore[method-assign]

    def uninstall(self) -> None:
        if self._receive is not None:
            CallMachine.receive = self._receive  # type: ignore[method-assign]
            CallMachine.commands_to_send = self._commands_to_send  # type: ignore[method-assign]

    def note_frame(self, event: Any, text: str | bytes) -> None:
        self.frames[id(event)] = (event, text)

    def clear(self) -> None:
        self.inputs.clear()
        self.sent.clear()
        self.frames.clear()


class FloorResult:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.events = 0
        self.calls = 0
        self.diverged = 0
        self.without_frame = 0


def replay(recorder: InputRecorder) -> FloorResult:
    """Feed every recorded call's inputs to a fresh machine in this thread (see the module)."""
    by_machine: dict[int, tuple[CallMachine, list[tuple[Any, float]]]] = {}
    for machine, inp, at in list(recorder.inputs):
        by_machine.setdefault(id(machine), (machine, []))[1].append((inp, at))
    frames = dict(recorder.frames)
    result = FloorResult()
    clock = time.perf_counter
    recorder.uninstall()  # the replayed machines run unwrapped
    try:
        for key, (original, inputs) in by_machine.items():
            if recorder.sent.get(key) is None:
                continue
            machine = CallMachine(original.request, original.settings)
            sent = 0
            for inp, at in inputs:
                frame = frames.get(id(inp))
                if frame is None:
                    if type(inp).__module__ == "core.ari_events":
                        result.without_frame += 1
                    machine.receive(inp, at)
                    sent += ari_commands(machine.commands_to_send())
                    machine.events_emitted()
                    continue
                text = frame[1]
                t0 = clock()
                event = decode_event_json(text)
                machine.receive(event, at)
                n = ari_commands(machine.commands_to_send())
                machine.events_emitted()
                t1 = clock()
                result.events += 1
                sent += n
                if n:
                    result.latencies_ms.append((t1 - t0) * 1000)
            result.calls += 1
            if sent != recorder.sent[key] or machine.outcome != original.outcome:
                result.diverged += 1
    finally:
        recorder.install()
    return result
