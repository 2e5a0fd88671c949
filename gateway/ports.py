"""What the gateway needs from the telephony core, and nothing more.

The actors' composition root implements `CallCenter` (evscallpro/call_center_port.py); the
gateway depends on this Protocol only, so its tests can run the real core against the
simulator or a recorded double.

The requests (place_call ... stop_supervision, snapshot) BLOCK: each asks an actor and
waits for its answer, up to about 5 s, so that a refusal (unknown agent, invalid number,
agent not available) comes back as a `Refusal` and the UI can say why at once. Call them
off the event loop (`asyncio.to_thread`). What follows (the call's progress, state changes)
arrives later as views through `subscribe`, whose listener runs on actor threads.
`telephony_health` and `subscribe` never block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.domain import Refusal, SupervisionMode, WorkstationMode
from core.telephony import TelephonyHealth
from core.views import AgentView, CallView

__all__ = ["CallCenter", "Refusal", "ViewListener"]

ViewListener = Callable[[AgentView | CallView], None]


class CallCenter(Protocol):
    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None: ...

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None: ...

    def switch_agent_leg(
        self, agent_id: str, call_id: str, target: WorkstationMode
    ) -> Refusal | None:
        """Move the agent's connected call to the other workstation (softphone <-> mobile),
        the customer held meanwhile; how it ends comes in the CallView (`switch_result`)."""
        ...

    def open_agent_session(
        self, agent_id: str, workstation: WorkstationMode = WorkstationMode.MOBILE
    ) -> Refusal | None:
        """Call the agent's phone once and keep it up between calls (the persistent agent
        leg, core/agent_leg_session.py); also "Rappeler mon mobile"."""
        ...

    def close_agent_session(self, agent_id: str) -> Refusal | None:
        """Hang up the persistent leg (the session ends)."""
        ...

    def set_workstation(
        self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None
    ) -> Refusal | None: ...

    def log_in(self, agent_id: str) -> Refusal | None: ...

    def log_out(self, agent_id: str) -> Refusal | None: ...

    def set_available(self, agent_id: str) -> Refusal | None: ...

    def pause(self, agent_id: str, reason: str) -> Refusal | None: ...

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None: ...

    def supervise(
        self, supervisor_id: str, call_id: str, mode: SupervisionMode
    ) -> Refusal | None: ...

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None: ...

    def snapshot(self) -> list[AgentView]:
        """The current view of every agent (blocks: asks every agent)."""
        ...

    def telephony_health(self) -> TelephonyHealth:
        """Whether calls can be placed (ARI link up, Stasis app ours), and if not why
        (`why_unavailable()`); never blocks, for /healthz."""
        ...

    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        """Call `listener` (from an actor thread) on every change; returns unsubscribe."""
        ...
