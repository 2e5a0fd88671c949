"""What the gateway needs from the telephony core, and nothing more.

The actors' composition root implements `CallCenter`; the gateway depends on this Protocol
only, so its tests can run the real core against the simulator or a recorded double.
Every method returns at once (it `tell()`s an actor); results arrive as views through
`subscribe`. Refusals that can be decided synchronously (unknown agent, invalid number,
agent not available) are returned as a `Refusal` so the UI can say why at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.domain import Refusal, SupervisionMode, WorkstationMode
from core.views import AgentView, CallView

__all__ = ["CallCenter", "Refusal", "ViewListener"]

ViewListener = Callable[[AgentView | CallView], None]


class CallCenter(Protocol):
    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None: ...

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None: ...

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
        """The current view of every agent (blocks briefly; for the composition root only)."""
        ...

    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        """Call `listener` (from an actor thread) on every change; returns unsubscribe."""
        ...
