"""The core as the gateway sees it: `gateway.ports.CallCenter`, implemented over the actors.

Requests BLOCK briefly: each asks an AgentActor (or the call registry) and waits for its
answer, up to `ASK_TIMEOUT_S`, so that a refusal reaches the browser at once. The gateway
calls them through `asyncio.to_thread`, never on its event loop; no actor calls them.
Results (state changes) reach subscribers as views, from actor threads.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pykka

from actors.agent_actor import AgentRequest, GetAgentView, HangUpCall, PlaceCall, SwitchCall
from actors.messages import UiHangUp
from actors.registry_messages import LiveCalls, Supervise
from core.agent import LogIn, LogOut, Pause, SetAvailable, SetWorkstation, SubmitDisposition
from core.domain import Refusal, SupervisionMode, WorkstationMode
from core.supervision import StopSupervision
from core.telephony import TelephonyHealth
from core.views import AgentView
from evscallpro.view_fanout import ViewFanOut
from gateway.ports import ViewListener

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 5.0


def new_call_id() -> str:
    return "c" + uuid.uuid4().hex[:12]


class CallCenterPort:
    """The UI's requests; the composition root (evscallpro/root.py) fills in the parts."""

    def __init__(self) -> None:
        self.started = False
        self.views = ViewFanOut()
        self.live = LiveCalls()
        self.registry: Any = None  # ActorRef[CallRegistry]
        self._agents: dict[str, Any] = {}  # agent id -> ActorRef[AgentActor]
        self._supervisors: frozenset[str] = frozenset()  # ids with a phone
        self._supervisors_without_phone: frozenset[str] = frozenset()
        self._health = TelephonyHealth()

    # -- health ---------------------------------------------------------------------------
    def telephony_health(self) -> TelephonyHealth:
        """Whether calls can be placed (ARI link up, Stasis app ours), and if not why.
        Never blocks: the latest immutable snapshot (for /healthz)."""
        return self._health

    # -- calls ----------------------------------------------------------------------------
    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id,
            PlaceCall(
                customer_number=customer_number, call_id=new_call_id(), contact_id=contact_id
            ),
        )

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None:
        refusal = self._ask_agent(agent_id, HangUpCall(call_id=call_id, by=agent_id))
        # An adopted call (after a restart) is not on the agent machine: end it directly.
        unknown = refusal is not None and refusal.code == "unknown_call"
        if unknown and self.hang_up_call(call_id, by=agent_id):
            return None
        return refusal

    def switch_agent_leg(
        self, agent_id: str, call_id: str, target: WorkstationMode
    ) -> Refusal | None:
        """Move the agent's connected call to `target` (core/call_switch.py); the agent's
        machine checks it and renders the new leg's dial string."""
        return self._ask_agent(agent_id, SwitchCall(call_id=call_id, target=target))

    def hang_up_call(self, call_id: str, by: str = "ui") -> bool:
        ref = self.live.calls.get(call_id)
        if ref is None:
            return False
        try:
            ref.tell(UiHangUp(requested_by=by))
        except pykka.ActorDeadError:
            return False
        return True

    def live_call_ids(self) -> list[str]:
        return list(self.live.calls)

    # -- agents ---------------------------------------------------------------------------
    def set_workstation(
        self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id,
            AgentRequest(SetWorkstation(mode=mode, mobile_number=mobile_number, by=agent_id)),
        )

    def log_in(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(LogIn()))

    def log_out(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(LogOut()))

    def set_available(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(SetAvailable()))

    def pause(self, agent_id: str, reason: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(Pause(reason=reason)))

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id,
            AgentRequest(
                SubmitDisposition(
                    call_id=call_id, code=disposition, comment=comment, callback_at=callback_at
                )
            ),
        )

    # -- supervision ----------------------------------------------------------------------
    def supervise(self, supervisor_id: str, call_id: str, mode: SupervisionMode) -> Refusal | None:
        """Listen to, whisper to or barge into a live call from the supervisor's phone."""
        if not self.started or self.registry is None:
            return Refusal("core_stopped", "the telephony core is not running")
        if supervisor_id not in self._supervisors:
            if supervisor_id in self._supervisors_without_phone:
                return Refusal(
                    "supervisor_without_phone",
                    f"supervisor {supervisor_id!r} has no phone: add a [[supervisors]] entry "
                    "with this id and a softphone_endpoint or mobile_number",
                )
            return Refusal(
                "unknown_supervisor",
                f"no supervisor {supervisor_id!r}: add a [[supervisors]] entry with this id "
                "and their phone",
            )
        try:
            mode = SupervisionMode(mode)
        except ValueError:
            return Refusal("invalid_mode", f"{mode!r} is not listen, whisper or barge")
        try:
            answer = self.registry.ask(
                Supervise(call_id=call_id, supervisor_id=supervisor_id, mode=mode),
                timeout=ASK_TIMEOUT_S,
            )
        except Exception as exc:  # timeout, registry gone
            return Refusal("internal_error", f"the call registry did not answer: {exc!r}")
        return answer if isinstance(answer, Refusal) else None

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None:
        ref = self.live.supervisions.get((call_id, supervisor_id))
        if ref is None:
            return Refusal("not_supervising", f"{supervisor_id!r} is not on call {call_id!r}")
        with contextlib.suppress(pykka.ActorDeadError):
            ref.tell(StopSupervision())
        return None

    def supervision_ref(self, call_id: str, supervisor_id: str) -> Any:
        """The SupervisionActor of this supervision, or None (tests, tools)."""
        return self.live.supervisions.get((call_id, supervisor_id))

    # -- views ----------------------------------------------------------------------------
    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        return self.views.subscribe(listener)

    def snapshot(self) -> list[AgentView]:
        views: list[AgentView] = []
        for ref in list(self._agents.values()):
            try:
                views.append(ref.ask(GetAgentView(), timeout=2))
            except Exception:
                log.warning("agent view unavailable", exc_info=True)
        return views

    # -- helpers --------------------------------------------------------------------------
    def _ask_agent(self, agent_id: str, message: Any) -> Refusal | None:
        if not self.started:
            return Refusal("core_stopped", "the telephony core is not running")
        ref = self._agents.get(agent_id)
        if ref is None:
            return Refusal("unknown_agent", f"no agent {agent_id!r}")
        try:
            answer = ref.ask(message, timeout=ASK_TIMEOUT_S)
        except pykka.ActorDeadError:
            return Refusal("internal_error", "the agent actor is gone")
        except Exception as exc:  # timeout
            return Refusal("internal_error", f"the agent did not answer: {type(exc).__name__}")
        if answer is None:
            return None
        return Refusal(getattr(answer, "code", "refused"), getattr(answer, "detail", ""))
