"""AgentMachine transitions and refusals; phone-number normalization and dialing policy."""

from __future__ import annotations

import msgspec
import pytest

from core.agent import (
    AgentMachine,
    AgentStateChanged,
    DispositionSubmitted,
    LogIn,
    LogOut,
    MobileNumberChanged,
    Pause,
    Refusal,
    SetAvailable,
    SetWorkstation,
    SubmitDisposition,
)
from core.call_config import CallRequest, DialTemplates
from core.call_events import CallEnded
from core.domain import AgentState, CallOutcome, Party, WorkstationMode
from core.phone import DialingPolicy, NumberProblem, normalize
from core.records import CallRecord, LegRecord
from core.timers import CancelTimer, StartTimer, TimerFired
from core.views import CallView

TEMPLATES = DialTemplates(trunk="carrier")


def agent(**kw: object) -> AgentMachine:
    defaults: dict[str, object] = {
        "workstation": WorkstationMode.MOBILE,
        "mobile_number": "06 11 11 11 11",
        "softphone_endpoint": "agent-1001",
        "templates": TEMPLATES,
    }
    return AgentMachine("a1", "Alice", **{**defaults, **kw})  # type: ignore[arg-type]


def record(call_id: str, outcome: CallOutcome = CallOutcome.COMPLETED) -> CallRecord:
    leg = LegRecord(role="agent", endpoint="PJSIP/x", channel_id=f"{call_id}-agent")  # type: ignore[arg-type]
    return CallRecord(
        call_id=call_id,
        agent_id="a1",
        customer_number="+33622222222",
        workstation=WorkstationMode.MOBILE,
        agent_leg=leg,
        outcome=outcome,
        hung_up_first=Party.CUSTOMER,
        started_at=1.0,
        ended_at=9.0,
    )


def on_call(m: AgentMachine, call_id: str = "c1") -> CallRequest:
    m.receive(LogIn(), 1.0)
    req = m.request_call("06 22 22 22 22", call_id, 2.0, contact_id="k9")
    assert isinstance(req, CallRequest)
    return req


# ------------------------------------------------------------------ states
def test_log_in_pause_available_log_out() -> None:
    m = agent()
    assert m.state == AgentState.OFFLINE
    assert m.receive(LogIn(), 1.0) is None
    assert m.receive(Pause(reason="lunch"), 2.0) is None
    assert m.state == AgentState.PAUSED
    assert m.view().pause_reason == "lunch"
    assert m.receive(SetAvailable(), 3.0) is None
    assert m.state == AgentState.AVAILABLE
    assert m.receive(LogOut(), 4.0) is None
    assert m.state == AgentState.OFFLINE
    states = [e.state for e in m.events_emitted() if isinstance(e, AgentStateChanged)]
    assert states == [
        AgentState.AVAILABLE,
        AgentState.PAUSED,
        AgentState.AVAILABLE,
        AgentState.OFFLINE,
    ]


def test_offline_agent_cannot_pause_or_be_available() -> None:
    m = agent()
    assert m.receive(Pause(reason="x"), 1.0) == Refusal("agent_offline", "log in first")
    refusal = m.receive(SetAvailable(), 1.0)
    assert refusal is not None and refusal.code == "agent_offline"


def test_request_call_builds_the_call_request_and_goes_on_call() -> None:
    m = agent()
    req = on_call(m)
    assert req.agent_endpoint == "PJSIP/+33611111111@carrier"
    assert req.customer_endpoint == "PJSIP/+33622222222@carrier"
    assert req.customer_number == "+33622222222"
    assert req.contact_id == "k9"
    assert req.requested_at == 2.0
    assert m.state == AgentState.ON_CALL
    assert m.call_id == "c1"


def test_softphone_workstation_uses_the_softphone_template() -> None:
    m = agent()
    m.receive(LogIn(), 1.0)
    assert m.receive(SetWorkstation(mode=WorkstationMode.SOFTPHONE), 1.5) is None
    req = m.request_call("+33622222222", "c1", 2.0)
    assert isinstance(req, CallRequest)
    assert req.agent_endpoint == "PJSIP/agent-1001"
    assert req.workstation == WorkstationMode.SOFTPHONE


@pytest.mark.parametrize(
    ("setup", "number", "code"),
    [
        ("offline", "0622222222", "agent_offline"),
        ("paused", "0622222222", "agent_not_available"),
        ("on_call", "0622222222", "agent_on_call"),
        ("no_workstation", "0622222222", "no_workstation"),
        ("mobile_without_number", "0622222222", "no_workstation"),
        ("available", "06 22", "invalid_number"),
        ("available", "not a number", "invalid_number"),
        ("available", "0899 23 45 67", "number_not_allowed"),
        ("available", "+1 650 253 0000", "number_not_allowed"),
    ],
)
def test_request_call_refusals(setup: str, number: str, code: str) -> None:
    kw: dict[str, object] = {}
    if setup == "no_workstation":
        kw["workstation"] = None
    if setup == "mobile_without_number":
        kw["mobile_number"] = None
    m = agent(**kw)
    if setup != "offline":
        m.receive(LogIn(), 1.0)
    if setup == "paused":
        m.receive(Pause(reason="x"), 1.0)
    if setup == "on_call":
        assert isinstance(m.request_call("0622222222", "c0", 1.0), CallRequest)
    before = m.state
    refusal = m.request_call(number, "c1", 2.0)
    assert isinstance(refusal, Refusal)
    assert refusal.code == code
    assert refusal.detail
    assert m.state == before


def test_bad_dial_template_is_refused_not_raised() -> None:
    m = agent(templates=DialTemplates(customer="PJSIP/{nummber}@{trunk}"))
    m.receive(LogIn(), 1.0)
    refusal = m.request_call("0622222222", "c1", 2.0)
    assert isinstance(refusal, Refusal) and refusal.code == "bad_dial_template"
    assert m.state == AgentState.AVAILABLE


def test_call_end_goes_to_wrap_up_then_disposition_makes_available() -> None:
    m = agent(wrap_up_max_s=60.0)
    on_call(m)
    m.receive(CallView(call_id="c1", agent_id="a1", step="connected", customer_number="+1"), 3.0)  # type: ignore[arg-type]
    assert m.view().call is not None
    m.receive(CallEnded(record=record("c1")), 10.0)
    assert m.state == AgentState.WRAP_UP
    assert m.commands_to_send() == [StartTimer("wrap_up", 60.0)]
    view = m.view()
    assert view.call is None
    assert view.awaiting_disposition is not None
    assert view.awaiting_disposition.ended_by == Party.CUSTOMER
    assert m.receive(SetAvailable(), 11.0) == Refusal(
        "disposition_required", "qualify the last call first"
    )
    wrong = m.receive(SubmitDisposition(call_id="c2", code="sale"), 12.0)
    assert wrong is not None and wrong.code == "unknown_call"
    empty = m.receive(SubmitDisposition(call_id="c1", code="  "), 12.0)
    assert empty is not None and empty.code == "disposition_required"
    m.events_emitted()
    assert m.receive(SubmitDisposition(call_id="c1", code="sale", comment="ok"), 13.0) is None
    assert m.state == AgentState.AVAILABLE
    assert m.commands_to_send() == [CancelTimer("wrap_up")]
    events = m.events_emitted()
    dispositions = [e.disposition for e in events if isinstance(e, DispositionSubmitted)]
    assert len(dispositions) == 1
    assert (dispositions[0].call_id, dispositions[0].code, dispositions[0].comment) == (
        "c1",
        "sale",
        "ok",
    )
    assert m.view().awaiting_disposition is None


def test_wrap_up_timer_closes_with_automatic_disposition() -> None:
    m = agent(wrap_up_max_s=30.0)
    on_call(m)
    m.receive(CallEnded(record=record("c1")), 10.0)
    m.events_emitted()
    m.receive(TimerFired("wrap_up"), 40.0)
    assert m.state == AgentState.AVAILABLE
    events = m.events_emitted()
    assert [e.disposition.code for e in events if isinstance(e, DispositionSubmitted)] == [
        "not_qualified"
    ]


def test_rejected_call_returns_to_available_without_wrap_up() -> None:
    m = agent()
    on_call(m)
    m.receive(CallEnded(record=record("c1", CallOutcome.REJECTED)), 3.0)
    assert m.state == AgentState.AVAILABLE


@pytest.mark.parametrize(
    "outcome",
    [
        CallOutcome.AGENT_BUSY,
        CallOutcome.AGENT_NO_ANSWER,
        CallOutcome.AGENT_UNREACHABLE,
        CallOutcome.AGENT_NOT_CONFIRMED,
    ],
)
def test_call_that_never_reached_the_customer_needs_no_qualification(outcome: CallOutcome) -> None:
    m = agent(wrap_up_max_s=30.0)
    on_call(m)
    m.events_emitted()
    m.commands_to_send()
    m.receive(CallEnded(record=record("c1", outcome)), 3.0)
    assert m.state == AgentState.AVAILABLE
    assert m.view().awaiting_disposition is None
    assert not [e for e in m.events_emitted() if isinstance(e, DispositionSubmitted)]
    assert not [c for c in m.commands_to_send() if isinstance(c, StartTimer)]
    assert isinstance(m.request_call("+33145678901", "c2", 4.0), CallRequest)  # next call at once


@pytest.mark.parametrize(
    "outcome",
    [
        CallOutcome.CUSTOMER_BUSY,
        CallOutcome.CUSTOMER_NO_ANSWER,
        CallOutcome.CUSTOMER_REJECTED,
        CallOutcome.AGENT_ABANDONED,
        CallOutcome.CANCELLED,
    ],
)
def test_customer_side_failure_goes_to_wrap_up(outcome: CallOutcome) -> None:
    m = agent()
    on_call(m)
    m.receive(CallEnded(record=record("c1", outcome)), 3.0)
    assert m.state == AgentState.WRAP_UP
    assert m.view().awaiting_disposition is not None


def test_pause_requested_during_an_unconfirmed_call_applies_at_once() -> None:
    m = agent()
    on_call(m)
    assert m.receive(Pause(reason="break"), 2.0) is None
    m.receive(CallEnded(record=record("c1", CallOutcome.AGENT_NOT_CONFIRMED)), 3.0)
    assert m.state == AgentState.PAUSED


def test_pause_during_call_applies_after_qualification() -> None:
    m = agent()
    on_call(m)
    assert m.receive(Pause(reason="break"), 3.0) is None
    assert m.state == AgentState.ON_CALL
    m.receive(CallEnded(record=record("c1")), 4.0)
    m.receive(SubmitDisposition(call_id="c1", code="callback"), 5.0)
    assert m.state == AgentState.PAUSED
    assert m.view().pause_reason == "break"


def test_workstation_changes_and_refusals() -> None:
    m = agent(softphone_endpoint=None)
    m.receive(LogIn(), 1.0)
    refusal = m.receive(SetWorkstation(mode=WorkstationMode.SOFTPHONE), 2.0)
    assert refusal is not None and refusal.code == "no_softphone"
    bad = m.receive(SetWorkstation(mode=WorkstationMode.MOBILE, mobile_number="+33 6 12"), 2.0)
    assert bad is not None and bad.code == "invalid_number"
    assert m.receive(SetWorkstation(WorkstationMode.MOBILE, "07 81 23 45 67"), 2.0) is None
    assert m.view().mobile_number == "+33781234567"
    on_call(m, "c2")
    busy = m.receive(SetWorkstation(WorkstationMode.MOBILE, "0611111111"), 3.0)
    assert busy is not None and busy.code == "agent_on_call"
    assert m.receive(LogOut(), 3.0) is None  # kept for the end of the call
    assert m.log_out_pending


# ------------------------------------------------------------------ toll fraud: agent mobiles
@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+33899123456", "premium-rate"),  # premium rate, billed to the call center
        ("0810 12 34 56", "shared-cost"),
        ("+32470123456", "BE number"),  # foreign
        ("+33612345678", "another person's phone"),  # bob's configured mobile
    ],
)
def test_an_agent_cannot_take_a_costly_foreign_or_someone_elses_number(
    number: str, why: str
) -> None:
    m = agent(numbers_of_others={"+33612345678": "bob"})
    m.receive(LogIn(), 1.0)
    m.events_emitted()
    refusal = m.receive(SetWorkstation(WorkstationMode.MOBILE, number), 2.0)
    assert refusal is not None and refusal.code == "number_not_allowed", refusal
    assert why in refusal.detail
    assert m.view().mobile_number == "+33611111111"  # unchanged: every call still dials it
    assert not [e for e in m.events_emitted() if isinstance(e, MobileNumberChanged)]
    request = m.request_call("0622222222", "c1", 3.0)
    assert isinstance(request, CallRequest) and "+33611111111" in request.agent_endpoint


def test_agent_mobiles_follow_their_own_allowed_prefixes() -> None:
    policy = DialingPolicy(agent_mobile_prefixes=("+336", "+337"))
    m = agent(policy=policy)
    m.receive(LogIn(), 1.0)
    landline = m.receive(SetWorkstation(WorkstationMode.MOBILE, "01 45 67 89 01"), 2.0)
    assert landline is not None and landline.code == "number_not_allowed"
    assert "+336, +337" in landline.detail
    assert m.receive(SetWorkstation(WorkstationMode.MOBILE, "07 81 23 45 67"), 2.0) is None
    # customers are not held to the agents' prefixes
    assert isinstance(m.request_call("01 45 67 89 01", "c1", 3.0), CallRequest)


def test_a_configured_mobile_that_breaks_the_policy_is_not_dialed() -> None:
    m = agent(mobile_number="+33899123456")
    m.receive(LogIn(), 1.0)
    assert m.view().mobile_number is None
    refusal = m.request_call("0622222222", "c1", 2.0)
    assert isinstance(refusal, Refusal) and refusal.code == "no_workstation"


def test_a_change_of_mobile_number_is_audited() -> None:
    m = agent(numbers_of_others={"+33611111111": "a1"})  # its own number is fine
    m.receive(LogIn(), 1.0)
    m.events_emitted()
    assert m.receive(SetWorkstation(WorkstationMode.MOBILE, "07 81 23 45 67"), 2.5) is None
    assert m.events_emitted() == [
        MobileNumberChanged(
            agent_id="a1", old_number="+33611111111", new_number="+33781234567", by="a1", at=2.5
        )
    ]
    # the same number again, or a switch to the softphone, is no change of number
    assert m.receive(SetWorkstation(WorkstationMode.MOBILE, "+33781234567"), 3.0) is None
    assert m.receive(SetWorkstation(WorkstationMode.SOFTPHONE), 3.0) is None
    assert m.receive(SetWorkstation(WorkstationMode.MOBILE, by="admin"), 3.5) is None
    assert not [e for e in m.events_emitted() if isinstance(e, MobileNumberChanged)]


def test_call_ended_for_another_call_is_ignored() -> None:
    m = agent()
    on_call(m)
    m.receive(CallEnded(record=record("other")), 3.0)
    assert m.state == AgentState.ON_CALL


def test_agent_inputs_decode_from_json() -> None:
    decoder = msgspec.json.Decoder(Pause | SubmitDisposition | LogIn)
    assert decoder.decode(b'{"type":"pause","reason":"x"}') == Pause(reason="x")
    with pytest.raises(msgspec.ValidationError):
        decoder.decode(b'{"type":"submit_disposition","call_id":1}')


# ------------------------------------------------------------------ phone numbers
@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 (0)6 12 34 56 78", "FR", "+33612345678"),
        ("0033612345678", "FR", "+33612345678"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+32 470 12 34 56", "FR", "+32470123456"),
    ],
)
def test_normalize_to_e164(raw: str, region: str, expected: str) -> None:
    assert normalize(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "   ", "abc", "+33 6 12", "06", "1" * 40, "+999 123"])
def test_normalize_refuses_with_a_clear_problem(raw: str) -> None:
    problem = normalize(raw)
    assert isinstance(problem, NumberProblem)
    assert problem.code == "invalid_number"
    assert problem.detail


@pytest.mark.parametrize(
    ("policy", "raw", "code"),
    [
        (DialingPolicy(), "08 99 23 45 67", "premium_rate"),
        (DialingPolicy(), "08 10 12 34 56", "shared_cost"),
        (DialingPolicy(), "+44 20 7946 0958", "region_not_allowed"),
        (DialingPolicy(allowed_prefixes=("+336", "+337")), "01 23 45 67 89", "prefix_not_allowed"),
    ],
)
def test_policy_refusals(policy: DialingPolicy, raw: str, code: str) -> None:
    problem = policy.check(raw)
    assert isinstance(problem, NumberProblem)
    assert problem.code == code
    assert "+" in problem.detail


def test_policy_allows_what_it_should() -> None:
    assert DialingPolicy().check("01 23 45 67 89") == "+33123456789"
    open_policy = DialingPolicy(
        allowed_regions=(), refuse_premium_rate=False, refuse_shared_cost=False
    )
    assert open_policy.check("+44 20 7946 0958") == "+442079460958"
    assert open_policy.check("08 99 23 45 67") == "+33899234567"
    prefixes = DialingPolicy(allowed_prefixes=("+336",))
    assert prefixes.check("06 12 34 56 78") == "+33612345678"


# ------------------------------------------------------------------ the agent's day
def test_sign_out_during_a_call_applies_when_the_call_ends() -> None:
    m = agent()
    on_call(m)
    assert m.receive(LogOut(), 3.0) is None  # kept, not refused
    assert m.state == AgentState.ON_CALL and m.log_out_pending
    m.events_emitted()
    m.receive(CallEnded(record=record("c1")), 4.0)  # a conversation: nobody left to qualify
    assert m.state == AgentState.OFFLINE
    events = m.events_emitted()
    dispositions = [e.disposition for e in events if isinstance(e, DispositionSubmitted)]
    assert [(d.call_id, d.code) for d in dispositions] == [("c1", "not_qualified")]
    assert m.view().awaiting_disposition is None


def test_sign_out_during_a_call_without_conversation_and_sign_in_again() -> None:
    m = agent()
    on_call(m)
    m.receive(LogOut(), 3.0)
    m.receive(CallEnded(record=record("c1", CallOutcome.AGENT_NO_ANSWER)), 4.0)
    assert m.state == AgentState.OFFLINE
    on_call(m, "c2")
    m.receive(LogOut(), 5.0)
    m.receive(LogIn(), 6.0)  # back before the call ended: the sign-out is forgotten
    m.receive(CallEnded(record=record("c2")), 7.0)
    assert m.state == AgentState.WRAP_UP


def test_sign_out_in_wrap_up_closes_it() -> None:
    m = agent(wrap_up_max_s=30.0)
    on_call(m)
    m.receive(CallEnded(record=record("c1")), 3.0)
    m.commands_to_send()
    assert m.receive(LogOut(), 4.0) is None
    assert m.state == AgentState.OFFLINE
    assert m.commands_to_send() == [CancelTimer(name="wrap_up")]


def test_a_number_on_the_do_not_call_list_is_refused_before_dialing() -> None:
    from core.do_not_call import DoNotCallList

    m = agent()
    m.use_do_not_call(DoNotCallList(["+33622222222"]))
    m.receive(LogIn(), 1.0)
    refused = m.request_call("06 22 22 22 22", "c1", 2.0)
    assert isinstance(refused, Refusal) and refused.code == "do_not_call"
    assert m.state == AgentState.AVAILABLE and m.call_id is None
    assert isinstance(m.request_call("06 33 33 33 33", "c2", 3.0), CallRequest)
