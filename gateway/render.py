"""Server-side HTML: full pages and the out-of-band fragments the WebSocket pushes.

Jinja2 with autoescape on; every visible word comes from the catalog through `t`.
Fragments carry their element id and `hx-swap-oob="true"` when sent over the socket.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import msgspec

from core.domain import CallOutcome, CallStep
from core.views import AgentView, CallView
from gateway.contacts import Contact, ContactStore
from gateway.hub import FINAL_STEPS
from gateway.i18n import LANGUAGES, Catalog
from gateway.phones import display
from gateway.settings import GatewaySettings
from gateway.users import User

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "ui" / "templates"


class Notice(msgspec.Struct, frozen=True):
    text: str
    level: str = "error"  # error | info


class AgentDesk(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the agent desktop's live fragments are drawn from."""

    view: AgentView | None
    last_call: CallView | None
    history: list[CallView]
    profile_mobile: str | None = None
    contact_name: str | None = None
    # The agent's day: callbacks due today or overdue; call id -> (disposition, callback
    # epoch) and call id -> start time, for the history.
    agenda: list[Any] = []
    qualified: dict[str, Any] = {}
    started: dict[str, float] = {}
    history_unavailable: bool = False  # the archive did not answer: only today's live calls
    # The desk's WebSocket link is degraded (gateway/link_quality.py): a softphone call is
    # offered the move to the mobile.
    link_degraded: bool = False


def _duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _clock_in(zone: dt.tzinfo) -> Callable[[float], str]:
    def clock(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch, zone).strftime("%H:%M")
    return clock


@jinja2.pass_context
def _phone(context: jinja2.runtime.Context, number: str | None) -> str:
    """A number for the page's reader (see `phones.display`); E.164 stays in data-*."""
    return display(number or "", str(context.get("lang", "en")))


def _datetime_in(zone: dt.tzinfo) -> Callable[[float], str]:
    def datetime(epoch: float) -> str:
        return dt.datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M")
    return datetime


class Renderer:
    def __init__(
        self,
        catalog: Catalog,
        settings: GatewaySettings,
        clock: Callable[[], float] = time.time,
        contacts: ContactStore | None = None,
    ) -> None:
        self.catalog = catalog
        self.contacts = contacts
        self.settings = settings
        self._clock = clock
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are read once: with auto-reload every render stat()s its file,
            # which was a fifth of the gateway loop's busy time under load.
            auto_reload=False,
        )
        self.zone = settings.zone()
        self.env.filters.update(
            duration=_duration, clock=_clock_in(self.zone), datetime=_datetime_in(self.zone),
            phone=_phone,
        )

    # -- words --------------------------------------------------------------------

    @staticmethod
    def phone(number: str, lang: str) -> str:
        return display(number, lang)

    def when(self, epoch: float, lang: str) -> str:
        """A date and time in the configured zone, as a reader of `lang` writes it."""
        moment = dt.datetime.fromtimestamp(epoch, self.zone)
        return moment.strftime("%d/%m/%Y %H:%M" if lang == "fr" else "%Y-%m-%d %H:%M")

    def dispositions_for(self, call: CallView | None) -> tuple[str, ...]:
        outcome = str(call.outcome) if call is not None and call.outcome else None
        return self.settings.dispositions_for(outcome)

    def step_label(self, lang: str, call: CallView) -> str:
        if call.step in FINAL_STEPS:
            return self.outcome_label(lang, call)
        if call.step == CallStep.AGENT_DIALING:
            return self.catalog.t(lang, f"step.agent_dialing.{call.workstation}")
        if call.step == CallStep.SWITCHING and call.switching_to is not None:
            return self.catalog.t(lang, f"step.switching.{call.switching_to}")
        return self.catalog.t(lang, f"step.{call.step}")

    def supervisor_step_label(self, lang: str, call: CallView) -> str:
        """The step as a supervisor reads it on the wallboard ("Mobile de l'agent en
        sonnerie"), not the agent's own words ("Votre mobile sonne")."""
        if call.step in FINAL_STEPS:
            key = f"stats.outcome.{call.outcome}" if call.outcome is not None else f"step.{call.step}"
            return self.catalog.t(lang, key)
        if call.step == CallStep.AGENT_DIALING:
            return self.catalog.t(lang, f"sup.step.agent_dialing.{call.workstation}")
        if call.step == CallStep.SWITCHING and call.switching_to is not None:
            return self.catalog.t(lang, f"sup.step.switching.{call.switching_to}")
        return self.catalog.t(lang, f"sup.step.{call.step}")

    def outcome_label(self, lang: str, call: CallView) -> str:
        if call.outcome is None:
            return self.catalog.t(lang, f"step.{call.step}")
        if call.outcome == CallOutcome.COMPLETED and call.ended_by is not None:
            return self.catalog.t(lang, f"outcome.completed.{call.ended_by}")
        return self.catalog.t(lang, f"outcome.{call.outcome}")

    def code_label(self, lang: str, kind: str, code: str) -> str:
        """A configured code (disposition, pause reason) in words; a code the catalog does
        not know is shown as itself, readable, rather than as a catalog key."""
        key = f"{kind}.{code}"
        if self.catalog.has(lang, key) or self.catalog.has("en", key):
            return self.catalog.t(lang, key)
        return code.replace("_", " ").capitalize()

    def _contact_names(self) -> Callable[[CallView | None], str]:
        """`contact_of(call)` for templates: the name of the call's contact, looked up in
        the contact store once per render (a wallboard shows many calls)."""
        names: dict[str, str] = {}

        def contact_of(call: CallView | None) -> str:
            contact_id = call.contact_id if call is not None else None
            if not contact_id or self.contacts is None:
                return ""
            if contact_id not in names:
                contact = self.contacts.get(contact_id)
                names[contact_id] = contact.name if contact is not None else ""
            return names[contact_id]

        return contact_of

    def _context(self, lang: str, **extra: Any) -> dict[str, Any]:
        t = self.catalog.t
        context: dict[str, Any] = {
            "lang": lang,
            "other_lang": next(code for code in LANGUAGES if code != lang),
            "t": lambda key, **params: t(lang, key, **params),
            "now": self._clock(),
            "oob": False,
            "notice": None,
            "notice_log_in": False,
            "dispositions": self.settings.dispositions,
            "pause_reasons": self.settings.pause_reasons,
            "step_label": lambda call: self.step_label(lang, call),
            "sup_step_label": lambda call: self.supervisor_step_label(lang, call),
            "outcome_label": lambda call: self.outcome_label(lang, call),
            "label": lambda kind, code: self.code_label(lang, kind, code),
            "contact_of": self._contact_names(),
            "dispositions_for": self.dispositions_for,
            "when": lambda epoch: self.when(epoch, lang),
            "zone_name": str(self.zone),
            "wrap_up_max_s": self.settings.wrap_up_max_s,
        }
        context.update(extra)
        return context

    def _render(self, template: str, lang: str, **extra: Any) -> str:
        return self.env.get_template(template).render(self._context(lang, **extra))

    # -- pages ---------------------------------------------------------------------

    def login_page(self, lang: str) -> str:
        return self._render(
            "login.html", lang, title=self.catalog.t(lang, "login.title"), page="login",
            user=None, ws_page=False,
        )

    def agent_page(self, lang: str, user: User, desk: AgentDesk, contacts: list[Contact],
                   contacts_total: int, softphone: bool = False) -> str:
        return self._render(
            "agent.html", lang, title=self.catalog.t(lang, "nav.agent"), page="agent",
            user=user, ws_page=True, contacts=contacts, contacts_total=contacts_total,
            contact=None, script=None, softphone=softphone, **self._desk_context(desk),
        )

    def forbidden_page(self, lang: str, user: User) -> str:
        """The app's own 403 page, in the reader's language."""
        return self._render(
            "forbidden.html", lang, title=self.catalog.t(lang, "forbidden.title"),
            page="forbidden", user=user, ws_page=False,
        )

    def supervisor_page(self, lang: str, user: User, agents: list[AgentView],
                        totals: dict[str, int]) -> str:
        return self._render(
            "supervisor.html", lang, title=self.catalog.t(lang, "sup.title"),
            page="supervisor", user=user, ws_page=True, agents=agents, totals=totals,
            supervisor_id=user.user_id,
        )

    def recordings_page(self, lang: str, user: User, recordings: list[Any],
                        agents: dict[str, str], filters: dict[str, str]) -> str:
        """`agents`: agent id -> display name, in the order the filter lists them."""
        return self._render(
            "recordings.html", lang, title=self.catalog.t(lang, "rec.title"),
            page="recordings", user=user, ws_page=False, recordings=recordings,
            agents=agents, filters=filters,
        )

    # -- fragments (hx-swap-oob) -----------------------------------------------------

    @staticmethod
    def _desk_context(desk: AgentDesk) -> dict[str, Any]:
        view = desk.view
        live_call = view.call if view is not None else None
        call = live_call or desk.last_call
        return {
            "view": view,
            "call": call,
            "live": call is not None and call.step not in FINAL_STEPS,
            "history": desk.history,
            "profile_mobile": desk.profile_mobile,
            "contact_name": desk.contact_name,
            "agenda": desk.agenda,
            "qualified": desk.qualified,
            "started": desk.started,
            "history_unavailable": desk.history_unavailable,
            "link_degraded": desk.link_degraded,
        }

    def agent_fragments(self, lang: str, desk: AgentDesk) -> str:
        ctx = self._desk_context(desk)
        ctx["contact_of"] = self._contact_names()  # one look-up cache for the four fragments
        return "".join(
            self._render(f"fragments/{name}.html", lang, oob=True, **ctx)
            for name in ("agent_status", "call_panel", "wrapup", "history", "agenda")
        )

    def wallboard(self, lang: str, supervisor_id: str, agents: list[AgentView],
                  totals: dict[str, int]) -> str:
        return self._render(
            "fragments/wallboard.html", lang, oob=True, agents=agents, totals=totals,
            supervisor_id=supervisor_id,
        )

    def wallboard_row(self, lang: str, supervisor_id: str, agent: AgentView, known: bool) -> str:
        """One agent's row: swapped in place, or appended when this browser lacks it."""
        row = self._render(
            "fragments/wallboard_row.html", lang, oob=known, a=agent, supervisor_id=supervisor_id
        )
        return row if known else f'<div hx-swap-oob="beforeend:#wallboard-body">{row}</div>'

    def totals(self, lang: str, totals: dict[str, int]) -> str:
        return self._render("fragments/totals.html", lang, oob=True, totals=totals)

    def notice(self, lang: str, key: str, level: str = "error", /, **params: object) -> str:
        """`log_in=True` adds the "start my shift" button the text tells the agent to use."""
        log_in = bool(params.pop("log_in", False))
        text = self.catalog.t(lang, key, **params)
        return self._render("fragments/notice.html", lang, oob=True, notice=Notice(text, level),
                            notice_log_in=log_in)

    def clear_notice(self, lang: str) -> str:
        return self._render("fragments/notice.html", lang, oob=True, notice_log_in=False)

    def contact_list(self, lang: str, contacts: list[Contact], total: int) -> str:
        return self._render(
            "fragments/contact_list.html", lang, oob=True, contacts=contacts,
            contacts_total=total,
        )

    def contact_card(self, lang: str, contact: Contact | None, agent_name: str = "") -> str:
        script = self.settings.campaign_scripts.get(contact.campaign) if contact else None
        if script and contact:
            # Known placeholders only (no str.format on configured text).
            for placeholder, value in (
                ("{contact}", contact.name), ("{company}", contact.company), ("{agent}", agent_name)
            ):
                script = script.replace(placeholder, value)
        return self._render(
            "fragments/contact_card.html", lang, oob=True, contact=contact, script=script
        )


RowKey = tuple[str, tuple[str, ...], bool]  # lang, this supervisor's modes on the call, known


class WallboardFragments:
    """The wallboard fragments rendered once and shared by every supervisor's connection.

    An agent's row depends on the supervisor only through the supervisor's own monitoring
    of the row's call (the "you listen" marker and which buttons show) and on whether the
    browser already has the row; so it is rendered once per (agent view, language, this
    supervisor's modes on the call, known) and reused by every other supervisor with the
    same key. An entry lives while the agent's view is the same object and for at most
    `max_age_s`, which bounds how old the `now` baked into its timers can be. The totals
    hold no time: they are cached by value. Loop thread only.
    """

    TOTALS_LIMIT = 64

    def __init__(self, renderer: Renderer, clock: Callable[[], float] = time.monotonic,
                 max_age_s: float = 0.25) -> None:
        self.renderer = renderer
        self.max_age_s = max_age_s
        self._clock = clock
        self._rows: dict[str, tuple[AgentView, float, dict[RowKey, str]]] = {}
        self._totals: dict[tuple[str, tuple[tuple[str, int], ...]], str] = {}
        self._boards: dict[str, tuple[int, float, str]] = {}  # lang -> version, at, html

    @staticmethod
    def modes_of(supervisor_id: str, agent: AgentView) -> tuple[str, ...]:
        if agent.call is None:
            return ()
        return tuple(str(mode) for who, mode in agent.call.monitored_by if who == supervisor_id)

    def row(self, lang: str, supervisor_id: str, agent: AgentView, known: bool) -> str:
        key: RowKey = (lang, self.modes_of(supervisor_id, agent), known)
        now = self._clock()
        entry = self._rows.get(agent.agent_id)
        if entry is None or entry[0] is not agent or now - entry[1] > self.max_age_s:
            entry = (agent, now, {})
            self._rows[agent.agent_id] = entry
        html = entry[2].get(key)
        if html is None:
            html = self.renderer.wallboard_row(lang, supervisor_id, agent, known)
            entry[2][key] = html
        return html

    def totals(self, lang: str, totals: dict[str, int]) -> str:
        key = (lang, tuple(totals.items()))
        html = self._totals.get(key)
        if html is None:
            if len(self._totals) >= self.TOTALS_LIMIT:
                self._totals.clear()
            html = self._totals[key] = self.renderer.totals(lang, totals)
        return html

    def board(self, lang: str, version: int, agents: list[AgentView],
              totals: dict[str, int]) -> str:
        """The whole wallboard as a supervisor who monitors no call sees it, rendered once
        per (language, hub version) and for at most `max_age_s` (its timers' `now`): a
        burst of supervisors connecting costs one render, not one each."""
        now = self._clock()
        entry = self._boards.get(lang)
        if entry is not None and entry[0] == version and now - entry[1] <= self.max_age_s:
            return entry[2]
        html = self.renderer.wallboard(lang, "", agents, totals)
        self._boards[lang] = (version, now, html)
        return html
