"""CallCenterApp: the composition root of the telephony core.

Starts, in dependency order, the asyncio loop thread, the ARI port (REST), the Switchboard,
the timer service, the call registry, the agents and the ARI link (events socket),
checking each one started; stops them in reverse. Stopping (SIGTERM) leaves live calls up
in Asterisk: CallActors are told `Shutdown`, which releases their routes without hanging
anything up, and the next start adopts the calls (see actors/recovery.py).

The pieces live next door: `core_config.py` (CoreConfig), `call_center_port.py` (the UI's
requests, `gateway.ports.CallCenter`), `view_fanout.py` (views to subscribers),
`supervisions.py` (the supervision factory), `agents.py` (the AgentActors and the audit
trail of their mobiles), actors/call_registry.py (the live calls).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import pykka

from actors.agent_actor import CloseAgentSession
from actors.ari_link import AriLink, LinkNotice
from actors.ari_port import AriPort
from actors.call_journal import LiveCallJournal
from actors.call_registry import CallRegistry
from actors.deps import ActorDeps
from actors.loop import EventLoopThread
from actors.messages import AriLinkUp, GetStats, SwitchboardStats
from actors.orphan_sweep import OrphanSweeper
from actors.recovery import Reconciler, ReconcileReport
from actors.registry_messages import (
    AdoptLiveCall,
    AfterEarlierMessages,
    CallHandle,
    ShutdownAll,
    StartCall,
    health_after,
)
from actors.sinks import CallRecordSink, MemoryRecordSink
from actors.switchboard import Routes, Switchboard
from actors.timers import TimerService
from analytics import metrics
from core.ari_commands import AriCommandFailed, AriCommandOutcome, AriCommandSucceeded
from core.call import CallMachine
from core.call_config import CallRequest
from core.domain import Refusal, WorkstationMode
from core.records import CallRecord
from core.supervision import supervision_sid
from evscallpro import asterisk_check
from evscallpro.agent_sessions import AgentSessions
from evscallpro.agents import AuditTrail, start_agents
from evscallpro.call_center_port import CallCenterPort, new_call_id
from evscallpro.core_config import AgentDirectoryEntry, CoreConfig, SupervisorEntry
from evscallpro.gc_tuning import tune_cyclic_gc
from evscallpro.supervisions import SupervisionFactory

__all__ = [
    "AgentDirectoryEntry",
    "CallCenterApp",
    "CoreConfig",
    "SupervisorEntry",
    "new_call_id",
]

log = logging.getLogger(__name__)

ACTOR_STACK_SIZE = 256 * 1024


def _count_command(outcome: AriCommandOutcome, seconds: float) -> None:
    """Prometheus: every ARI command by operation and result, with its round trip."""
    op = type(outcome.command).__struct_config__.tag
    metrics.ari_command(str(op), isinstance(outcome, AriCommandSucceeded), seconds)
    if isinstance(outcome, AriCommandFailed):  # e.g. RecordBridge: the recording folder
        asterisk_check.explain_command_failure(str(op), outcome.status, outcome.message)


class CallCenterApp(CallCenterPort):
    def __init__(
        self,
        config: CoreConfig,
        sink: CallRecordSink | None = None,
        on_link_notice: Callable[[LinkNotice], None] | None = None,
        journal: LiveCallJournal | None = None,
        on_reconciled: Callable[[ReconcileReport], None] | None = None,
        audit: CallRecordSink | None = None,
    ) -> None:
        """`sink` gets every call record and disposition; `audit` every audit event (a
        change of an agent's mobile number): an append-only log in the data folder."""
        super().__init__()
        self.config = config
        self.journal = journal
        self._on_reconciled = on_reconciled
        self.reconciler: Reconciler | None = None
        self.orphan_sweeper: OrphanSweeper | None = None
        self.reconciled = threading.Event()
        self.sink: CallRecordSink = sink if sink is not None else MemoryRecordSink()
        self.audit: CallRecordSink = audit if audit is not None else MemoryRecordSink()
        self._external_notice = on_link_notice
        self.loop_thread = EventLoopThread()
        self.port: AriPort | None = None
        self.switchboard: Any = None
        self.routes: Routes | None = None
        self.timers: TimerService | None = None
        self.link: AriLink | None = None
        self.deps: ActorDeps | None = None
        self.link_up = threading.Event()
        self.sessions = AgentSessions()  # persistent agent legs, opened on demand
        self._supervisors = frozenset(s.supervisor_id for s in config.supervisors)
        self._supervisors_without_phone = frozenset(config.supervisors_without_phone)
        self._health = msgspec.structs.replace(self._health, app=config.app)

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait_for_link_s: float | None = 5.0) -> None:
        """Start every part in dependency order; raise if one does not come up."""
        threading.stack_size(ACTOR_STACK_SIZE)
        tune_cyclic_gc()  # once per process: evscallpro/gc_tuning.py
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
        # One routing table: the link routes events on the loop thread, actors claim on theirs
        # (actors/switchboard.py `Routes`); the Switchboard actor serves the reconciler's events
        # and GetStats from the same table.
        self.routes = Routes(on_unowned_stasis=self._unowned_stasis)
        self.switchboard = Switchboard.start(routes=self.routes)
        if not self.switchboard.is_alive():
            raise RuntimeError("Switchboard did not start")
        self.timers = TimerService(self.loop_thread)
        self.deps = ActorDeps(
            switchboard=self.switchboard,
            port=self.port,
            timers=self.timers,
            sink=self.sink,
            publish=self.views.publish,
            journal=self.journal,
            routes=self.routes,
        )
        self.registry = CallRegistry.start(
            self.deps, cfg.call, self.live, SupervisionFactory(cfg, self.deps), app=cfg.app
        )
        if not self.registry.is_alive():
            raise RuntimeError("call registry did not start")
        if self.journal is not None:
            self.journal.compact()
        self.reconciler = Reconciler(
            self.port,
            cfg.app,
            cfg.call,
            live_call_refs=lambda: dict(self.live.calls),
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
            on_event=self.routes.route,
            on_notice=self._on_link_notice,
            backoff_base_s=cfg.backoff_base_s,
            backoff_cap_s=cfg.backoff_cap_s,
        )
        # Into self._agents as they start: stop() stops those that did if one fails.
        start_agents(cfg, self.deps, self._start_agent_call, AuditTrail(self.audit), self._agents)
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
        if self.registry is not None:
            with contextlib.suppress(Exception):
                for ref in self.registry.ask(ShutdownAll(), timeout=5):
                    ref.actor_stopped.wait(2)
            self.registry.stop()
            self.registry = None
        self.sessions.stop_all()
        for ref in list(self._agents.values()):
            ref.stop()
        self._agents.clear()
        if self.deps is not None:  # bridges still waiting for Asterisk's confirmation
            for ref in list(self.deps.live_bridges.values()):
                with contextlib.suppress(pykka.ActorDeadError):
                    ref.stop()
        if self.switchboard is not None:
            self.switchboard.stop()
            self.switchboard = None
        if self.port is not None:
            self.port.stop()
            self.port = None
        self.loop_thread.stop()

    def _on_link_notice(self, notice: LinkNotice) -> None:
        """On the loop thread: the link's state goes to the registry (told) and to the
        health snapshot /healthz reads."""
        metrics.ari_connected(isinstance(notice, AriLinkUp))
        self._health = health_after(self._health, notice)
        if self.registry is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self.registry.tell(notice)
        if isinstance(notice, AriLinkUp):
            if notice.generation > 1:
                metrics.ari_reconnect()
            self.link_up.set()
            if self.reconciler is not None:
                self.loop_thread.submit(self.reconciler.run(notice.generation))
        if self._external_notice is not None:
            self._external_notice(notice)

    def _reconciled_report(self, report: ReconcileReport) -> None:
        """On the loop: reported once the calls it adopted are live in the registry."""

        def reconciled() -> None:
            self.reconciled.set()
            if self._on_reconciled is not None:
                self._on_reconciled(report)
            sweeper = self.orphan_sweeper
            if sweeper is not None:  # cleans supervisions cut by a restart
                sweeper.after_reconcile(report)

        if self.registry is None:
            return
        try:
            self.registry.tell(AfterEarlierMessages(callback=reconciled))
        except pykka.ActorDeadError:
            log.debug("reconciliation report after the registry stopped")

    def _live_supervisions(self) -> set[str]:
        """Any thread: the sids of the supervisions this process runs (the sweep spares them)."""
        return {supervision_sid(call_id, sup) for call_id, sup in self.live.supervisions}

    def _unowned_stasis(self, channel_id: str) -> None:
        """Routing thread (the loop's, or the Switchboard's): a channel entered our app and no
        actor owns it."""
        sweeper = self.orphan_sweeper
        if sweeper is not None:
            log.info("StasisStart for unowned channel %s: orphan sweep", channel_id)
            sweeper.trigger()

    # ------------------------------------------------------------------ persistent legs
    def open_agent_session(
        self, agent_id: str, workstation: WorkstationMode = WorkstationMode.MOBILE
    ) -> Refusal | None:
        """Call the agent's phone once for a session of calls (core/agent_leg_session.py)."""
        agent = self._agents.get(agent_id)
        if not self.started or agent is None or self.deps is None:
            return Refusal("unknown_agent", f"no agent {agent_id!r} in a running core")
        return self.sessions.open(agent_id, agent, self.deps, self.config.call, workstation)

    def close_agent_session(self, agent_id: str) -> Refusal | None:
        """Hang up the agent's persistent leg (its session ends)."""
        return self._ask_agent(agent_id, CloseAgentSession())

    # ------------------------------------------------------------------ calls
    def start_call(
        self,
        request: CallRequest,
        on_ended: Callable[[CallRecord], None] | None = None,
        agent: Any = None,
    ) -> Any:
        """Start a CallActor for `request` (it dials at once); returns its ActorRef, or None
        when the telephony link cannot carry it (the call ended at once, its record says
        `telephony_unavailable`). For tools and tests, never from an actor."""
        if self.registry is None:
            raise RuntimeError("core not started")
        return self.registry.ask(
            StartCall(request=request, agent=agent, on_ended=on_ended), timeout=5
        )

    def _start_agent_call(self, request: CallRequest, agent_ref: Any) -> CallHandle:
        """On an AgentActor's thread: tell the registry, never wait on it."""
        self.registry.tell(StartCall(request=request, agent=agent_ref))
        return CallHandle(self.registry, request.call_id)

    def _adopt(self, machine: CallMachine, request: CallRequest) -> None:
        """On the loop (the reconciler): a call rebuilt from Asterisk; the registry starts
        its CallActor once."""
        agent = self._agents.get(request.agent_id)
        self.registry.tell(
            AdoptLiveCall(machine=machine, request=request, agent=agent)
        )

    def switchboard_stats(self, timeout: float = 2.0) -> SwitchboardStats:
        return self.switchboard.ask(GetStats(), timeout=timeout)  # type: ignore[no-any-return]
