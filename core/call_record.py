"""The one factory of `CallRecord`s: the call machine's record, the record of a call lost
while the core was away (core.recovery_call) and the record of a call that could not start
(actors/agent_actor.py) all come from `call_record`.
"""

from __future__ import annotations

from core.call_config import CallRequest
from core.domain import CallOutcome, LegRole, Party
from core.ids import agent_channel_id
from core.records import AgentLegRecord, CallRecord, LegRecord, StepTime


def call_record(
    request: CallRequest,
    *,
    outcome: CallOutcome,
    ended_at: float,
    reason: str = "",
    agent_leg: LegRecord | None = None,
    customer_leg: LegRecord | None = None,
    steps: tuple[StepTime, ...] = (),
    hung_up_first: Party | None = None,
    recording_name: str | None = None,
    connected_at: float | None = None,
    recovered: bool = False,
    agent_legs: tuple[AgentLegRecord, ...] = (),
) -> CallRecord:
    """A record for `request`; without `agent_leg`, a bare agent leg (never dialed)."""
    if agent_leg is None:
        agent_leg = LegRecord(
            role=LegRole.AGENT,
            endpoint=request.agent_endpoint,
            channel_id=agent_channel_id(request.call_id),
        )
    return CallRecord(
        call_id=request.call_id,
        agent_id=request.agent_id,
        contact_id=request.contact_id,
        customer_number=request.customer_number,
        workstation=request.workstation,
        agent_leg=agent_leg,
        customer_leg=customer_leg,
        steps=steps,
        outcome=outcome,
        reason=reason,
        hung_up_first=hung_up_first,
        recording_name=recording_name,
        started_at=request.requested_at,
        connected_at=connected_at,
        ended_at=ended_at,
        recovered=recovered,
        agent_legs=agent_legs,
    )
