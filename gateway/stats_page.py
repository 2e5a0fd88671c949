"""The "Statistiques / Statistics" page and its CSV / Parquet exports.

GET /stats                  the page (supervisors: every agent; an agent: their own calls)
GET /stats/export.csv       the filtered calls, CSV (formula cells neutralised)
GET /stats/export.parquet   the filtered calls, Parquet
GET /stats/wallboard        the wallboard's KPI strip (supervisors; htmx polls it)

Query parameters (all optional): `period` (today, yesterday, 7d, 30d, custom), `from` / `to`
(custom: first and last local day, ISO dates), `agent`, `campaign`, `workstation`
(softphone, mobile). A bad value is shown on the page in the user's language, with the
defaults used instead: nothing fails.

The numbers come from `analytics.dashboard` through the archive (the AnalyticsReader, on its
own cursor of the writer's database instance: reports never wait on the writer, nor block
it); queries run in a worker thread, never on the loop. Charts are drawn in the browser by
Chart.js (npm `chart.js`, served from node_modules at /vendor/chart.umd.min.js) from a JSON
data block and `ui/static/stats.js`: no inline script or style, the page's CSP holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from websockets.http11 import Response

from analytics.dashboard import Dashboard, PeriodChoice, StatsFilter, period_window
from analytics.stats import StatsError
from analytics.stats_export import ExportTooLarge
from core.domain import CallStep
from core.views import AgentView
from gateway import http
from gateway.archive import ArchiveUnavailable
from gateway.contacts import ContactStore
from gateway.render import Renderer
from gateway.settings import GatewaySettings
from gateway.users import User

log = logging.getLogger(__name__)

EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
WORKSTATIONS = ("softphone", "mobile")
# A download is held in memory once (the HTTP layer has no streaming): bigger exports are
# refused with a message pointing to `evscallpro export`, which writes a file by DuckDB COPY.
EXPORT_MAX_ROWS = 500_000
KPI_TTL_S = 5.0  # the wallboard's figures of the day are recomputed at most this often
OUTCOME_COLORS = {
    "completed": "#2e7d32",
    "customer_no_answer": "#f9a825",
    "customer_busy": "#ef6c00",
    "customer_congestion": "#8d6e63",
    "customer_invalid_number": "#6d4c41",
    "customer_rejected": "#d84315",
    "agent_no_answer": "#1565c0",
    "agent_busy": "#5e35b1",
    "agent_unreachable": "#00838f",
    "agent_not_confirmed": "#ad1457",
    "agent_abandoned": "#546e7a",
    "cancelled": "#90a4ae",
    "rejected": "#c62828",
    "internal_error": "#212121",
}


@runtime_checkable
class StatsSource(Protocol):
    """What the page needs from the archive (analytics.reader.AnalyticsReader fits)."""

    def dashboard(self, flt: StatsFilter) -> Dashboard: ...

    def export_calls(
        self, out: Path, fmt: str, flt: StatsFilter, max_rows: int | None = None
    ) -> int: ...


class StatsRequest(msgspec.Struct, frozen=True, kw_only=True):
    period: str
    first: str  # the custom period's first local day, as typed
    last: str
    agent: str
    campaign: str
    workstation: str
    errors: tuple[str, ...]  # catalog keys of the values that were refused
    filter: StatsFilter


def time_zone(settings: GatewaySettings) -> str:
    """The call center's zone: `time_zone` when the settings have one, else Europe/Paris for
    a French-speaking default, UTC otherwise."""
    configured = getattr(settings, "time_zone", "") or ""
    if configured:
        return str(configured)
    return "Europe/Paris" if settings.default_language == "fr" else "UTC"


class StatsPages:
    def __init__(
        self,
        renderer: Renderer,
        settings: GatewaySettings,
        contacts: ContactStore,
        archive: object | None,
        agent_names: Callable[[], dict[str, str]],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.renderer = renderer
        self.settings = settings
        self.contacts = contacts
        self.source = archive if isinstance(archive, StatsSource) else None
        self.agent_names = agent_names
        self.clock = clock
        self._campaigns: tuple[int, dict[str, tuple[str, ...]]] = (-1, {})
        self._today: tuple[dt.date, float, Dashboard] | None = None
        self.export_max_rows = EXPORT_MAX_ROWS

    # -- request -----------------------------------------------------------------------

    def campaigns(self) -> dict[str, tuple[str, ...]]:
        """Campaign -> its contact ids, rebuilt when the contact count changes."""
        count = self.contacts.count()
        if self._campaigns[0] != count:
            by_campaign: dict[str, list[str]] = {}
            for contact in self.contacts.search("", limit=count + 1):
                if contact.campaign:
                    by_campaign.setdefault(contact.campaign, []).append(contact.contact_id)
            self._campaigns = (count, {k: tuple(v) for k, v in sorted(by_campaign.items())})
        return self._campaigns[1]

    def parse(self, user: User, query: dict[str, list[str]]) -> StatsRequest:
        def arg(name: str) -> str:
            return (query.get(name) or [""])[0].strip()[:100]

        tz = time_zone(self.settings)
        today = self.clock().astimezone(ZoneInfo(tz)).date()
        errors: list[str] = []
        period = arg("period") or PeriodChoice.TODAY.value
        if period not in {p.value for p in PeriodChoice}:
            errors.append("stats.err.period")
            period = PeriodChoice.TODAY.value
        first, last = arg("from"), arg("to")
        first_day = last_day = None
        if period == PeriodChoice.CUSTOM:
            try:
                first_day = dt.date.fromisoformat(first)
                last_day = dt.date.fromisoformat(last)
            except ValueError:
                errors.append("stats.err.dates")
        try:
            start, end = period_window(period, today, tz, first_day, last_day)
        except StatsError:
            if period == PeriodChoice.CUSTOM and "stats.err.dates" not in errors:
                errors.append("stats.err.dates")
            period = PeriodChoice.TODAY.value
            start, end = period_window(period, today, tz)
        agent = arg("agent")
        if not user.supervises:
            agent = user.user_id  # an agent sees their own calls, whatever the URL says
        campaign = arg("campaign")
        contacts: tuple[str, ...] | None = None
        if campaign:
            if campaign in self.campaigns():
                contacts = self.campaigns()[campaign]
            else:
                errors.append("stats.err.campaign")
                campaign = ""
        workstation = arg("workstation")
        if workstation and workstation not in WORKSTATIONS:
            errors.append("stats.err.workstation")
            workstation = ""
        return StatsRequest(
            period=period,
            first=first,
            last=last,
            agent=agent,
            campaign=campaign,
            workstation=workstation,
            errors=tuple(errors),
            filter=StatsFilter(
                start=start,
                end=end,
                tz=tz,
                agent_id=agent or None,
                workstation=workstation or None,
                campaign_contacts=contacts,
            ),
        )

    # -- responses ------------------------------------------------------------------------

    async def page(self, lang: str, user: User, query: dict[str, list[str]]) -> Response:
        request = self.parse(user, query)
        board: Dashboard | None = None
        failed = False
        if self.source is not None:
            try:
                board = await asyncio.to_thread(self.source.dashboard, request.filter)
            except ArchiveUnavailable as exc:  # no analytics process answering: say so
                log.warning("statistics unavailable: %s", exc)
                text = self.renderer.catalog.t(lang, "stats.unavailable")
                return http.html(self.render(lang, user, request, None, refusal=text),
                                 HTTPStatus.SERVICE_UNAVAILABLE)
            except Exception:
                log.exception("statistics could not be computed")
                failed = True
        return http.html(self.render(lang, user, request, board, failed))

    def render(self, lang: str, user: User, request: StatsRequest, board: Dashboard | None,
               failed: bool = False, refusal: str = "") -> str:
        t = self.renderer.catalog.t
        names = self.agent_names()
        return self.renderer._render(
            "stats.html",
            lang,
            title=t(lang, "stats.title"),
            page="stats",
            user=user,
            ws_page=False,
            req=request,
            board=board,
            failed=failed,
            refusal=refusal,
            no_archive=self.source is None,
            agents=names,
            campaigns=list(self.campaigns()),
            periods=[p.value for p in PeriodChoice],
            workstations=WORKSTATIONS,
            chart=chart_data(lang, t, board, names) if board is not None else None,
            export_query=export_query(request),
            local_window=_local_window(request.filter),
        )

    async def wallboard_kpis(self, lang: str, user: User, agents: list[AgentView]) -> Response:
        """The wallboard's KPI strip (htmx polls it): today's calls, connected, connect
        rate and average handle time from the archive (cached a few seconds: every
        supervisor polls), and the longest call in progress from the live agents."""
        if not user.supervises:
            return http.response(HTTPStatus.FORBIDDEN, "supervisors only\n")
        tz = time_zone(self.settings)
        now = self.clock()
        today = now.astimezone(ZoneInfo(tz)).date()
        cached = self._today
        board: Dashboard | None = None
        if cached is not None and cached[0] == today and time.monotonic() - cached[1] < KPI_TTL_S:
            board = cached[2]
        elif self.source is not None:
            start, end = period_window(PeriodChoice.TODAY, today, tz)
            try:
                board = await asyncio.to_thread(
                    self.source.dashboard, StatsFilter(start=start, end=end, tz=tz)
                )
                self._today = (today, time.monotonic(), board)
            except ArchiveUnavailable as exc:
                log.warning("today's figures unavailable: %s", exc)
            except Exception:
                log.exception("today's figures could not be computed")
        connected = [a for a in agents if a.call is not None
                     and a.call.step == CallStep.CONNECTED and a.call.connected_at is not None]
        longest = min(connected, default=None,
                      key=lambda a: a.call.connected_at or 0.0 if a.call else 0.0)
        html = self.renderer._render(
            "fragments/wallboard_kpis.html", lang, board=board, longest=longest,
            has_archive=self.source is not None,
        )
        return http.html(html)

    async def export(self, lang: str, user: User, fmt: str,
                     query: dict[str, list[str]]) -> Response:
        if fmt not in EXPORT_TYPES:
            return http.response(HTTPStatus.NOT_FOUND, "unknown export format\n")
        request = self.parse(user, query)
        if self.source is None:
            return http.response(HTTPStatus.SERVICE_UNAVAILABLE, "no call archive\n")
        source = self.source

        def run() -> bytes:
            with tempfile.TemporaryDirectory(prefix="evs-export-") as folder:
                out = Path(folder) / f"calls.{fmt}"
                source.export_calls(out, fmt, request.filter, self.export_max_rows)
                return out.read_bytes()

        try:
            data = await asyncio.to_thread(run)
        except ExportTooLarge as exc:  # the page again, saying why, with the same filters
            text = self.renderer.catalog.t(lang, "stats.err.export_too_large",
                                           rows=exc.rows, limit=exc.limit)
            html = self.render(lang, user, request, None, refusal=text)
            return http.html(html, HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        except StatsError as exc:
            return http.response(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        except ArchiveUnavailable as exc:
            log.warning("export unavailable: %s", exc)
            text = self.renderer.catalog.t(lang, "stats.unavailable")
            html = self.render(lang, user, request, None, refusal=text)
            return http.html(html, HTTPStatus.SERVICE_UNAVAILABLE)
        start = request.filter.start.strftime("%Y%m%d")
        name = f"evscallpro-calls-{start}-{request.period}.{fmt}"
        return http.response(
            HTTPStatus.OK, data, EXPORT_TYPES[fmt],
            headers=[("Content-Disposition", f'attachment; filename="{name}"')],
            cache="private, no-store",
        )


def export_query(request: StatsRequest) -> str:
    pairs = [("period", request.period)]
    if request.period == PeriodChoice.CUSTOM:
        pairs += [("from", request.first), ("to", request.last)]
    pairs += [(k, v) for k, v in (("agent", request.agent), ("campaign", request.campaign),
                                   ("workstation", request.workstation)) if v]
    return urlencode(pairs)


def _local_window(flt: StatsFilter) -> tuple[str, str]:
    zone = ZoneInfo(flt.tz)

    def local(moment: dt.datetime) -> dt.datetime:
        return moment.replace(tzinfo=dt.UTC).astimezone(zone)

    last = local(flt.end) - dt.timedelta(seconds=1)
    return local(flt.start).date().isoformat(), last.date().isoformat()


def chart_data(lang: str, t: Callable[..., str], board: Dashboard,
               names: dict[str, str]) -> dict[str, Any]:
    """What stats.js draws: labels in the user's language, numbers rounded for reading."""
    fmt = "%H:%M" if board.bucket == "hour" else "%d/%m"
    starts = sorted({b.start for b in board.series})
    if board.bucket == "hour" and starts:  # every hour of the span, empty ones included
        hours = []
        at = starts[0]
        while at <= starts[-1]:
            hours.append(at)
            at += dt.timedelta(hours=1)
        starts = hours
    index = {s: i for i, s in enumerate(starts)}
    per_outcome: dict[str, list[int]] = {}
    for b in board.series:
        per_outcome.setdefault(b.outcome, [0] * len(starts))[index[b.start]] = b.calls
    agents = board.agents
    return {
        "calls": {
            "labels": [s.strftime(fmt) for s in starts],
            "datasets": [
                {"label": t(lang, f"stats.outcome.{o}"), "data": v,
                 "backgroundColor": OUTCOME_COLORS.get(o, "#9e9e9e")}
                for o, v in sorted(per_outcome.items(), key=lambda kv: -sum(kv[1]))
            ],
        },
        "occupancy": {
            "labels": [names.get(a.agent_id, a.agent_id) for a in agents],
            "datasets": [{
                "label": t(lang, "stats.occupancy"),
                "data": [round(a.occupancy * 100, 1) if a.occupancy is not None else 0
                         for a in agents],
                "backgroundColor": "#1565c0",
            }],
        },
        "billed": {
            "labels": [names.get(a.agent_id, a.agent_id) for a in agents],
            "datasets": [
                {"label": t(lang, "stats.agent_leg"),
                 "data": [round(a.agent_billed_seconds / 60, 1) for a in agents],
                 "backgroundColor": "#5e35b1"},
                {"label": t(lang, "stats.customer_leg"),
                 "data": [round(a.customer_billed_seconds / 60, 1) for a in agents],
                 "backgroundColor": "#00838f"},
            ],
        },
        "hangup": {
            "labels": [t(lang, f"stats.party.{p}") for p in board.hung_up_first],
            "datasets": [{
                "data": list(board.hung_up_first.values()),
                "backgroundColor": ["#1565c0", "#00838f", "#f9a825", "#c62828"][
                    : len(board.hung_up_first)],
            }],
        },
    }
