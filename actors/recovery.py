"""Reconciliation on every ARI (re)connect: Asterisk is the source of truth for live calls,
and it replays no missed events.

1. GET /asterisk/info, /channels and /bridges. Asterisk's `status.startup_time` differing
   from the one of the previous reconciliation means Asterisk restarted meanwhile: every
   channel it had was cut by the restart (`core restart now`, a crash).
2. Every CallActor of this process is told which channels still exist (core's
   `ChannelsListed`, with `telephony_restarted`): its call machine ends a leg that vanished
   while the socket was down, its end not seen (cause unknown, end time approximate), so
   the call ends and writes its record.
3. Calls of OUR app (dialplan app_data `<app>,<role>,<call_id>` or a journal entry) that no
   actor owns are adopted: a CallActor around the CallMachine `core.recovery_call.adopt_call`
   rebuilds (a bridged call stays up; see its rules).
4. Calls the live-calls journal knew that Asterisk no longer has ended while the core was
   away: their record is written (`recovered=True`; `telephony_restarted` when Asterisk
   restarted) and the journal closes them.

Between reconnects, `orphan_legs` answers the orphan sweep (actors/orphan_sweep.py) with the
same test of what is ours, under the same lock: legs of our app whose call no actor runs.

Runs on the asyncio loop (it only awaits REST requests) and only `tell()`s actors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import msgspec

from actors.ari_listing import AriListing
from actors.ari_port import AriPort, AriRequest
from actors.call_journal import LiveCallJournal
from actors.messages import Teller
from actors.sinks import CallRecordSink
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.call_inputs import ChannelsListed
from core.ids import call_id_of
from core.recovery_call import adopt_call, adopted_request, lost_call_record
from core.recovery_scan import is_ours, live_calls, ours_with_halves

log = logging.getLogger(__name__)

Adopter = Callable[[CallMachine, CallRequest], object]
LISTING_FAILED = "listing failed"


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    generation: int
    channels: int
    told_actors: int
    adopted: tuple[str, ...] = ()
    closed_while_away: tuple[str, ...] = ()
    telephony_restarted: bool = False  # Asterisk's startup time changed since the last one
    error: str = ""
    listing_s: float = 0.0  # GET /asterisk/info, /channels, /bridges
    adopting_s: float = 0.0  # matching the listing with the journal, rebuilding the calls


class Reconciler:
    def __init__(
        self,
        port: AriPort,
        app: str,
        call_settings: CallSettings,
        live_call_refs: Callable[[], Mapping[str, Teller]],
        adopt: Adopter,
        sink: CallRecordSink,
        journal: LiveCallJournal | None,
        on_report: Callable[[ReconcileReport], None] | None = None,
        listing_retries_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
    ) -> None:
        self.port = port
        self.listing = AriListing(port)
        # Asterisk replays nothing: a call whose leg vanished during the gap ends only when a
        # listing shows it, so a failed listing is asked for again after each of these waits.
        self.listing_retries_s = listing_retries_s
        self.app = app
        self.call_settings = call_settings
        self.live_call_refs = live_call_refs
        self.adopt = adopt
        self.sink = sink
        self.journal = journal
        self.on_report = on_report
        self._lock = asyncio.Lock()
        self.reports: list[ReconcileReport] = []
        self.startup_time: str | None = None  # Asterisk's, as of the last reconciliation
        self._restart_unreported = False  # seen, but the listing failed: tell the next one

    @property
    def busy(self) -> bool:
        """A reconciliation (or an orphan check) is running: what is ours may change."""
        return self._lock.locked()

    async def run(self, generation: int) -> ReconcileReport:
        async with self._lock:  # two quick reconnects must not adopt the same call twice
            for wait_s in (*self.listing_retries_s, None):
                try:
                    report = await self._reconcile(generation)
                except Exception as exc:
                    log.exception("reconciliation %d failed", generation)
                    report = ReconcileReport(
                        generation=generation, channels=0, told_actors=0, error=repr(exc)
                    )
                self._report(report)  # each attempt: a start waits for the first only
                if report.error != LISTING_FAILED or wait_s is None:
                    break
                log.warning("reconciliation %d: listing failed, again in %.1fs", generation, wait_s)
                await asyncio.sleep(wait_s)
        return report

    def _report(self, report: ReconcileReport) -> None:
        self.reports.append(report)
        log.info("reconciliation: %s", report)
        if self.on_report is not None:
            self.on_report(report)

    async def _asterisk_startup_time(self) -> str | None:
        """Asterisk's `status.startup_time` (GET /asterisk/info); None when unknown."""
        status, body, text = await self.port.request(AriRequest("GET", "/asterisk/info"))
        info = body.get("status") if status == 200 and isinstance(body, dict) else None
        startup = info.get("startup_time") if isinstance(info, dict) else None
        if not isinstance(startup, str) or not startup:
            log.warning("reconcile: GET /asterisk/info -> %s %s", status, text[:200])
            return None
        return startup

    async def _telephony_restarted(self) -> bool:
        """Did Asterisk restart since the last reconciliation (its startup time changed)?
        Unknown (False) at the core's first reconciliation or when /asterisk/info fails."""
        startup = await self._asterisk_startup_time()
        if startup is not None and self.startup_time is not None and startup != self.startup_time:
            log.warning(
                "Asterisk restarted (startup time %s -> %s): its channels were cut",
                self.startup_time,
                startup,
            )
            self._restart_unreported = True
        if startup is not None:
            self.startup_time = startup
        return self._restart_unreported

    async def _reconcile(self, generation: int) -> ReconcileReport:
        began = time.perf_counter()
        restarted = await self._telephony_restarted()
        listed_at = time.time()  # the call machines' clock
        owned_before = self.live_call_refs()  # a call that ends during the listing stays ours
        channels = await self.listing.channels()
        bridges = await self.listing.bridges()
        if channels is None or bridges is None:
            return ReconcileReport(
                generation=generation, channels=0, told_actors=0, error=LISTING_FAILED
            )
        self._restart_unreported = False
        listed = time.perf_counter()
        live_ids = frozenset(c.id for c in channels)

        # The journal is read on both sides of the snapshot of this process's calls: a call
        # journaled live in both reads yet not owned is not ours (one that starts after the
        # first read, or ends before the second, is left to its own actor and record).
        journal_before = self.journal.live_calls() if self.journal is not None else {}
        owned = self.live_call_refs()
        for ref in owned.values():
            try:
                ref.tell(
                    ChannelsListed(
                        channel_ids=live_ids, listed_at=listed_at, telephony_restarted=restarted
                    )
                )
            except Exception:
                log.debug("call actor gone during reconciliation")

        journal_after = self.journal.live_calls() if self.journal is not None else {}
        journal = {k: v for k, v in journal_after.items() if k in journal_before}
        candidates = [
            call
            for call in live_calls(ours_with_halves(channels, self.app, journal), bridges)
            if call.call_id not in owned and call.call_id not in owned_before
        ]
        adopted: list[str] = []
        now = time.time()
        for call in candidates:
            journaled = journal.get(call.call_id)
            if journaled is None:  # no journal line (lost, or another core's): ask the channels
                call = await self.listing.with_variables(call)
                machine = adopt_call(adopted_request(call, now), self.call_settings, call, now)
            else:
                machine = adopt_call(
                    journaled.request,
                    self.call_settings,
                    call,
                    now,
                    last_step=journaled.last_step,
                    connected_at=journaled.connected_at,
                )
            self.adopt(machine, machine.request)
            adopted.append(call.call_id)

        live_call_ids = {c.call_id for c in candidates} | set(owned) | set(owned_before)
        closed: list[str] = []
        for call_id, journaled in journal.items():
            if call_id in live_call_ids:
                continue
            last = (journaled.last_step, journaled.connected_at)
            self.sink.write(
                lost_call_record(journaled.request, *last, now, telephony_restarted=restarted)
            )
            if self.journal is not None:
                self.journal.ended(call_id, now)
            closed.append(call_id)

        return ReconcileReport(
            generation=generation,
            channels=len(channels),
            told_actors=len(owned),
            adopted=tuple(adopted),
            closed_while_away=tuple(closed),
            telephony_restarted=restarted,
            listing_s=round(listed - began, 3),
            adopting_s=round(time.perf_counter() - listed, 3),
        )

    async def orphan_legs(self) -> tuple[str, ...] | None:
        """Leg channels of OUR calls (the same test as adoption) whose call this process no
        longer runs and that no journal line keeps live: nobody will ever hang them up.

        None when it is not the time to judge: a reconciliation is running or has not
        succeeded yet (recovery may still adopt these calls), or the listing failed. The
        process's calls are read on both sides of the listing, as in `_reconcile`.
        """
        if self._lock.locked() or not self.reports or self.reports[-1].error:
            return None
        async with self._lock:
            owned_before = set(self.live_call_refs())
            channels = await self.listing.channels()
            if channels is None:
                return None
            journal_before = self.journal.live_calls() if self.journal is not None else {}
            owned = owned_before | set(self.live_call_refs())
            journal_after = self.journal.live_calls() if self.journal is not None else {}
            journal = {k: v for k, v in journal_after.items() if k in journal_before}
            kept = owned | set(journal_before) | set(journal_after)
            ours = (c.id for c in channels if is_ours(c, self.app, journal))
            return tuple(cid for cid in ours if call_id_of(cid) not in kept)
