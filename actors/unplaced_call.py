"""A call that was never placed (the telephony link could not carry it, or its CallActor
could not start): nothing was dialed, and it still leaves exactly one record."""

from __future__ import annotations

from core.call_config import CallRequest
from core.call_record import call_record
from core.domain import CallOutcome, CallStep
from core.records import CallRecord, StepTime
from core.views import CallView


def unplaced_call(
    request: CallRequest, outcome: CallOutcome, reason: str, at: float
) -> tuple[CallRecord, CallView]:
    """The call's record and its final view (what the agent's desktop shows)."""
    record = call_record(
        request,
        outcome=outcome,
        ended_at=at,
        reason=reason[:300],
        steps=(StepTime(CallStep.FAILED, at),),
    )
    view = CallView(
        call_id=request.call_id,
        agent_id=request.agent_id,
        step=CallStep.FAILED,
        customer_number=request.customer_number,
        contact_id=request.contact_id,
        outcome=outcome,
        reason=reason,
        workstation=request.workstation,
        step_since=at,
        ended_at=at,
    )
    return record, view
