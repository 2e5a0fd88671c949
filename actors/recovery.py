"""Reconciliation on every ARI (re)connect: Asterisk is the source of truth for live calls,
and it replays no missed events.

1. GET /channels and /bridges.
2. Every CallActor of this process is told which channels still exist (`ReconcileChannels`);
   a leg that vanished while the socket was down gets a synthetic ChannelDestroyed, so its
   call ends and writes its record.
3. Calls of OUR app (dialplan app_data `<app>,<role>,<call_id>` or a journal entry) that no
   actor owns are adopted: a CallActor around `RecoveredCallMachine` (a bridged call stays
   up and can be hung up from the UI or either phone; anything unfinished is hung up).
4. Calls the live-calls journal knew that Asterisk no longer has ended while the core was
   away: their record is written (`recovered=True`) and the journal closes them.

Between reconnects, `orphan_legs` answers the orphan sweep (actors/orphan_sweep.py) with the
same test of what is ours, under the same lock: legs of our app whose call no actor runs.

Runs on the asyncio loop (it only awaits REST requests) and only `tell()`s actors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

import msgspec

from actors.ari_port import AriPort, AriRequest
from actors.call_journal import CallJournal, JournaledCall
from actors.messages import ReconcileChannels, Teller
from actors.sinks import CallRecordSink
from core.ari_events import Bridge, Channel
from core.call import CallMachine
from core.call_config import CallRequest, CallSettings
from core.recovery_call import adopted_request, lost_call_record
from core.recovery_scan import EVS_VARIABLES, live_calls, split_leg_id

log = logging.getLogger(__name__)
T = TypeVar("T")

Adopter = Callable[[CallMachine, CallRequest, frozenset[str]], object]
LISTING_FAILED = "listing failed"


class ReconcileReport(msgspec.Struct, frozen=True, kw_only=True):
    generation: int
    channels: int
    told_actors: int
    adopted: tuple[str, ...] = ()
    closed_while_away: tuple[str, ...] = ()
    error: str = ""


class Reconciler:
    def __init__(
        self,
        port: AriPort,
        app: str,
        call_settings: CallSettings,
        live_call_refs: Callable[[], Mapping[str, Teller]],
        adopt: Adopter,
        sink: CallRecordSink,
        journal: CallJournal | None,
        on_report: Callable[[ReconcileReport], None] | None = None,
        listing_retries_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
    ) -> None:
        self.port = port
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

    async def _get_list(self, path: str) -> list[object] | None:
        status, body, text = await self.port.request(AriRequest("GET", path))
        if status != 200 or not isinstance(body, list):
            log.warning("reconcile: GET %s -> %s %s", path, status, text[:200])
            return None
        return body

    async def _variables(self, channel_id: str) -> dict[str, str]:
        """The EVS_* variables of one channel (requests in parallel; unset ones are skipped)."""
        answers = await asyncio.gather(
            *(
                self.port.request(
                    AriRequest("GET", f"/channels/{channel_id}/variable", {"variable": name})
                )
                for name in EVS_VARIABLES
            )
        )
        values: dict[str, str] = {}
        for name, (status, body, _) in zip(EVS_VARIABLES, answers, strict=True):
            if status == 200 and isinstance(body, dict) and body.get("value"):
                values[name] = str(body["value"])
        return values

    def _ours(self, channel: Channel, journal: dict[str, JournaledCall]) -> bool:
        split = split_leg_id(channel.id)
        if split is None:
            return False
        if split[0] in journal:
            return True
        data = channel.dialplan.app_data
        return channel.dialplan.app_name == "Stasis" and data.startswith(self.app + ",")

    async def _reconcile(self, generation: int) -> ReconcileReport:
        listed_at = time.perf_counter()
        owned_before = self.live_call_refs()  # a call that ends during the listing stays ours
        raw_channels = await self._get_list("/channels")
        raw_bridges = await self._get_list("/bridges")
        if raw_channels is None or raw_bridges is None:
            return ReconcileReport(
                generation=generation, channels=0, told_actors=0, error=LISTING_FAILED
            )
        channels = [c for c in (_convert(x, Channel) for x in raw_channels) if c is not None]
        bridges = [b for b in (_convert(x, Bridge) for x in raw_bridges) if b is not None]
        live_ids = frozenset(c.id for c in channels)

        # The journal is read on both sides of the snapshot of this process's calls: a call
        # journaled live in both reads yet not owned is not ours (one that starts after the
        # first read, or ends before the second, is left to its own actor and record).
        journal_before = self.journal.live_calls() if self.journal is not None else {}
        owned = self.live_call_refs()
        for ref in owned.values():
            try:
                ref.tell(ReconcileChannels(live_ids=live_ids, listed_at=listed_at))
            except Exception:
                log.debug("call actor gone during reconciliation")

        journal_after = self.journal.live_calls() if self.journal is not None else {}
        journal = {k: v for k, v in journal_after.items() if k in journal_before}
        ours = [c for c in channels if self._ours(c, journal)]
        ours_ids = {c.id for c in ours}
        halves = [c for c in channels if c.id.endswith("-2") and c.id[:-2] in ours_ids]
        candidates = [
            call
            for call in live_calls(ours + halves, bridges)
            if call.call_id not in owned and call.call_id not in owned_before
        ]
        adopted: list[str] = []
        now = time.time()
        for call in candidates:
            journaled = journal.get(call.call_id)
            if journaled is not None:
                request = journaled.request
            else:  # no journal line (lost, or another core's journal): ask the channels
                sources = [
                    leg.local2_id or leg.channel_id
                    for leg in (call.agent, call.customer)
                    if leg is not None
                ]
                variables: dict[str, str] = {}
                for found in await asyncio.gather(*(self._variables(c) for c in sources)):
                    variables.update(found)
                call = msgspec.structs.replace(call, variables={**variables, **call.variables})
                request = adopted_request(call, now)
            machine = CallMachine.adopt(
                request,
                self.call_settings,
                agent=call.agent,
                customer=call.customer,
                bridge_id=call.bridge_id,
                at=now,
                last_step=journaled.last_step if journaled else None,
                connected_at=journaled.connected_at if journaled else None,
            )
            self.adopt(machine, request, live_ids)
            adopted.append(call.call_id)

        live_call_ids = {c.call_id for c in candidates} | set(owned) | set(owned_before)
        closed: list[str] = []
        for call_id, journaled in journal.items():
            if call_id in live_call_ids:
                continue
            record = lost_call_record(
                journaled.request, journaled.last_step, journaled.connected_at, now
            )
            self.sink.write(record)
            if self.journal is not None:
                self.journal.ended(call_id, now)
            closed.append(call_id)

        return ReconcileReport(
            generation=generation,
            channels=len(channels),
            told_actors=len(owned),
            adopted=tuple(adopted),
            closed_while_away=tuple(closed),
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
            raw_channels = await self._get_list("/channels")
            if raw_channels is None:
                return None
            journal_before = self.journal.live_calls() if self.journal is not None else {}
            owned = owned_before | set(self.live_call_refs())
            journal_after = self.journal.live_calls() if self.journal is not None else {}
            journal = {k: v for k, v in journal_after.items() if k in journal_before}
            kept = owned | set(journal_before) | set(journal_after)
            orphans: list[str] = []
            for channel in (_convert(x, Channel) for x in raw_channels):
                if channel is None or not self._ours(channel, journal):
                    continue
                split = split_leg_id(channel.id)
                if split is not None and split[0] not in kept:
                    orphans.append(channel.id)
            return tuple(orphans)


def _convert(raw: object, kind: type[T]) -> T | None:
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError:
        log.warning("reconcile: unreadable %s skipped", kind.__name__)
        return None
