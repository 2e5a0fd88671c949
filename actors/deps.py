"""What every call-handling actor needs from the rest of the core, in one bundle.

Built once by the composition root; all members are thread-safe and non-blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.ari_port import AriPort
from actors.call_journal import LiveCallJournal
from actors.sinks import CallRecordSink
from actors.switchboard import Routes, SwitchboardRef
from actors.timers import TimerService
from core.views import AgentView, CallView

ViewPublisher = Callable[[AgentView | CallView], None]


@dataclass
class ActorDeps:
    switchboard: SwitchboardRef
    port: AriPort
    timers: TimerService
    sink: CallRecordSink
    publish: ViewPublisher = field(default=lambda view: None)
    journal: LiveCallJournal | None = None
    # Bridge actors alive, by bridge id: one may outlive its owner until Asterisk confirms the
    # bridge is gone, so the composition root stops what is left here when it stops. Each
    # actor adds and removes only its own entry (single dict operations: no lock needed).
    live_bridges: dict[str, Any] = field(default_factory=dict)
    # The Switchboard's routing table, when the composition root shares it: claims and
    # releases are then applied at once on the actor's thread (actors/switchboard.py `Routes`);
    # None: they are told to the Switchboard actor.
    routes: Routes | None = None
