"""What a restarted core rebuilds for calls it did not see end: the call machine of a call
Asterisk still has (`adopt_call`), the request of an adopted call (from the EVS_* channel
variables when the journal has none) and the record of a call that ended while the core was
away. Pure; never raises.

Adoption rules (`adopt_call`), from the legs Asterisk still lists and what a journal kept:

- both legs Up            -> connected when both are in the call bridge (each leg probed
                             once: a 404 says it ended after the listing but before the
                             call owned its channels, its end routed to nobody), else
                             bridging (the bridge is set up again; 409 on CreateBridge
                             counts as created)
- agent Up, customer Down -> customer_dialing (the customer still rings)
- agent Up, no customer   -> announcing / agent_confirming again when the journal says the
                             customer was never dialed, else the agent hears the
                             "unreachable" notice, then ending (internal_error
                             "recovered_incomplete")
- agent Down (ringing)    -> agent_dialing
- no agent leg            -> ending: the customer leg is hung up (agent_abandoned before the
                             customer answered, completed after)
- agent Up, no customer, but the call was connected (journal, or the agent is still in the
  call bridge)            -> ending, completed, the customer hung up first
"""

from __future__ import annotations

from core.call import CallMachine
from core.call_actions import T_AGENT_ANSWER, T_BRIDGE, T_CUSTOMER_ANSWER, BridgeState
from core.call_config import CallRequest, CallSettings, CustomerDialMethod
from core.call_record import call_record
from core.domain import CallOutcome, CallStep, LegRole, Party, WorkstationMode
from core.ids import agent_channel_id
from core.leg import END_NOT_SEEN, END_TELEPHONY_RESTARTED, FailureKind, Leg
from core.records import CallRecord, LegRecord, StepTime
from core.recovery_scan import LiveCall, LiveLeg

_BEFORE_CUSTOMER = frozenset(
    {
        CallStep.AGENT_DIALING,
        CallStep.AGENT_ANSWERED,
        CallStep.AGENT_CONFIRMING,
        CallStep.ANNOUNCING,
    }
)


def adopt_call(
    request: CallRequest,
    settings: CallSettings,
    live: LiveCall,
    at: float,
    *,
    last_step: CallStep | None = None,
    connected_at: float | None = None,
) -> CallMachine:
    """Rebuild a call after a core restart from what Asterisk lists of it (GET /channels,
    /bridges; core.recovery_scan). `last_step` and `connected_at` are what a journal kept,
    if any. The record will say `recovered=True`. Commands to send at once (and a
    CallStepChanged) are queued as usual."""
    agent, customer, bridge_id = live.agent, live.customer, live.bridge_id
    m = CallMachine(request, settings)
    m.recovered = True
    m._step_since = at
    creating = settings.customer_dial_method == CustomerDialMethod.CREATE_DIAL
    if customer is not None:
        m.customer = _adopted_leg(
            LegRole.CUSTOMER, request.customer_endpoint, customer, at, connected_at, creating
        )
        m.customer.dial_sent = creating
    was_connected = (
        last_step == CallStep.CONNECTED
        or bridge_id == m.bridge_id
        or any(leg is not None and leg.bridge_id == m.bridge_id for leg in (agent, customer))
    )
    if agent is None:
        m.agent.mark_destroyed(at)
        customer_up = m.customer is not None and m.customer.up
        outcome = CallOutcome.COMPLETED if customer_up else CallOutcome.AGENT_ABANDONED
        _gone_while_away(m, outcome, Party.AGENT, was_connected, connected_at, at)
        return m
    in_stasis = agent.state == "Up"
    m.agent = _adopted_leg(
        LegRole.AGENT, request.agent_endpoint, agent, at, connected_at, in_stasis
    )
    if not m.agent.up:
        m._start_timer(T_AGENT_ANSWER, settings.agent_ring_timeout_s + settings.stasis_guard_s)
        m._set_step(CallStep.AGENT_DIALING, at, "adopted")
    elif m.customer is not None and m.customer.up:
        _adopt_answered(m, bridge_id, agent, customer, at, connected_at)
    elif m.customer is not None:
        m._hold = settings.hold_audio
        m._start_timer(
            T_CUSTOMER_ANSWER, settings.customer_ring_timeout_s + settings.stasis_guard_s
        )
        m._set_step(CallStep.CUSTOMER_DIALING, at, "adopted")
    elif was_connected:  # the customer hung up while the core was away
        _gone_while_away(m, CallOutcome.COMPLETED, Party.CUSTOMER, True, connected_at, at)
    elif last_step in _BEFORE_CUSTOMER:
        m._agent_ready(at)
    else:  # the customer may have been dialed (and failed) while away: never redial
        m._conclude(CallOutcome.INTERNAL_ERROR, "recovered_incomplete", Party.SYSTEM)
        m._hold = settings.hold_audio  # it was probably on: stop it first
        m._play_notice(FailureKind.UNREACHABLE, at)
    return m


def _gone_while_away(
    m: CallMachine,
    outcome: CallOutcome,
    party: Party,
    was_connected: bool,
    connected_at: float | None,
    at: float,
) -> None:
    """One leg ended while the core was away: end the other (and the bridge)."""
    if was_connected and outcome == CallOutcome.COMPLETED:
        m.connected_at = connected_at if connected_at is not None else at
        m._bridge = BridgeState.CREATED  # destroyed once the legs are gone
        m.recording_name = m.call_id if m.settings.recording else None
    m._conclude(outcome, f"{party}_gone_while_core_away", party)
    m._hang_up_all(at)


def _adopt_answered(
    m: CallMachine,
    bridge_id: str | None,
    agent: LiveLeg,
    customer: LiveLeg | None,
    at: float,
    connected_at: float | None,
) -> None:
    m.connected_at = connected_at if connected_at is not None else at
    bridged = (
        bridge_id == m.bridge_id
        and agent.bridge_id == m.bridge_id
        and customer is not None
        and customer.bridge_id == m.bridge_id
    )
    if bridged:
        m._bridge = BridgeState.CREATED
        m.recording_name = m.call_id if m.settings.recording else None
        m._set_step(CallStep.CONNECTED, at, "adopted")
        m._probe_listed_legs()  # a leg may have ended before the call owned its channels
    else:  # set the bridge up again (409 on CreateBridge counts as created)
        m._hold = m.settings.hold_audio
        m._create_bridge()
        m._start_timer(T_BRIDGE, m.settings.bridge_guard_s)
        m._set_step(CallStep.BRIDGING, at, "adopted")


def _adopted_leg(
    role: LegRole,
    endpoint: str,
    live: LiveLeg,
    at: float,
    connected_at: float | None,
    in_stasis: bool,
) -> Leg:
    leg = Leg(role, endpoint or live.name, live.channel_id)
    leg.local2_id = live.local2_id
    leg.dialed_at = live.created_at  # Asterisk's creationtime: the originate, to the ms
    leg.in_stasis = in_stasis
    leg.known_at = float("-inf")  # listed by Asterisk before any later listing
    if live.state == "Up":
        leg.answered_at = connected_at if connected_at is not None else at
    return leg


def adopted_request(live: LiveCall, at: float) -> CallRequest:
    """A CallRequest rebuilt from the EVS_* channel variables (what the record needs)."""
    v = live.variables
    # Requested just before its agent leg was created: Asterisk's creationtime says when.
    created = live.agent.created_at if live.agent is not None else None
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
        requested_at=created if created is not None and created <= at else at,
    )


def lost_call_record(
    request: CallRequest,
    last_step: CallStep,
    connected_at: float | None,
    at: float,
    *,
    telephony_restarted: bool = False,
) -> CallRecord:
    """A call the journal knew as live that Asterisk no longer has: it ended while the core
    was away; only what the journal kept is known. Who hung up first and why are unknown
    (hung_up_first None, cause 0) and `at`, when the core learned it, stands for the end
    (approximate, said in the leg's hangup_cause_text). When Asterisk restarted meanwhile
    (`telephony_restarted`), the restart cut it."""
    was_connected = last_step == CallStep.CONNECTED
    if telephony_restarted:
        outcome, reason, text = (
            CallOutcome.TELEPHONY_RESTARTED,
            "telephony_restarted",
            END_TELEPHONY_RESTARTED,
        )
    elif was_connected:
        outcome, reason, text = CallOutcome.COMPLETED, "ended_while_core_away", END_NOT_SEEN
    else:
        outcome, reason, text = CallOutcome.INTERNAL_ERROR, "lost_while_core_away", END_NOT_SEEN
    return call_record(
        request,
        outcome=outcome,
        ended_at=at,
        reason=reason,
        agent_leg=LegRecord(
            role=LegRole.AGENT,
            endpoint=request.agent_endpoint,
            channel_id=agent_channel_id(request.call_id),
            ended_at=at,
            hangup_cause_text=text,
        ),
        steps=(StepTime(last_step, connected_at or request.requested_at),),
        recording_name=request.call_id if was_connected else None,
        connected_at=connected_at,
        recovered=True,
    )
