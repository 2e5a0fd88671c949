"""Turns one browser message into a CallCenter request, after checking role and ownership.

Runs on the gateway loop (hub state is read there); the CallCenter call itself runs in a
worker thread, so a slow core answer never stalls other browsers. Returns the fragments to
send back to that browser only: an error notice, search results, a contact card. State
changes come back separately, through the hub, when the core publishes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

import msgspec

from core.domain import WorkstationMode
from gateway import metrics
from gateway.actions import (
    AGENT_ACTIONS,
    SUPERVISOR_ACTIONS,
    Action,
    BadAction,
    CloseSession,
    HangUp,
    LogIn,
    OpenSession,
    Pause,
    PlaceCall,
    Qualify,
    SearchContacts,
    SetAvailable,
    SetWorkstation,
    ShowContact,
    StopSupervision,
    Supervise,
    SwitchCall,
    decode_action,
)
from gateway.callbacks import Callback, CallbackStore, callback_id, due_epoch
from gateway.contacts import ContactStore
from gateway.hub import FINAL_STEPS, Hub
from gateway.phones import InvalidNumber, normalize
from gateway.ports import CallCenter, Refusal
from gateway.presence import DISCONNECTED
from gateway.render import Renderer
from gateway.settings import GatewaySettings
from gateway.users import User, UserDirectory

log = logging.getLogger(__name__)

Fragment = tuple[str, str]  # (element id, html)


class Denied(Exception):
    """An action refused by the gateway itself; `key` is a catalog key. `offer_log_in`: the
    notice carries the "start my shift" button (the refusal says to use it)."""

    def __init__(self, key: str, offer_log_in: bool = False, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params
        self.offer_log_in = offer_log_in


class Qualified(msgspec.Struct, frozen=True):
    """What the agent chose for a call (the history shows it instead of the hang-up)."""

    disposition: str
    callback_at: float | None = None


class Dispatcher:
    def __init__(
        self,
        call_center: CallCenter,
        hub: Hub,
        contacts: ContactStore,
        users: UserDirectory,
        renderer: Renderer,
        settings: GatewaySettings,
        callbacks: CallbackStore | None = None,
    ) -> None:
        self._core = call_center
        self._hub = hub
        self._contacts = contacts
        self._users = users
        self._render = renderer
        self._settings = settings
        self.callbacks = callbacks or CallbackStore()
        self.qualified: dict[str, Qualified] = {}  # call id -> the agent's qualification

    async def handle(self, user: User, lang: str, raw: str | bytes) -> list[Fragment]:
        action = decode_action(raw)
        if isinstance(action, BadAction):
            metrics.ACTIONS.labels("invalid", "bad_message").inc()
            return [("notice", self._render.notice(lang, "err.bad_message", detail=action.reason))]
        name = type(action).__name__
        allowed = SUPERVISOR_ACTIONS if user.supervises else AGENT_ACTIONS
        try:
            if type(action) not in allowed:
                log.warning("refused %s from %s (role %s)", name, user.user_id, user.role)
                raise Denied("err.forbidden")
            fragments = await self._apply(user, lang, action)
        except Denied as denied:
            metrics.ACTIONS.labels(name, "denied").inc()
            return [("notice", self._render.notice(
                lang, denied.key, "error", log_in=denied.offer_log_in, **denied.params))]
        except Exception:
            log.exception("action %s from %s failed", name, user.user_id)
            metrics.ACTIONS.labels(name, "error").inc()
            return [("notice", self._render.notice(lang, "err.core", detail="internal error"))]
        metrics.ACTIONS.labels(name, "ok").inc()
        return [("notice", self._render.clear_notice(lang)), *fragments]

    async def _ask(self, lang: str, request: Callable[..., Refusal | None], *args: object) -> None:
        """Run one CallCenter request off the loop; a Refusal becomes a Denied notice."""
        self._refused(lang, await asyncio.to_thread(request, *args))

    def _refused(self, lang: str, refusal: Refusal | None) -> None:
        if refusal is None:
            return
        key = f"refusal.{refusal.code}"
        detail = (
            self._render.catalog.t(lang, key)
            if self._render.catalog.has(lang, key)
            else refusal.detail or refusal.code
        )
        raise Denied("err.core", offer_log_in=refusal.code == "agent_offline", detail=detail)

    async def _apply(self, user: User, lang: str, action: Action) -> list[Fragment]:
        me = user.user_id
        match action:
            case PlaceCall(number=number, contact_id=contact_id, callback_id=booked):
                if contact_id and self._contacts.get(contact_id) is None:
                    raise Denied("err.unknown_contact")
                callback = self.callbacks.get(booked) if booked else None
                if booked and (callback is None or callback.agent_id != me):
                    raise Denied("err.not_your_call")
                await self._ask(lang, self._core.place_call, me, self._number(number), contact_id or None)
                if callback is not None:
                    await asyncio.to_thread(self.callbacks.done, callback.callback_id, time.time())
                    self._hub.touch_agent(me)
            case HangUp(call_id=call_id):
                self._own_live_call(me, call_id)
                await self._ask(lang, self._core.hang_up, me, call_id)
            case OpenSession():
                await self._ask(lang, self._core.open_agent_session, me)
                return [("notice", self._render.notice(lang, "session.requested", "info"))]
            case CloseSession():
                await self._ask(lang, self._core.close_agent_session, me)
            case SwitchCall(call_id=call_id, target=target):
                self._own_live_call(me, call_id)
                await self._ask(lang, self._core.switch_agent_leg, me, call_id, target)
                return [("notice", self._render.notice(lang, f"switch.requested.{target}", "info"))]
            case SetWorkstation(mode=mode, mobile_number=mobile):
                return await self._set_workstation(user, lang, mode, mobile)
            case SetAvailable():
                view = self._hub.agent(me)
                if view is not None and view.awaiting_disposition is not None:
                    raise Denied("err.wrapup_pending")
                await self._ask(lang, self._core.set_available, me)
            case LogIn():
                await self._ask(lang, self._core.log_in, me)
            case Pause(reason=reason):
                if reason not in self._settings.pause_reasons and reason != DISCONNECTED:
                    raise Denied("err.unknown_reason")
                await self._ask(lang, self._core.pause, me, reason)
            case Qualify(call_id=call_id, disposition=disposition, comment=comment,
                         callback_at=callback_at):
                return await self._qualify(me, lang, call_id, disposition, comment, callback_at)
            case SearchContacts(q=query):
                found = self._contacts.search(query)
                return [("contact-list", self._render.contact_list(lang, found, self._contacts.count()))]
            case ShowContact(contact_id=contact_id):
                contact = self._contacts.get(contact_id)
                if contact is None:
                    raise Denied("err.unknown_contact")
                return [("contact-card", self._render.contact_card(lang, contact, user.display_name))]
            case Supervise(call_id=call_id, mode=mode):
                if self._hub.live_call(call_id) is None:
                    raise Denied("err.no_such_call")
                await self._ask(lang, self._core.supervise, me, call_id, mode)
                # The supervisor's phone rings first and the listening starts only once the
                # call is bridged: say so at once rather than nothing until then.
                return [("notice", self._render.notice(lang, f"sup.requested.{mode}", "info"))]
            case StopSupervision(call_id=call_id):
                if self._hub.live_call(call_id) is None:
                    raise Denied("err.no_such_call")
                await self._ask(lang, self._core.stop_supervision, me, call_id)
        return []

    def _number(self, number: str) -> str:
        """E.164, or a refusal in the reader's language that names what was typed."""
        if not number.strip():
            raise Denied("err.empty_number")
        try:
            return normalize(number, self._settings.default_region)
        except InvalidNumber:
            shown = number.strip()
            raise Denied("err.invalid_number", number=shown[:32] + ("…" if len(shown) > 32 else "")) from None

    def _own_live_call(self, agent_id: str, call_id: str) -> None:
        view = self._hub.agent(agent_id)
        live = view.call if view is not None else None
        if live is None or live.call_id != call_id:
            # One answer whether the id is another agent's live call or no call at all:
            # an agent must not learn which call ids exist.
            raise Denied("err.no_call_of_yours")

    async def _set_workstation(self, user: User, lang: str, mode: WorkstationMode,
                               mobile: str) -> list[Fragment]:
        number: str | None = None
        if mode == WorkstationMode.MOBILE:
            if not mobile.strip():
                raise Denied("err.mobile_required")
            number = self._number(mobile)
        # The core checks the number (dialing policy for agents' mobiles) before the profile
        # keeps it: a refused number is not saved.
        await self._ask(lang, self._core.set_workstation, user.user_id, mode, number)
        if number is not None and number != user.mobile_number:  # the last number used
            self._users.update_mobile(user.user_id, number)
            await asyncio.to_thread(self._users.save)
        if number is not None:
            saved = self._render.notice(lang, "notice.workstation_saved_mobile", "info",
                                        number=self._render.phone(number, lang))
        else:
            saved = self._render.notice(lang, "notice.workstation_saved", "info",
                                        mode=self._render.catalog.t(lang, f"ws.{mode}"))
        return [("notice", saved)]

    async def _qualify(self, agent_id: str, lang: str, call_id: str, disposition: str, comment: str,
                       callback_at: str) -> list[Fragment]:
        view = self._hub.agent(agent_id)
        pending = view.awaiting_disposition if view is not None else None
        last = self._hub.last_call(agent_id)
        call = pending if pending is not None and pending.call_id == call_id else None
        if call is None and last is not None and last.call_id == call_id and last.step in FINAL_STEPS:
            call = last
        if call is None:
            raise Denied("err.not_your_call")
        offered = self._settings.dispositions_for(str(call.outcome) if call.outcome else None)
        if disposition not in offered:
            raise Denied("err.unknown_disposition")
        when: str | None = None
        if callback_at.strip():
            try:
                when = dt.datetime.fromisoformat(callback_at.strip()).isoformat(timespec="minutes")
            except ValueError:
                raise Denied("err.invalid_date") from None
        is_callback = disposition == self._settings.callback_disposition  # with a date: booked
        await self._ask(lang, self._core.qualify, agent_id, call_id, disposition, comment.strip(), when)
        zone = self._settings.zone()
        due = due_epoch(when, zone) if when is not None else None
        self.qualified[call_id] = Qualified(disposition, due)
        if is_callback and due is not None:
            now = time.time()
            await asyncio.to_thread(self.callbacks.book, Callback(
                callback_id=callback_id(call_id), agent_id=agent_id,
                customer_number=call.customer_number, due_at=due, call_id=call_id,
                contact_id=call.contact_id, comment=comment.strip(), created_at=now,
            ))
        self._hub.touch_agent(agent_id)  # the agenda and the history show it
        label = self._render.code_label(lang, "disposition", disposition)
        if due is not None:
            text = self._render.notice(lang, "notice.qualified_callback", "info", disposition=label,
                                       when=self._render.when(due, lang))
        else:
            text = self._render.notice(lang, "notice.qualified", "info", disposition=label)
        return [("notice", text)]
