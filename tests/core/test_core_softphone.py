"""core/softphone.py: which calls a softphone going offline ends, and the names the records
of the two softphone endings get (W03: not registered; W05: page closed mid-call)."""

from __future__ import annotations

from core.domain import AgentState, CallOutcome, CallStep, LegRole, Party, WorkstationMode
from core.records import CallRecord, LegRecord
from core.softphone import (
    OFFLINE_HANGUP_BY,
    REASON_NOT_REGISTERED,
    REASON_OFFLINE,
    SoftphoneBook,
    named_record,
)
from core.views import AgentView, CallView


def view(call_id: str, agent: str = "a1", step: CallStep = CallStep.CONNECTED,
         workstation: WorkstationMode = WorkstationMode.SOFTPHONE,
         ended_at: float | None = None) -> CallView:
    return CallView(call_id=call_id, agent_id=agent, step=step, customer_number="+33611111111",
                    workstation=workstation, ended_at=ended_at)


def record(outcome: CallOutcome, reason: str,
           workstation: WorkstationMode = WorkstationMode.SOFTPHONE) -> CallRecord:
    leg = LegRecord(role=LegRole.AGENT, endpoint="PJSIP/webrtc-1001", channel_id="c-agent")
    return CallRecord(call_id="c", agent_id="a1", customer_number="+33611111111",
                      workstation=workstation, agent_leg=leg, outcome=outcome, reason=reason,
                      hung_up_first=Party.UI, started_at=1.0, ended_at=2.0)


def test_offline_ends_the_live_softphone_calls_of_that_endpoint_only() -> None:
    book = SoftphoneBook({"a1": "webrtc-1001", "a2": "webrtc-1002"})
    assert book.endpoint_state("webrtc-1001", "online") == []
    book.on_view(view("c1"))
    book.on_view(view("c2", agent="a2"))
    book.on_view(view("m1", workstation=WorkstationMode.MOBILE))  # not on the softphone
    book.on_view(view("c9", agent="stranger"))  # not watched
    assert book.endpoint_state("webrtc-1001", "offline") == ["c1"]
    assert book.endpoint_state("webrtc-1001", "offline") == []  # already offline: once


def test_an_ended_call_is_forgotten() -> None:
    book = SoftphoneBook({"a1": "webrtc-1001"})
    book.endpoint_state("webrtc-1001", "online")
    book.on_view(view("c1", step=CallStep.AGENT_DIALING))
    book.on_view(view("c1", step=CallStep.ENDED, ended_at=5.0))
    assert book.endpoint_state("webrtc-1001", "offline") == []


def test_agent_views_are_ignored() -> None:
    book = SoftphoneBook({"a1": "webrtc-1001"})
    book.on_view(AgentView(agent_id="a1", display_name="A", state=AgentState.ON_CALL,
                           state_since=0.0, call=view("c1")))
    assert book.endpoint_state("webrtc-1001", "offline") == []
    assert book.endpoint_names() == ["webrtc-1001"]


def test_records_name_the_softphone_endings() -> None:
    lost = named_record(record(CallOutcome.COMPLETED, f"hangup_from_ui:{OFFLINE_HANGUP_BY}"))
    assert (lost.outcome, lost.reason, lost.hung_up_first) == (
        CallOutcome.AGENT_SOFTPHONE_LOST, REASON_OFFLINE, Party.AGENT)
    absent = named_record(record(CallOutcome.AGENT_UNREACHABLE, "http 500: Allocation failed"))
    assert absent.outcome == CallOutcome.AGENT_UNREACHABLE
    assert absent.reason == f"{REASON_NOT_REGISTERED} (http 500: Allocation failed)"


def test_other_records_are_left_as_they_are() -> None:
    for original in (
        record(CallOutcome.COMPLETED, "hangup_from_ui:a1"),
        record(CallOutcome.AGENT_UNREACHABLE, "http 500: Allocation failed",
               WorkstationMode.MOBILE),
        record(CallOutcome.AGENT_BUSY, "busy"),
    ):
        assert named_record(original) == original
