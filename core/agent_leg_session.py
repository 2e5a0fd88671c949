"""The persistent agent leg (issue 11, design and machine; not wired to the actors yet):
the agent's phone is called ONCE at the start of the session and stays up between calls
(music on hold while waiting); each customer is bridged onto it, with no ringing per call.

Pure, like every machine of core/: `receive(inp, at)`, `commands_to_send()`,
`events_emitted()` (core.machine.Machine). One machine per agent session.

  idle --OpenSession--> dialing --answered--> [confirming: "press 1" on a mobile] --> waiting
  waiting --LendLeg(call)--> in_call(call) --ReturnLeg(call)--> waiting   (calls += 1)
  waiting --leg hung up--> ended (agent_hung_up: the agent ended the session; the desk
                                 offers "Rappeler mon mobile" = OpenSession again)
  in_call --leg lost--> recalling: LegLost(call) (the call holds the customer with a
                        message: what core/call_switch.py does while a new leg rings), the
                        leg is called again; ready -> LegLent(call, new channel) -> in_call;
                        failing -> LegUnavailable(call, why) and the session ends
  any --CloseSession--> ending (leg hung up) --> ended

Legs are `<agent_id>-leg-<n>`. Each ends in one `AgentSessionEnded(record)`, last; the record
keeps the session's times, its calls, its legs and their cost ([costs], core/costs.py).

How a call uses it (the wiring still to do): with the persistent mode the call machine
skips its agent originate and asks `LendLeg`; `LegLent` gives the channel it adds to its
bridge as soon as the customer answers; at its end it removes the leg from the bridge
(instead of hanging it up) and says `ReturnLeg`. `core/agent_leg_mode.py` chooses per call
or persistent from the agent's call rate and the costs ("automatic").
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import msgspec

from core.ari_commands import (
    AriCommand,
    AriCommandFailed,
    AriCommandSucceeded,
    HangupChannel,
    OriginateChannel,
    PlayMedia,
    StartMusicOnHold,
    StopMusicOnHold,
    StopPlayback,
)
from core.ari_events import ChannelDtmfReceived, PlaybackFinished, event_channel_id
from core.call_config import CallSettings
from core.costs import LegCost, leg_cost
from core.domain import LegRole, WorkstationMode
from core.leg import FailureKind, Leg
from core.machine import Machine
from core.timers import TimerFired

log = logging.getLogger(__name__)

T_ANSWER = "session_answer"
T_CONFIRM = "session_confirm"
T_ENDING = "session_ending"


class SessionState(StrEnum):
    IDLE = "idle"
    DIALING = "dialing"
    CONFIRMING = "confirming"
    WAITING = "waiting"  # the leg is up, music on hold, no call
    IN_CALL = "in_call"  # lent to a call (in its bridge)
    RECALLING = "recalling"  # lost during a call: called again, the customer on hold
    ENDING = "ending"
    ENDED = "ended"


# -- inputs --------------------------------------------------------------------------------
class OpenSession(msgspec.Struct, frozen=True, tag="open_session"):
    """Call the agent's phone for the session (also "Rappeler mon mobile")."""

    endpoint: str
    workstation: WorkstationMode = WorkstationMode.MOBILE


class CloseSession(msgspec.Struct, frozen=True, tag="close_session"):
    reason: str = "closed"


class LendLeg(msgspec.Struct, frozen=True, tag="lend_leg"):
    """A call wants the agent: its customer is about to be bridged onto the leg."""

    call_id: str


class ReturnLeg(msgspec.Struct, frozen=True, tag="return_leg"):
    """The call is over: the leg is back, waiting (music on hold)."""

    call_id: str


# -- events --------------------------------------------------------------------------------
class CallOver(msgspec.Struct, frozen=True, tag="call_over"):
    """A call of this agent ended (whatever became of the leg lent to it)."""

    call_id: str


class SessionStateChanged(msgspec.Struct, frozen=True, tag="session_state_changed"):
    agent_id: str
    state: SessionState
    at: float
    reason: str = ""


class LegLent(msgspec.Struct, frozen=True, tag="leg_lent"):
    """Add `channel_id` to the call's bridge (the call's customer gets the agent)."""

    call_id: str
    channel_id: str


class LegLost(msgspec.Struct, frozen=True, tag="leg_lost"):
    """The leg dropped during the call: hold the customer with a message; it is called again."""

    call_id: str


class LegUnavailable(msgspec.Struct, frozen=True, tag="leg_unavailable"):
    """No leg for this call (not ready, or the recall failed): the call ends or goes per call."""

    call_id: str
    reason: str


class AgentSessionRecord(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    workstation: WorkstationMode
    endpoint: str
    started_at: float
    answered_at: float | None = None  # the first leg answered (confirmed)
    ended_at: float
    end_reason: str  # agent_hung_up, closed, no_answer, busy, not_confirmed, unreachable...
    calls: int = 0  # customers bridged onto the session's legs
    legs: int = 0  # legs dialed (1 + recalls)
    billable_seconds: float = 0.0  # every answered leg, answered -> ended
    cost: float | None = None  # [costs] of the legs, None when not configured


class AgentSessionEnded(msgspec.Struct, frozen=True, tag="agent_session_ended"):
    record: AgentSessionRecord


SessionInput = OpenSession | CloseSession | LendLeg | ReturnLeg | CallOver | TimerFired | Any
SessionEvent = SessionStateChanged | LegLent | LegLost | LegUnavailable | AgentSessionEnded

_REASON = {
    FailureKind.BUSY: "busy",
    FailureKind.REJECTED: "busy",
    FailureKind.NO_ANSWER: "no_answer",
}

S = SessionState


class AgentLegSession(Machine[SessionState, AriCommand, SessionEvent]):
    """One agent's persistent leg, from the first call of the phone to the session's end."""

    _log = log

    def __init__(self, agent_id: str, settings: CallSettings) -> None:
        super().__init__(f"session {agent_id}", S.IDLE)
        self.agent_id = agent_id
        self.settings = settings
        self.leg: Leg | None = None
        self.workstation = WorkstationMode.MOBILE
        self.endpoint = ""
        self.call_id: str | None = None  # the call the leg is lent to
        self.started_at: float | None = None
        self.answered_at: float | None = None
        self.calls = 0
        self.reason = ""
        self._legs: list[Leg] = []
        self._moh = False
        self._confirming = False  # "press 1" asked on the current leg

    # ----------------------------------------------------------------- surface
    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def ready(self) -> bool:
        """A call can be bridged onto the leg now."""
        return self._state == S.WAITING

    def channel_ids(self) -> tuple[str, ...]:
        return tuple(leg.channel_id for leg in self._legs)

    def receive(self, inp: SessionInput, at: float) -> None:
        try:
            self._receive(inp, at)
        except Exception:
            log.exception("session %s: error on %s", self.agent_id, type(inp).__name__)
            self._close("internal_error", at)

    # ----------------------------------------------------------------- inputs
    def _receive(self, inp: Any, at: float) -> None:
        state = self._state
        match inp:
            case OpenSession() if state in (S.IDLE, S.ENDED):
                self._open(inp, at)
            case CloseSession(reason=reason) if state not in (S.IDLE, S.ENDED, S.ENDING):
                self._close(reason, at)
            case LendLeg(call_id=call_id):
                self._lend(call_id, at)
            case ReturnLeg(call_id=call_id) if state == S.IN_CALL and call_id == self.call_id:
                self.calls += 1
                self.call_id = None
                self._hold()
                self._set(S.WAITING, at)
            case CallOver(call_id=call_id) if state == S.IN_CALL and call_id == self.call_id:
                # The call ended without giving the leg back (its end and the leg's loss
                # crossed): the leg waits for the next call; if it is gone, the session ends.
                self.calls += 1
                self.call_id = None
                self._hold()
                self._set(S.WAITING, at)
            case CallOver(call_id=call_id) if state == S.RECALLING and call_id == self.call_id:
                # The call ended while its leg was being called again (the customer hung
                # up on hold, the guard gave up): the leg, once back, waits for the next.
                self.calls += 1
                self.call_id = None
            case TimerFired(name=name) if self._timer_is_armed(name):
                self._timer(name, at)
            case AriCommandFailed(command=OriginateChannel(channel_id=cid)) if self._is_leg(cid):
                assert self.leg is not None
                if inp.status != 0:
                    self.leg.mark_destroyed(at)
                self._leg_failed(f"unreachable: http {inp.status}: {inp.message}", at)
            case AriCommandSucceeded(command=OriginateChannel(channel_id=cid)) if self._is_leg(cid):
                assert self.leg is not None
                self.leg.create_pending = False
            case PlaybackFinished(playback=playback) if playback.id == self._press1_id():
                if state == S.CONFIRMING or (state == S.RECALLING and self._confirming):
                    self._start_timer(T_CONFIRM, self.settings.acceptance_wait_s)
            case ChannelDtmfReceived(channel=channel, digit=digit) if (
                channel is not None and self._is_leg(channel.id)
            ):
                if digit == "1" and self._confirming:
                    self._confirmed(at)
            case _:
                channel_id = event_channel_id(inp)
                if channel_id is not None:
                    self._leg_event(inp, channel_id, at)

    # ----------------------------------------------------------------- actions
    def _open(self, inp: OpenSession, at: float) -> None:
        self.workstation, self.endpoint = inp.workstation, inp.endpoint
        self.started_at, self.answered_at = at, None
        self.calls, self.reason, self.call_id = 0, "", None
        self._legs = []
        self._dial(at)
        self._set(S.DIALING, at)

    def _dial(self, at: float) -> None:
        leg = Leg(LegRole.AGENT, self.endpoint, f"{self.agent_id}-leg-{len(self._legs) + 1}")
        leg.dialed_at = at
        leg.create_pending = True
        self.leg = leg
        self._legs.append(leg)
        self._confirming = False
        self._send(
            OriginateChannel(
                channel_id=leg.channel_id,
                endpoint=leg.endpoint,
                app=self.settings.app,
                app_args=f"session,{self.agent_id}",
                caller_id=self.settings.caller_id_to_agent,
                timeout_s=self.settings.agent_ring_timeout_s,
                variables={"EVS_AGENT_ID": self.agent_id, "EVS_ROLE": "session",
                           "EVS_WORKSTATION": str(self.workstation)},
                other_channel_id=leg.local2_id,
            )
        )
        self._start_timer(T_ANSWER, self.settings.agent_ring_timeout_s + self.settings.stasis_guard_s)

    def _leg_event(self, event: Any, channel_id: str, at: float) -> None:
        leg = next((leg for leg in self._legs if leg.owns(channel_id)), None)
        if leg is None:
            return
        leg.observe(event, at)
        if leg is not self.leg or self._state in (S.ENDING, S.ENDED):
            if self._state == S.ENDING and all(leg.destroyed for leg in self._legs):
                self._finish(at)
            return
        if leg.going and not leg.hangup_sent:
            self._leg_gone(at)
        elif leg.ready and self._state in (S.DIALING, S.RECALLING) and not self._confirming:
            self._cancel_timer(T_ANSWER)
            if self.settings.acceptance_for(self.workstation):
                self._confirming = True
                if self._state == S.DIALING:
                    self._set(S.CONFIRMING, at)
                self._send(PlayMedia(channel_id=leg.channel_id, playback_id=self._press1_id(),
                                     media=self.settings.prompts.press_1_to_accept,
                                     lang=self.settings.language))
                self._start_timer(T_CONFIRM, self.settings.acceptance_timeout_s)
            else:
                self._confirmed(at)

    def _confirmed(self, at: float) -> None:
        assert self.leg is not None
        self._cancel_timer(T_CONFIRM)
        if self._confirming:
            self._send(StopPlayback(playback_id=self._press1_id()))
        self._confirming = False
        if self.answered_at is None:
            self.answered_at = at
        if self._state == S.RECALLING and self.call_id is not None:
            self._emit(LegLent(call_id=self.call_id, channel_id=self.leg.channel_id))
            self._set(S.IN_CALL, at, "recalled")
        else:
            self._hold()
            self._set(S.WAITING, at)

    def _leg_gone(self, at: float) -> None:
        """The current leg hung up (or failed) on its own."""
        leg = self.leg
        assert leg is not None
        self._moh = False
        if self._state == S.IN_CALL and self.call_id is not None:
            self._emit(LegLost(call_id=self.call_id))
            self._set(S.RECALLING, at, "leg_lost")
            self._dial(at)
        elif self._state == S.WAITING:
            self._end("agent_hung_up", at)
        else:
            self._leg_failed(self._failure(leg), at)

    def _leg_failed(self, reason: str, at: float) -> None:
        """The leg being dialed (first call or recall) will not be the session's."""
        leg = self.leg
        if leg is not None and not leg.going:
            self._hang_up(leg)
        if self._state == S.RECALLING and self.call_id is not None:
            self._emit(LegUnavailable(call_id=self.call_id, reason=f"recall_{reason}"))
            self.call_id = None
        self._end(reason, at)

    def _lend(self, call_id: str, at: float) -> None:
        if self._state != S.WAITING or self.leg is None:
            self._emit(LegUnavailable(call_id=call_id, reason=f"session_{self._state}"))
            return
        self.call_id = call_id
        if self._moh:
            self._moh = False
            self._send(StopMusicOnHold(channel_id=self.leg.channel_id))
        self._emit(LegLent(call_id=call_id, channel_id=self.leg.channel_id))
        self._set(S.IN_CALL, at, call_id)

    def _timer(self, name: str, at: float) -> None:
        if name == T_ANSWER:
            self._leg_failed("no_answer", at)
        elif name == T_CONFIRM:
            self._leg_failed("not_confirmed", at)
        elif name == T_ENDING:
            for leg in self._legs:
                leg.mark_gone_unseen(at)
            self._finish(at)

    def _close(self, reason: str, at: float) -> None:
        if self.call_id is not None:
            self._emit(LegUnavailable(call_id=self.call_id, reason=f"session_{reason}"))
            self.call_id = None
        self._end(reason, at)

    def _end(self, reason: str, at: float) -> None:
        """Hang up every live leg; ended once all are destroyed (guarded)."""
        self.reason = self.reason or reason
        self._cancel_timer(T_ANSWER)
        self._cancel_timer(T_CONFIRM)
        for leg in self._legs:
            if not leg.going:
                self._hang_up(leg)
        if all(leg.destroyed for leg in self._legs):
            self._finish(at)
            return
        self._start_timer(T_ENDING, self.settings.ending_guard_s)
        self._set(S.ENDING, at, self.reason)

    def _finish(self, at: float) -> None:
        self._cancel_all_timers()
        self._set(S.ENDED, at, self.reason)
        self._emit(AgentSessionEnded(record=self.record(at)))

    # ----------------------------------------------------------------- record
    def record(self, at: float) -> AgentSessionRecord:
        billable = 0.0
        cost: float | None = None
        costs: dict[str, LegCost] = self.settings.agent_leg_costs
        rate = costs.get(str(self.workstation))
        for leg in self._legs:
            if leg.answered_at is None:
                continue
            seconds = max(0.0, (leg.ended_at if leg.ended_at is not None else at) - leg.answered_at)
            billable += seconds
            if rate is not None:
                cost = (cost or 0.0) + leg_cost(rate, True, seconds)
        if rate is not None and cost is None:
            cost = 0.0
        return AgentSessionRecord(
            agent_id=self.agent_id,
            workstation=self.workstation,
            endpoint=self.endpoint,
            started_at=self.started_at if self.started_at is not None else at,
            answered_at=self.answered_at,
            ended_at=at,
            end_reason=self.reason,
            calls=self.calls,
            legs=len(self._legs),
            billable_seconds=round(billable, 3),
            cost=None if cost is None else round(cost, 4),
        )

    # ----------------------------------------------------------------- helpers
    def _set(self, state: SessionState, at: float, reason: str = "") -> None:
        if self._move(state, reason):
            self._emit(SessionStateChanged(agent_id=self.agent_id, state=state, at=at,
                                           reason=reason))

    def _hold(self) -> None:
        if self.leg is not None and not self._moh:
            self._moh = True
            self._send(StartMusicOnHold(channel_id=self.leg.channel_id,
                                        moh_class=self.settings.moh_class))

    def _hang_up(self, leg: Leg) -> None:
        leg.hangup_sent = True
        self._send(HangupChannel(channel_id=leg.channel_id))

    def _is_leg(self, channel_id: str) -> bool:
        return self.leg is not None and self.leg.owns(channel_id)

    def _press1_id(self) -> str:
        return f"{self.leg.channel_id if self.leg else self.agent_id}-pb-press1"

    @staticmethod
    def _failure(leg: Leg) -> str:
        if leg.up:
            return "not_confirmed"  # answered, then hung up before pressing 1
        return _REASON.get(leg.failure_kind(), "unreachable")
