"""Execute a machine's commands: ARI commands go to the port (after their ids are claimed at
the Switchboard, so no event can outrun its route), timer commands to the timer service.
With the Switchboard's `Routes` shared in `deps.routes`, a claim or release is applied at once
on the actor's own thread; otherwise it is told to the Switchboard actor (FIFO before the
events it routes).

Shared by CallActor, SupervisionActor, BridgeActor and AgentActor so each stays a thin shell.
"""

from __future__ import annotations

import logging
from typing import Any

from actors.deps import ActorDeps
from actors.messages import ClaimRoutes
from core.ari_commands import (
    CreateBridge,
    CreateChannel,
    OriginateChannel,
    PlayMedia,
    RecordBridge,
    SnoopChannel,
)
from core.timers import CancelTimer, StartTimer, TimerFired

log = logging.getLogger(__name__)


def routes_for(command: Any, owner: Any) -> ClaimRoutes | None:
    """The ids a command creates, which the issuing actor must own before it is sent."""
    match command:
        case OriginateChannel() | CreateChannel():
            ids: tuple[str, ...] = (command.channel_id,)
            if command.other_channel_id:
                ids += (command.other_channel_id,)
            return ClaimRoutes(owner=owner, channel_ids=ids)
        case SnoopChannel():
            return ClaimRoutes(owner=owner, channel_ids=(command.snoop_id,))
        case CreateBridge():
            return ClaimRoutes(owner=owner, bridge_ids=(command.bridge_id,))
        case PlayMedia():
            return ClaimRoutes(owner=owner, playback_ids=(command.playback_id,))
        case RecordBridge():
            return ClaimRoutes(owner=owner, recording_names=(command.name,))
    return None


class CommandExecutor:
    """Per-actor: remembers what it claimed (to release it) and which channels it created."""

    def __init__(self, deps: ActorDeps, owner: Any, timer_scope: str) -> None:
        self.deps = deps
        self.owner = owner
        self.timer_scope = timer_scope
        self.claimed: list[ClaimRoutes] = []
        self.channels: list[str] = []  # ;1 / PJSIP / snoop channels this actor created
        self.sent = 0
        self._timer_seq = 0
        self._timer_generation: dict[str, int] = {}  # name -> generation of the armed timer

    def execute(self, commands: list[Any]) -> None:
        for command in commands:
            match command:
                case StartTimer(name=name, seconds=seconds):
                    fired = TimerFired(name=name, generation=self._next_generation(name))
                    self.deps.timers.start((self.timer_scope, name), seconds, fired, self.owner)
                case CancelTimer(name=name):
                    self._next_generation(name)
                    self.deps.timers.cancel((self.timer_scope, name))
                case _:
                    self.send_ari(command)

    def _next_generation(self, name: str) -> int:
        self._timer_seq += 1
        self._timer_generation[name] = self._timer_seq
        return self._timer_seq

    def is_current(self, fired: TimerFired) -> bool:
        """False for the late firing of a timer since replaced or cancelled (it fired on the
        loop before the restart or cancel got there): the machine must not see it."""
        return self._timer_generation.get(fired.name) == fired.generation

    def send_ari(self, command: Any) -> None:
        claim = routes_for(command, self.owner)
        if claim is not None:
            self.claimed.append(claim)
            self._claim(claim)
            if isinstance(command, OriginateChannel | CreateChannel):
                self.channels.append(command.channel_id)
            elif isinstance(command, SnoopChannel):
                self.channels.append(command.snoop_id)
        self.sent += 1
        self.deps.port.send(command, self.owner)

    def claim(self, claim: ClaimRoutes) -> None:
        """Own ids this actor did not create (adoption after a restart)."""
        self.claimed.append(claim)
        self._claim(claim)

    def _claim(self, claim: ClaimRoutes) -> None:
        routes = self.deps.routes
        if routes is not None:
            routes.claim(claim)
        else:
            self.deps.switchboard.tell(claim)

    def release_all(self) -> None:
        from actors.messages import ReleaseRoutes

        routes = self.deps.routes
        for claim in self.claimed:
            release = ReleaseRoutes(
                channel_ids=claim.channel_ids,
                bridge_ids=claim.bridge_ids,
                playback_ids=claim.playback_ids,
                recording_names=claim.recording_names,
            )
            try:
                if routes is not None:
                    routes.release(release)
                else:
                    self.deps.switchboard.tell(release)
            except Exception:
                log.debug("switchboard gone; routes not released")
        self.claimed.clear()
        self.deps.timers.cancel_all(self.timer_scope)
