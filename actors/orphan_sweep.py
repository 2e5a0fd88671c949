"""The orphan sweep: hangs up leg channels of our Stasis app that no live call owns.

An originate that timed out on the wire but that Asterisk carries out later, or a leg
created after its call's record was written, has no actor: nobody would ever hang it up.
Every `interval_s` (and at once when the Switchboard sees a StasisStart for a channel no
actor owns) the sweep asks the Reconciler which legs are orphans — the very test recovery
uses for adoption, under the same lock, and never before the first reconciliation
succeeded, so a call recovery would adopt is never hung up — and hangs each one up.

The same pass cleans what supervisions leave (actors/supervision_recovery.py): supervisor
legs and snoops of our app whose supervision no actor runs, their private bridges, and empty
call bridges of calls this process does not run. It also runs right after each successful
reconciliation (`after_reconcile`), so a supervision cut by a core SIGKILL is cleaned as soon
as the new core has adopted the call.

Runs on the asyncio loop (it only awaits REST requests); `trigger()` is thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future

from actors.ari_port import AriPort, AriRequest
from actors.loop import EventLoopThread
from actors.recovery import Reconciler, ReconcileReport
from actors.supervision_recovery import SupervisionLeftovers, find_leftovers

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 60.0


class OrphanSweeper:
    def __init__(
        self,
        loop_thread: EventLoopThread,
        port: AriPort,
        reconciler: Reconciler,
        interval_s: float = DEFAULT_INTERVAL_S,
        on_hung_up: Callable[[tuple[str, ...]], None] | None = None,
        live_supervisions: Callable[[], set[str]] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"orphan sweep interval must be > 0 s, got {interval_s}")
        self.loop_thread = loop_thread
        self.port = port
        self.reconciler = reconciler
        self.interval_s = interval_s
        self.on_hung_up = on_hung_up
        self.live_supervisions = live_supervisions or set
        self.hung_up_total = 0
        self.bridges_deleted_total = 0
        self.sweeps = 0
        self._wake = asyncio.Event()  # bound to the loop at its first wait (Python >= 3.10)
        self._task: Future[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = self.loop_thread.submit(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def trigger(self) -> None:
        """Sweep now (from any thread; e.g. a StasisStart nobody owns)."""
        if not self.loop_thread.running:
            return
        with contextlib.suppress(RuntimeError):  # the loop is stopping
            self.loop_thread.loop.call_soon_threadsafe(self._wake.set)

    def after_reconcile(self, report: ReconcileReport) -> None:
        """A reconciliation ended: sweep now if it succeeded (called on the loop)."""
        if not report.error:
            self.trigger()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                await self.sweep()
            except Exception:  # one bad sweep must not end the periodic sweep
                log.exception("orphan sweep failed")

    async def sweep(self) -> tuple[str, ...]:
        """Hang up the orphans of this moment; returns the ones Asterisk still had."""
        legs = await self.reconciler.orphan_legs()
        self.sweeps += 1
        if legs is None:  # not the time to judge (recovery may still adopt them)
            return ()
        leftovers = await self.leftovers()
        orphans = (*legs, *leftovers.channel_ids)
        hung_up = await self._hang_up(orphans)
        await self._delete_bridges(leftovers.bridge_ids)
        return hung_up

    async def leftovers(self) -> SupervisionLeftovers:
        """Supervision channels and bridges, and empty call bridges, that nobody runs."""
        reconciler = self.reconciler
        sids_before = set(self.live_supervisions())
        calls_before = set(reconciler.live_call_refs())
        channels = await self.port.request(AriRequest("GET", "/channels"))
        bridges = await self.port.request(AriRequest("GET", "/bridges"))
        if channels[0] != 200 or bridges[0] != 200 or reconciler.busy:
            return SupervisionLeftovers()
        kept = calls_before | set(reconciler.live_call_refs())
        if reconciler.journal is not None:
            kept |= set(reconciler.journal.live_calls())
        return find_leftovers(
            channels[1] if isinstance(channels[1], list) else [],
            bridges[1] if isinstance(bridges[1], list) else [],
            reconciler.app,
            sids_before | set(self.live_supervisions()),
            kept,
        )

    async def _delete_bridges(self, bridge_ids: tuple[str, ...]) -> None:
        if not bridge_ids:
            return
        answers = await asyncio.gather(
            *(self.port.request(AriRequest("DELETE", f"/bridges/{b}")) for b in bridge_ids)
        )
        deleted = [b for b, (status, _, _) in zip(bridge_ids, answers, strict=True) if status < 300]
        if deleted:
            log.warning("orphan sweep deleted %d bridge(s): %s", len(deleted), deleted)
            self.bridges_deleted_total += len(deleted)

    async def _hang_up(self, orphans: tuple[str, ...]) -> tuple[str, ...]:
        if not orphans:
            return ()
        answers = await asyncio.gather(
            *(self.port.request(AriRequest("DELETE", f"/channels/{c}")) for c in orphans)
        )
        hung_up: list[str] = []
        for channel_id, (status, _, text) in zip(orphans, answers, strict=True):
            if status in (200, 204):
                hung_up.append(channel_id)
            elif status != 404:  # 404: it went away by itself meanwhile
                log.warning("orphan %s: hang-up -> %s %s", channel_id, status, text[:200])
        if hung_up:
            log.warning("orphan sweep hung up %d channel(s): %s", len(hung_up), hung_up)
            self.hung_up_total += len(hung_up)
            if self.on_hung_up is not None:
                self.on_hung_up(tuple(hung_up))
        return tuple(hung_up)
