"""The shared actor shell: queries answered, late timers dropped, `Arrived` unwrapped, and an
exception in a told message contained by the actor's `failed` hook (the actor lives on)."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.machine_actor import NOT_A_QUERY, MachineActor
from actors.messages import Arrived, Shutdown
from actors.sinks import MemoryRecordSink
from actors.switchboard import Switchboard
from core.machine import Machine
from core.timers import TimerFired


class Echo(Machine[str, Any, str]):
    """Arms a timer on "arm"; raises on "boom"; emits what it receives."""

    def __init__(self) -> None:
        super().__init__("echo", "idle")

    def receive(self, inp: Any, at: float) -> None:
        if inp == "boom":
            raise RuntimeError("boom")
        if inp == "arm":
            self._start_timer("t", 100.0)
        self._emit(inp.name if isinstance(inp, TimerFired) else inp)


class RecordingTimers:
    def __init__(self) -> None:
        self.armed: list[Any] = []

    def start(self, key: Any, delay_s: float, message: Any, reply_to: Any) -> None:
        self.armed.append(message)

    def cancel(self, key: Any) -> None:
        pass

    def cancel_all(self, prefix: Any) -> None:
        pass


class EchoActor(MachineActor[Echo]):
    def __init__(self, deps: ActorDeps) -> None:
        super().__init__(Echo(), deps, timer_scope="echo")
        self.seen: list[str] = []
        self.failures: list[str] = []

    def answer(self, message: Any) -> Any:
        return list(self.seen) if message == "seen?" else NOT_A_QUERY

    def on_event(self, event: Any) -> None:
        self.seen.append(event)

    def failed(self, exc: Exception) -> str:
        self.failures.append(str(exc))
        return "contained"


@pytest.fixture
def deps() -> Any:
    loop_thread = EventLoopThread("test-machine-actor-loop")
    loop_thread.start()
    yield ActorDeps(
        switchboard=Switchboard.start(),
        port=None,  # type: ignore[arg-type]
        timers=RecordingTimers(),  # type: ignore[arg-type]
        sink=MemoryRecordSink(),
    )
    pykka.ActorRegistry.stop_all()
    loop_thread.stop()


def test_an_exception_is_contained_and_the_actor_goes_on(deps: Any) -> None:
    ref = EchoActor.start(deps)
    assert ref.ask("boom") == "contained"
    ref.tell(Arrived(event="hello", at=0.0))  # unwrapped before the machine sees it
    assert ref.ask("seen?") == ["hello"]
    assert ref.is_alive()


def test_the_late_firing_of_a_replaced_timer_never_reaches_the_machine(deps: Any) -> None:
    ref = EchoActor.start(deps)
    ref.tell("arm")
    ref.tell("arm")  # replaces the first timer
    assert ref.ask("seen?") == ["arm", "arm"]
    first, second = deps.timers.armed
    ref.tell(first)
    ref.tell(second)
    assert ref.ask("seen?") == ["arm", "arm", "t"]


def test_shutdown_stops_the_actor(deps: Any) -> None:
    ref = EchoActor.start(deps)
    ref.tell(Shutdown())
    assert ref.actor_stopped.wait(5)
