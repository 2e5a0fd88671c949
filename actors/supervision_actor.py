"""SupervisionActor: live supervision of one call by one supervisor (listen / whisper / barge),
a thin shell around core's SupervisionMachine. It tells the supervised CallActor who
monitors it (`Monitoring`), so CallView.monitored_by reaches the agent and the wallboard.

The supervisor's phone leg and its snoops are claimed at the Switchboard as the machine
creates them; each private bridge is a BridgeActor of its own (actors/bridge_actor.py), started
on the machine's `OpenBridge`, whose reports come back here; the root tells the actor mode switches, stops and the end of the
supervised call (`CallFinished`). It publishes each state change and stops itself when the
machine says `SupervisionEnded`. Every message is guarded: a failure hangs up the
supervisor's leg and snoops, never the supervised call.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors.bridge_actor import BridgeHost
from actors.commands import CommandExecutor
from actors.deps import ActorDeps
from actors.messages import Arrived, Monitoring, Shutdown
from core.ari_commands import HangupChannel
from core.bridge import CloseBridge, OpenBridge, OrderBridge
from core.domain import SupervisionMode
from core.supervision import SupervisionEnded, SupervisionMachine, SupervisionStateChanged
from core.timers import TimerFired

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


class SupervisionActor(pykka.ThreadingActor):
    def __init__(
        self,
        machine: SupervisionMachine,
        deps: ActorDeps,
        on_ended: Callable[[SupervisionEnded], None] | None = None,
        call_ref: Any = None,
    ) -> None:
        super().__init__()
        self.machine = machine
        self.call_ref = call_ref  # the supervised CallActor, told who monitors it
        self.deps = deps
        self.on_ended = on_ended
        self.executor: CommandExecutor | None = None
        self.bridges: BridgeHost | None = None
        self.finished = False
        self.last_view: SupervisionView | None = None

    def on_start(self) -> None:
        self.executor = CommandExecutor(
            self.deps, self.actor_ref, timer_scope=f"sup:{self.machine.sid}"
        )
        self.bridges = BridgeHost(self.deps, self.actor_ref)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetSupervisionView):
            return self.last_view
        if isinstance(message, Shutdown):
            if self.bridges is not None:
                self.bridges.shutdown()
            self._release()
            self.stop()
            return None
        if isinstance(message, Arrived):
            message = message.event
        executor = self.executor
        if isinstance(message, TimerFired) and executor and not executor.is_current(message):
            return  # a replaced or cancelled timer's late firing
        try:
            self._feed(message)
        except Exception as exc:
            log.exception("supervision %s failed; ending it", self.machine.sid)
            self._abort(f"{type(exc).__name__}: {exc}")
        return None

    def _feed(self, inp: Any) -> None:
        if self.finished:
            return
        self.machine.receive(inp, time.time())
        assert self.executor is not None and self.bridges is not None
        for command in self.machine.commands_to_send():
            if isinstance(command, OpenBridge | OrderBridge):
                self.bridges.execute(command)
            else:
                self.executor.execute([command])
        for event in self.machine.events_emitted():
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

    def _publish(self, view: SupervisionView) -> None:
        """Keep the latest view and tell the supervised call who monitors it, in which mode
        (gateway subscribers only know AgentView / CallView: they see it in monitored_by)."""
        self.last_view = view
        mode = self.machine.monitored()
        if self.call_ref is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.call_ref.tell(
                    Monitoring(
                        supervisor_id=self.machine.supervisor_id,
                        mode=None if view.ended or mode is None else mode[1],
                    )
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
        self._release()
        self.stop()

    def _abort(self, reason: str) -> None:
        if self.executor is not None:
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
                reason=reason,
                failed=True,
            )
        )

    def _release(self) -> None:
        if self.executor is not None:
            self.executor.release_all()
