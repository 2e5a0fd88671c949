"""The agent's whole working day in headless Chromium (issue 9): manual dial, callbacks,
do-not-call refusal, presence, wrap-up by outcome, one-screen layout, and the numbered bugs
found by trying the product as a new user would."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from browser_helpers import (
    PASSWORDS,
    assert_no_htmx_errors,
    log_in,
    open_session,
    shot,
    wait_connected,
)
from gateway_fakes import FakeCallCenter
from playwright.sync_api import Browser, BrowserContext, Page, expect

from core.domain import AgentState, CallOutcome, CallStep
from core.views import AgentView, CallView
from gateway.callbacks import CallbackStore
from gateway.contacts import ContactStore
from gateway.ports import Refusal
from gateway.server import GatewayThread
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

pytestmark = pytest.mark.browser

PARIS = ZoneInfo("Europe/Paris")
SCRIPT = ("Bonjour {contact}, je suis {agent} d'EVS. Je vous appelle au sujet de notre offre "
          "de printemps : 10 % de remise sur votre prochaine commande.\n1. Présenter l'offre\n"
          "2. Proposer un rendez-vous\n3. Confirmer l'adresse e-mail")

Start = Callable[..., GatewayThread]


@pytest.fixture
def start_gateway(fake: FakeCallCenter, tmp_path: Path) -> Iterator[Start]:
    """A gateway on the fake core with the desk's day settings; keyword arguments override
    GatewaySettings fields. Several may run in turn on the same data folder (a restart)."""
    users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("alice", PASSWORDS["alice"], Role.AGENT, "Alice Martin", "+33612345678")
    users.add("bob", PASSWORDS["bob"], Role.AGENT, "Bob Durand", "+33698765432")
    users.add("sam", PASSWORDS["sam"], Role.SUPERVISOR, "Sam Leroy")
    contacts = ContactStore(tmp_path / "contacts.json")
    contacts.import_csv(
        "name,phone,company,campaign,notes\n"
        "Claire Petit,01 45 67 89 01,Boulangerie Petit,spring,Cliente depuis 2019\n"
        "Hugo Bernard,06 11 22 33 44,Garage Bernard,spring,\n"
        "Inès Moreau,04 78 12 34 56,Pharmacie Moreau,renewal,Préfère être appelée le matin\n",
        "FR",
    )
    running: list[GatewayThread] = []

    def start(**overrides: Any) -> GatewayThread:
        fields: dict[str, Any] = {
            "port": 0, "data_dir": str(tmp_path), "session_secret": "browser-test-secret-0123456789",
            "wallboard_batch_s": 0.03, "campaign_scripts": {"spring": SCRIPT},
            "wrap_up_max_s": 90.0, "time_zone": "Europe/Paris",
        }
        fields.update(overrides)
        thread = GatewayThread(fake, GatewaySettings(**fields), users, contacts).start()
        running.append(thread)
        return thread

    yield start
    for thread in running:
        thread.stop()


def desk(chromium: Browser, server: GatewayThread, user: str = "alice", *, lang: str = "fr",
         width: int = 1366, height: int = 768) -> tuple[BrowserContext, Page]:
    context, page = open_session(chromium, server.url, width, height)
    if lang != "fr":
        page.goto(f"/lang/{lang}")
    log_in(page, user)
    wait_connected(page)
    return context, page


def use_mobile(page: Page) -> None:
    page.check("input[name=mode][value=mobile]")
    page.fill("#mobile-number", "06 12 34 56 78")
    page.click("#workstation-save")
    expect(page.locator("input[name=mode][value=mobile]")).to_be_checked()


def open_contact(page: Page, name: str) -> None:
    page.fill("#contact-search input[name=q]", name.split()[0])
    expect(page.locator(".contact-row")).to_have_count(1)
    page.locator(".contact-row", has_text=name).click()
    expect(page.locator("#contact-card h2")).to_have_text(name)


def notice(page: Page) -> Any:
    return page.locator("#notice .notice")


def wait_for_agent(fake: FakeCallCenter, agent_id: str, test: Callable[[AgentView], bool],
                   timeout: float = 10.0) -> AgentView:
    """Block until the fake core publishes a view of the agent that passes `test`."""
    seen = threading.Event()
    found: list[AgentView] = []

    def listener(view: AgentView | CallView) -> None:
        if isinstance(view, AgentView) and view.agent_id == agent_id and test(view):
            found.append(view)
            seen.set()

    unsubscribe = fake.subscribe(listener)
    try:
        if test(fake.agent(agent_id)):
            return fake.agent(agent_id)
        assert seen.wait(timeout), f"{agent_id} never reached the expected state"
        return found[0]
    finally:
        unsubscribe()


# ---------------------------------------------------------------- manual dial, bug 1
def test_manual_dial_with_clear_errors_in_each_language(chromium: Browser, start_gateway: Start,
                                                        fake: FakeCallCenter) -> None:
    server = start_gateway()
    context, page = desk(chromium, server)
    # Bug 1: a bad mobile number is refused in French only, naming what was typed.
    page.check("input[name=mode][value=mobile]")
    page.fill("#mobile-number", "06 12")
    page.click("#workstation-save")
    expect(notice(page)).to_have_text("« 06 12 » n'est pas un numéro de téléphone valide.")
    use_mobile(page)
    expect(notice(page)).to_have_text("Poste enregistré : mobile 06 12 34 56 78.")  # confirmed
    expect(notice(page)).to_have_attribute("data-level", "info")

    page.fill("#dial-number", "01 99 00 5")
    page.click("#dial-call")
    expect(notice(page)).to_have_text("« 01 99 00 5 » n'est pas un numéro de téléphone valide.")
    assert not [r for r in fake.requests if r[0] == "place_call"]  # nothing asked of the core
    page.fill("#dial-number", "01 99 00 53 05")
    page.click("#dial-call")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    expect(page.locator("#call-panel .number")).to_have_text("01 99 00 53 05")
    assert ("place_call", ("alice", "+33199005305", None)) in fake.requests
    assert_no_htmx_errors(page)
    context.close()

    context, page = desk(chromium, server, "bob", lang="en")
    page.fill("#dial-number", "06 12")
    page.click("#dial-call")
    expect(notice(page)).to_have_text("“06 12” is not a valid phone number.")
    context.close()


# ---------------------------------------------------------------- do-not-call
def test_a_number_on_the_do_not_call_list_is_refused_in_words(
        chromium: Browser, start_gateway: Start, fake: FakeCallCenter) -> None:
    fake.refuse_numbers["+33611223344"] = Refusal("do_not_call", "+33611223344 is on the list")
    server = start_gateway()
    context, page = desk(chromium, server)
    use_mobile(page)
    open_contact(page, "Hugo Bernard")
    page.click("#call-contact")
    expect(notice(page)).to_have_text(
        "Le centre d'appels a refusé : ce numéro est sur la liste d'opposition au démarchage "
        "(type Bloctel) : il n'a pas été appelé")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    assert_no_htmx_errors(page)
    context.close()


# ---------------------------------------------------------------- bug 8
def test_an_offline_refusal_comes_with_the_button_it_names(
        chromium: Browser, start_gateway: Start, fake: FakeCallCenter) -> None:
    server = start_gateway()
    context, page = desk(chromium, server)
    use_mobile(page)
    # The page still shows "available" but the core saw the agent go offline (it restarted).
    fake.refuse_numbers["+33145678901"] = Refusal("agent_offline", "log in first")
    open_contact(page, "Claire Petit")
    page.click("#call-contact")
    expect(notice(page)).to_contain_text("prenez d'abord votre service avec le bouton ci-dessous")
    button = page.locator("#notice-log-in")
    expect(button).to_have_text("Prendre mon service")
    button.click()
    expect(page.locator("#notice .notice")).to_have_count(0)
    assert ("log_in", ("alice",)) in fake.requests
    context.close()


# ---------------------------------------------------------------- wrap-up, callbacks
def test_busy_customer_short_list_callback_agenda_and_history(
        chromium: Browser, start_gateway: Start, fake: FakeCallCenter, tmp_path: Path) -> None:
    server = start_gateway()
    context, page = desk(chromium, server)
    use_mobile(page)
    open_contact(page, "Claire Petit")
    page.click("#call-contact")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    fake.advance("alice", CallStep.CUSTOMER_DIALING)
    fake.fail("alice", CallOutcome.CUSTOMER_BUSY, "busy")
    form = page.locator("#wrapup-form")
    expect(form).to_be_visible()
    choices = form.locator("input[name=disposition]")
    expect(choices).to_have_count(2)  # busy: its own short list
    assert [choices.nth(i).get_attribute("value") for i in range(2)] == ["callback", "wrong_number"]
    countdown = page.locator("#wrapup-countdown .timer")
    expect(countdown).to_have_text(re.compile(r"01:[23]\d"))  # 90 s limit, counting down
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first or "", timeout=3000)
    shot(page, "20-agent-wrapup-busy-short-list")

    page.check("input[name=disposition][value=callback]")
    due = dt.datetime.now(PARIS).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    if due.date() != dt.datetime.now(PARIS).date():  # just after midnight: still today
        due = dt.datetime.now(PARIS).replace(second=0, microsecond=0)
    page.fill("#wrapup-callback", due.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#wrapup-comment", "Rappeler après 14 h")
    page.click("#wrapup-submit")
    expect(form).to_have_count(0)
    shown = due.strftime("%d/%m/%Y %H:%M")
    expect(notice(page)).to_have_text(f"Qualification enregistrée : À rappeler, rappel prévu le {shown}.")

    item = page.locator(".agenda-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Claire Petit")
    expect(item).to_contain_text(due.strftime("%H:%M"))
    expect(item).to_have_class(re.compile("overdue"))
    expect(page.locator("#callback-reminder")).to_have_text("Rappel à faire maintenant : Claire Petit")
    row = page.locator("#history tbody tr").first
    expect(row.locator(".result")).to_have_text(f"À rappeler · rappel le {shown}")
    expect(row).not_to_contain_text("Client occupé")
    shot(page, "21-agent-agenda")

    # Durable: another gateway on the same data folder (a restart) still has it.
    assert CallbackStore.in_data_dir(tmp_path).agenda("alice", time.time(), PARIS)[0].due_at == due.timestamp()
    context.close()
    server.stop()
    server = start_gateway()
    context, page = desk(chromium, server)
    expect(page.locator(".agenda-item")).to_have_count(1)
    page.locator(".agenda-call").click()  # one click to call
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    assert fake.requests[-1][0] == "place_call"
    assert fake.requests[-1][1][1] == "+33145678901"
    expect(page.locator(".agenda-item")).to_have_count(0)  # done
    assert_no_htmx_errors(page)
    context.close()


def test_a_reminder_appears_when_a_callback_falls_due(
        chromium: Browser, start_gateway: Start, fake: FakeCallCenter, tmp_path: Path) -> None:
    from gateway.callbacks import Callback

    soon = time.time() + 8.0
    if dt.datetime.fromtimestamp(soon, PARIS).date() != dt.datetime.now(PARIS).date():
        pytest.skip("midnight in Paris: the callback would be tomorrow's")
    CallbackStore.in_data_dir(tmp_path).book(Callback(
        callback_id="cb1", agent_id="alice", customer_number="+33478123456", due_at=soon,
        call_id="old-call", contact_id=None, created_at=time.time()))
    server = start_gateway()
    context, page = desk(chromium, server)
    reminder = page.locator("#callback-reminder")
    expect(page.locator(".agenda-item")).to_have_class(re.compile("later"))
    expect(reminder).to_be_hidden()
    expect(reminder).to_have_text("Rappel à faire maintenant : 04 78 12 34 56", timeout=15000)
    expect(reminder).to_be_visible()
    expect(page.locator(".agenda-item")).to_have_class(re.compile("overdue"))
    context.close()


# ---------------------------------------------------------------- presence
def test_an_agent_whose_browser_is_gone_is_paused(chromium: Browser, start_gateway: Start,
                                                 fake: FakeCallCenter) -> None:
    server = start_gateway(presence_timeout_s=1.0)
    context, page = desk(chromium, server)
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    context.close()  # the browser closes; nobody signs out
    view = wait_for_agent(fake, "alice", lambda v: v.state == AgentState.PAUSED)
    assert view.pause_reason == "disconnected"
    context, page = desk(chromium, server)
    expect(page.locator("#agent-state")).to_have_text("En pause · Navigateur déconnecté")
    expect(page.locator("#pause-reason")).to_have_value("disconnected")  # bug 9's cousin
    context.close()


def test_presence_can_sign_the_agent_out(chromium: Browser, start_gateway: Start,
                                         fake: FakeCallCenter) -> None:
    server = start_gateway(presence_timeout_s=1.0, presence_action="offline")
    context, _ = desk(chromium, server)
    context.close()
    wait_for_agent(fake, "alice", lambda v: v.state == AgentState.OFFLINE)
    assert ("log_out", ("alice",)) in fake.requests


# ---------------------------------------------------------------- bugs 4, 5, 7, 9
def test_listen_gives_feedback_while_the_agent_phone_rings(
        chromium: Browser, start_gateway: Start, fake: FakeCallCenter) -> None:
    server = start_gateway()
    agent_ctx, agent = desk(chromium, server)
    use_mobile(agent)
    open_contact(agent, "Inès Moreau")
    agent.click("#call-contact")
    sup_ctx, sup = desk(chromium, server, "sam")
    fake.advance("alice", CallStep.AGENT_DIALING)
    row = sup.locator("#row-alice")
    expect(row.locator(".call-step")).to_have_attribute("data-step", "agent_dialing")
    row.locator("[data-supervise='alice:listen']").click()
    expect(notice(sup)).to_contain_text("Écoute demandée : votre téléphone va sonner.")
    assert_no_htmx_errors(agent, sup)
    agent_ctx.close()
    sup_ctx.close()


def test_an_agent_on_a_supervisor_page_gets_the_app_403_page(
        chromium: Browser, start_gateway: Start) -> None:
    server = start_gateway()
    for lang, title in (("fr", "Accès refusé"), ("en", "Access denied")):
        context, page = desk(chromium, server, lang=lang)
        for path in ("/supervisor", "/recordings"):
            response = page.goto(path)
            assert response is not None and response.status == 403
            expect(page.locator("#forbidden h1")).to_have_text(title)
            expect(page.locator(".topbar")).to_be_visible()  # the app's own page
        shot(page, f"23-agent-forbidden-{lang}")
        page.click("#forbidden-back")
        expect(page).to_have_url(re.compile(r"/agent$"))
        context.close()


def test_live_updates_do_not_break_the_style_policy(chromium: Browser, start_gateway: Start,
                                                   fake: FakeCallCenter) -> None:
    """A style set through the CSSOM (a user resizing a text area, an extension, a
    screenshot tool) was copied by htmx with setAttribute on every swap: a CSP violation."""
    server = start_gateway()
    context, page = desk(chromium, server)
    page.evaluate("document.getElementById('pause-reason').style.minWidth = '12rem'")
    use_mobile(page)
    page.click("#pause")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "paused")
    page.click("#set-available")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    assert_no_htmx_errors(page)
    context.close()


def test_the_pause_reason_list_shows_the_current_reason(chromium: Browser, start_gateway: Start,
                                                       fake: FakeCallCenter) -> None:
    server = start_gateway()
    context, page = desk(chromium, server)
    page.select_option("#pause-reason", "lunch")
    page.click("#pause")
    expect(page.locator("#agent-state")).to_have_text("En pause · Déjeuner")
    expect(page.locator("#pause-reason")).to_have_value("lunch")
    page.select_option("#pause-reason", "training")  # change the reason while paused
    page.click("#pause")
    expect(page.locator("#agent-state")).to_have_text("En pause · Formation")
    expect(page.locator("#pause-reason")).to_have_value("training")
    context.close()


# ---------------------------------------------------------------- recordings: bugs 2, 6, 10
def test_recordings_search_labels_and_times_agree(chromium: Browser, start_gateway: Start,
                                                  fake: FakeCallCenter) -> None:
    server = start_gateway()
    folder = server.gateway.settings.resolved_recordings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fake.log_in("alice")
    fake.set_workstation("alice", "mobile", "+33612345678")  # type: ignore[arg-type]
    assert fake.place_call("alice", "+33145678901") is None  # Claire Petit, found by number
    call = fake.call_of("alice")
    started = call.step_since
    fake.advance("alice", CallStep.CONNECTED)
    with wave.open(str(folder / f"{call.call_id}.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 800)
    fake.set_recording("alice", call.call_id)
    fake.customer_hangs_up("alice")
    fake.wait_idle()

    context, page = desk(chromium, server)
    history_time = page.locator("#history tbody tr").first.locator(".time").text_content()
    expected = dt.datetime.fromtimestamp(started, PARIS).strftime("%H:%M")
    assert history_time == expected  # Paris time, not the server's
    context.close()

    context, page = desk(chromium, server, "sam")
    for query in ("01 99", "01 45 67 89 01", "0145678901", "+33 1 45 67 89 01", "claire", "PETIT"):
        page.goto(f"/recordings?q={query.replace('+', '%2B').replace(' ', '+')}")
        row = page.locator("#recordings-table tbody tr")
        expect(row).to_have_count(0 if query == "01 99" else 1)
    row = page.locator("#recordings-table tbody tr")
    expect(row.locator(".contact-name")).to_have_text("Claire Petit")
    expect(row.locator(".rec-outcome")).to_have_text("Le client a raccroché")
    expect(row).not_to_contain_text(call.call_id)  # no raw call id beside the player
    label = row.locator("audio").get_attribute("aria-label") or ""
    day = dt.datetime.fromtimestamp(started, PARIS).strftime("%Y-%m-%d")
    assert label == f"Appel de Alice Martin avec Claire Petit, {day} {expected} — Le client a raccroché"
    expect(row.locator("td").first).to_have_text(f"{day} {expected}")  # the history's time
    expect(page.locator("#time-zone")).to_have_text("Heures : Europe/Paris")
    shot(page, "22-supervisor-recordings-search")
    context.close()


# ---------------------------------------------------------------- one screen at 1366x768
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_desk_fits_one_screen_at_1366x768(chromium: Browser, start_gateway: Start,
                                          fake: FakeCallCenter, lang: str) -> None:
    server = start_gateway()
    context, page = desk(chromium, server, lang=lang)
    use_mobile(page)
    open_contact(page, "Claire Petit")
    shot(page, f"30-agent-desk-{lang}-1366x768-ready")
    visible_together(page, "#call-panel", "#contact-card .script", "#call-contact")
    page.click("#call-contact")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    fake.advance("alice", CallStep.CONNECTED)
    expect(page.locator("#call-step")).to_have_attribute("data-step", "connected")
    visible_together(page, "#call-panel", "#contact-card .script", "#hang-up", "#call-contact")
    page.screenshot(path=str(screenshot_path(f"31-agent-desk-{lang}-1366x768-connected")),
                    caret="initial")  # the viewport only: what the agent sees
    assert_no_htmx_errors(page)
    context.close()


def screenshot_path(name: str) -> Path:
    from browser_helpers import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def visible_together(page: Page, *selectors: str) -> None:
    assert page.evaluate("window.scrollY") == 0
    for selector in selectors:
        box = page.locator(selector).bounding_box()
        assert box is not None, selector
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768, (selector, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= 1366, (selector, box)
