"""The mid-call switch of the agent leg against the simulator, through the whole product
(CallCenter port -> agent actor -> call actor -> ARI): the customer's channel never leaves the
call's bridge before the end, and the call leaves exactly one record with every agent leg.

Phones (asterisk/sim/default.toml): +33600000001 answers and stays (the customer),
+33600000007 answers and presses 1, +33600000003 never answers, *999 is a voicemail
(answers, never presses 1); the softphone endpoint agent-1001 answers (default profile).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from e2e_support import FAST_CALL, WAIT_S, Core

from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, SwitchResult, WorkstationMode
from core.records import CallRecord
from core.views import CallView
from evscallpro.core_config import AgentDirectoryEntry

CUSTOMER_NUMBER = "+33600000001"
# Press 1 on a mobile (as [acceptance] says by default), not on the softphone.
SWITCH_CALL = msgspec.structs.replace(
    FAST_CALL, acceptance_by_workstation={"mobile": True, "softphone": False}
)


class BridgeLog:
    """Every ChannelEnteredBridge / ChannelLeftBridge the simulator sends, seen at its
    source (the simulator's app registry), not through the core."""

    def __init__(self, sim: SimulatorThread) -> None:
        self.events: list[tuple[str, str, str]] = []  # (type, channel id, bridge id)
        self._lock = threading.Lock()
        registry = sim.engine.registry
        self._deliver = registry.deliver

        def deliver(app: str, event: dict[str, Any]) -> None:
            if event.get("type") in ("ChannelEnteredBridge", "ChannelLeftBridge"):
                with self._lock:
                    self.events.append(
                        (event["type"], event["channel"]["id"], event["bridge"]["id"])
                    )
            self._deliver(app, event)

        registry.deliver = deliver  # type: ignore[method-assign]

    def of(self, channel_id: str) -> list[str]:
        with self._lock:
            return [kind for kind, cid, _ in self.events if cid == channel_id]


@pytest.fixture
def bridges(sim: SimulatorThread) -> Iterator[BridgeLog]:
    log = BridgeLog(sim)
    yield log
    sim.engine.registry.deliver = log._deliver  # type: ignore[method-assign]


def start(
    make_core: Callable[..., Core], workstation: WorkstationMode, mobile: str
) -> tuple[Core, str]:
    alice = AgentDirectoryEntry(
        agent_id="a1", display_name="Alice", mobile_number=mobile,
        softphone_endpoint="agent-1001", workstation=workstation,
    )
    core = make_core(call=SWITCH_CALL, agents=(alice,))
    assert core.app.log_in("a1") is None
    assert core.app.place_call("a1", CUSTOMER_NUMBER) is None
    connected = core.views.wait_for(
        lambda v: isinstance(v, CallView) and v.step == CallStep.CONNECTED
    )
    assert connected is not None, "the call did not connect"
    return core, connected.call_id


def switch_ended(core: Core, call_id: str, after: int) -> CallView:
    view = core.views.wait_for(
        lambda v: isinstance(v, CallView) and v.call_id == call_id and v.switch_result != ""
        and v.step == CallStep.CONNECTED,
        after=after,
    )
    assert view is not None, "the switch did not end"
    return view  # type: ignore[no-any-return]


def hang_up_and_record(core: Core, call_id: str) -> CallRecord:
    assert core.app.hang_up("a1", call_id) is None
    record = core.record(call_id)
    records = [r for r in core.sink.records if getattr(r, "call_id", None) == call_id
               and isinstance(r, CallRecord)]
    assert records == [record]  # exactly one record
    return record  # type: ignore[no-any-return]


def customer_stayed(bridges: BridgeLog, call_id: str) -> None:
    """Entered once; left only at the end (its hang-up)."""
    assert bridges.of(f"{call_id}-customer") in (["ChannelEnteredBridge"],
                                                 ["ChannelEnteredBridge", "ChannelLeftBridge"])


def test_softphone_to_mobile_with_press_1(
    make_core: Callable[..., Core], bridges: BridgeLog
) -> None:
    core, call_id = start(make_core, WorkstationMode.SOFTPHONE, "+33600000007")
    mark = len(core.views.views)
    assert core.app.switch_agent_leg("a1", call_id, WorkstationMode.MOBILE) is None
    view = switch_ended(core, call_id, mark)
    assert view.switch_result == SwitchResult.SWITCHED, view.switch_reason
    assert view.workstation == WorkstationMode.MOBILE
    customer_stayed(bridges, call_id)
    assert bridges.of(f"{call_id}-agent-s1") == ["ChannelEnteredBridge"]
    record = hang_up_and_record(core, call_id)
    customer_stayed(bridges, call_id)
    assert record.outcome == CallOutcome.COMPLETED, record.reason
    old, new = record.agent_legs
    assert (old.workstation, old.endpoint, old.end_reason) == (
        WorkstationMode.SOFTPHONE, "PJSIP/agent-1001", "switched_away")
    assert (new.workstation, new.endpoint, new.end_reason) == (
        WorkstationMode.MOBILE, "PJSIP/+33600000007@carrier", "call_ended")
    assert new.joined_at is not None and old.ended_at is not None
    assert new.answered_at is not None and new.answered_at <= new.joined_at


def test_mobile_to_softphone(make_core: Callable[..., Core], bridges: BridgeLog) -> None:
    core, call_id = start(make_core, WorkstationMode.MOBILE, "+33600000007")
    mark = len(core.views.views)
    assert core.app.switch_agent_leg("a1", call_id, WorkstationMode.SOFTPHONE) is None
    view = switch_ended(core, call_id, mark)
    assert view.switch_result == SwitchResult.SWITCHED, view.switch_reason
    assert view.workstation == WorkstationMode.SOFTPHONE
    record = hang_up_and_record(core, call_id)
    customer_stayed(bridges, call_id)
    assert [leg.workstation for leg in record.agent_legs] == ["mobile", "softphone"]
    assert [leg.end_reason for leg in record.agent_legs] == ["switched_away", "call_ended"]


@pytest.mark.parametrize(
    ("mobile", "result"),
    [
        ("+33600000003", SwitchResult.NO_ANSWER),  # never answers
        ("+33612345999", SwitchResult.NOT_CONFIRMED),  # the voicemail answers, no 1
    ],
)
def test_new_leg_failing_leaves_the_call_on_the_softphone(
    make_core: Callable[..., Core], bridges: BridgeLog, mobile: str, result: SwitchResult
) -> None:
    core, call_id = start(make_core, WorkstationMode.SOFTPHONE, mobile)
    mark = len(core.views.views)
    assert core.app.switch_agent_leg("a1", call_id, WorkstationMode.MOBILE) is None
    view = switch_ended(core, call_id, mark)
    assert view.switch_result == result, view.switch_reason
    assert view.workstation == WorkstationMode.SOFTPHONE
    assert bridges.of(f"{call_id}-agent") == ["ChannelEnteredBridge"]  # never left
    assert "ChannelEnteredBridge" not in bridges.of(f"{call_id}-agent-s1")
    record = hang_up_and_record(core, call_id)
    customer_stayed(bridges, call_id)
    assert record.outcome == CallOutcome.COMPLETED, record.reason
    assert [leg.end_reason for leg in record.agent_legs] == ["call_ended", str(result)]
    assert record.agent_legs[1].joined_at is None


def test_switch_is_refused_in_words_when_there_is_nothing_to_move(
    make_core: Callable[..., Core],
) -> None:
    core, call_id = start(make_core, WorkstationMode.SOFTPHONE, "+33600000007")
    refusal = core.app.switch_agent_leg("a1", call_id, WorkstationMode.SOFTPHONE)
    assert refusal is not None and refusal.code == "switch_same_workstation"
    refusal = core.app.switch_agent_leg("a1", "not-a-call", WorkstationMode.MOBILE)
    assert refusal is not None and refusal.code == "unknown_call"
    assert core.app.hang_up("a1", call_id) is None
    assert core.record(call_id, WAIT_S).agent_legs == ()  # never switched
