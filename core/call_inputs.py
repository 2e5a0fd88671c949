"""Inputs of the Connect-to-Phone call machine that do not come from Asterisk.

Besides these, `CallMachine.receive` accepts every ARI event of `core.ari_events`
(including `UnhandledEvent`, ignored), the REST outcomes `AriCommandSucceeded` /
`AriCommandFailed` of `core.ari_commands`, and `TimerFired` of `core.timers`.
"""

from __future__ import annotations

import msgspec

from core.ari_commands import AriCommandFailed, AriCommandSucceeded
from core.ari_events import AriEvent, UnhandledEvent
from core.domain import WorkstationMode
from core.timers import TimerFired


class CallStart(msgspec.Struct, frozen=True, tag="call_start"):
    """Place the call: the machine dials the agent leg (or rejects the request)."""


class HangupFromUi(msgspec.Struct, frozen=True, tag="hangup_from_ui"):
    """The hang-up button of the agent desktop, or a supervisor. `by` is the agent or
    supervisor id (kept in the record's reason detail)."""

    by: str


class SwitchAgentLeg(msgspec.Struct, frozen=True, tag="switch_agent_leg"):
    """Move a connected call's agent leg to another workstation (the agent's "move the call
    to my mobile" / "to my softphone"): `endpoint` is the new leg's dial string, rendered by
    the agent's machine (core.agent.AgentMachine.switch_endpoint). The customer is held in
    the bridge while it rings (core/call_switch.py)."""

    target: WorkstationMode
    endpoint: str
    requested_by: str = ""


class AgentLegRestored(msgspec.Struct, frozen=True, tag="agent_leg_restored"):
    """The agent's session called its persistent leg again after it dropped mid-call
    (LegLent after LegLost, core/agent_leg_session.py): this channel, up and confirmed,
    joins the call's bridge."""

    channel_id: str


class AgentLegUnavailable(msgspec.Struct, frozen=True, tag="agent_leg_unavailable"):
    """The session could not call its leg again (LegUnavailable): the call ends."""

    reason: str


class ChannelsListed(msgspec.Struct, frozen=True, tag="channels_listed"):
    """The channels Asterisk lists after the events socket came back (it replays no
    event): a leg the call knew before `listed_at` (the machine's clock, when the listing
    was asked for) that is not in `channel_ids` vanished meanwhile. A leg first known after
    it may have been created after the listing: its absence proves nothing. Without
    `listed_at`, every known leg counts. `telephony_restarted`: Asterisk restarted meanwhile
    (its startup time changed), so what vanished was cut by the restart."""

    channel_ids: frozenset[str]
    listed_at: float | None = None
    telephony_restarted: bool = False


CallInput = (
    CallStart
    | HangupFromUi
    | SwitchAgentLeg
    | AgentLegRestored
    | AgentLegUnavailable
    | ChannelsListed
    | TimerFired
    | AriCommandSucceeded
    | AriCommandFailed
    | AriEvent
    | UnhandledEvent
)
