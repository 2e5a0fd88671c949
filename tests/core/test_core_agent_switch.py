"""AgentMachine.switch_request: the gate of the mid-call switch (core/call_switch.py)."""

from __future__ import annotations

import msgspec
from test_core_agent_phone import agent, on_call

from core.agent import Refusal
from core.call_inputs import SwitchAgentLeg
from core.domain import CallStep, WorkstationMode
from core.views import CallView


def view(step: CallStep, workstation: WorkstationMode = WorkstationMode.MOBILE) -> CallView:
    return CallView(
        call_id="c1", agent_id="a1", step=step, customer_number="+33622222222",
        workstation=workstation,
    )


def test_a_connected_mobile_call_moves_to_the_rendered_softphone_endpoint() -> None:
    m = agent()
    on_call(m)
    m.receive(view(CallStep.CONNECTED), 3.0)
    switch = m.switch_request("c1", WorkstationMode.SOFTPHONE)
    assert switch == SwitchAgentLeg(
        target=WorkstationMode.SOFTPHONE, endpoint="PJSIP/agent-1001", requested_by="a1"
    )
    assert m.workstation == WorkstationMode.MOBILE  # the next calls are not changed


def test_a_connected_softphone_call_moves_to_the_mobile() -> None:
    m = agent()
    on_call(m)
    m.receive(view(CallStep.CONNECTED, WorkstationMode.SOFTPHONE), 3.0)
    switch = m.switch_request("c1", WorkstationMode.MOBILE)
    assert isinstance(switch, SwitchAgentLeg)
    assert switch.endpoint == "PJSIP/+33611111111@carrier"


def code(result: object) -> str:
    assert isinstance(result, Refusal), result
    return result.code


def test_refusals_name_why() -> None:
    m = agent()
    assert code(m.switch_request("c1", WorkstationMode.SOFTPHONE)) == "unknown_call"
    on_call(m)
    assert code(m.switch_request("c2", WorkstationMode.SOFTPHONE)) == "unknown_call"
    m.receive(view(CallStep.CUSTOMER_DIALING), 3.0)
    assert code(m.switch_request("c1", WorkstationMode.SOFTPHONE)) == "switch_not_connected"
    m.receive(view(CallStep.SWITCHING), 4.0)
    assert code(m.switch_request("c1", WorkstationMode.SOFTPHONE)) == "switch_in_progress"
    m.receive(view(CallStep.CONNECTED), 5.0)
    assert code(m.switch_request("c1", WorkstationMode.MOBILE)) == "switch_same_workstation"


def test_no_softphone_endpoint_is_refused() -> None:
    m = agent(softphone_endpoint=None)
    on_call(m)
    m.receive(view(CallStep.CONNECTED), 3.0)
    assert code(m.switch_request("c1", WorkstationMode.SOFTPHONE)) == "no_softphone"


def test_no_mobile_number_is_refused() -> None:
    m = agent(workstation=WorkstationMode.SOFTPHONE, mobile_number=None)
    on_call(m)
    m.receive(msgspec.structs.replace(view(CallStep.CONNECTED), workstation="softphone"), 3.0)
    assert code(m.switch_request("c1", WorkstationMode.MOBILE)) == "no_mobile"
