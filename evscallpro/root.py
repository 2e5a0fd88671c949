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

from actors.agent_actor import AgentActor, AgentRequest, GetAgentView, HangUpCall, PlaceCall
from actors.ari_link import AriLink, LinkNotice
from actors.ari_port import AriPort
from actors.call_actor import CallActor
from actors.call_journal import CallJournal
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.messages import AriLinkUp, GetStats, Shutdown, SwitchboardStats, UiHangUp
from actors.orphan_sweep import DEFAULT_INTERVAL_S, OrphanSweeper
from actors.recovery import Reconciler, ReconcileReport
from actors.sinks import CallRecordSink, MemoryRecordSink
from actors.supervision_actor import SupervisionActor
from actors.switchboard import Switchboard
from actors.timers import TimerService
from analytics import metrics
from core.agent import (
    AgentMachine,
    LogIn,
    LogOut,
    Pause,
    SetAvailable,
    SetWorkstation,
    SubmitDisposition,
)
from core.ari_commands import AriCommandOutcome, AriCommandSucceeded
from core.call import CallMachine, agent_channel_id, bridge_id_for
from core.call_config import CallRequest, CallSettings, DialTemplates
from core.domain import SupervisionMode, WorkstationMode
from core.phone import DialingPolicy
from core.records import CallRecord
from core.supervision import (
    CallFinished,
    SetSupervisionMode,
    StartSupervision,
    StopSupervision,
    SupervisionEnded,
    SupervisionMachine,
    SupervisionSettings,
    supervision_sid,
)
from core.views import AgentView, CallView
from gateway.ports import Refusal, ViewListener

log = logging.getLogger(__name__)

ACTOR_STACK_SIZE = 256 * 1024


class AgentDirectoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    display_name: str = ""
    softphone_endpoint: str = ""  # endpoint name, e.g. "agent-1001" (see DialTemplates.softphone)
    mobile_number: str = ""  # E.164
    workstation: WorkstationMode | None = None  # the workstation chosen at start, if any


class SupervisorEntry(msgspec.Struct, frozen=True, kw_only=True):
    supervisor_id: str
    endpoint: str  # dial string of the supervisor's phone, e.g. "PJSIP/supervisor-2001"


class CoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the core needs to run (the full Settings file maps onto this)."""

    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "evscallpro"
    ari_password: str = "evscallpro"
    app: str = "evscallpro"
    templates: DialTemplates = DialTemplates()
    policy: DialingPolicy = DialingPolicy()
    call: CallSettings = CallSettings()
    agents: tuple[AgentDirectoryEntry, ...] = ()
    supervisors: tuple[SupervisorEntry, ...] = ()
    wrap_up_max_s: float | None = None
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 10.0
    request_timeout_s: float = 10.0
    # How often leg channels of our app that no live call owns are looked for and hung up
    # (a StasisStart nobody owns also starts a sweep at once).
    orphan_sweep_s: float = DEFAULT_INTERVAL_S


def _count_command(outcome: AriCommandOutcome, seconds: float) -> None:
    """Prometheus: every ARI command by operation and result, with its round trip."""
    op = type(outcome.command).__struct_config__.tag
    metrics.ari_command(str(op), isinstance(outcome, AriCommandSucceeded), seconds)


def new_call_id() -> str:
    return "c" + uuid.uuid4().hex[:12]


class CallCenterApp:
    def __init__(
        self,
        config: CoreConfig,
        sink: CallRecordSink | None = None,
        on_link_notice: Callable[[LinkNotice], None] | None = None,
        journal: CallJournal | None = None,
        on_reconciled: Callable[[ReconcileReport], None] | None = None,
    ) -> None:
        self.config = config
        self.journal = journal
        self._on_reconciled = on_reconciled
        self.reconciler: Reconciler | None = None
        self.orphan_sweeper: OrphanSweeper | None = None
        self.reconciled = threading.Event()
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
        self._agents: dict[str, Any] = {}  # agent_id -> ActorRef[AgentActor]
        # (call_id, supervisor_id) -> ActorRef[SupervisionActor]
        self._supervisions: dict[tuple[str, str], Any] = {}
        self.link_up = threading.Event()
        self.started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait_for_link_s: float | None = 5.0) -> None:
        """Start every part in dependency order; raise if one does not come up."""
        threading.stack_size(ACTOR_STACK_SIZE)
        try:
            self._start_parts()
        except BaseException:
            self.stop()  # whatever did start is stopped again, in reverse
            raise
        self.started = True
        if wait_for_link_s is not None and not self.reconciled.wait(wait_for_link_s):
            last_error = self.link.last_error if self.link is not None else ""
            self.stop()
            raise RuntimeError(
                f"ARI events socket did not open (and reconcile) within {wait_for_link_s}s"
                + (f" ({last_error})" if last_error else "")
            )

    def _start_parts(self) -> None:
        cfg = self.config
        self.loop_thread.start()
        self.port = AriPort(
            self.loop_thread,
            cfg.ari_url,
            cfg.ari_user,
            cfg.ari_password,
            request_timeout_s=cfg.request_timeout_s,
            on_outcome=_count_command,
        )
        self.port.start()
        self.switchboard = Switchboard.start(on_unowned_stasis=self._unowned_stasis)
        if not self.switchboard.is_alive():
            raise RuntimeError("Switchboard did not start")
        self.timers = TimerService(self.loop_thread)
        self.deps = ActorDeps(
            switchboard=self.switchboard,
            port=self.port,
            timers=self.timers,
            sink=self.sink,
            publish=self._publish,
            journal=self.journal,
        )
        if self.journal is not None:
            self.journal.compact()
        self.reconciler = Reconciler(
            self.port,
            cfg.app,
            cfg.call,
            live_call_refs=self._live_calls,
            adopt=self._adopt,
            sink=self.sink,
            journal=self.journal,
            on_report=self._reconciled_report,
        )
        self.orphan_sweeper = OrphanSweeper(
            self.loop_thread,
            self.port,
            self.reconciler,
            interval_s=cfg.orphan_sweep_s,
            on_hung_up=lambda channels: metrics.orphan_channels_hung_up(len(channels)),
            live_supervisions=self._live_supervisions,
        )
        self.orphan_sweeper.start()
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
        self._start_agents()
        self.link.start()

    def stop(self) -> None:
        """Stop in reverse order; live calls stay up in Asterisk. Idempotent, and safe after
        a start that failed half-way."""
        self.started = False
        if self.orphan_sweeper is not None:
            self.orphan_sweeper.stop()
            self.orphan_sweeper = None
        if self.link is not None:
            self.link.stop()
            self.link = None
        for ref in self._live_call_refs():
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(Shutdown())
        for ref in self._live_call_refs():
            ref.actor_stopped.wait(2)
        with self._calls_lock:
            supervisions = list(self._supervisions.values())
        for ref in supervisions:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(Shutdown())
        for ref in list(self._agents.values()):
            ref.stop()
        self._agents.clear()
        if self.switchboard is not None:
            self.switchboard.stop()
            self.switchboard = None
        if self.port is not None:
            self.port.stop()
            self.port = None
        self.loop_thread.stop()

    def _on_link_notice(self, notice: LinkNotice) -> None:
        metrics.ari_connected(isinstance(notice, AriLinkUp))
        if isinstance(notice, AriLinkUp):
            if notice.generation > 1:
                metrics.ari_reconnect()
            self.link_up.set()
            if self.reconciler is not None:
                self.loop_thread.submit(self.reconciler.run(notice.generation))
        if self._external_notice is not None:
            self._external_notice(notice)

    # ------------------------------------------------------------------ calls
    def start_call(
        self,
        request: CallRequest,
        on_ended: Callable[[CallRecord], None] | None = None,
        agent: Any = None,
    ) -> Any:
        """Start a CallActor for `request` (it dials at once); returns its ActorRef."""
        if self.deps is None:
            raise RuntimeError("core not started")
        machine = CallMachine(request, self.config.call)

        def ended(record: CallRecord) -> None:
            with self._calls_lock:
                self._calls.pop(record.call_id, None)
            self._call_finished(record.call_id)
            if on_ended is not None:
                on_ended(record)

        with self._calls_lock:
            ref = CallActor.start(request, machine, self.deps, on_ended=ended, agent=agent)
            self._calls[request.call_id] = ref
        return ref

    def _reconciled_report(self, report: ReconcileReport) -> None:
        self.reconciled.set()
        if self._on_reconciled is not None:
            self._on_reconciled(report)
        if self.orphan_sweeper is not None:  # cleans supervisions cut by a restart
            self.orphan_sweeper.after_reconcile(report)

    def _unowned_stasis(self, channel_id: str) -> None:
        """Switchboard thread: a channel entered our app and no actor owns it."""
        sweeper = self.orphan_sweeper
        if sweeper is not None:
            log.info("StasisStart for unowned channel %s: orphan sweep", channel_id)
            sweeper.trigger()

    def _live_supervisions(self) -> set[str]:
        with self._calls_lock:
            return {supervision_sid(call_id, sup) for call_id, sup in self._supervisions}

    def _live_calls(self) -> dict[str, Any]:
        with self._calls_lock:
            return dict(self._calls)

    def _adopt(self, machine: CallMachine, request: CallRequest, live_ids: frozenset[str]) -> Any:
        """Start a CallActor around a call rebuilt from Asterisk (called by the reconciler)."""
        assert self.deps is not None

        def ended(record: CallRecord) -> None:
            with self._calls_lock:
                self._calls.pop(record.call_id, None)
            self._call_finished(record.call_id)

        with self._calls_lock:
            if request.call_id in self._calls:
                return self._calls[request.call_id]
            ref = CallActor.start(
                request,
                machine,
                self.deps,
                on_ended=ended,
                adopted=True,
                agent=self._agents.get(request.agent_id),
                live_ids=live_ids & frozenset(machine.channel_ids()),
            )
            self._calls[request.call_id] = ref
        log.warning("adopted live call %s (agent %s)", request.call_id, request.agent_id)
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

    # ------------------------------------------------------------------ agents
    def _start_agents(self) -> None:
        assert self.deps is not None
        now = time.time()
        for entry in self.config.agents:
            machine = AgentMachine(
                entry.agent_id,
                entry.display_name,
                workstation=entry.workstation,
                mobile_number=entry.mobile_number or None,
                softphone_endpoint=entry.softphone_endpoint or None,
                templates=self.config.templates,
                policy=self.config.policy,
                wrap_up_max_s=self.config.wrap_up_max_s,
                since=now,
            )
            ref = AgentActor.start(machine, self.deps, self._start_agent_call)
            if not ref.is_alive():
                raise RuntimeError(f"agent actor {entry.agent_id} did not start")
            self._agents[entry.agent_id] = ref

    def _start_agent_call(self, request: CallRequest, agent_ref: Any) -> Any:
        return self.start_call(request, agent=agent_ref)

    def _ask_agent(self, agent_id: str, message: Any, timeout: float = 5.0) -> Refusal | None:
        if not self.started:
            return Refusal("core_stopped", "the telephony core is not running")
        ref = self._agents.get(agent_id)
        if ref is None:
            return Refusal("unknown_agent", f"no agent {agent_id!r}")
        try:
            answer = ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            return Refusal("internal_error", "the agent actor is gone")
        except Exception as exc:  # timeout
            return Refusal("internal_error", f"the agent did not answer: {type(exc).__name__}")
        if answer is None:
            return None
        return Refusal(getattr(answer, "code", "refused"), getattr(answer, "detail", ""))

    # ------------------------------------------------------------------ CallCenter
    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id,
            PlaceCall(
                customer_number=customer_number, call_id=new_call_id(), contact_id=contact_id
            ),
        )

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None:
        refusal = self._ask_agent(agent_id, HangUpCall(call_id=call_id, by=agent_id))
        if refusal is not None and refusal.code == "unknown_call":
            # An adopted call (after a restart) is not on the agent machine: end it directly.
            with self._calls_lock:
                known = call_id in self._calls
            if known and self.hang_up_call(call_id, by=agent_id):
                return None
        return refusal

    def set_workstation(
        self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id, AgentRequest(SetWorkstation(mode=mode, mobile_number=mobile_number))
        )

    def log_in(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(LogIn()))

    def log_out(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(LogOut()))

    def set_available(self, agent_id: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(SetAvailable()))

    def pause(self, agent_id: str, reason: str) -> Refusal | None:
        return self._ask_agent(agent_id, AgentRequest(Pause(reason=reason)))

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None:
        return self._ask_agent(
            agent_id,
            AgentRequest(
                SubmitDisposition(
                    call_id=call_id, code=disposition, comment=comment, callback_at=callback_at
                )
            ),
        )

    def supervise(self, supervisor_id: str, call_id: str, mode: SupervisionMode) -> Refusal | None:
        """Listen to, whisper to or barge into a live call from the supervisor's phone."""
        if self.deps is None or not self.started:
            return Refusal("core_stopped", "the telephony core is not running")
        entry = next((s for s in self.config.supervisors if s.supervisor_id == supervisor_id), None)
        if entry is None:
            return Refusal("unknown_supervisor", f"no supervisor {supervisor_id!r}")
        try:
            mode = SupervisionMode(mode)
        except ValueError:
            return Refusal("invalid_mode", f"{mode!r} is not listen, whisper or barge")
        with self._calls_lock:
            if call_id not in self._calls:
                return Refusal("unknown_call", f"no live call {call_id!r}")
            existing = self._supervisions.get((call_id, supervisor_id))
            if existing is not None and existing.is_alive():
                existing.tell(SetSupervisionMode(mode=mode))
                return None
            cfg = self.config
            machine = SupervisionMachine(
                call_id,
                supervisor_id,
                entry.endpoint,
                agent_channel_id(call_id),
                bridge_id_for(call_id),
                SupervisionSettings(
                    app=cfg.app,
                    caller_id=cfg.call.caller_id_to_agent,
                    ring_timeout_s=cfg.call.agent_ring_timeout_s,
                    ending_guard_s=cfg.call.ending_guard_s,
                ),
            )
            key = (call_id, supervisor_id)

            def ended(_: SupervisionEnded) -> None:
                with self._calls_lock:
                    if self._supervisions.get(key) is ref:
                        del self._supervisions[key]

            ref = SupervisionActor.start(
                machine, self.deps, on_ended=ended, call_ref=self._calls[call_id]
            )
            self._supervisions[key] = ref
        ref.tell(StartSupervision(mode=mode))
        return None

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None:
        with self._calls_lock:
            ref = self._supervisions.get((call_id, supervisor_id))
        if ref is None:
            return Refusal("not_supervising", f"{supervisor_id!r} is not on call {call_id!r}")
        with contextlib.suppress(pykka.ActorDeadError):
            ref.tell(StopSupervision())
        return None

    def _call_finished(self, call_id: str) -> None:
        with self._calls_lock:
            refs = [r for (cid, _), r in self._supervisions.items() if cid == call_id]
        for ref in refs:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(CallFinished())

    def snapshot(self) -> list[AgentView]:
        views: list[AgentView] = []
        for ref in list(self._agents.values()):
            try:
                views.append(ref.ask(GetAgentView(), timeout=2))
            except Exception:
                log.warning("agent view unavailable", exc_info=True)
        return views

    def call_views(self) -> list[CallView]:
        views = []
        for ref in self._live_call_refs():
            try:
                views.append(ref.ask(GetStats(), timeout=1))
            except Exception:
                continue
        return views
