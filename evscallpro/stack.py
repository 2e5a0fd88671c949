"""The whole product in one process: telephony core + analytics + web gateway.

`Stack` is a composition root over the existing pieces, nothing more: it starts, in
dependency order, the AnalyticsService (the DuckDB writer must exist before a record can
arrive), the CallCenterApp (ARI link, actors; its records fan out to `calls.jsonl` and
DuckDB, its views feed the agent-state intervals and gauges), then the gateway (which
subscribes to the core and reads the archive). Each part is checked started before the
next one; `stop()` stops them in reverse, so the core's last records reach the writer
before it flushes and closes.

Under `settings.data_dir`: `evscallpro.duckdb` (+ its journal), `calls.jsonl`,
`live-calls.jsonl` (the journal recovery reads), `audit.jsonl` (the audit trail: every
change of an agent's mobile number, who, when, old -> new), `users.json`, `contacts.json`,
`session-secret`. Recordings stay where Asterisk writes them; the gateway reads them
through ARI (gateway/recordings.py `AriRecordings`).

People are one thing: a web user with the supervisor role (users.json, `add-user`) needs a
`[[supervisors]]` entry with their phone; `people_problems()` lists who lacks one (the core
then refuses their listening with a reason saying so).

    stack = Stack(load_settings("evscallpro.toml")).start()
    print(stack.url)
    ...
    stack.stop()
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from actors.analytics_service import AnalyticsService
from actors.analytics_writer import WriterConfig
from actors.call_journal import CallJournal
from actors.recovery import ReconcileReport
from actors.sinks import CallRecordSink, FanOutSink, JsonLinesRecordSink
from actors.softphone_presence import SoftphonePresence
from evscallpro.core_parts import CoreParts
from evscallpro.people import people_problems, supervisors_without_phone
from evscallpro.root import CallCenterApp
from evscallpro.settings_file import Settings
from gateway.contacts import ContactStore
from gateway.project import user_directory
from gateway.recordings import AriRecordings
from gateway.server import GatewayThread

log = logging.getLogger(__name__)

DB_FILE = "evscallpro.duckdb"
RECORDS_FILE = "calls.jsonl"
LIVE_CALLS_FILE = "live-calls.jsonl"
AUDIT_FILE = "audit.jsonl"  # append-only: changes of agents' mobile numbers (who, when, old -> new)


class StackError(RuntimeError):
    """A part did not start; `part` names it (analytics, core or gateway)."""

    def __init__(self, part: str, cause: BaseException) -> None:
        reasons = [str(cause) or type(cause).__name__]
        inner = cause.__cause__
        while inner is not None and len(reasons) < 4:  # "failed to start" says little alone
            reasons.append(str(inner) or type(inner).__name__)
            inner = inner.__cause__
        super().__init__(f"{part} did not start: " + ": ".join(reasons))
        self.part = part


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        gateway_overrides: dict[str, Any] | None = None,
        extra_sinks: Sequence[CallRecordSink] = (),
        link_timeout_s: float = 15.0,
        flush_interval_s: float = 1.0,
        on_reconciled: Callable[[ReconcileReport], None] | None = None,
        view_listeners: Sequence[Callable[[object], None]] = (),
    ) -> None:
        """`gateway_overrides`: GatewaySettings fields beyond the project file (e.g.
        `campaign_scripts`, `recordings_dir`). `extra_sinks` also receive every record.
        `on_reconciled` gets each reconciliation report; `view_listeners` are subscribed to
        the core before it starts (so they see the first views too)."""
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self._gateway_overrides = dict(gateway_overrides or {})
        self._extra_sinks = list(extra_sinks)
        self._link_timeout_s = link_timeout_s
        self._on_reconciled = on_reconciled
        self._view_listeners = list(view_listeners)
        self.analytics = AnalyticsService(
            WriterConfig(db_path=str(self.db_path), flush_interval_s=flush_interval_s)
        )
        self.analytics.reader.costs = settings.costs.by_workstation()  # the page's cost per mode
        self.app: CallCenterApp | None = None
        self.gateway: GatewayThread | None = None
        self.presence: SoftphonePresence | None = None
        self._stops: list[tuple[str, Callable[[], None]]] = []

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_FILE

    @property
    def url(self) -> str:
        if self.gateway is None:
            raise RuntimeError("the gateway is not running")
        return self.gateway.url

    @property
    def call_center(self) -> CallCenterApp:
        if self.app is None:
            raise RuntimeError("the core is not running")
        return self.app

    def supervisors_without_phone(self) -> list[str]:
        """Web users with the supervisor role that no [[supervisors]] entry gives a phone."""
        return supervisors_without_phone(self.settings)

    def people_problems(self) -> list[str]:
        """What the admin must fix in the configuration of people, one line each."""
        return people_problems(self.settings)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Stack:
        """Start every part in order; on failure stop what started and raise StackError."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start("analytics", self._start_analytics)
            self._start("core", self._start_core)
            self._start("gateway", self._start_gateway)
        except StackError:
            self.stop()
            raise
        return self

    def _start(self, part: str, start: Callable[[], Callable[[], None]]) -> None:
        try:
            stop = start()
        except Exception as exc:
            raise StackError(part, exc) from exc
        self._stops.append((part, stop))
        log.info("%s started", part)

    def _start_analytics(self) -> Callable[[], None]:
        self.analytics.start()
        writer = self.analytics.writer
        if writer is None or not writer.is_alive():
            raise RuntimeError("the DuckDB writer actor is not alive")
        return self.analytics.stop

    def _start_core(self) -> Callable[[], None]:
        sink = FanOutSink(
            JsonLinesRecordSink(self.data_dir / RECORDS_FILE),
            self.analytics.sink,
            *self._extra_sinks,
        )
        parts = CoreParts.build(
            self.settings,
            sink=sink,
            audit=JsonLinesRecordSink(self.data_dir / AUDIT_FILE),
            journal=CallJournal(
                self.data_dir / LIVE_CALLS_FILE,
                compact_after_lines=self.settings.recovery.journal_compact_after_lines,
                compact_above_bytes=self.settings.recovery.journal_compact_above_bytes,
            ),
            on_reconciled=self._on_reconciled,
            # the analytics first: the first agent views count too
            view_listeners=[self.analytics.on_view, *self._view_listeners],
        )
        stop = parts.start(self._link_timeout_s)  # raises if ARI does not come up
        self.app = parts.app
        self.presence = parts.presence
        return stop

    def _start_gateway(self) -> Callable[[], None]:
        assert self.app is not None
        gw_settings = self.settings.gateway_settings(**self._gateway_overrides)
        users = user_directory(self.settings, gw_settings)
        contacts = ContactStore.in_data_dir(gw_settings.data_dir)
        gateway = GatewayThread(self.app, gw_settings, users, contacts, archive=self.analytics.reader)
        ari = self.settings.ari  # recordings come from Asterisk's own store, through ARI
        gateway.gateway.recordings = AriRecordings(ari.url, ari.user, ari.password)
        gateway.start()
        self.gateway = gateway
        return gateway.stop

    def stop(self) -> None:
        """Stop in reverse order; each part is stopped even if an earlier stop failed."""
        while self._stops:
            part, stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", part)
            else:
                log.info("%s stopped", part)
        self.gateway = None
        self.app = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(Exception):
            self.stop()
