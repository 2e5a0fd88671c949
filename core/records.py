"""What a finished call leaves behind: one `CallRecord` (with two `LegRecord`s) per call.

The call machine emits exactly one `CallRecord` whatever the outcome, inside `CallEnded`.
The disposition (the agent's qualification of the call) is decided later, in wrap-up: the
agent machine emits a separate `Disposition` record, joined on `call_id` by analytics;
`CallRecord.disposition` stays None in what the call machine emits (`with_disposition`
returns a copy carrying it when a writer wants both in one row).
"""

from __future__ import annotations

import msgspec

from core.domain import CallOutcome, CallStep, LegRole, Party, WorkstationMode


class LegRecord(msgspec.Struct, frozen=True, kw_only=True):
    role: LegRole
    endpoint: str  # the dial string, e.g. "PJSIP/+33612345678@trunk"
    channel_id: str
    dialed_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    # Q.850 cause of the leg's end as Asterisk reported it (ChannelDestroyed; for Local
    # channels the ;2 half's cause when the ;1 says 0), 0 when unknown.
    hangup_cause: int = 0
    hangup_cause_text: str = ""
    tech_cause: int | None = None  # the SIP status for PJSIP legs (486, 404, 603...)
    dial_status: str = ""  # last Dial status seen (BUSY, NOANSWER, ANSWER...)
    billable_seconds: float = 0.0  # answered -> ended, 0 when never answered


class AgentLegRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One agent leg of a call, in the order they were dialed: the first, then one per
    mid-call switch (core/call_switch.py), the failed ones included."""

    workstation: WorkstationMode
    endpoint: str
    channel_id: str
    dialed_at: float | None = None
    answered_at: float | None = None
    joined_at: float | None = None  # entered the call's bridge (None: never joined)
    ended_at: float | None = None
    # call_ended (it stayed to the end), switched_away (replaced by the next leg),
    # hung_up (the agent hung it up during a switch), else a SwitchResult (no_answer...)
    end_reason: str = ""
    hangup_cause: int = 0
    billable_seconds: float = 0.0
    cost: float | None = None  # [costs] (core/costs.py); None when costs are not configured


class StepTime(msgspec.Struct, frozen=True):
    step: CallStep
    at: float


class Disposition(msgspec.Struct, frozen=True, kw_only=True):
    """The agent's qualification of a call, submitted in wrap-up."""

    call_id: str
    agent_id: str
    code: str
    comment: str = ""
    callback_at: str | None = None
    submitted_at: float = 0.0


class CallRecord(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    agent_id: str
    contact_id: str | None = None
    customer_number: str  # E.164; "" for a call to a raw dial string (`evscallpro dial`)
    workstation: WorkstationMode
    agent_leg: LegRecord
    customer_leg: LegRecord | None = None  # None when the customer was never dialed
    steps: tuple[StepTime, ...] = ()
    outcome: CallOutcome
    reason: str = ""  # machine-readable detail ("busy", "http 500: Allocation failed"...)
    hung_up_first: Party | None = None
    recording_name: str | None = None
    disposition: Disposition | None = None
    started_at: float
    connected_at: float | None = None
    ended_at: float
    recovered: bool = False  # built after a core restart from what Asterisk still knew
    # Every agent leg when the agent leg was switched mid-call (`agent_leg` is the first);
    # empty for a call that never switched.
    agent_legs: tuple[AgentLegRecord, ...] = ()


def with_disposition(record: CallRecord, disposition: Disposition) -> CallRecord:
    return msgspec.structs.replace(record, disposition=disposition)
