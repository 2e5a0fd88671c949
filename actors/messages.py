"""Messages the actors tell each other (ARI events and command outcomes travel as they are).

All are frozen msgspec Structs, in this one module for the actor layer; the machines' own
inputs (core.*) pass through unchanged. `Teller` is what a message is told to: a pykka
ActorRef, or a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import msgspec

from analytics.journal import JournalRecord
from core.ari_events import AriEvent, UnhandledEvent
from core.domain import SupervisionMode
from core.views import CallView


class Teller(Protocol):
    """Anything that accepts a message without blocking (a pykka ActorRef, a test double)."""

    def tell(self, message: object) -> None: ...


class Arrived(msgspec.Struct, frozen=True):
    """A decoded ARI event and when it arrived (time.perf_counter(), process-wide), so the
    actor that reacts can measure event -> command latency."""

    event: AriEvent | UnhandledEvent
    at: float


class AriLinkUp(msgspec.Struct, frozen=True):
    """The events socket is open; `generation` counts (re)connections (1 = first)."""

    generation: int
    at: float


class AriLinkDown(msgspec.Struct, frozen=True):
    reason: str
    at: float


class AriAppReplaced(msgspec.Struct, frozen=True):
    """Another process opened the events socket under our app name; we stopped reconnecting."""

    app: str
    at: float


class ClaimRoutes(msgspec.Struct, frozen=True):
    """Owner asks the Switchboard for the events of these ids (owner: an ActorRef)."""

    owner: Teller
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    playback_ids: tuple[str, ...] = ()
    recording_names: tuple[str, ...] = ()


class ReleaseRoutes(msgspec.Struct, frozen=True):
    channel_ids: tuple[str, ...] = ()
    bridge_ids: tuple[str, ...] = ()
    playback_ids: tuple[str, ...] = ()
    recording_names: tuple[str, ...] = ()


class SwitchboardStats(msgspec.Struct, frozen=True):
    routed: int
    dropped: int
    unhandled: int
    routes: int


class GetStats(msgspec.Struct, frozen=True):
    """ask() the Switchboard for its SwitchboardStats (root or tests)."""


class GetCallView(msgspec.Struct, frozen=True):
    """ask() a CallActor for its call's current CallView (root or tests)."""


class UiHangUp(msgspec.Struct, frozen=True):
    """The agent's (or a supervisor's) hang-up button."""

    requested_by: str = "ui"


class Monitoring(msgspec.Struct, frozen=True):
    """SupervisionActor -> CallActor: this supervisor now listens/whispers/barges (mode None: left).
    The call's views carry it in `monitored_by`, so the agent and the wallboard see it."""

    supervisor_id: str
    mode: SupervisionMode | None


class AdoptedCall(msgspec.Struct, frozen=True):
    """CallActor -> its agent after a restart: this live call (rebuilt from Asterisk) is yours."""

    call_ref: Teller
    view: CallView


class Shutdown(msgspec.Struct, frozen=True):
    """Stop the actor WITHOUT touching Asterisk (calls stay up; the next start adopts them)."""


# -- the analytics writer (actors/analytics_writer.py) --------------------------------------


class RecordWithAck(msgspec.Struct, frozen=True):
    """A record whose sender wants to know it is on disk (fsync'd journal); `on_durable` runs
    on the writer's thread: keep it to a tell()."""

    record: JournalRecord
    on_durable: Callable[[str], None]


class FlushDue(msgspec.Struct, frozen=True):
    generation: int


class FlushNow(msgspec.Struct, frozen=True):
    pass


class GetWriterStatus(msgspec.Struct, frozen=True):
    pass


class WriterStatus(msgspec.Struct, frozen=True, kw_only=True):
    pending: int  # records journaled, not yet committed to DuckDB
    written: int  # records committed since start (replays included)
    replayed: int  # records replayed from the journal at start
    write_errors: int
    refused: int  # messages that were not records, or records that cannot be stored
    last_error: str = ""
    store_open: bool = True
