"""The analytics process's side of `evs.archive`: archive queries answered from DuckDB.

    gateway ── request evs.archive (queue "analytics") ──► ArchiveService ──► AnalyticsReader
            ◄── ArchiveAnswer (bus.archive_protocol) ──────

Each request is answered on its own task (a slow dashboard never holds up an agent's history),
at most `max_in_flight` at once; the reader's queries block (milliseconds to a second), so
they run in worker threads, never on the loop, which keeps the process's NATS traffic and the
record writer going. Every request gets an answer: the result, or an error saying why (a
query that does not decode, a StatsError, an export over the caller's limit, an answer too
big for one NATS message, DuckDB failing); a failure is logged here and never ends the
service.

An export is written by DuckDB COPY into a temporary folder, then sent inline or through the
exports object store bucket (bus.archive_protocol.export_result).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from analytics.dashboard import Dashboard, StatsFilter
from analytics.stats import StatsError
from bus.archive_protocol import (
    ARCHIVE_QUEUE,
    ARCHIVE_SUBJECT,
    ArchiveQuery,
    CallsForAgent,
    DashboardQuery,
    ExportCalls,
    Recordings,
    answer,
    decode_query,
    ensure_exports_bucket,
    export_result,
    failure,
)

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("csv", "parquet")


class ArchiveReader(Protocol):
    """What the service asks of analytics.reader.AnalyticsReader."""

    def calls_for_agent(
        self, agent_id: str, day: dt.date, limit: int = 500, tz: str | None = None
    ) -> Sequence[Any]: ...

    def recordings(
        self,
        *,
        agent_id: str | None = None,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
        outcome: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> Sequence[Any]: ...

    def dashboard(self, flt: StatsFilter) -> Dashboard: ...

    def export_calls(
        self, out: Path, fmt: str, flt: StatsFilter, max_rows: int | None = None
    ) -> int: ...


class ArchiveService:
    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        reader: ArchiveReader,
        *,
        replicas: int = 1,
        spool_dir: Path | None = None,
        max_in_flight: int = 8,
    ) -> None:
        self.nc = nc
        self.js = js
        self.reader = reader
        self.replicas = replicas
        self.spool_dir = spool_dir
        self.answered = 0
        self.failed = 0
        self._sub: Subscription | None = None
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await ensure_exports_bucket(self.js, self.replicas)
        self._sub = await self.nc.subscribe(ARCHIVE_SUBJECT, queue=ARCHIVE_QUEUE,
                                            cb=self._on_request)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """No new request is taken; those in progress are answered (up to `timeout_s`)."""
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        if self._tasks:
            _done, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()

    async def _on_request(self, msg: Msg) -> None:
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, msg: Msg) -> None:
        async with self._slots:
            data = await self.answer(msg.data)
        if not msg.reply:
            log.warning("archive request without a reply subject: ignored")
            return
        if len(data) > self.nc.max_payload:
            self.answered, self.failed = self.answered - 1, self.failed + 1
            data = failure(StatsError(
                f"the answer is {len(data)} bytes, more than the bus carries in one message "
                f"({self.nc.max_payload}): ask for fewer rows (limit)"
            ))
        try:
            await msg.respond(data)
        except Exception:  # the connection is down: the gateway's request times out
            log.exception("archive answer not sent")

    async def answer(self, payload: bytes) -> bytes:
        """The encoded ArchiveAnswer to one request's payload; never raises."""
        try:
            query = decode_query(payload)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("archive request refused: %s", exc)
            self.failed += 1
            return failure(exc)
        try:
            result = await self._run(query)
        except StatsError as exc:  # the query cannot be answered as asked: the caller says why
            self.failed += 1
            return failure(exc)
        except Exception as exc:
            log.exception("archive query %s failed", type(query).__name__)
            self.failed += 1
            return failure(exc)
        self.answered += 1
        return answer(result)

    async def _run(self, query: ArchiveQuery) -> Any:
        reader = self.reader
        if isinstance(query, CallsForAgent):
            return await asyncio.to_thread(
                reader.calls_for_agent, query.agent_id, query.day, query.limit, query.tz
            )
        if isinstance(query, Recordings):
            return await asyncio.to_thread(
                lambda: reader.recordings(
                    agent_id=query.agent_id, start=query.start, end=query.end,
                    outcome=query.outcome, limit=query.limit, offset=query.offset,
                )
            )
        if isinstance(query, DashboardQuery):
            return await asyncio.to_thread(reader.dashboard, query.filter)
        return await self._export(query)

    async def _export(self, query: ExportCalls) -> Any:
        if query.fmt not in EXPORT_FORMATS:
            raise StatsError(f"unknown export format {query.fmt!r} (csv or parquet)")
        with tempfile.TemporaryDirectory(prefix="evs-export-", dir=self.spool_dir) as folder:
            out = Path(folder) / f"calls.{query.fmt}"
            rows = await asyncio.to_thread(
                self.reader.export_calls, out, query.fmt, query.filter, query.max_rows
            )
            return await export_result(self.js, rows, out)
