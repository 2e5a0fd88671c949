"""AgentActor: a call that cannot be started does not leave the agent on_call forever."""

from __future__ import annotations

from typing import Any

import pykka
import pytest

from actors.agent_actor import AgentActor, GetAgentView, PlaceCall
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.sinks import MemoryRecordSink
from actors.switchboard import Switchboard
from actors.timers import TimerService
from core.agent import AgentMachine, LogIn, Refusal
from core.call_config import CallRequest
from core.domain import AgentState, WorkstationMode
from core.views import AgentView


class NoPort:
    def send(self, command: Any, reply_to: Any) -> None:
        raise AssertionError(f"nothing should reach ARI: {command!r}")


@pytest.fixture
def deps() -> Any:
    loop_thread = EventLoopThread("test-agent-actor-loop")
    loop_thread.start()
    yield ActorDeps(
        switchboard=Switchboard.start(),
        port=NoPort(),  # type: ignore[arg-type]
        timers=TimerService(loop_thread),
        sink=MemoryRecordSink(),  # type: ignore[arg-type]
    )
    pykka.ActorRegistry.stop_all()
    loop_thread.stop()


def test_call_factory_failure_refuses_and_the_agent_stays_available(deps: ActorDeps) -> None:
    started: list[CallRequest] = []
    fail = [True]

    def start_call(request: CallRequest, agent_ref: Any) -> Any:
        if fail[0]:
            raise RuntimeError("core not started")
        started.append(request)
        return object()

    machine = AgentMachine("a1", workstation=WorkstationMode.MOBILE, mobile_number="+33611111111")
    machine.receive(LogIn(), 0.0)
    ref = AgentActor.start(machine, deps, start_call)

    answer = ref.ask(PlaceCall(customer_number="+33622222222", call_id="c1"), timeout=10)
    assert isinstance(answer, Refusal) and answer.code == "internal_error"
    view: AgentView = ref.ask(GetAgentView(), timeout=10)  # type: ignore[assignment]
    assert view.state == AgentState.AVAILABLE
    assert view.call is None and view.awaiting_disposition is None

    fail[0] = False
    assert ref.ask(PlaceCall(customer_number="+33622222222", call_id="c2"), timeout=10) is None
    assert [r.call_id for r in started] == ["c2"]
    view = ref.ask(GetAgentView(), timeout=10)  # type: ignore[assignment]
    assert view.state == AgentState.ON_CALL
