"""The orphan sweep: hangs up leg channels of our Stasis app that no live call owns.

An originate that timed out on the wire but that Asterisk carries out later, or a leg
created after its call's record was written, has no actor: nobody would ever hang it up.
Every `interval_s` (and at once when the Switchboard sees a StasisStart for a channel no
actor owns) the sweep asks the Reconciler which legs are orphans — the very test recovery
uses for adoption, under the same lock, and never before the first reconciliation
succeeded, so a call recovery would adopt is never hung up — and hangs each one up.

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
from actors.recovery import Reconciler

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
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"orphan sweep interval must be > 0 s, got {interval_s}")
        self.loop_thread = loop_thread
        self.port = port
        self.reconciler = reconciler
        self.interval_s = interval_s
        self.on_hung_up = on_hung_up
        self.hung_up_total = 0
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
        orphans = await self.reconciler.orphan_legs()
        self.sweeps += 1
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
