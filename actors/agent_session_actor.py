"""AgentSessionActor: one agent's persistent leg (core.agent_leg_session.AgentLegSession) in
the shared actor shell (actors/machine_actor.py). First wiring, opt-in
(`CallCenterApp.open_agent_session`): the desk's session mode, "Rappeler mon mobile" and
the automatic choice on cost are not wired yet (core/README.md).

It owns its legs' routes (claimed when each originate is sent). While the leg is lent to a
call, every event of the leg is also told to that call (the Switchboard routes one channel
to one owner), so the call sees the leg drop and holds its customer; the session calls the
leg again and the call gets `AgentLegRestored` (or `AgentLegUnavailable`). Its state goes
to the agent's actor (`SessionView`), which lends the leg to each new call.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from actors.deps import ActorDeps
from actors.machine_actor import NOT_A_QUERY, MachineActor
from analytics import metrics
from core.agent_leg_session import (
    AgentLegSession,
    AgentSessionEnded,
    CallOver,
    LegLent,
    LegUnavailable,
    LendLeg,
    ReturnLeg,
    SessionState,
    SessionStateChanged,
)
from core.ari_events import event_channel_id
from core.call_inputs import AgentLegRestored, AgentLegUnavailable

log = logging.getLogger(__name__)


class SessionView(msgspec.Struct, frozen=True):
    """What the agent's actor knows of the session: lend `channel_id` when `ready`."""

    agent_id: str
    state: SessionState
    channel_id: str = ""
    calls: int = 0
    reason: str = ""

    @property
    def ready(self) -> bool:
        return self.state == SessionState.WAITING and bool(self.channel_id)


class LendTo(msgspec.Struct, frozen=True):
    """The agent's actor started `call_id` on the leg; `call` is its handle (tell())."""

    call_id: str
    call: Any


class GetSessionView(msgspec.Struct, frozen=True):
    pass


class AgentSessionActor(MachineActor[AgentLegSession]):
    def __init__(self, machine: AgentLegSession, deps: ActorDeps, agent: Any = None) -> None:
        super().__init__(machine, deps, timer_scope=f"session:{machine.agent_id}")
        self.agent = agent  # ActorRef[AgentActor] told every SessionView
        self.calls: dict[str, Any] = {}  # call id -> handle of the call the leg is lent to
        self.records: list[Any] = []  # AgentSessionRecord, newest last (also to the sink)
        self._lent: dict[str, str] = {}  # call id -> the first leg lent to it

    def view(self) -> SessionView:
        m = self.machine
        return SessionView(
            agent_id=m.agent_id, state=m.state,
            channel_id=m.leg.channel_id if m.leg is not None else "",
            calls=m.calls, reason=m.reason,
        )

    def answer(self, message: Any) -> Any:
        return self.view() if isinstance(message, GetSessionView) else NOT_A_QUERY

    def handle(self, message: Any) -> None:
        match message:
            case LendTo(call_id=call_id, call=call):
                self.calls[call_id] = call
                self.feed(LendLeg(call_id))
            case ReturnLeg(call_id=call_id) | CallOver(call_id=call_id):
                self.feed(message)
                self.calls.pop(call_id, None)
            case _:
                lent_to = self.calls.get(self.machine.call_id or "")
                self.feed(message)
                channel_id = _channel_of(message)
                if lent_to is not None and channel_id in self.machine.channel_ids():
                    lent_to.tell(message)  # the call sees its agent leg's events too

    def on_event(self, event: Any) -> None:
        match event:
            case SessionStateChanged():
                self.tell_peer(self.agent, self.view())
            case LegLent(call_id=call_id, channel_id=channel_id):
                call = self.calls.get(call_id)
                if call is not None and self.machine.state == SessionState.IN_CALL and \
                        channel_id != self._first_channel(call_id):
                    call.tell(AgentLegRestored(channel_id=channel_id))
                self._lent[call_id] = self._lent.get(call_id) or channel_id
            case LegUnavailable(call_id=call_id, reason=reason):
                call = self.calls.pop(call_id, None)
                if call is not None:
                    call.tell(AgentLegUnavailable(reason=reason))
            case AgentSessionEnded(record=record):
                self.records.append(record)
                metrics.agent_session_ended(record)
                try:  # like a CallRecord: the outbox (JetStream) or the writer, then DuckDB
                    self.deps.sink.write(record)
                except Exception:
                    log.exception("record sink failed for agent session %s", record.agent_id)
                log.info("agent session %s ended: %s, %d calls", record.agent_id,
                         record.end_reason, record.calls)
                self.tell_peer(self.agent, self.view())

    def _first_channel(self, call_id: str) -> str:
        return self._lent.get(call_id, "")


def _channel_of(message: Any) -> str | None:
    try:
        return event_channel_id(message)
    except Exception:
        return None
