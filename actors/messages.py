"""Messages the actors tell each other (ARI events and command outcomes travel as they are).

All are frozen msgspec Structs; the machines' own inputs (core.*) pass through unchanged.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.domain import SupervisionMode


class Arrived(msgspec.Struct, frozen=True):
    """A decoded ARI event and when it arrived (time.perf_counter(), process-wide), so the
    actor that reacts can measure event -> command latency."""

    event: Any
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

    owner: Any
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
    """BridgeActor -> CallActor: this supervisor now listens/whispers/barges (mode None: left).
    The call's views carry it in `monitored_by`, so the agent and the wallboard see it."""

    supervisor_id: str
    mode: SupervisionMode | None


class AdoptedCall(msgspec.Struct, frozen=True):
    """CallActor -> its agent after a restart: this live call (rebuilt from Asterisk) is yours."""

    call_ref: Any
    view: Any  # core.views.CallView


class Shutdown(msgspec.Struct, frozen=True):
    """Stop the actor WITHOUT touching Asterisk (calls stay up; the next start adopts them)."""
