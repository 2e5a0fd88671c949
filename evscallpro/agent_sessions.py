"""Persistent agent legs for the composition root (first wiring, opt-in): one
AgentSessionActor per agent who opened a session (actors/agent_session_actor.py), attached
to the agent's actor, which then lends the leg to each of the agent's calls."""

from __future__ import annotations

import contextlib
from typing import Any

import pykka

from actors.agent_actor import AttachSession, OpenAgentSession
from actors.agent_session_actor import AgentSessionActor, GetSessionView, SessionView
from actors.deps import ActorDeps
from core.agent_leg_session import AgentLegSession, CloseSession
from core.call_config import CallSettings
from core.domain import Refusal, WorkstationMode

ASK_TIMEOUT_S = 5.0


class AgentSessions:
    """The live session actors, by agent id."""

    def __init__(self) -> None:
        self.refs: dict[str, Any] = {}

    def open(
        self,
        agent_id: str,
        agent: Any,
        deps: ActorDeps,
        settings: CallSettings,
        workstation: WorkstationMode = WorkstationMode.MOBILE,
    ) -> Refusal | None:
        """Call the agent's phone for a session (again, if one ended: "Rappeler mon mobile")."""
        ref = self.refs.get(agent_id)
        if ref is None or not ref.is_alive():
            machine = AgentLegSession(agent_id, settings)
            ref = self.refs[agent_id] = AgentSessionActor.start(machine, deps, agent)
            agent.ask(AttachSession(session=ref), timeout=ASK_TIMEOUT_S)
        answer: Refusal | None = agent.ask(OpenAgentSession(workstation=workstation),
                                           timeout=ASK_TIMEOUT_S)
        return answer

    def close(self, agent_id: str, reason: str = "closed") -> None:
        ref = self.refs.get(agent_id)
        if ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(CloseSession(reason=reason))

    def view(self, agent_id: str) -> SessionView | None:
        ref = self.refs.get(agent_id)
        if ref is None:
            return None
        try:
            view: SessionView = ref.ask(GetSessionView(), timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            return None
        return view

    def records(self, agent_id: str) -> list[Any]:
        ref = self.refs.get(agent_id)
        if ref is None:
            return []
        with contextlib.suppress(pykka.ActorDeadError):
            return list(ref.proxy().records.get(timeout=ASK_TIMEOUT_S))
        return []

    def stop_all(self) -> None:
        for ref in list(self.refs.values()):
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop()
        self.refs.clear()
