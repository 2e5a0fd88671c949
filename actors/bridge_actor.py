"""BridgeActor: one ARI bridge, a thin shell around core's BridgeMachine.

It claims its bridge id at the Switchboard (so ChannelEnteredBridge / ChannelLeftBridge,
BridgeDestroyed and the bridge's recording events reach it), runs the orders of its owner
(`core.bridge` AddMembers, CloseBridge, StartBridgeRecording...) and tells the owner every
report (BridgeOpened, MemberEntered, BridgeClosed...). It stops itself once Asterisk confirmed
the bridge is gone, so a bridge whose owner already ended is still deleted to the end.

`BridgeHost` is what an owner actor embeds: it starts a BridgeActor on the machine's
`OpenBridge`, forwards `OrderBridge`, and on `Shutdown` stops them without touching Asterisk.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pykka

from actors.commands import CommandExecutor
from actors.deps import ActorDeps
from actors.messages import Arrived, Shutdown, Teller
from actors.runtime import PooledActor
from core.bridge import BridgeCommand, BridgeMachine, BridgeSettings, OpenBridge, OrderBridge
from core.timers import TimerFired

log = logging.getLogger(__name__)


class BridgeActor(PooledActor):
    def __init__(self, machine: BridgeMachine, deps: ActorDeps, owner: Teller | None) -> None:
        super().__init__()
        self.machine = machine
        self.deps = deps
        self.owner = owner
        self.executor: CommandExecutor | None = None

    def on_start(self) -> None:
        self.executor = CommandExecutor(
            self.deps, self.actor_ref, timer_scope=f"bridge:{self.machine.bridge_id}"
        )
        self.machine.open()
        self._flush()

    def on_stop(self) -> None:
        self.deps.live_bridges.pop(self.machine.bridge_id, None)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Shutdown):
            self._end()
            return None
        if isinstance(message, Arrived):
            message = message.event
        executor = self.executor
        if isinstance(message, TimerFired) and executor and not executor.is_current(message):
            return None  # a replaced or cancelled timer's late firing
        try:
            self.machine.receive(message)
            self._flush()
        except Exception:  # a told message must not kill the actor (Pykka would stop it)
            log.exception("bridge %s: error on %s", self.machine.bridge_id, type(message))
        return None

    def _flush(self) -> None:
        assert self.executor is not None
        self.executor.execute(self.machine.commands_to_send())
        for report in self.machine.reports_emitted():
            if self.owner is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    self.owner.tell(report)
        if self.machine.is_finished:
            self._end()

    def _end(self) -> None:
        if self.executor is not None:
            self.executor.release_all()
        self.stop()


class BridgeHost:
    """The bridges of one owner actor, by id (used from the owner's own thread only)."""

    def __init__(
        self, deps: ActorDeps, owner: Teller, settings: BridgeSettings | None = None
    ) -> None:
        self.deps = deps
        self.owner = owner
        self.settings = settings
        self.refs: dict[str, Any] = {}  # bridge id -> ActorRef[BridgeActor]

    def execute(self, command: BridgeCommand) -> None:
        match command:
            case OpenBridge(bridge_id=bid, name=name):
                machine = BridgeMachine(bid, name, self.settings)
                self.refs[bid] = BridgeActor.start(machine, self.deps, self.owner)
                self.deps.live_bridges[bid] = self.refs[bid]
            case OrderBridge(bridge_id=bid, order=order):
                ref = self.refs.get(bid)
                if ref is None:
                    log.warning("order %s for unknown bridge %s", type(order).__name__, bid)
                    return
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.tell(order)

    def shutdown(self) -> None:
        """Stop every bridge actor and leave the bridges in Asterisk (recovery sweeps them)."""
        for ref in self.refs.values():
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(Shutdown())
        self.refs.clear()
