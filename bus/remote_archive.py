"""The call archive and the statistics as a gateway sees them when analytics runs in its own
process: `gateway.archive.CallArchive` + `gateway.stats_page.StatsSource` over `evs.archive`
(request/reply, served by bus.archive_service in queue ARCHIVE_QUEUE; the queries and the
answer's codec are bus.archive_protocol).

Each method blocks (the gateway calls it through `asyncio.to_thread`) up to its timeout.
What the reader would raise in-process comes back the same (`StatsError`, `ExportTooLarge`);
an analytics process that is missing, late or failing raises
`gateway.archive.ArchiveUnavailable`, which the pages word as "statistics unavailable"
(never a 500).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from analytics.dashboard import Dashboard, StatsFilter
from bus import archive_protocol as proto
from bus.bus_thread import BusThread
from bus.gateway_metrics import NO_RESPONDERS_RETRIES
from bus.remote_call_center import NO_RESPONDERS_RETRY_S
from gateway.archive import ArchiveUnavailable


class RemoteArchive:
    def __init__(
        self,
        bus: BusThread,
        query_timeout_s: float = proto.QUERY_TIMEOUT_S,
        export_timeout_s: float = proto.EXPORT_TIMEOUT_S,
    ) -> None:
        self.bus = bus
        self.query_timeout_s = query_timeout_s
        self.export_timeout_s = export_timeout_s

    async def _request(self, query: proto.ArchiveQuery, timeout_s: float) -> Any:
        """One query; "no responders" (the analytics process reconnecting, or none) is
        asked again for NO_RESPONDERS_RETRY_S before the archive is called unavailable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        retry_until = loop.time() + min(NO_RESPONDERS_RETRY_S, timeout_s)
        delay = 0.02
        while True:
            try:
                msg = await self.bus.nc.request(
                    proto.ARCHIVE_SUBJECT, proto.encode_query(query),
                    timeout=max(0.01, deadline - loop.time()),
                )
                break
            except NoRespondersError as exc:
                if loop.time() + delay > retry_until:
                    raise ArchiveUnavailable(
                        "no analytics process on the bus (evs.archive)") from exc
                NO_RESPONDERS_RETRIES.labels("analytics").inc()
                await asyncio.sleep(delay)  # nobody got it: ask again after a back-off
                delay = min(delay * 2, 0.2)
            except (NatsTimeout, TimeoutError) as exc:
                raise ArchiveUnavailable(
                    f"the analytics process did not answer within {timeout_s:g} s"
                ) from exc
            except Exception as exc:  # connection closed, draining
                raise ArchiveUnavailable(
                    f"the bus is unavailable: {type(exc).__name__}") from exc
        try:
            return proto.decode_answer(query, msg.data)
        except proto.ArchiveUnavailable as exc:
            raise ArchiveUnavailable(str(exc)) from exc

    def _ask(self, query: proto.ArchiveQuery, timeout_s: float) -> Any:
        try:
            return self.bus.run(self._request(query, timeout_s), timeout_s + 1.0)
        except (TimeoutError, RuntimeError) as exc:
            if isinstance(exc, ArchiveUnavailable):
                raise
            raise ArchiveUnavailable(f"the bus did not answer: {exc}") from exc

    # -- CallArchive ----------------------------------------------------------------------
    def calls_for_agent(
        self, agent_id: str, day: dt.date, limit: int = 500, tz: str | None = None
    ) -> Sequence[Any]:
        query = proto.CallsForAgent(agent_id=agent_id, day=day, limit=limit, tz=tz)
        result: Sequence[Any] = self._ask(query, self.query_timeout_s)
        return result

    def recordings(
        self,
        *,
        agent_id: str | None = None,
        start: dt.datetime | dt.date | None = None,
        end: dt.datetime | dt.date | None = None,
        outcome: str | None = None,
        limit: int = 200,
        offset: int = 0,
    ) -> Sequence[Any]:
        query = proto.recordings_query(agent_id=agent_id, start=start, end=end, outcome=outcome,
                                       limit=limit, offset=offset)
        result: Sequence[Any] = self._ask(query, self.query_timeout_s)
        return result

    # -- StatsSource ----------------------------------------------------------------------
    def dashboard(self, flt: StatsFilter) -> Dashboard:
        board: Dashboard = self._ask(proto.DashboardQuery(filter=flt), self.query_timeout_s)
        return board

    def export_calls(
        self, out: Path, fmt: str, flt: StatsFilter, max_rows: int | None = None
    ) -> int:
        query = proto.ExportCalls(fmt=fmt, filter=flt, max_rows=max_rows)

        async def export() -> int:
            result: proto.ExportResult = await self._request(query, self.export_timeout_s)
            try:
                return await proto.save_export(self.bus.nc.jetstream(), result, out)
            except proto.ArchiveUnavailable as exc:
                raise ArchiveUnavailable(str(exc)) from exc

        try:
            return self.bus.run(export(), self.export_timeout_s + 30.0)
        except ArchiveUnavailable:
            raise
        except (TimeoutError, RuntimeError) as exc:
            raise ArchiveUnavailable(f"the export did not arrive: {exc}") from exc
