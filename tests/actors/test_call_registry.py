"""The call registry: calls it cannot start end at once with one record, their agent free."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.call_registry import CallRegistry
from actors.deps import ActorDeps
from actors.messages import AriAppReplaced, AriLinkDown, AriLinkUp
from actors.registry_messages import CallHandle, LiveCalls, StartCall
from actors.sinks import MemoryRecordSink
from core.call_config import CallRequest, CallSettings
from core.call_events import CallEnded
from core.domain import CallOutcome, CallStep
from core.views import CallView


class Agent:
    """Stands for an AgentActor: what the registry tells it."""

    def __init__(self) -> None:
        self.told: list[Any] = []
        self.ended = threading.Event()

    def tell(self, message: Any) -> None:
        self.told.append(message)
        if isinstance(message, CallEnded):
            self.ended.set()


class NoPort:
    def send(self, command: Any, reply_to: Any) -> None:
        raise AssertionError(f"nothing may be dialed: {command!r}")


@pytest.fixture
def registry() -> Iterator[tuple[Any, MemoryRecordSink, list[Any], LiveCalls]]:
    sink = MemoryRecordSink()
    published: list[Any] = []
    deps = ActorDeps(
        switchboard=None, port=NoPort(), timers=None, sink=sink,  # type: ignore[arg-type]
        publish=published.append,
    )
    live = LiveCalls()

    def no_supervision(*_: Any) -> Any:
        raise AssertionError("no supervision here")

    ref = CallRegistry.start(deps, CallSettings(), live, no_supervision, app="evscallpro")
    yield ref, sink, published, live
    ref.stop()


def request(call_id: str = "c1") -> CallRequest:
    return CallRequest(
        call_id=call_id, agent_id="a1", agent_endpoint="PJSIP/+33612345678@carrier",
        customer_number="+33622222222", customer_endpoint="PJSIP/+33622222222@carrier",
    )


@pytest.mark.parametrize(
    ("notices", "why"),
    [
        ((), "not open yet"),  # before the first events socket
        ((AriLinkUp(generation=1, at=1.0), AriLinkDown(reason="closed", at=2.0)), "link is down"),
        (
            (AriAppReplaced(app="evscallpro", at=1.0), AriLinkUp(generation=2, at=2.0)),
            "taken over",
        ),
    ],
)
def test_a_call_the_telephony_link_cannot_carry_ends_at_once(
    registry: tuple[Any, MemoryRecordSink, list[Any], LiveCalls], notices: tuple[Any, ...],
    why: str,
) -> None:
    ref, sink, published, live = registry
    for notice in notices:
        ref.tell(notice)
    agent = Agent()
    handle = CallHandle(ref, "c1")
    ref.tell(StartCall(request=request(), agent=agent))
    assert agent.ended.wait(5)
    [ended] = [m for m in agent.told if isinstance(m, CallEnded)]
    assert ended.record.outcome == CallOutcome.TELEPHONY_UNAVAILABLE
    assert why in ended.record.reason
    assert [r.outcome for r in sink.records] == [CallOutcome.TELEPHONY_UNAVAILABLE]  # one record
    [view] = [v for v in published if isinstance(v, CallView)]
    assert view.step == CallStep.FAILED and view.outcome == CallOutcome.TELEPHONY_UNAVAILABLE
    assert dict(live.calls) == {}
    handle.tell("anything")  # to a call that never started: dropped, never raises


def test_a_call_actor_that_cannot_start_frees_its_agent(
    registry: tuple[Any, MemoryRecordSink, list[Any], LiveCalls],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ref, sink, _, live = registry
    ref.tell(AriLinkUp(generation=1, at=1.0))

    def no_thread(*_: Any, **__: Any) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr("actors.call_registry.CallActor.start", no_thread)
    agent = Agent()
    assert ref.ask(StartCall(request=request(), agent=agent), timeout=5) is None
    assert agent.ended.wait(5)
    [record] = sink.records
    assert record.outcome == CallOutcome.REJECTED and "call_not_started" in record.reason
    assert dict(live.calls) == {}


def test_a_handle_to_a_stopped_registry_never_raises() -> None:
    class Dead:
        def tell(self, message: Any) -> None:
            raise pykka.ActorDeadError("gone")

    CallHandle(Dead(), "c1").tell("hang up")
