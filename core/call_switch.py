"""The mid-call switch of the agent leg (softphone <-> mobile), the customer never dropped.

`SwitchAgentLeg(target, endpoint)` on a connected call (core.call's table, step
`switching`):

1. the CUSTOMER hears the `agent_switching` prompt then music on hold, on its own channel,
   while it stays in the call's bridge (so does the old agent leg: nothing moves yet);
   the new agent leg `<call_id>-agent-s<n>` is originated (`agent_answer` timeout);
2. answered (Up and in Stasis): with acceptance for the target workstation (a mobile, as
   `[acceptance]` says) it hears "press 1" and must press 1 (a voicemail never does:
   `not_confirmed`); then the customer's hold stops and the new leg is added to the bridge;
3. `ChannelEnteredBridge` of the new leg (not the 204 of addChannel, which only means
   "accepted") = switched: the old leg is hung up, the new one is the call's agent leg,
   step back to `connected`; `AgentLegSwitched(result=switched)`.

The new leg failing (no answer, busy, not confirmed, unreachable, hung up, not joining the
bridge in time) stops the hold and leaves the call where it was (`connected`, old leg in
the bridge); `AgentLegSwitched(result=<why>)` and the view's `switch_result` tell the agent.
The old leg hanging up during the switch (or its browser going offline: the softphone
watcher's `HangupFromUi(by="softphone_offline")`) keeps the customer on hold while the new
leg rings; if the new leg then fails too, nobody is left for the customer: the call ends
(completed, reason `agent_hung_up_during_switch`, first = agent). The customer hanging up
or the hang-up button ends the call as in `connected` (`result=call_ended`).

The record keeps every agent leg (`CallRecord.agent_legs`): workstation, times, end reason.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.ari_commands import (
    AddToBridge,
    AriCommandFailed,
    OriginateChannel,
    StartMusicOnHold,
    StopMusicOnHold,
    StopPlayback,
)
from core.ari_events import ChannelDtmfReceived
from core.call_actions import CallActions, http_detail
from core.call_config import CallRequest, CallSettings
from core.call_events import AgentLegDropped, AgentLegReturned, AgentLegSwitched
from core.call_inputs import AgentLegRestored, AgentLegUnavailable, HangupFromUi, SwitchAgentLeg
from core.costs import LegCost, cost_of
from core.domain import CallOutcome, CallStep, LegRole, Party, SwitchResult, WorkstationMode
from core.ids import app_args, playback_id, switch_leg_id
from core.leg import FailureKind, Leg
from core.records import AgentLegRecord, CallRecord
from core.views import CallView

T_SWITCH_ANSWER = "switch_answer"
T_SWITCH_CONFIRM = "switch_confirm"
T_SWITCH_BRIDGE = "switch_bridge"
SWITCH_TIMERS = (T_SWITCH_ANSWER, T_SWITCH_CONFIRM, T_SWITCH_BRIDGE)
PB_HOLD = "switch-hold"  # the customer's "please hold" while the new leg rings
PB_PRESS1 = "switch-press1"  # "press 1" on the new leg
SWITCH_PLAYBACKS = (PB_HOLD, PB_PRESS1)
OFFLINE_HANGUP_BY = "softphone_offline"  # core.softphone's watcher (same value)

# How the new leg failed -> what the agent is told.
_RESULT_OF_FAILURE = {
    FailureKind.BUSY: SwitchResult.BUSY,
    FailureKind.REJECTED: SwitchResult.BUSY,
    FailureKind.NO_ANSWER: SwitchResult.NO_ANSWER,
}

# AgentLegRecord.end_reason of the legs that did not fail.
END_CALL_ENDED = "call_ended"
END_SWITCHED_AWAY = "switched_away"
END_HUNG_UP = "hung_up"


class AgentSlot:
    """One agent leg of the call and what became of it."""

    def __init__(self, leg: Leg, workstation: WorkstationMode) -> None:
        self.leg = leg
        self.workstation = workstation
        self.joined_at: float | None = None
        self.end_reason = ""

    def record(self, ended_at: float | None, costs: dict[str, LegCost]) -> AgentLegRecord:
        leg = self.leg.record()
        end = leg.ended_at if leg.ended_at is not None else ended_at
        billable = leg.billable_seconds
        if leg.ended_at is None and end is not None and leg.answered_at is not None:
            billable = round(max(0.0, end - leg.answered_at), 3)
        return AgentLegRecord(
            workstation=self.workstation,
            endpoint=leg.endpoint,
            channel_id=leg.channel_id,
            dialed_at=leg.dialed_at,
            answered_at=leg.answered_at,
            joined_at=self.joined_at,
            ended_at=end,
            end_reason=self.end_reason or END_CALL_ENDED,
            hangup_cause=leg.hangup_cause,
            billable_seconds=billable,
            cost=cost_of(costs, self.workstation, leg.answered_at is not None, billable),
        )


class Switch:
    """The switch under way."""

    def __init__(self, slot: AgentSlot, source: WorkstationMode, requested_at: float) -> None:
        self.slot = slot
        self.source = source
        self.requested_at = requested_at
        self.confirming = False  # "press 1" asked on the new leg
        self.joining = False  # AddToBridge sent
        self.hold_prompt = False  # the customer's "please hold" is playing
        self.moh = False  # the customer hears music on hold
        self.old_gone = False  # the old agent leg hung up meanwhile

    @property
    def leg(self) -> Leg:
        return self.slot.leg


class SwitchActions(CallActions):
    """The call's agent legs and the switch handlers (the table is in core.call)."""

    def __init__(self, request: CallRequest, settings: CallSettings) -> None:
        super().__init__(request, settings)
        self._now = request.requested_at  # the time of the input being handled
        # Channels of the agent's persistent legs (lent by its session): given back, never
        # hung up (core/agent_leg_session.py).
        self._session_legs: set[str] = set()
        if request.lent_agent_leg:
            self.agent = self._session_leg(request.lent_agent_leg, request.requested_at)
        self._slots = [AgentSlot(self.agent, request.workstation)]
        self._switch: Switch | None = None
        self.switch_result = ""
        self.switch_reason = ""

    # ----------------------------------------------------------------- surface
    @property
    def workstation(self) -> WorkstationMode:
        """Where the agent's voice rides now (changes with a switch)."""
        return self._current_slot().workstation

    @property
    def switching(self) -> Switch | None:
        return self._switch

    def view(self, monitored_by: tuple[tuple[str, Any], ...] = ()) -> CallView:
        view = super().view(monitored_by)
        return msgspec.structs.replace(
            view,
            workstation=self.workstation,
            switching_to=self._switch.slot.workstation if self._switch else None,
            switch_result=self.switch_result,
            switch_reason=self.switch_reason,
        )

    def record(self) -> CallRecord:
        record = super().record()
        self._current_slot()
        first = self._slots[0].leg.record()
        if self.is_finished and first.ended_at is None:
            first = msgspec.structs.replace(first, ended_at=record.ended_at)
        legs: tuple[AgentLegRecord, ...] = ()
        if len(self._slots) > 1:
            end = record.ended_at if self.is_finished else None
            costs = self.settings.agent_leg_costs
            legs = tuple(slot.record(end, costs) for slot in self._slots)
        return msgspec.structs.replace(record, agent_leg=first, agent_legs=legs)

    def channel_ids(self) -> tuple[str, ...]:
        ids = list(super().channel_ids())
        for slot in self._slots:
            ids.append(slot.leg.channel_id)
            if slot.leg.local2_id:
                ids.append(slot.leg.local2_id)
        return tuple(dict.fromkeys(ids))

    def playback_ids(self) -> tuple[str, ...]:
        extra = tuple(playback_id(self.call_id, what) for what in SWITCH_PLAYBACKS)
        return super().playback_ids() + extra

    # ----------------------------------------------------------------- legs
    def _legs(self) -> list[Leg]:
        self._current_slot()
        legs = [slot.leg for slot in self._slots if slot.leg is not self.agent]
        return legs + super()._legs()

    def _current_slot(self) -> AgentSlot:
        slot = next((slot for slot in self._slots if slot.leg is self.agent), None)
        if slot is None:  # the first leg was rebuilt (core.recovery_call.adopt_call)
            slot = self._slots[0]
            slot.leg = self.agent
        return slot

    def _is_switch_leg(self, channel_id: str) -> bool:
        return self._switch is not None and self._switch.leg.channel_id == channel_id

    # ----------------------------------------------------------------- persistent leg
    def _session_leg(self, channel_id: str, at: float) -> Leg:
        """A leg of the agent's session: up, in Stasis, confirmed; the call did not dial it."""
        leg = Leg(LegRole.AGENT, self.request.agent_endpoint, channel_id)
        leg.dialed_at = leg.answered_at = at
        leg.in_stasis = True
        leg.known(at)
        self._session_legs.add(channel_id)
        return leg

    def _originate_agent(self, at: float) -> None:
        """A lent persistent leg is not dialed: the customer is, at once."""
        if not self.request.lent_agent_leg:
            super()._originate_agent(at)
            return
        self._set_step(CallStep.AGENT_ANSWERED, at, "persistent_leg")
        self._agent_confirmed(at)

    def _hang_up(self, leg: Leg, reason: str = "normal") -> None:
        """A persistent leg is given back to the session, never hung up by the call."""
        if leg.channel_id not in self._session_legs:
            super()._hang_up(leg, reason)
            return
        if leg.destroyed:
            return
        leg.hangup_sent = True
        leg.mark_destroyed(self._now, 0, "returned to the agent's session")
        self._emit(AgentLegReturned(call_id=self.call_id, channel_id=leg.channel_id))

    def _lent_leg_dropped(self, at: float) -> bool:
        """connected: the persistent leg hung up on its own: the customer holds (prompt,
        then music) while the session calls it again; True when so handled."""
        agent, customer = self.agent, self.customer
        if (
            self._state != CallStep.CONNECTED
            or agent.channel_id not in self._session_legs
            or not agent.going
            or agent.hangup_sent
            or customer is None
            or customer.going
        ):
            return False
        old_slot = self._slot_of(agent)
        old_slot.end_reason = END_HUNG_UP
        placeholder = AgentSlot(Leg(LegRole.AGENT, agent.endpoint, ""), old_slot.workstation)
        switch = self._switch = Switch(placeholder, old_slot.workstation, at)
        switch.old_gone = True
        self._hold_customer(switch)
        self._start_timer(
            T_SWITCH_ANSWER,
            self.settings.agent_ring_timeout_s + self.settings.acceptance_timeout_s
            + self.settings.stasis_guard_s,
        )
        self._emit(AgentLegDropped(call_id=self.call_id, channel_id=agent.channel_id))
        self._set_step(CallStep.SWITCHING, at, "agent_leg_dropped")
        return True

    def _agent_leg_restored(self, inp: AgentLegRestored, at: float) -> None:
        switch = self._switch
        assert switch is not None
        if switch.leg.channel_id or inp.channel_id in self._session_legs:
            return  # not waiting for the session (a switch), or a leg seen already
        self._cancel_timer(T_SWITCH_ANSWER)
        switch.slot.leg = self._session_leg(inp.channel_id, at)
        self._slots.append(switch.slot)
        self._switch_join(switch)

    def _agent_leg_unavailable(self, inp: AgentLegUnavailable, at: float) -> None:
        switch = self._switch
        if switch is not None and not switch.leg.channel_id:
            self._switch_failed(SwitchResult.UNREACHABLE, inp.reason, at)

    # ----------------------------------------------------------------- handlers
    def _switch_requested(self, inp: SwitchAgentLeg, at: float) -> None:
        """connected: ring the new leg; the customer hears "please hold", then music."""
        source = self.workstation
        if not inp.endpoint or inp.endpoint == self.agent.endpoint:
            why = "no_endpoint" if not inp.endpoint else "same_endpoint"
            self._switch_over(source, inp.target, SwitchResult.UNREACHABLE, why, at, at)
            return
        n = len(self._slots)
        leg = Leg(LegRole.AGENT, inp.endpoint, switch_leg_id(self.call_id, n))
        slot = AgentSlot(leg, inp.target)
        self._slots.append(slot)
        switch = self._switch = Switch(slot, source, at)
        leg.dialed_at = at
        leg.create_pending = True
        variables = self._variables(LegRole.AGENT)
        variables["EVS_WORKSTATION"] = str(inp.target)
        self._send(
            OriginateChannel(
                channel_id=leg.channel_id,
                endpoint=leg.endpoint,
                app=self.settings.app,
                app_args=app_args(LegRole.AGENT, self.call_id),
                caller_id=self.settings.caller_id_to_agent,
                timeout_s=self.settings.agent_ring_timeout_s,
                variables=variables,
                other_channel_id=leg.local2_id,
            )
        )
        self._start_timer(
            T_SWITCH_ANSWER, self.settings.agent_ring_timeout_s + self.settings.stasis_guard_s
        )
        self._hold_customer(switch)
        self._set_step(CallStep.SWITCHING, at, f"to_{inp.target}")

    def _switch_progress(self, _: Any, at: float) -> None:
        """switching: a leg changed (customer, old agent leg or new leg)."""
        switch = self._switch
        customer = self.customer
        assert switch is not None and customer is not None
        if customer.going and not customer.hangup_sent:
            self._conclude(CallOutcome.COMPLETED, "customer_hung_up", Party.CUSTOMER)
            self._switch_abandoned(at)
            return
        old = self.agent
        if old.going and not old.hangup_sent and not switch.old_gone:
            switch.old_gone = True  # the customer stays on hold while the new leg rings
            self._slot_of(old).end_reason = END_HUNG_UP
        new = switch.leg
        if not new.up and new.destroyed:
            kind = new.failure_kind()
            self._switch_failed(_RESULT_OF_FAILURE.get(kind, SwitchResult.UNREACHABLE), kind, at)
        elif new.up and new.going and not new.hangup_sent:
            self._switch_failed(SwitchResult.HUNG_UP, "agent_hung_up", at)
        elif new.ready and not (switch.confirming or switch.joining):
            self._cancel_timer(T_SWITCH_ANSWER)
            if self.settings.acceptance_for(switch.slot.workstation):
                switch.confirming = True
                self._play(new, PB_PRESS1, self.settings.prompts.press_1_to_accept)
                self._start_timer(T_SWITCH_CONFIRM, self.settings.acceptance_timeout_s)
            else:
                self._switch_join(switch)

    def _switch_digit(self, event: ChannelDtmfReceived, at: float) -> None:
        switch = self._switch
        if switch is None or not switch.confirming or switch.joining or event.digit != "1":
            return
        self._cancel_timer(T_SWITCH_CONFIRM)
        self._send(StopPlayback(playback_id=playback_id(self.call_id, PB_PRESS1)))
        self._switch_join(switch)

    def _switch_press1_done(self, _: Any, at: float) -> None:
        switch = self._switch
        if switch is not None and switch.confirming and not switch.joining:
            self._start_timer(T_SWITCH_CONFIRM, self.settings.acceptance_wait_s)

    def _switch_hold_done(self, _: Any, at: float) -> None:
        """The customer's "please hold" ended: music on hold until the new leg joins."""
        switch = self._switch
        if switch is not None and switch.hold_prompt:
            switch.hold_prompt = False
            if not switch.joining:
                self._customer_moh(switch)

    def _switch_joined(self, _: Any, at: float) -> None:
        """The new leg entered the bridge: hang up the old one; the new one is the agent."""
        switch = self._switch
        assert switch is not None
        for name in SWITCH_TIMERS:
            self._cancel_timer(name)
        if not switch.joining:  # in the bridge before we asked (never seen): as if asked
            if switch.confirming:
                self._send(StopPlayback(playback_id=playback_id(self.call_id, PB_PRESS1)))
            self._stop_customer_hold(switch)
        old = self.agent
        old_slot = self._slot_of(old)
        if not old.going:
            self._hang_up(old)
        if not old_slot.end_reason:
            old_slot.end_reason = END_SWITCHED_AWAY
        switch.slot.joined_at = at
        self.agent = switch.leg
        self._switch = None
        self._switch_over(
            switch.source,
            switch.slot.workstation,
            SwitchResult.SWITCHED,
            "",
            switch.requested_at,
            at,
        )
        self._set_step(CallStep.CONNECTED, at, f"switched_to_{switch.slot.workstation}")

    def _switch_no_answer(self, _: Any, at: float) -> None:
        self._switch_failed(SwitchResult.NO_ANSWER, "timeout", at)

    def _switch_not_confirmed(self, _: Any, at: float) -> None:
        self._switch_failed(SwitchResult.NOT_CONFIRMED, "no_digit", at)

    def _switch_bridge_failed(self, inp: Any, at: float) -> None:
        detail = http_detail(inp) if isinstance(inp, AriCommandFailed) else "bridge_timeout"
        self._switch_failed(SwitchResult.BRIDGE_FAILED, detail, at)

    def _switch_originate_failed(self, failed: AriCommandFailed, at: float) -> None:
        switch = self._switch
        assert switch is not None
        if failed.status != 0:  # no channel was created (with no answer, one may exist)
            switch.leg.mark_destroyed(at)
        detail = http_detail(failed)
        if switch.slot.workstation == WorkstationMode.SOFTPHONE and (
            failed.status == 500 and "Allocation failed" in failed.message
        ):
            detail = f"softphone_not_registered ({detail})"  # W03: not registered
        self._switch_failed(SwitchResult.UNREACHABLE, detail, at)

    def _switch_ui_hangup(self, ui: HangupFromUi, at: float) -> None:
        """switching: the old softphone went offline (its watcher), or the hang-up button."""
        switch = self._switch
        assert switch is not None
        if ui.by == OFFLINE_HANGUP_BY and switch.source == WorkstationMode.SOFTPHONE:
            old = self.agent
            if not old.going:
                self._hang_up(old)
            switch.old_gone = True
            self._slot_of(old).end_reason = END_HUNG_UP
            return
        self._conclude(CallOutcome.COMPLETED, f"hangup_from_ui:{ui.by}", Party.UI)
        self._switch_abandoned(at)

    # ----------------------------------------------------------------- actions
    def _switch_join(self, switch: Switch) -> None:
        switch.joining = True
        self._stop_customer_hold(switch)
        self._send(AddToBridge(bridge_id=self.bridge_id, channel_ids=(switch.leg.channel_id,)))
        self._start_timer(T_SWITCH_BRIDGE, self.settings.bridge_guard_s)

    def _switch_failed(self, result: SwitchResult, detail: str, at: float) -> None:
        """The new leg will not join: hang it up, stop the hold, stay where we were (or end
        the call when the old leg is gone too)."""
        switch = self._switch
        assert switch is not None
        self._switch = None
        for name in SWITCH_TIMERS:
            self._cancel_timer(name)
        new = switch.leg
        if switch.confirming and not switch.joining:
            self._send(StopPlayback(playback_id=playback_id(self.call_id, PB_PRESS1)))
        if new.channel_id and not new.destroyed and not new.going:  # "": the session's
            self._hang_up(new, reason="no_answer" if result == SwitchResult.NO_ANSWER else "normal")
        switch.slot.end_reason = str(result)
        self._switch_over(
            switch.source, switch.slot.workstation, result, str(detail), switch.requested_at, at
        )
        if switch.old_gone:  # nobody left for the customer
            self._conclude(CallOutcome.COMPLETED, "agent_hung_up_during_switch", Party.AGENT)
            self._hang_up_all(at)
            return
        self._stop_customer_hold(switch)
        self._set_step(CallStep.CONNECTED, at, f"switch_{result}")

    def _switch_abandoned(self, at: float) -> None:
        """The call ends during the switch (its outcome already concluded)."""
        switch = self._switch
        assert switch is not None
        self._switch = None
        switch.slot.end_reason = str(SwitchResult.CALL_ENDED)
        self._switch_over(
            switch.source,
            switch.slot.workstation,
            SwitchResult.CALL_ENDED,
            "",
            switch.requested_at,
            at,
        )
        for name in SWITCH_TIMERS:
            self._cancel_timer(name)
        self._hang_up_all(at)

    def _switch_over(
        self,
        source: WorkstationMode,
        target: WorkstationMode,
        result: SwitchResult,
        reason: str,
        requested_at: float,
        at: float,
    ) -> None:
        self.switch_result, self.switch_reason = str(result), reason
        self._emit(
            AgentLegSwitched(
                call_id=self.call_id,
                source=source,
                target=target,
                result=result,
                requested_at=requested_at,
                at=at,
                reason=reason,
            )
        )

    def _hold_customer(self, switch: Switch) -> None:
        """The customer hears "please hold", then music, on its own channel in the bridge."""
        customer = self.customer
        assert customer is not None
        prompt = self.settings.prompts.agent_switching
        if prompt:
            switch.hold_prompt = True
            self._play(customer, PB_HOLD, prompt)
        else:
            self._customer_moh(switch)
        self.switch_result = self.switch_reason = ""

    def _customer_moh(self, switch: Switch) -> None:
        customer = self.customer
        assert customer is not None
        switch.moh = True
        self._send(
            StartMusicOnHold(channel_id=customer.channel_id, moh_class=self.settings.moh_class)
        )

    def _stop_customer_hold(self, switch: Switch) -> None:
        customer = self.customer
        if customer is None or customer.going:
            return
        if switch.hold_prompt:
            switch.hold_prompt = False
            self._send(StopPlayback(playback_id=playback_id(self.call_id, PB_HOLD)))
        if switch.moh:
            switch.moh = False
            self._send(StopMusicOnHold(channel_id=customer.channel_id))

    def _slot_of(self, leg: Leg) -> AgentSlot:
        if leg is self.agent:
            return self._current_slot()
        return next(slot for slot in self._slots if slot.leg is leg)
