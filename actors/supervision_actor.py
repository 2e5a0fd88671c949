"""SupervisionActor: live supervision of one call by one supervisor (listen / whisper / barge),
a thin shell around core's SupervisionMachine. It tells the supervised CallActor who
monitors it (`Monitoring`), so CallView.monitored_by reaches the agent and the wallboard.

The supervisor's phone leg and its snoops are claimed at the Switchboard as the machine
creates them; each private bridge is a BridgeActor of its own (actors/bridge_actor.py),
started on the machine's `OpenBridge`, whose reports come back here; the root tells the actor
mode switches, stops and the end of the supervised call (`CallFinished`). It publishes each state change and stops itself when the
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

from actors.bridge_actor import BridgeHost
from actors.deps import ActorDeps
from actors.machine_actor import NOT_A_QUERY, MachineActor
from actors.messages import Monitoring, Shutdown
from core.ari_commands import HangupChannel
from core.bridge import CloseBridge, OpenBridge, OrderBridge
from core.domain import SupervisionMode
from core.supervision import SupervisionEnded, SupervisionMachine, SupervisionStateChanged

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


class SupervisionActor(MachineActor[SupervisionMachine]):
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
        self.bridges: BridgeHost | None = None

    def started(self) -> None:
        self.bridges = BridgeHost(self.deps, self.actor_ref)

    def answer(self, message: Any) -> Any:
        if isinstance(message, Shutdown) and self.bridges is not None:
            self.bridges.shutdown()  # then the shell stops without touching Asterisk
        return self.last_view if isinstance(message, GetSupervisionView) else NOT_A_QUERY

    def drain(self) -> list[Any]:
        """Private-bridge commands go to their BridgeActors, the rest to the ARI port."""
        assert self.bridges is not None
        others = []
        for command in self.machine.commands_to_send():
            if isinstance(command, OpenBridge | OrderBridge):
                self.bridges.execute(command)
            else:
                others.append(command)
        self.executor.execute(others)
        events = self.machine.events_emitted()
        for event in events:
            self.on_event(event)
        return events

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
        """Hang up the supervisor's leg and snoops and close the private bridge, never the
        supervised call."""
        for channel_id in self.executor.channels:
            self.deps.port.send(HangupChannel(channel_id=channel_id), None)
        if self.bridges is not None:
            for bridge_id in list(self.bridges.refs):
                self.bridges.execute(OrderBridge(bridge_id=bridge_id, order=CloseBridge()))
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
