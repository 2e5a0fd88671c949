"""CallCenterApp: the composition root of the telephony core.

Starts, in dependency order, the asyncio loop thread, the ARI port (REST), the Switchboard,
the timer service and the ARI link (events socket), checking each one started; stops them in
reverse. Stopping (SIGTERM) leaves live calls up in Asterisk: CallActors are told `Shutdown`,
which releases their routes without hanging anything up, and the next start adopts the calls
(see actors/recovery.py).

It implements `gateway.ports.CallCenter` for the UI: every method returns at once after a
`tell()`; views reach subscribers from actor threads.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors.ari_link import AriLink, LinkNotice
from actors.ari_port import AriPort
from actors.call_actor import CallActor
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.messages import AriLinkUp, GetStats, Shutdown, SwitchboardStats, UiHangUp
from actors.sinks import CallRecordSink, MemoryRecordSink
from actors.switchboard import Switchboard
from actors.timers import TimerService
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.domain import WorkstationMode
from core.records import CallRecord
from core.views import AgentView, CallView
from gateway.ports import Refusal, ViewListener

log = logging.getLogger(__name__)

ACTOR_STACK_SIZE = 256 * 1024


class AgentDirectoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    display_name: str = ""
    softphone_endpoint: str = ""  # e.g. "PJSIP/agent-1001"
    mobile_number: str = ""  # E.164


class CoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the core needs to run (the full Settings file maps onto this)."""

    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "evscallpro"
    ari_password: str = "evscallpro"
    app: str = "evscallpro"
    customer_template: str = "PJSIP/{number}@trunk"
    mobile_template: str = "PJSIP/{number}@trunk"
    call: CallSettings = CallSettings()
    agents: tuple[AgentDirectoryEntry, ...] = ()
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 10.0
    request_timeout_s: float = 10.0


def new_call_id() -> str:
    return "c" + uuid.uuid4().hex[:12]


class CallCenterApp:
    def __init__(
        self,
        config: CoreConfig,
        sink: CallRecordSink | None = None,
        on_link_notice: Callable[[LinkNotice], None] | None = None,
    ) -> None:
        self.config = config
        self.sink: CallRecordSink = sink if sink is not None else MemoryRecordSink()
        self._external_notice = on_link_notice
        self.loop_thread = EventLoopThread()
        self.port: AriPort | None = None
        self.switchboard: Any = None
        self.timers: TimerService | None = None
        self.link: AriLink | None = None
        self.deps: ActorDeps | None = None
        self._calls: dict[str, Any] = {}  # call_id -> ActorRef[CallActor]
        self._calls_lock = threading.Lock()
        self._listeners: list[ViewListener] = []
        self._listeners_lock = threading.Lock()
        self._agent_calls: dict[str, str] = {}  # agent_id -> live call_id
        self._workstations: dict[str, tuple[WorkstationMode, str | None]] = {}
        self.link_up = threading.Event()
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait_for_link_s: float | None = 5.0) -> None:
        """Start every part in dependency order; raise if one does not come up."""
        threading.stack_size(ACTOR_STACK_SIZE)
        cfg = self.config
        self.loop_thread.start()
        self.port = AriPort(
            self.loop_thread,
            cfg.ari_url,
            cfg.ari_user,
            cfg.ari_password,
            request_timeout_s=cfg.request_timeout_s,
        )
        self.port.start()
        self.switchboard = Switchboard.start()
        if not self.switchboard.is_alive():
            raise RuntimeError("Switchboard did not start")
        self.timers = TimerService(self.loop_thread)
        self.deps = ActorDeps(
            switchboard=self.switchboard,
            port=self.port,
            timers=self.timers,
            sink=self.sink,
            publish=self._publish,
        )
        self.link = AriLink(
            self.loop_thread,
            cfg.ari_url,
            cfg.ari_user,
            cfg.ari_password,
            cfg.app,
            on_event=self.switchboard.tell,
            on_notice=self._on_link_notice,
            backoff_base_s=cfg.backoff_base_s,
            backoff_cap_s=cfg.backoff_cap_s,
        )
        self.link.start()
        self.started = True
        if wait_for_link_s is not None and not self.link_up.wait(wait_for_link_s):
            self.stop()
            raise RuntimeError(f"ARI events socket did not open within {wait_for_link_s}s")

    def stop(self) -> None:
        """Stop in reverse order; live calls stay up in Asterisk."""
        if not self.started:
            return
        self.started = False
        if self.link is not None:
            self.link.stop()
        for ref in self._live_call_refs():
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(Shutdown())
        for ref in self._live_call_refs():
            ref.actor_stopped.wait(2)
        if self.switchboard is not None:
            self.switchboard.stop()
        if self.port is not None:
            self.port.stop()
        self.loop_thread.stop()

    def _on_link_notice(self, notice: LinkNotice) -> None:
        if isinstance(notice, AriLinkUp):
            self.link_up.set()
        if self._external_notice is not None:
            self._external_notice(notice)

    # ------------------------------------------------------------------ calls
    def start_call(
        self, request: CallRequest, on_ended: Callable[[CallRecord], None] | None = None
    ) -> Any:
        """Start a CallActor for `request` (it dials at once); returns its ActorRef."""
        if self.deps is None:
            raise RuntimeError("core not started")
        machine = CallMachine(request, self.config.call)

        def ended(record: CallRecord) -> None:
            with self._calls_lock:
                self._calls.pop(record.call_id, None)
                if self._agent_calls.get(record.agent_id) == record.call_id:
                    del self._agent_calls[record.agent_id]
            if on_ended is not None:
                on_ended(record)

        with self._calls_lock:
            ref = CallActor.start(request, machine, self.deps, on_ended=ended)
            self._calls[request.call_id] = ref
            self._agent_calls[request.agent_id] = request.call_id
        return ref

    def hang_up_call(self, call_id: str, by: str = "ui") -> bool:
        with self._calls_lock:
            ref = self._calls.get(call_id)
        if ref is None:
            return False
        try:
            ref.tell(UiHangUp(requested_by=by))
        except pykka.ActorDeadError:
            return False
        return True

    def live_call_ids(self) -> list[str]:
        with self._calls_lock:
            return list(self._calls)

    def _live_call_refs(self) -> list[Any]:
        with self._calls_lock:
            return list(self._calls.values())

    def switchboard_stats(self, timeout: float = 2.0) -> SwitchboardStats:
        return self.switchboard.ask(GetStats(), timeout=timeout)  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ views
    def _publish(self, view: Any) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(view)
            except Exception:
                log.exception("view listener failed")

    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # ------------------------------------------------------------------ CallCenter
    def _agent(self, agent_id: str) -> AgentDirectoryEntry | None:
        for entry in self.config.agents:
            if entry.agent_id == agent_id:
                return entry
        return None

    def agent_endpoint(self, agent_id: str) -> tuple[WorkstationMode, str] | Refusal:
        entry = self._agent(agent_id)
        if entry is None:
            return Refusal("unknown_agent", f"no agent {agent_id!r}")
        mode, mobile = self._workstations.get(
            agent_id,
            (
                WorkstationMode.SOFTPHONE if entry.softphone_endpoint else WorkstationMode.MOBILE,
                None,
            ),
        )
        if mode == WorkstationMode.SOFTPHONE:
            if not entry.softphone_endpoint:
                return Refusal("no_workstation", "this agent has no softphone endpoint")
            return mode, entry.softphone_endpoint
        number = mobile or entry.mobile_number
        if not number:
            return Refusal("no_workstation", "no mobile number for this agent")
        return mode, self.config.mobile_template.format(number=number)

    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None:
        if not self.started:
            return Refusal("core_stopped", "the telephony core is not running")
        resolved = self.agent_endpoint(agent_id)
        if isinstance(resolved, Refusal):
            return resolved
        mode, endpoint = resolved
        with self._calls_lock:
            if agent_id in self._agent_calls:
                return Refusal("agent_on_call", "the agent already has a call")
        call_id = new_call_id()
        request = CallRequest(
            call_id=call_id,
            agent_id=agent_id,
            agent_endpoint=endpoint,
            customer_number=customer_number,
            customer_endpoint=self.config.customer_template.format(number=customer_number),
            workstation=mode,
            contact_id=contact_id,
            requested_at=time.time(),
        )
        self.start_call(request)
        return None

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None:
        if not self.hang_up_call(call_id, by=agent_id):
            return Refusal("no_such_call", f"no live call {call_id!r}")
        return None

    def set_workstation(
        self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None
    ) -> Refusal | None:
        if self._agent(agent_id) is None:
            return Refusal("unknown_agent", f"no agent {agent_id!r}")
        self._workstations[agent_id] = (mode, mobile_number)
        return None

    def log_in(self, agent_id: str) -> Refusal | None:
        return None if self._agent(agent_id) else Refusal("unknown_agent", agent_id)

    def log_out(self, agent_id: str) -> Refusal | None:
        return None if self._agent(agent_id) else Refusal("unknown_agent", agent_id)

    def set_available(self, agent_id: str) -> Refusal | None:
        return None if self._agent(agent_id) else Refusal("unknown_agent", agent_id)

    def pause(self, agent_id: str, reason: str) -> Refusal | None:
        return None if self._agent(agent_id) else Refusal("unknown_agent", agent_id)

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None:
        return Refusal("not_implemented", "dispositions need the agent actor (not wired yet)")

    def supervise(self, supervisor_id: str, call_id: str, mode: Any) -> Refusal | None:
        return Refusal("not_implemented", "supervision is not wired yet")

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None:
        return Refusal("not_implemented", "supervision is not wired yet")

    def snapshot(self) -> list[AgentView]:
        return []

    def call_views(self) -> list[CallView]:
        views = []
        for ref in self._live_call_refs():
            try:
                views.append(ref.ask(GetStats(), timeout=1))
            except Exception:
                continue
        return views
