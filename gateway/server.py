"""The gateway: one websockets asyncio server for pages, assets, /healthz, /metrics and /ws.

`process_request` answers every plain HTTP request (websockets parses GET and body-less
POST); only an authenticated, same-origin request to /ws goes on to the WebSocket
handshake. Each socket gets a `HubClient` outbox drained by one sender task, so a slow
browser only delays itself and always receives the latest state.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from core.domain import AgentState
from core.views import AgentView, CallView
from gateway import http, metrics
from gateway.archive import ArchiveUnavailable, CallArchive, epoch, history_view, merge_history
from gateway.callbacks import CallbackStore
from gateway.contacts import ContactStore, sort_key
from gateway.dispatch import Dispatcher, Qualified
from gateway.health import node_details, telephony_problem
from gateway.hub import (
    AGENT_KEY,
    HTML_KEY_PREFIX,
    ROW_KEY_PREFIX,
    TOTALS_KEY,
    WALLBOARD_KEY,
    Hub,
    HubClient,
)
from gateway.i18n import LANGUAGES, Catalog
from gateway.link_quality import LinkQuality, watch_link
from gateway.ports import CallCenter
from gateway.presence import PresenceWatch
from gateway.ratelimit import BoundedLog, LoginThrottle, SlidingWindowLimiter
from gateway.recordings import (
    FolderRecordings,
    RecordingSource,
    RecordingsUnavailable,
    archived_recordings,
    audio_response,
    list_recordings,
)
from gateway.render import AgentDesk, Renderer, WallboardFragments
from gateway.sessions import COOKIE_NAME, SessionStore
from gateway.settings import GatewaySettings
from gateway.softphone import softphone_config, ws_origin
from gateway.stats_page import StatsPages
from gateway.users import Role, User, UserDirectory
from gateway.wallboard_group import Seat, WallboardGroup

log = logging.getLogger(__name__)

BACK_ON_SHIFT_S = 5.0  # an agent offline with the desk open: log_in asked at most this often
# websockets logs request headers (Cookie, Authorization) at DEBUG: cap its logger at WARNING
# so no session token or password can reach a log, whatever the root level.
_WS_LOG = logging.getLogger("evscallpro.gateway.websockets")
_WS_LOG.setLevel(logging.WARNING)

LANG_COOKIE = "evs_lang"
STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"
VENDOR_FILES = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
    "ws.js": ("htmx-ext-ws", "dist/ws.js"),
    "chart.umd.min.js": ("chart.js", "dist/chart.umd.min.js"),
    "jssip.min.js": ("jssip", "dist/jssip.min.js"),  # the browser softphone's SIP stack
}
CLOSE_POLICY = 1008  # htmx's ws extension does not reconnect on this code
CLOSE_RESTART = 1012  # ...and does on this one
CLOSE_TOO_MANY = 4008  # too many sockets for a session or user: app.js says so, no retry
PROBE_PATHS = frozenset({"/healthz", "/metrics"})  # answer any Host (load balancers, Prometheus)


class Gateway:
    def __init__(
        self,
        call_center: CallCenter,
        settings: GatewaySettings,
        users: UserDirectory,
        contacts: ContactStore | None = None,
        archive: CallArchive | None = None,
    ) -> None:
        self.call_center = call_center
        self.archive = archive
        self._archived_history: dict[str, list[CallView]] = {}
        self._archived_started: dict[str, float] = {}  # call id -> start, from the archive
        self._history_unavailable: set[str] = set()  # agents whose archive query failed
        self.callbacks = CallbackStore.in_data_dir(settings.data_dir)
        self.presence: PresenceWatch | None = None
        # `evscallpro gateway`: whether an agent's desk is open on another gateway.
        self.presence_elsewhere: Callable[[str], bool] | None = None
        self.settings = settings
        # The Stack replaces it with AriRecordings (gateway/recordings.py): no shared disk.
        self.recordings: RecordingSource = FolderRecordings(settings.resolved_recordings_dir())
        # `evscallpro gateway` replaces it with a LabelledRegistry (process=gateway).
        self.metrics_registry: object = REGISTRY
        self.users = users
        self.contacts = contacts or ContactStore.in_data_dir(settings.data_dir)
        self.catalog = Catalog(default=settings.default_language)
        self.renderer = Renderer(self.catalog, settings, contacts=self.contacts)
        self.wallboard_fragments = WallboardFragments(self.renderer)  # shared by supervisors
        self.sessions = SessionStore(settings.secret_bytes(), settings.session_ttl_s)
        self.throttle = LoginThrottle(
            settings.login_max_failures_per_user, settings.login_max_failures_per_address,
            settings.login_lockout_s, settings.login_trusted_s,
        )
        self.refusals = BoundedLog(log)  # refused logins, sockets, hosts: a bounded rate
        self._flood = SlidingWindowLimiter(settings.ws_messages_per_10s, 10.0)  # per user
        self._server: Server | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._users_task: asyncio.Task[None] | None = None
        self._sockets: dict[str, set[ServerConnection]] = {}  # session cookie -> sockets
        self._user_sockets: dict[str, set[ServerConnection]] = {}  # user id -> sockets
        self._shift_asked: dict[str, float] = {}  # agent id -> monotonic time of a log_in
        self._shift_tasks: set[asyncio.Task[None]] = set()
        self.links: dict[str, LinkQuality] = {}  # agent id -> its latest desk's link
        self.groups: dict[str, WallboardGroup] = {}  # language -> its broadcast group
        self._group_tasks: list[asyncio.Task[None]] = []
        self.stats_pages = StatsPages(
            self.renderer, settings, self.contacts, archive, self._agent_names
        )
        self.hub: Hub
        self.dispatcher: Dispatcher

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> int:
        """Bind, subscribe to the core, seed the hub; returns the bound port."""
        loop = asyncio.get_running_loop()
        self._main_loop = loop
        self.hub = Hub(loop)
        self.dispatcher = Dispatcher(
            self.call_center, self.hub, self.contacts, self.users, self.renderer, self.settings,
            callbacks=self.callbacks,
        )
        hub_off = self.call_center.subscribe(self.hub.publish)
        shift_off = self.call_center.subscribe(self._offline_view)

        def unsubscribe() -> None:
            hub_off()
            shift_off()

        self._unsubscribe = unsubscribe
        self.hub.seed(await asyncio.to_thread(self.call_center.snapshot))
        self._start_presence()
        self._server = await serve(
            self._socket,
            self.settings.host,
            self.settings.port,
            process_request=self._process_request,
            logger=_WS_LOG,
            compression=None,  # deflate: 167 vs 5 us per delivery, +25 MiB (BENCHMARKS.md)
            server_header="EVSCallPro",
            max_size=64 * 1024,
        )
        port: int = self._server.sockets[0].getsockname()[1]
        self._users_task = asyncio.create_task(self._watch_users())
        log.info("gateway listening on http://%s:%d", self.settings.host, port)
        return port

    def _start_presence(self) -> None:
        """Agents signed in with no browser (the gateway just started) are watched too."""
        def state_of(agent_id: str) -> AgentState | None:
            view = self.hub.agent(agent_id)
            return view.state if view is not None else None

        self.presence = PresenceWatch(
            self.call_center, self.settings.presence_timeout_s, self.settings.presence_action,
            state_of, self.presence_elsewhere,
        )
        for agent in self.hub.agents():
            if agent.state != AgentState.OFFLINE:
                self.presence.watch(agent.agent_id)

    async def stop(self) -> None:
        if self.presence is not None:
            self.presence.stop()
        for task in self._group_tasks:
            task.cancel()
        if self._users_task is not None:
            self._users_task.cancel()
            self._users_task = None
        for group in self.groups.values():
            group.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._server is not None:
            # 1012 "service restart": htmx's ws extension reconnects on it (not on 1001,
            # which websockets would send), so pages come back when the gateway does.
            sockets = [s for group in self._sockets.values() for s in group]
            await asyncio.gather(
                *(s.close(CLOSE_RESTART, "service restart") for s in sockets),
                return_exceptions=True,
            )
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # -- sessions -------------------------------------------------------------------------

    def _user(self, request: Request) -> tuple[User | None, str]:
        cookie = http.cookies(request).get(COOKIE_NAME, "")
        session = self.sessions.lookup(cookie)
        if session is None:
            return None, cookie
        user = self.users.get(session.user_id)
        if user is not None and session.created_at < user.password_changed_at:
            self.sessions.revoke(cookie)  # issued before the password changed
            return None, cookie
        return user, cookie

    async def _watch_users(self) -> None:
        """Re-read users.json (`evscallpro add-user` runs in another process); a changed
        password revokes the sessions issued before it and closes their sockets."""
        seen = self._password_stamps()
        while True:
            await asyncio.sleep(self.settings.users_reload_s)
            try:
                await asyncio.to_thread(self.users.reload_if_changed)
                stamps = self._password_stamps()  # whoever re-read the file (a login may)
                if stamps != seen:
                    seen = stamps
                    await self.end_stale_sessions()
            except Exception:
                log.exception("cannot re-read the users file")

    def _password_stamps(self) -> dict[str, float]:
        return {u.user_id: u.password_changed_at for u in self.users.all()}

    async def end_stale_sessions(self) -> int:
        """Revoke every session issued before its user's password change (or of a user who
        is gone) and close those sessions' sockets (1008: the page goes to sign-in)."""
        revoked = 0
        for user in self.users.all():
            if user.password_changed_at > 0:
                revoked += self.sessions.revoke_user(user.user_id, user.password_changed_at)
        for cookie, sockets in list(self._sockets.items()):
            session = self.sessions.lookup(cookie)
            if session is not None and self.users.get(session.user_id) is not None:
                continue
            self.sessions.revoke(cookie)
            for socket in list(sockets):
                await socket.close(CLOSE_POLICY, "session ended: sign in again")
        if revoked:
            log.info("%d session(s) ended by a password change", revoked)
        return revoked

    @property
    def scheme(self) -> str:
        """How browsers reach this server: https behind a TLS proxy (secure_cookies)."""
        return "https" if self.settings.secure_cookies else "http"

    def _same_origin(self, request: Request) -> bool:
        return http.same_origin(request, self.settings.allowed_origins, self.scheme)

    def _lang(self, request: Request) -> str:
        """The language chosen with the switch (a cookie), else the configured default."""
        return self.catalog.language(http.cookies(request).get(LANG_COOKIE))

    def _session_cookie(self, value: str, max_age: int) -> str:
        secure = "; Secure" if self.settings.secure_cookies else ""
        return f"{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"

    # -- HTTP -----------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path
        try:
            refused = self._check_host(request, path)
            if refused is not None:
                return refused
            if path == "/ws":
                return self._ws_gate(request)
            if request.method == "POST":
                if path == "/login":
                    return await self._login(connection, request)
                if path == "/logout":
                    return await self._logout(request)
                return http.response(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n")
            if request.method != "GET":
                return http.response(HTTPStatus.METHOD_NOT_ALLOWED, "method not allowed\n")
            return await self._get(request, path, parse_qs(url.query))
        except Exception:
            log.exception("error serving %s %s", request.method, path)
            return http.response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n")

    def _check_host(self, request: Request, path: str) -> Response | None:
        """400 for a repeated Host or Origin header, or a Host this server is not (DNS
        rebinding: a page of evil.example whose name now points here)."""
        try:
            host = http.single(request, "Host")
            http.single(request, "Origin")
        except http.BadHeader as exc:
            metrics.HANDSHAKES_REFUSED.labels("bad_header").inc()
            self.refusals.warning("bad_header", "request refused: %s (%s)", exc, path)
            return http.response(HTTPStatus.BAD_REQUEST, f"bad request: {exc}\n")
        if path in PROBE_PATHS:
            return None
        if not http.host_allowed(host, self.settings.allowed_hosts, self.settings.host):
            metrics.HANDSHAKES_REFUSED.labels("host").inc()
            self.refusals.warning("host", "request refused: unknown Host %.100r", host)
            return http.response(HTTPStatus.BAD_REQUEST, "unknown host (see allowed_hosts)\n")
        return None

    async def _get(self, request: Request, path: str, query: dict[str, list[str]]) -> Response:
        if path == "/healthz":
            return self._health()
        if path == "/metrics":
            body = generate_latest(self.metrics_registry)  # type: ignore[arg-type]
            return http.response(HTTPStatus.OK, body, CONTENT_TYPE_LATEST)
        if path.startswith("/static/"):
            name = path.removeprefix("/static/")
            if "/" in name or name.startswith("."):
                return http.response(HTTPStatus.NOT_FOUND, "not found\n")
            return http.static_file(STATIC_DIR / name)
        if path.startswith("/vendor/"):
            entry = VENDOR_FILES.get(path.removeprefix("/vendor/"))
            if entry is None:
                return http.response(HTTPStatus.NOT_FOUND, "not found\n")
            package, file = entry
            return http.static_file(self.settings.resolved_node_modules() / package / file)
        if path.startswith("/lang/"):
            lang = path.removeprefix("/lang/")
            if lang not in LANGUAGES:
                return http.response(HTTPStatus.NOT_FOUND, "unknown language\n")
            back = urlsplit(request.headers.get("Referer", "")).path or "/"
            if not back.startswith("/") or back.startswith("//"):
                back = "/"
            return http.redirect(back, [("Set-Cookie", f"{LANG_COOKIE}={lang}; Path=/; SameSite=Lax; Max-Age=31536000")])
        lang = self._lang(request)
        user, _ = self._user(request)
        if path == "/session":  # lets a page that lost its socket learn it must sign in again
            if user is None:
                return http.json_response({"session": False}, HTTPStatus.UNAUTHORIZED)
            return http.json_response({"session": True, "role": user.role})
        if path == "/login":
            if user is not None:
                return http.redirect("/supervisor" if user.supervises else "/agent")
            return http.html(self.renderer.login_page(lang))
        if user is None:
            return http.redirect("/login")
        if path == "/":
            return http.redirect("/supervisor" if user.supervises else "/agent")
        if path == "/agent":
            if user.supervises:
                return http.redirect("/supervisor")
            contacts = self.contacts.search("")
            phone = softphone_config(self.settings, user)
            return http.html(self.renderer.agent_page(
                lang, user, self._desk(user.user_id), contacts, self.contacts.count(),
                softphone=phone is not None),
                connect_src=ws_origin(self.settings.softphone_ws_url) if phone else "")
        if path == "/softphone":  # this agent's own SIP account, for ui/static/softphone.js
            phone = softphone_config(self.settings, user)
            if phone is None:
                return http.json_response({"error": "no_softphone"}, HTTPStatus.NOT_FOUND)
            return http.json_response(phone)
        if path == "/stats":  # an agent gets their own numbers, a supervisor everyone's
            return await self.stats_pages.page(lang, user, query)
        if path == "/stats/wallboard":
            return await self.stats_pages.wallboard_kpis(lang, user, self.hub.agents())
        if path.startswith("/stats/export."):
            return await self.stats_pages.export(
                lang, user, path.removeprefix("/stats/export."), query)
        if path not in ("/supervisor", "/recordings") and not path.startswith("/recordings/"):
            return http.response(HTTPStatus.NOT_FOUND, "not found\n")
        if not user.supervises:
            log.warning("agent %s refused access to %s", user.user_id, path)
            return http.html(self.renderer.forbidden_page(lang, user), HTTPStatus.FORBIDDEN)
        if path == "/supervisor":
            return http.html(self.renderer.supervisor_page(lang, user, self.hub.agents(), self.hub.totals()))
        if path == "/recordings":
            return await self._recordings_page(lang, user, query)
        if path.startswith("/recordings/") and path.endswith(".wav"):
            name = unquote(path.removeprefix("/recordings/").removesuffix(".wav"))
            try:
                audio = await self.recordings.fetch(name)
            except RecordingsUnavailable as exc:
                log.warning("recording %s: %s", name, exc)
                return http.response(HTTPStatus.BAD_GATEWAY, "recordings unavailable\n")
            if audio is None:
                return http.response(HTTPStatus.NOT_FOUND, "no such recording\n")
            return audio_response(audio, request.headers.get_all("Range"))
        return http.response(HTTPStatus.NOT_FOUND, "not found\n")

    def _health(self) -> Response:
        """200 `ok`, or 503 with the reason when the core cannot hear Asterisk."""
        problem = telephony_problem(self.call_center)
        body: dict[str, object] = {"status": "ok", "clients": self.hub.client_count}
        nodes = node_details(self.call_center)
        if nodes is not None:  # several nodes (evscallpro gateway): each one's health
            body["nodes"] = nodes
        if problem is None:
            return http.json_response(body)
        body.update(status="unavailable", reason=problem)
        return http.json_response(body, HTTPStatus.SERVICE_UNAVAILABLE)

    async def _recordings_page(self, lang: str, user: User, query: dict[str, list[str]]) -> Response:
        filters = {key: (query.get(key) or [""])[0][:100] for key in ("agent", "date", "q")}
        try:
            stored = await self.recordings.stored()
        except RecordingsUnavailable as exc:
            log.warning("recordings list: %s", exc)
            stored = {}  # the archive's rows still show, marked unavailable
        if self.archive is not None:
            found = archived_recordings(
                stored, await asyncio.to_thread(self._archived_recordings, filters), filters["q"],
                contacts=self.contacts,
            )
        else:  # no archive: the stored recordings, described by the calls seen since start
            calls = self.hub.all_history()
            started = {c.call_id: at for c in calls if (at := self.hub.started_at(c.call_id))}
            found = list_recordings(
                stored, calls, agent=filters["agent"], day=filters["date"], query=filters["q"],
                contacts=self.contacts, started=started, zone=self.settings.zone(),
            )
        return http.html(
            self.renderer.recordings_page(lang, user, found, self._agent_names(), filters)
        )

    def _agent_names(self) -> dict[str, str]:
        """Agent id -> display name, from the core's agents and the user directory (which
        wins: it is what the supervisor administers), in alphabetical order of names."""
        names = {a.agent_id: a.display_name for a in self.hub.agents()}
        names.update(
            {u.user_id: u.display_name for u in self.users.all() if u.role == Role.AGENT}
        )
        return dict(sorted(names.items(), key=lambda item: (sort_key(item[1]), item[0])))

    async def _login(self, connection: ServerConnection, request: Request) -> Response:
        if not self._same_origin(request):
            metrics.LOGINS.labels("bad_origin").inc()
            return http.json_response({"ok": False, "error": "origin"}, HTTPStatus.FORBIDDEN)
        credentials = http.basic_credentials(request)
        if credentials is None:
            metrics.LOGINS.labels("malformed").inc()
            return http.json_response({"ok": False, "error": "failed"}, HTTPStatus.BAD_REQUEST)
        user_id, password = credentials
        await asyncio.to_thread(self.users.reload_if_changed)
        ip = str(connection.remote_address[0]) if connection.remote_address else "?"
        if not self.throttle.attempt(user_id, ip):
            metrics.LOGINS.labels("throttled").inc()
            self.refusals.warning("login", "login throttled for user %s from %s",
                                  self._loggable_user(user_id), ip)
            wait = max(1, int(self.throttle.retry_after(user_id, ip) + 0.999))
            return http.json_response({"ok": False, "error": "throttled", "retry_after": wait},
                                      HTTPStatus.TOO_MANY_REQUESTS,
                                      headers=[("Retry-After", str(wait))])
        user = await asyncio.to_thread(self.users.verify, user_id, password)
        if user is None:
            metrics.LOGINS.labels("failed").inc()
            log.info("login failed for user %s from %s", self._loggable_user(user_id), ip)
            return http.json_response({"ok": False, "error": "failed"}, HTTPStatus.UNAUTHORIZED)
        self.throttle.succeeded(user_id, ip)
        metrics.LOGINS.labels("ok").inc()
        log.info("user %s (%s) logged in from %s", user.user_id, user.role, ip)
        if not user.supervises:
            refusal = await asyncio.to_thread(self.call_center.log_in, user.user_id)
            if refusal is not None:
                log.warning("core refused log_in of %s: %s", user.user_id, refusal)
            if self.presence is not None:  # until the desk's socket connects
                self.presence.watch(user.user_id)
        cookie = self.sessions.create(user.user_id, user.role)
        location = "/supervisor" if user.supervises else "/agent"
        return http.json_response(
            {"ok": True, "location": location},
            headers=[("Set-Cookie", self._session_cookie(cookie, int(self.settings.session_ttl_s)))],
        )

    def _loggable_user(self, user_id: str) -> str:
        """A login's user name as a log may show it: a name that is no user is often a
        password typed in the wrong field, so it is not written."""
        return repr(user_id) if self.users.get(user_id) is not None else "(unknown user name)"

    async def _logout(self, request: Request) -> Response:
        if not self._same_origin(request):
            return http.response(HTTPStatus.FORBIDDEN, "cross-origin logout refused\n")
        user, cookie = self._user(request)
        if self.sessions.revoke(cookie):
            for socket in self._sockets.pop(cookie, set()):
                await socket.close(CLOSE_POLICY, "logged out")
            if user is not None and not user.supervises:
                refusal = await asyncio.to_thread(self.call_center.log_out, user.user_id)
                if refusal is not None:
                    log.warning("core refused log_out of %s: %s", user.user_id, refusal)
            log.info("user %s logged out", user.user_id if user else "?")
        return http.redirect("/login", [("Set-Cookie", self._session_cookie("", 0))])

    def _ws_gate(self, request: Request) -> Response | None:
        """Refuse the handshake unless same-origin and logged in (CSWSH protection)."""
        if not self._same_origin(request):
            metrics.HANDSHAKES_REFUSED.labels("origin").inc()
            self.refusals.warning("origin", "WebSocket refused: origin %.100r",
                                  request.headers.get("Origin"))
            return http.response(HTTPStatus.FORBIDDEN, "cross-origin WebSocket refused\n")
        user, _ = self._user(request)
        if user is None:
            metrics.HANDSHAKES_REFUSED.labels("session").inc()
            return http.response(HTTPStatus.UNAUTHORIZED, "log in first\n")
        return None

    # -- WebSocket --------------------------------------------------------------------------

    def _archived_recordings(self, filters: dict[str, str]) -> list[object]:
        assert self.archive is not None
        start: dt.datetime | None = None
        end: dt.datetime | None = None
        if filters["date"]:
            try:  # the day in the configured zone, as the archive's naive UTC bounds
                day = dt.date.fromisoformat(filters["date"])
            except ValueError:
                day = None
            if day is not None:
                zone = self.settings.zone()
                start, end = (
                    dt.datetime.combine(d, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)
                    for d in (day, day + dt.timedelta(days=1))
                )
        try:
            return list(self.archive.recordings(agent_id=filters["agent"] or None, start=start, end=end))
        except Exception:
            log.exception("the call archive could not list recordings")
            return []

    async def _load_history(self, agent_id: str) -> None:
        """Today's calls from the archive, so the history survives a gateway restart."""
        if self.archive is None:
            return
        archive = self.archive
        try:
            zone = self.settings.zone()
            items = await asyncio.to_thread(
                archive.calls_for_agent, agent_id, dt.datetime.now(zone).date(), 500, str(zone)
            )
            self._archived_history[agent_id] = [history_view(agent_id, item) for item in items]
            self._history_unavailable.discard(agent_id)
            for item in items:
                self._archived_started[item.call_id] = epoch(item.started_at)
                if item.disposition and item.call_id not in self.dispatcher.qualified:
                    booked = self.callbacks.for_call(item.call_id)
                    self.dispatcher.qualified[item.call_id] = Qualified(
                        item.disposition, booked.due_at if booked else None
                    )
        except ArchiveUnavailable as exc:  # no analytics process answering: the desk says so
            log.warning("the history of %s is unavailable: %s", agent_id, exc)
            self._history_unavailable.add(agent_id)
        except Exception:
            log.exception("the call archive could not give %s's history", agent_id)
            self._history_unavailable.add(agent_id)

    def _desk(self, agent_id: str) -> AgentDesk:
        view = self.hub.agent(agent_id)
        call = view.call if view is not None and view.call is not None else self.hub.last_call(agent_id)
        contact = self.contacts.get(call.contact_id) if call is not None and call.contact_id else None
        user = self.users.get(agent_id)
        zone = self.settings.zone()
        history = merge_history(
            self._archived_history.get(agent_id, []), self.hub.history_today(agent_id, zone=zone)
        )
        started = {
            c.call_id: at for c in history
            if (at := self.hub.started_at(c.call_id) or self._archived_started.get(c.call_id))
        }
        qualified = {c.call_id: q for c in history if (q := self.dispatcher.qualified.get(c.call_id))}
        link = self.links.get(agent_id)
        return AgentDesk(
            view=view,
            last_call=self.hub.last_call(agent_id),
            history=history,
            profile_mobile=user.mobile_number if user else None,
            contact_name=contact.name if contact else None,
            agenda=self.callbacks.agenda(agent_id, time.time(), zone),
            qualified=qualified,
            started=started,
            history_unavailable=agent_id in self._history_unavailable,
            link_degraded=link is not None and link.degraded,
        )

    # -- an open desk keeps its agent on shift ---------------------------------------------

    def _offline_view(self, view: AgentView | CallView) -> None:
        """Any thread: an agent seen offline by the core (a node restarted, the core lost
        the agent) is logged in again if their desk is open here."""
        if not isinstance(view, AgentView):
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
            if view.state == AgentState.OFFLINE:
                self._main_loop.call_soon_threadsafe(self._back_on_shift, view.agent_id)
            elif view.agent_id in self._shift_asked:
                # back on shift: the next time the core loses them is a new time, not a
                # repeat to hold back (the throttle is for a core that keeps refusing)
                self._main_loop.call_soon_threadsafe(self._shift_asked.pop, view.agent_id, None)

    def _back_on_shift(self, agent_id: str) -> None:
        """Loop thread. An agent leaves their shift by signing out (the session ends, the
        desk closes) or by leaving the desk (presence); a desk still open means the agent is
        at work, so the core is asked to log them in (at most once per BACK_ON_SHIFT_S)."""
        if not self._user_sockets.get(agent_id):
            return
        now = time.monotonic()
        if now - self._shift_asked.get(agent_id, -BACK_ON_SHIFT_S) < BACK_ON_SHIFT_S:
            return
        self._shift_asked[agent_id] = now

        async def log_in() -> None:
            refusal = await asyncio.to_thread(self.call_center.log_in, agent_id)
            if refusal is None:
                log.info("agent %s was offline with the desk open: logged in again", agent_id)
            else:
                log.warning("agent %s offline with the desk open; log in refused: %s",
                            agent_id, refusal)

        task = asyncio.create_task(log_in())
        self._shift_tasks.add(task)
        task.add_done_callback(self._shift_tasks.discard)

    async def _socket(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        user, cookie = self._user(connection.request)
        if user is None:  # the session ended between the gate and here
            await connection.close(CLOSE_POLICY, "log in first")
            return
        lang = self._lang(connection.request)
        role = "supervisor" if user.supervises else "agent"
        too_many = self._too_many_sockets(user, cookie)
        if too_many is not None:
            metrics.HANDSHAKES_REFUSED.labels("too_many_sockets").inc()
            self.refusals.warning("sockets", "WebSocket of %s closed: %s", user.user_id, too_many)
            await connection.close(CLOSE_TOO_MANY, too_many)
            return
        self._user_sockets.setdefault(user.user_id, set()).add(connection)
        client = HubClient(
            user.user_id, wallboard=user.supervises,
            batch_s=self.settings.wallboard_batch_s if user.supervises else 0.0,
        )
        self._sockets.setdefault(cookie, set()).add(connection)
        if not user.supervises:
            if self.presence is not None:
                self.presence.connected(user.user_id)
            view = self.hub.agent(user.user_id)
            if view is not None and view.state == AgentState.OFFLINE:
                self._back_on_shift(user.user_id)
            await self._load_history(user.user_id)
        self.hub.attach(client)
        metrics.CLIENTS.labels(role).inc()
        sender = asyncio.create_task(self._pump(connection, client, user, lang, cookie))
        heartbeat = None if user.supervises else self._watch_link(connection, user.user_id)
        try:
            async for message in connection:
                if self._user(connection.request)[0] is None:
                    await connection.close(CLOSE_POLICY, "session ended")
                    break
                if self._flood.blocked(user.user_id):  # one budget per user, all sockets
                    metrics.ACTIONS.labels("any", "flood").inc()
                    self.refusals.warning("flood", "messages of %s refused: over %d per 10 s",
                                          user.user_id, self.settings.ws_messages_per_10s)
                    self.hub.notify(client, "notice", self.renderer.notice(lang, "err.too_fast"))
                    continue
                self._flood.hit(user.user_id)
                for element_id, fragment in await self.dispatcher.handle(user, lang, message):
                    self.hub.notify(client, element_id, fragment)
        except ConnectionClosed:
            pass
        finally:
            if user.supervises:
                self._group(lang).discard(client)
            elif self.presence is not None:
                self.presence.disconnected(user.user_id)
            self.hub.detach(client)
            metrics.CLIENTS.labels(role).dec()
            for table, key in ((self._sockets, cookie), (self._user_sockets, user.user_id)):
                sockets = table.get(key)
                if sockets is not None:
                    sockets.discard(connection)
                    if not sockets:
                        table.pop(key, None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            if heartbeat is not None:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    def _watch_link(self, connection: ServerConnection, agent_id: str) -> asyncio.Task[None] | None:
        """Heartbeats on an agent's desk socket (gateway/link_quality.py); its desk is
        redrawn when the link turns degraded or recovers."""
        s = self.settings
        if s.link_heartbeat_s <= 0:
            return None
        quality = LinkQuality(s.link_rtt_degraded_ms / 1000.0, s.link_loss_degraded, s.link_window)
        self.links[agent_id] = quality  # the latest page of this agent is the one measured

        def changed() -> None:
            if self.links.get(agent_id) is quality:
                log.info("desk link of %s %s (rtt %s s, loss %.0f%%)", agent_id,
                         "degraded" if quality.degraded else "recovered", quality.rtt_s,
                         quality.loss * 100)
                self.hub.touch_agent(agent_id)

        return asyncio.create_task(watch_link(connection, quality, s.link_heartbeat_s, changed))

    def _too_many_sockets(self, user: User, cookie: str) -> str | None:
        """Why one more socket for this session or user is refused, or None."""
        if len(self._sockets.get(cookie, ())) >= self.settings.max_sockets_per_session:
            return f"too many pages open for this session (max {self.settings.max_sockets_per_session})"
        if len(self._user_sockets.get(user.user_id, ())) >= self.settings.max_sockets_per_user:
            return f"too many pages open for this user (max {self.settings.max_sockets_per_user})"
        return None

    async def _pump(self, connection: ServerConnection, client: HubClient, user: User, lang: str,
                    cookie: str) -> None:
        counter = metrics.WALLBOARD_SENT if client.wallboard else metrics.AGENT_SENT
        try:
            while True:
                batch = await client.next_batch()
                if self.sessions.lookup(cookie) is None:  # expired while connected
                    await connection.close(CLOSE_POLICY, "session ended")
                    return
                if WALLBOARD_KEY in batch:  # the full board already has every row and total
                    batch = {k: v for k, v in batch.items()
                             if not k.startswith(ROW_KEY_PREFIX) and k != TOTALS_KEY}
                parts: list[str] = []
                for key, payload in batch.items():
                    try:
                        parts.append(self._fragment(key, payload, user, lang, client))
                    except Exception:  # one bad view must not silence this browser
                        log.exception("cannot render %s for %s", key, user.user_id)
                if parts:
                    await connection.send("".join(parts))
                    counter.inc()
                if client.wallboard:
                    self._group(lang).try_join(client, self._seat(connection, cookie))
        except ConnectionClosed:
            pass

    def _group(self, lang: str) -> WallboardGroup:
        group = self.groups.get(lang)
        if group is None:
            group = self.groups[lang] = WallboardGroup(
                lang, self.hub, self.wallboard_fragments, self._broadcast,
                self.settings.wallboard_batch_s,
            )
            self._group_tasks.append(asyncio.create_task(group.run()))
        return group

    @staticmethod
    def _broadcast(connections: Sequence[object], html: str) -> None:
        sockets = [c for c in connections if isinstance(c, ServerConnection)]
        broadcast(sockets, html)
        metrics.WALLBOARD_SENT.inc(len(sockets))

    def _seat(self, connection: ServerConnection, cookie: str) -> Seat:
        def alive() -> bool:
            return connection.state is State.OPEN and self.sessions.lookup(cookie) is not None

        def buffered() -> int:
            transport = connection.transport
            return transport.get_write_buffer_size() if transport is not None else 0

        return Seat(connection, alive, buffered)

    def _fragment(self, key: str, payload: object, user: User, lang: str, client: HubClient) -> str:
        if key == AGENT_KEY:
            return self.renderer.agent_fragments(lang, self._desk(user.user_id))
        if key == WALLBOARD_KEY:
            agents = self.hub.agents()
            client.known_rows = {a.agent_id for a in agents}
            if user.user_id in self.hub.monitoring():  # their own markers: drawn for them
                return self.renderer.wallboard(lang, user.user_id, agents, self.hub.totals())
            return self.wallboard_fragments.board(lang, self.hub.version, agents, self.hub.totals())
        if key.startswith(ROW_KEY_PREFIX):
            agent = self.hub.agent(key.removeprefix(ROW_KEY_PREFIX))
            if agent is None:
                return ""
            known = agent.agent_id in client.known_rows
            client.known_rows.add(agent.agent_id)
            return self.wallboard_fragments.row(lang, user.user_id, agent, known)
        if key == TOTALS_KEY:
            return self.wallboard_fragments.totals(lang, self.hub.totals())
        if key.startswith(HTML_KEY_PREFIX) and isinstance(payload, str):
            return payload
        return ""


# -- entry points for the composition root -----------------------------------------------


class GatewayThread:
    """The gateway on its own loop in a background thread (demo command, tests)."""

    def __init__(
        self,
        call_center: CallCenter,
        settings: GatewaySettings,
        users: UserDirectory,
        contacts: ContactStore | None = None,
        archive: CallArchive | None = None,
    ) -> None:
        self.gateway = Gateway(call_center, settings, users, contacts, archive)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.gateway.settings.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the gateway did not start in time")
        if self._error is not None:
            raise RuntimeError("the gateway failed to start") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
            leftovers = asyncio.all_tasks(self._loop)
            for task in leftovers:
                task.cancel()
            if leftovers:
                self._loop.run_until_complete(
                    asyncio.gather(*leftovers, return_exceptions=True)
                )
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.port = await self.gateway.start()
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.gateway.stop()

    def call(self, fn: Callable[[], object], timeout: float = 5.0) -> object:
        """Run `fn` on the gateway loop and return its result (tests read hub state so)."""
        async def run() -> object:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
