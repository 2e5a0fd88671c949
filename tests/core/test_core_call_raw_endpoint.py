"""A call to a raw customer dial string (`evscallpro dial --customer-endpoint`) has no
customer number: the machine places it, and its record says "" rather than an invented one."""

from __future__ import annotations

from call_events_factory import (
    Driver,
    destroyed,
    hangup_request,
    ok,
    stasis_start,
)

from core.ari_commands import AddToBridge, CreateBridge, OriginateChannel
from core.call_config import CallRequest
from core.call_inputs import CallStart
from core.domain import CallOutcome, CallStep

RAW = "Local/answer-hangup3@sim-phones"


def test_a_raw_endpoint_call_without_a_number_is_placed_and_recorded_without_one() -> None:
    d = Driver.make(customer_number="", customer_endpoint=RAW)
    d.feed(CallStart(), stasis_start("c1-agent", "Up", "agent", "c1"))
    assert d.m.step == CallStep.CUSTOMER_DIALING  # dialed at the agent's answer
    customer = [o for o in d.of(OriginateChannel) if o.channel_id == "c1-customer"]
    assert [o.endpoint for o in customer] == [RAW]
    assert customer[0].variables["EVS_CUSTOMER_NUMBER"] == ""
    d.feed(stasis_start("c1-customer", "Up", "customer", "c1"))
    d.feed(ok(CreateBridge(bridge_id="c1-bridge", name="c1")))
    d.feed(ok(AddToBridge(bridge_id="c1-bridge", channel_ids=("c1-agent", "c1-customer")), 204))
    assert d.m.step == CallStep.CONNECTED
    d.feed(
        hangup_request("c1-customer", 16), destroyed("c1-customer", 16), destroyed("c1-agent", 16)
    )
    record = d.record()
    assert record.customer_number == ""
    assert record.outcome == CallOutcome.COMPLETED


def test_the_request_rule_still_refuses_a_number_that_is_not_e164() -> None:
    def problem(number: str, endpoint: str = RAW) -> str:
        return CallRequest(
            call_id="c1",
            agent_id="a1",
            agent_endpoint="PJSIP/a1",
            customer_number=number,
            customer_endpoint=endpoint,
        ).problem()

    assert problem("") == ""
    assert problem("+33612345678") == ""
    assert problem("0612345678") == "invalid_number"
    assert problem("", endpoint="") == "invalid_number"
