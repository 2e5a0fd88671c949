"""Read-only snapshots of agents and calls, as the actors publish them to the gateway hub.

They are what the agent desktop and the supervisor wallboard render; each is complete on its
own, so a browser that reconnects needs only the latest one per agent.
"""

from __future__ import annotations

import msgspec

from core.domain import (
    AgentState,
    CallOutcome,
    CallStep,
    Party,
    SupervisionMode,
    WorkstationMode,
)


class CallView(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    agent_id: str
    step: CallStep
    customer_number: str
    contact_id: str | None = None
    outcome: CallOutcome | None = None
    # Machine-readable detail of the outcome (e.g. "busy", "no_answer", "invalid_number").
    reason: str = ""
    workstation: WorkstationMode = WorkstationMode.MOBILE
    step_since: float = 0.0  # epoch seconds when `step` began
    connected_at: float | None = None
    ended_at: float | None = None
    recording_name: str | None = None
    monitored_by: tuple[tuple[str, SupervisionMode], ...] = ()
    # Who ended the call first ("You hung up" / "The customer hung up"); None while live.
    ended_by: Party | None = None
    # A mid-call switch of the agent leg: where to while it runs, then how the last one
    # ended (a SwitchResult: "switched", "no_answer"...) so the desk can say why.
    switching_to: WorkstationMode | None = None
    switch_result: str = ""
    switch_reason: str = ""


class AgentView(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    display_name: str
    state: AgentState
    state_since: float
    workstation: WorkstationMode | None = None
    mobile_number: str | None = None
    pause_reason: str | None = None
    call: CallView | None = None
    # The last ended call, kept until it is qualified (the wrap-up form needs it).
    awaiting_disposition: CallView | None = None
    # The persistent agent leg (core/agent_leg_session.py): its SessionState ("" when none
    # was ever opened), why it ended, the calls it carried.
    leg_session: str = ""
    leg_session_reason: str = ""
    leg_session_calls: int = 0
