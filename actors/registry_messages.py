"""What the call registry (actors/call_registry.py) is told and asked, its read side
(`LiveCalls`) and the `CallHandle` an AgentActor holds for the call it asked for."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import msgspec
import pykka

from actors.messages import AriAppReplaced, AriLinkDown, AriLinkUp
from core.call_config import CallRequest
from core.domain import SupervisionMode
from core.records import CallRecord
from core.supervision import SupervisionEnded
from core.telephony import TelephonyHealth

# (call id, supervisor id, mode, the supervised CallActor's ref, on_ended) -> supervision ref
SupervisionFactory = Callable[[str, str, Any, Callable[[SupervisionEnded], None]], Any]
CallEndedCallback = Callable[[CallRecord], None]


class StartCall(msgspec.Struct, frozen=True):
    """Start a CallActor for `request` (it dials at once). `agent`: the AgentActor's ref, told
    every view and the end. Asked (root, tests), the answer is the call's ref, or None when
    it was not placed (its record is written, its agent told)."""

    request: CallRequest
    agent: Any = None
    on_ended: Any = None  # CallEndedCallback | None, called on the CallActor's thread


class AdoptLiveCall(msgspec.Struct, frozen=True):
    """The reconciler rebuilt a live call from Asterisk: start its CallActor (once)."""

    machine: Any  # CallMachine
    request: CallRequest
    agent: Any = None


class ToCall(msgspec.Struct, frozen=True):
    """Forward `message` to the CallActor of `call_id` (dropped when it already ended)."""

    call_id: str
    message: Any


class CallActorEnded(msgspec.Struct, frozen=True):
    call_id: str


class Supervise(msgspec.Struct, frozen=True):
    """ask(): start (or switch the mode of) a supervision; the answer is a Refusal or None."""

    call_id: str
    supervisor_id: str
    mode: SupervisionMode


class SupervisionGone(msgspec.Struct, frozen=True):
    call_id: str
    supervisor_id: str
    ref: Any


class AfterEarlierMessages(msgspec.Struct, frozen=True):
    """Call `callback()` on the registry's thread once every message told before is handled
    (e.g. a reconciliation report, after the calls it adopted are in `LiveCalls`)."""

    callback: Any  # Callable[[], None]


class ShutdownAll(msgspec.Struct, frozen=True):
    """ask(): tell every call and supervision `Shutdown` (they leave Asterisk as it is);
    the answer is the refs told, to wait on."""


class LiveCalls:
    """The registry's read side: immutable snapshots, replaced whole by the registry (the
    only writer). Reading takes no lock; `wait_until` lets tools and tests wait for a
    change (the registry learns of a call's end just after its record is written)."""

    def __init__(self) -> None:
        self.calls: Mapping[str, Any] = MappingProxyType({})  # call id -> ActorRef[CallActor]
        # (call id, supervisor id) -> ActorRef[SupervisionActor]
        self.supervisions: Mapping[tuple[str, str], Any] = MappingProxyType({})
        self._changed = threading.Condition()

    def replace(
        self, calls: Mapping[str, Any], supervisions: Mapping[tuple[str, str], Any]
    ) -> None:
        """The registry's thread only."""
        with self._changed:
            self.calls = MappingProxyType(dict(calls))
            self.supervisions = MappingProxyType(dict(supervisions))
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[LiveCalls], bool], timeout: float) -> bool:
        """Wait (not from an actor) until `predicate(self)` holds; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)


class CallHandle:
    """What an AgentActor holds for a call it asked for: `tell()` goes to the call through
    the registry (the CallActor may not exist yet, or any more); never raises."""

    def __init__(self, registry: Any, call_id: str) -> None:
        self.registry = registry
        self.call_id = call_id

    def tell(self, message: Any) -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            self.registry.tell(ToCall(call_id=self.call_id, message=message))




def health_after(
    health: TelephonyHealth, notice: AriLinkUp | AriLinkDown | AriAppReplaced
) -> TelephonyHealth:
    """The telephony health once the ARI link announced `notice`."""
    match notice:
        case AriLinkUp(at=at):
            return health.link_up(at)
        case AriLinkDown(reason=reason, at=at):
            return health.link_down(reason, at)
        case AriAppReplaced(app=app, at=at):
            return health.app_replaced(app, at)
