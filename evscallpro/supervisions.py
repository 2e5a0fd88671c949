"""How a supervision starts: the SupervisionMachine for one supervisor on one call, in its
SupervisionActor (its private bridge in a BridgeActor of its own). The call registry calls this factory when a supervisor first listens to a call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.deps import ActorDeps
from actors.supervision_actor import SupervisionActor
from core.ids import agent_channel_id, call_bridge_id
from core.supervision import SupervisionEnded, SupervisionMachine, SupervisionSettings
from evscallpro.core_config import CoreConfig, SupervisorEntry


class SupervisionFactory:
    def __init__(self, config: CoreConfig, deps: ActorDeps) -> None:
        self.config = config
        self.deps = deps

    def supervisor(self, supervisor_id: str) -> SupervisorEntry | None:
        return next(
            (s for s in self.config.supervisors if s.supervisor_id == supervisor_id), None
        )

    def settings_for(self, entry: SupervisorEntry) -> SupervisionSettings:
        """A supervisor's phone is called like an agent's: same ring timeout, caller id and
        "press 1" guard for the same kind of phone ([acceptance])."""
        call = self.config.call
        return SupervisionSettings(
            app=self.config.app,
            language=call.language,
            caller_id=call.caller_id_to_agent,
            ring_timeout_s=call.agent_ring_timeout_s,
            ending_guard_s=call.ending_guard_s,
            acceptance=call.acceptance_for(entry.workstation),
            press_1_to_accept=call.prompts.press_1_to_accept,
            acceptance_timeout_s=call.acceptance_timeout_s,
        )

    def __call__(
        self,
        call_id: str,
        supervisor_id: str,
        call_ref: Any,
        on_ended: Callable[[SupervisionEnded], None],
    ) -> Any:
        entry = self.supervisor(supervisor_id)
        if entry is None:  # checked by the facade before: the directory is fixed at start
            raise LookupError(f"no supervisor {supervisor_id!r}")
        machine = SupervisionMachine(
            call_id,
            supervisor_id,
            entry.endpoint,
            agent_channel_id(call_id),
            call_bridge_id(call_id),
            self.settings_for(entry),
        )
        return SupervisionActor.start(machine, self.deps, on_ended=on_ended, call_ref=call_ref)
