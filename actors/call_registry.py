"""The call registry: one actor that starts CallActors and knows the live calls and their
supervisions, so no lock is shared across actor threads.

Actors `tell()` it: AgentActors start calls through a `CallHandle` (a StartCall; the
handle forwards later messages, a hang-up, to the call), CallActors tell it their end, the
ARI link's notices tell it whether calls can be placed. The composition root and tests may
`ask()` (StartCall, Supervise). Readers on other threads (the reconciler on the
loop, the UI facade) read `LiveCalls`, an immutable snapshot the registry swaps whole after
each change: one writer, no lock.

A call requested while the telephony link cannot carry it (events socket down, Stasis app
taken over) is not started: it ends at once with outcome `telephony_unavailable`, its one
record written and its agent told, never blaming the agent.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import pykka

from actors.call_actor import CallActor
from actors.deps import ActorDeps
from actors.messages import AriAppReplaced, AriLinkDown, AriLinkUp, Shutdown
from actors.registry_messages import (
    AdoptLiveCall,
    AfterEarlierMessages,
    CallActorEnded,
    LiveCalls,
    ShutdownAll,
    StartCall,
    Supervise,
    SupervisionFactory,
    SupervisionGone,
    ToCall,
    health_after,
)
from actors.runtime import PooledActor
from actors.unplaced_call import unplaced_call
from core.call import CallMachine
from core.call_config import CallSettings
from core.call_events import CallEnded
from core.domain import CallOutcome, Refusal
from core.records import CallRecord
from core.supervision import CallFinished, SetSupervisionMode, StartSupervision, SupervisionEnded
from core.telephony import TelephonyHealth

log = logging.getLogger(__name__)

class CallRegistry(PooledActor):
    def __init__(
        self,
        deps: ActorDeps,
        call_settings: CallSettings,
        live: LiveCalls,
        start_supervision: SupervisionFactory,
        app: str = "",
    ) -> None:
        super().__init__()
        self.deps = deps
        self.call_settings = call_settings
        self.live = live
        self.start_supervision = start_supervision
        self.health = TelephonyHealth(app=app, since=time.time())
        self._calls: dict[str, Any] = {}
        self._supervisions: dict[tuple[str, str], Any] = {}

    def on_receive(self, message: Any) -> Any:
        try:
            return self._handle(message)
        except Exception:  # one bad message must not stop the registry
            log.exception("call registry failed on %s", type(message).__name__)
            return None

    def _handle(self, message: Any) -> Any:
        match message:
            case StartCall():
                return self._start(message)
            case AdoptLiveCall():
                self._adopt(message)
            case ToCall(call_id=call_id, message=inner):
                ref = self._calls.get(call_id)
                if ref is not None:
                    with contextlib.suppress(pykka.ActorDeadError):
                        ref.tell(inner)
            case CallActorEnded(call_id=call_id):
                self._calls.pop(call_id, None)
                for (cid, _), ref in list(self._supervisions.items()):
                    if cid == call_id:
                        with contextlib.suppress(pykka.ActorDeadError):
                            ref.tell(CallFinished())
                self._publish()
            case Supervise():
                return self._supervise(message)
            case SupervisionGone(call_id=call_id, supervisor_id=sup, ref=ref):
                if self._supervisions.get((call_id, sup)) is ref:
                    del self._supervisions[(call_id, sup)]
                    self._publish()
            case AriLinkUp() | AriLinkDown() | AriAppReplaced():
                self.health = health_after(self.health, message)
            case AfterEarlierMessages(callback=callback):
                callback()
            case ShutdownAll():
                refs = [*self._calls.values(), *self._supervisions.values()]
                for ref in refs:
                    with contextlib.suppress(pykka.ActorDeadError):
                        ref.tell(Shutdown())
                return refs
            case _:
                log.debug("call registry ignores %s", type(message).__name__)
        return None

    # -- calls ----------------------------------------------------------------------------
    def _start(self, msg: StartCall) -> Any:
        request = msg.request
        if request.call_id in self._calls:
            return self._calls[request.call_id]
        if not self.health.ok:
            why = self.health.why_unavailable()
            log.error("call %s of agent %s not placed: %s", request.call_id, request.agent_id, why)
            self._not_placed(msg, CallOutcome.TELEPHONY_UNAVAILABLE, f"telephony_unavailable: {why}")
            return None
        on_ended = msg.on_ended

        def ended(record: CallRecord) -> None:  # on the CallActor's thread
            self.actor_ref.tell(CallActorEnded(call_id=record.call_id))
            if on_ended is not None:
                on_ended(record)

        try:
            machine = CallMachine(request, self.call_settings)
            ref = CallActor.start(request, machine, self.deps, on_ended=ended, agent=msg.agent)
        except Exception as exc:  # no CallActor: the agent must not stay on_call
            log.exception("call %s not started", request.call_id)
            self._not_placed(msg, CallOutcome.REJECTED, f"call_not_started: {type(exc).__name__}")
            return None
        self._calls[request.call_id] = ref
        self._publish()
        return ref

    def _not_placed(self, msg: StartCall, outcome: CallOutcome, reason: str) -> None:
        """Nothing was dialed: the call's one record says why, its agent is free again."""
        record, view = unplaced_call(msg.request, outcome, reason, time.time())
        try:
            self.deps.sink.write(record)
        except Exception:
            log.exception("record sink failed for call %s", record.call_id)
        self.deps.publish(view)
        if msg.agent is not None:  # the agent is available again at once
            with contextlib.suppress(pykka.ActorDeadError):
                msg.agent.tell(CallEnded(record=record))
        if msg.on_ended is not None:
            msg.on_ended(record)

    def _adopt(self, msg: AdoptLiveCall) -> None:
        request = msg.request
        if request.call_id in self._calls:
            return

        def ended(record: CallRecord) -> None:
            self.actor_ref.tell(CallActorEnded(call_id=record.call_id))

        machine: CallMachine = msg.machine
        self._calls[request.call_id] = CallActor.start(
            request,
            machine,
            self.deps,
            on_ended=ended,
            adopted=True,
            agent=msg.agent,
        )
        self._publish()
        log.warning("adopted live call %s (agent %s)", request.call_id, request.agent_id)

    # -- supervision ----------------------------------------------------------------------
    def _supervise(self, msg: Supervise) -> Refusal | None:
        call_ref = self._calls.get(msg.call_id)
        if call_ref is None:
            return Refusal("unknown_call", f"no live call {msg.call_id!r}")
        key = (msg.call_id, msg.supervisor_id)
        existing = self._supervisions.get(key)
        if existing is not None and existing.is_alive():
            existing.tell(SetSupervisionMode(mode=msg.mode))
            return None
        registry = self.actor_ref
        holder: list[Any] = []

        def ended(_: SupervisionEnded) -> None:  # on the supervision's thread
            if holder:
                registry.tell(SupervisionGone(msg.call_id, msg.supervisor_id, holder[0]))

        ref = self.start_supervision(msg.call_id, msg.supervisor_id, call_ref, ended)
        holder.append(ref)
        self._supervisions[key] = ref
        self._publish()
        ref.tell(StartSupervision(mode=msg.mode))
        return None

    def _publish(self) -> None:
        self.live.replace(self._calls, self._supervisions)
