"""What every call-handling actor needs from the rest of the core, in one bundle.

Built once by the composition root; all members are thread-safe and non-blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from actors.ari_port import AriPort
from actors.call_journal import CallJournal
from actors.sinks import CallRecordSink
from actors.timers import TimerService

ViewPublisher = Callable[[Any], None]


@dataclass
class ActorDeps:
    switchboard: Any  # ActorRef[Switchboard]
    port: AriPort
    timers: TimerService
    sink: CallRecordSink
    publish: ViewPublisher = field(default=lambda view: None)
    journal: CallJournal | None = None
