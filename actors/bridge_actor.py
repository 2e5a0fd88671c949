"""BridgeActor: live supervision of one call by one supervisor (listen / whisper / barge),
a thin shell around core's SupervisionMachine. It tells the supervised CallActor who
monitors it (`Monitoring`), so CallView.monitored_by reaches the agent and the wallboard.

The supervisor's phone leg, its snoops and the private bridge are claimed at the Switchboard
as the machine creates them; the root tells the actor mode switches, stops and the end of the
supervised call (`CallFinished`). It publishes each state change and stops itself when the
machine says `SupervisionEnded`. It runs in the shared shell (actors/machine_actor.py), so
every message is guarded: a failure hangs up the supervisor's leg and snoops, never the
supervised call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec

from actors.deps import ActorDeps
from actors.machine_actor import NOT_A_QUERY, MachineActor
from actors.messages import Monitoring
from core.ari_commands import HangupChannel
from core.bridge import SupervisionEnded, SupervisionMachine, SupervisionStateChanged
from core.domain import SupervisionMode

log = logging.getLogger(__name__)


class SupervisionView(msgspec.Struct, frozen=True, kw_only=True):
    """What the wallboard shows about one supervision (published to subscribers)."""

    call_id: str
    supervisor_id: str
    state: str
    mode: SupervisionMode
    at: float
    reason: str = ""
    ended: bool = False


class GetSupervisionView(msgspec.Struct, frozen=True):
    pass


class BridgeActor(MachineActor[SupervisionMachine]):
    def __init__(
        self,
        machine: SupervisionMachine,
        deps: ActorDeps,
        on_ended: Callable[[SupervisionEnded], None] | None = None,
        call_ref: Any = None,
    ) -> None:
        super().__init__(machine, deps, timer_scope=f"sup:{machine.sid}")
        self.call_ref = call_ref  # the supervised CallActor, told who monitors it
        self.on_ended = on_ended
        self.last_view: SupervisionView | None = None

    def answer(self, message: Any) -> Any:
        return self.last_view if isinstance(message, GetSupervisionView) else NOT_A_QUERY

    def on_event(self, event: Any) -> None:
        match event:
            case SupervisionStateChanged():
                self._publish(
                    SupervisionView(
                        call_id=event.call_id,
                        supervisor_id=event.supervisor_id,
                        state=str(event.state),
                        mode=event.mode,
                        at=event.at,
                        reason=event.reason,
                        ended=event.state in ("ended", "failed"),
                    )
                )
            case SupervisionEnded():
                self._end(event)

    def failed(self, exc: Exception) -> None:
        """Hang up the supervisor's leg and snoops, never the supervised call."""
        for channel_id in self.executor.channels:
            self.deps.port.send(HangupChannel(channel_id=channel_id), None)
        self._end(
            SupervisionEnded(
                call_id=self.machine.call_id,
                supervisor_id=self.machine.supervisor_id,
                at=time.time(),
                reason=f"{type(exc).__name__}: {exc}",
                failed=True,
            )
        )

    def _publish(self, view: SupervisionView) -> None:
        """Keep the latest view and tell the supervised call who monitors it, in which mode
        (gateway subscribers only know AgentView / CallView: they see it in monitored_by)."""
        self.last_view = view
        mode = self.machine.monitored()
        self.tell_peer(
            self.call_ref,
            Monitoring(
                supervisor_id=self.machine.supervisor_id,
                mode=None if view.ended or mode is None else mode[1],
            ),
        )

    def _end(self, event: SupervisionEnded) -> None:
        self.finished = True
        self._publish(
            SupervisionView(
                call_id=event.call_id,
                supervisor_id=event.supervisor_id,
                state="ended",
                mode=self.machine.mode,
                at=event.at,
                reason=event.reason,
                ended=True,
            )
        )
        if self.on_ended is not None:
            try:
                self.on_ended(event)
            except Exception:
                log.exception("supervision-ended listener failed")
        self.end()
