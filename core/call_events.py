"""What the call machine tells the rest of the core (besides ARI and timer commands)."""

from __future__ import annotations

import msgspec

from core.domain import CallStep, SwitchResult, WorkstationMode
from core.records import CallRecord


class CallStepChanged(msgspec.Struct, frozen=True, tag="call_step_changed"):
    call_id: str
    step: CallStep
    at: float
    reason: str = ""


class CallEnded(msgspec.Struct, frozen=True, tag="call_ended"):
    """Emitted exactly once per call, last."""

    record: CallRecord


class AgentLegSwitched(msgspec.Struct, frozen=True, tag="agent_leg_switched"):
    """A mid-call switch of the agent leg ended: `result` switched (the new leg is in the
    bridge, at `at`) or why not. `requested_at` -> `at` is the switch time."""

    call_id: str
    source: WorkstationMode
    target: WorkstationMode
    result: SwitchResult
    requested_at: float
    at: float
    reason: str = ""  # detail ("busy", "http 500: Allocation failed"...)


class AgentLegReturned(msgspec.Struct, frozen=True, tag="agent_leg_returned"):
    """The call is over for the agent's persistent leg: give it back to the session
    (ReturnLeg); the call did not hang it up."""

    call_id: str
    channel_id: str


class AgentLegDropped(msgspec.Struct, frozen=True, tag="agent_leg_dropped"):
    """The persistent leg hung up mid-call: the customer holds; tell the session (it calls
    the leg again and answers AgentLegRestored or AgentLegUnavailable)."""

    call_id: str
    channel_id: str


CallEvent = (
    CallStepChanged | CallEnded | AgentLegSwitched | AgentLegReturned | AgentLegDropped
)
