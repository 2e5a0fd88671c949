"""What a restarted core rebuilds for calls it did not see end: the request of an adopted
call (from the EVS_* channel variables when the journal has none) and the record of a call
that ended while the core was away.

Adoption itself is `core.call.CallMachine.adopt`; these helpers are pure and never raise.
"""

from __future__ import annotations

from core.call_config import CallRequest
from core.domain import CallOutcome, CallStep, LegRole, WorkstationMode
from core.records import CallRecord, LegRecord, StepTime
from core.recovery_scan import LiveCall


def adopted_request(live: LiveCall, at: float) -> CallRequest:
    """A CallRequest rebuilt from the EVS_* channel variables (what the record needs)."""
    v = live.variables
    workstation = v.get("EVS_WORKSTATION", "mobile")
    if workstation not in {m.value for m in WorkstationMode}:
        workstation = "mobile"
    return CallRequest(
        call_id=live.call_id,
        agent_id=v.get("EVS_AGENT_ID", ""),
        agent_endpoint=live.agent.name if live.agent else "",
        customer_number=v.get("EVS_CUSTOMER_NUMBER", ""),
        customer_endpoint=live.customer.name if live.customer else "",
        workstation=WorkstationMode(workstation),
        contact_id=v.get("EVS_CONTACT_ID") or None,
        requested_at=at,
    )


def lost_call_record(
    request: CallRequest, last_step: CallStep, connected_at: float | None, at: float
) -> CallRecord:
    """A call the journal knew as live that Asterisk no longer has: it ended while the core
    was away; only what the journal kept is known."""
    was_connected = last_step == CallStep.CONNECTED
    return CallRecord(
        call_id=request.call_id,
        agent_id=request.agent_id,
        contact_id=request.contact_id,
        customer_number=request.customer_number,
        workstation=request.workstation,
        agent_leg=LegRecord(
            role=LegRole.AGENT,
            endpoint=request.agent_endpoint,
            channel_id=f"{request.call_id}-agent",
            ended_at=at,
        ),
        steps=(StepTime(last_step, connected_at or request.requested_at),),
        outcome=CallOutcome.COMPLETED if was_connected else CallOutcome.INTERNAL_ERROR,
        reason="ended_while_core_away" if was_connected else "lost_while_core_away",
        hung_up_first=None,
        recording_name=request.call_id if was_connected else None,
        started_at=request.requested_at,
        connected_at=connected_at,
        ended_at=at,
        recovered=True,
    )
