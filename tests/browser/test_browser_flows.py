"""The agent desktop and the supervisor console in headless Chromium, on the fake core."""

from __future__ import annotations

import re

import pytest
from browser_helpers import (
    PASSWORDS,
    assert_no_htmx_errors,
    log_in,
    open_session,
    shot,
    wait_connected,
)
from gateway_fakes import FakeCallCenter
from playwright.sync_api import Browser, Page, expect

from core.domain import AgentState, CallOutcome, CallStep
from gateway.server import GatewayThread

pytestmark = pytest.mark.browser


def choose_mobile(page: Page, number: str = "06 12 34 56 78") -> None:
    page.check("input[name=mode][value=mobile]")
    page.fill("#mobile-number", number)
    page.click("#workstation-save")
    expect(page.locator("input[name=mode][value=mobile]")).to_be_checked()
    expect(page.locator("#mobile-number")).to_have_value("06 12 34 56 78")


def open_contact(page: Page, name: str) -> None:
    page.fill("#contact-search input[name=q]", name.split()[0])
    expect(page.locator(".contact-row")).to_have_count(1)  # the search answered
    page.locator(".contact-row", has_text=name).click()
    expect(page.locator("#contact-card h2")).to_have_text(name)


def test_wrong_password_is_refused(chromium: Browser, server: GatewayThread) -> None:
    context, page = open_session(chromium, server.url)
    log_in(page, "alice", "not-the-password")
    expect(page.locator("#login-error")).to_be_visible()
    expect(page.locator("#login-error")).to_contain_text("incorrect")
    assert page.url.endswith("/login")
    shot(page, "01-login-error")
    assert_no_htmx_errors(page)
    context.close()


def test_agent_calls_a_contact_and_qualifies(chromium: Browser, server: GatewayThread,
                                             fake: FakeCallCenter) -> None:
    context, page = open_session(chromium, server.url)
    page.goto("/login")
    shot(page, "00-login")
    log_in(page, "alice")
    expect(page).to_have_url(re.compile(r"/agent$"))
    wait_connected(page)
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    choose_mobile(page)
    open_contact(page, "Claire Petit")
    expect(page.locator(".script")).to_contain_text("Bonjour Claire Petit, je suis Alice Martin")
    shot(page, "02-agent-contact-card")

    page.click("#call-contact")
    expect(page.locator("#call-contact")).to_have_css("pointer-events", "none")  # no second call
    step = page.locator("#call-step")
    expect(step).to_have_text("Préparation de l'appel…")
    for call_step, words in [
        (CallStep.AGENT_DIALING, "Votre mobile sonne"),
        (CallStep.AGENT_CONFIRMING, "Appuyez sur 1 pour accepter"),
        (CallStep.ANNOUNCING, "Appel du client en cours"),
        (CallStep.CUSTOMER_DIALING, "Le téléphone du client sonne"),
    ]:
        fake.advance("alice", call_step)
        expect(step).to_have_text(words)
        expect(page.locator("#hang-up")).to_be_enabled()
        if call_step == CallStep.AGENT_DIALING:
            shot(page, "03-agent-mobile-ringing")
    fake.advance("alice", CallStep.CONNECTED)
    expect(step).to_contain_text("En communication")
    expect(page.locator("#call-panel .customer")).to_contain_text("Claire Petit")
    expect(page.locator("#call-timer")).to_have_text(re.compile(r"00:0[1-9]"), timeout=4000)
    expect(page.locator("#workstation-save")).to_be_disabled()  # no change during a call
    expect(page.locator("#workstation-save")).to_have_css("opacity", "0.45")  # and it shows
    shot(page, "04-agent-connected")

    page.click("#hang-up")
    expect(step).to_have_text("Vous avez raccroché")
    expect(page.locator("#wrapup-form")).to_be_visible()
    expect(page.locator("#wrapup-form")).to_contain_text("Claire Petit")
    expect(page.locator("#workstation-save")).to_be_enabled()
    expect(page.locator("#set-available")).to_be_disabled()
    shot(page, "05-agent-wrapup")
    page.check("input[name=disposition][value=callback]")
    page.fill("#wrapup-comment", "Rappeler pour le devis")
    page.fill("#wrapup-callback", "2026-12-01T10:30")
    page.click("#wrapup-submit")
    expect(page.locator("#wrapup-form")).to_have_count(0)
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    expect(page.locator("#history tbody tr")).to_have_count(1)
    # the day's history shows the disposition and the callback date, not the hang-up
    expect(page.locator("#history")).to_contain_text("À rappeler · rappel le 01/12/2026 10:30")
    shot(page, "06-agent-after-qualification")
    call_id = fake.qualifications[0][1]
    assert fake.qualifications == [("alice", call_id, "callback", "Rappeler pour le devis", "2026-12-01T10:30")]
    assert_no_htmx_errors(page)
    context.close()


def test_a_failed_call_shows_why(chromium: Browser, server: GatewayThread, fake: FakeCallCenter) -> None:
    context, page = open_session(chromium, server.url)
    log_in(page, "alice")
    wait_connected(page)
    choose_mobile(page)
    open_contact(page, "Hugo Bernard")
    page.click("#call-contact")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    fake.advance("alice", CallStep.CUSTOMER_DIALING)
    fake.fail("alice", CallOutcome.CUSTOMER_NO_ANSWER, "no_answer")
    expect(page.locator("#call-step")).to_have_text("Pas de réponse")
    expect(page.locator("#call-step")).to_have_attribute("data-outcome", "customer_no_answer")
    shot(page, "07-agent-call-failed")
    assert_no_htmx_errors(page)
    context.close()


def test_supervisor_sees_the_call_and_listens(chromium: Browser, server: GatewayThread,
                                              fake: FakeCallCenter) -> None:
    agent_ctx, agent = open_session(chromium, server.url)
    sup_ctx, sup = open_session(chromium, server.url)
    log_in(agent, "alice")
    wait_connected(agent)
    choose_mobile(agent)
    log_in(sup, "sam")
    expect(sup).to_have_url(re.compile(r"/supervisor$"))
    wait_connected(sup)
    open_contact(agent, "Inès Moreau")
    agent.click("#call-contact")
    expect(agent.locator("#call-step")).to_have_attribute("data-step", "requested")
    fake.advance("alice", CallStep.CONNECTED)
    row = sup.locator("#row-alice")
    expect(row.locator(".call-step")).to_have_attribute("data-step", "connected")
    expect(row.locator(".wb-who")).to_contain_text("Inès Moreau")  # the contact, by name
    expect(sup.locator("#total-calls")).to_have_text("1")
    expect(sup.locator("#total-on_call")).to_have_text("1")
    shot(sup, "08-supervisor-wallboard")
    row.locator("[data-supervise='alice:listen']").click()
    expect(row.locator(".monitoring")).to_have_text("Vous écoutez")
    expect(agent.locator("#monitored")).to_contain_text("Un superviseur écoute cet appel")
    shot(sup, "09-supervisor-listening")
    shot(agent, "10-agent-monitored")
    call_id = fake.call_of("alice").call_id
    assert ("supervise", ("sam", call_id, "listen")) in fake.requests
    assert_no_htmx_errors(agent, sup)
    agent_ctx.close()
    sup_ctx.close()


def test_connection_loss_keeps_the_call(chromium: Browser, server: GatewayThread,
                                        fake: FakeCallCenter) -> None:
    context, page = open_session(chromium, server.url)
    log_in(page, "alice")
    wait_connected(page)
    choose_mobile(page)
    open_contact(page, "Claire Petit")
    page.click("#call-contact")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "requested")
    fake.advance("alice", CallStep.CONNECTED)
    expect(page.locator("#call-step")).to_contain_text("En communication")

    context.set_offline(True)
    expect(page.locator("#conn")).to_have_attribute("data-state", "lost")
    expect(page.locator("#conn")).to_contain_text("votre appel continue")
    shot(page, "11-agent-offline")
    assert fake.call_of("alice").step == CallStep.CONNECTED  # the call is untouched
    fake.supervise("sam", fake.call_of("alice").call_id, "whisper")  # type: ignore[arg-type]
    fake.wait_idle()

    context.set_offline(False)
    wait_connected(page)
    expect(page.locator("#call-step")).to_contain_text("En communication")
    expect(page.locator("#monitored")).to_contain_text("chuchotement")  # state missed while away
    expect(page.locator("#hang-up")).to_be_enabled()
    shot(page, "12-agent-back-online")
    assert fake.agent("alice").state == AgentState.ON_CALL
    assert not [r for r in fake.requests if r[0] == "hang_up"]
    assert_no_htmx_errors(page)
    context.close()


def test_unauthorized_actions_are_refused(chromium: Browser, server: GatewayThread,
                                          fake: FakeCallCenter) -> None:
    fake.log_in("bob")
    fake.set_workstation("bob", "mobile", "+33698765432")  # type: ignore[arg-type]
    assert fake.place_call("bob", "+33145678901") is None
    bobs_call = fake.call_of("bob").call_id
    context, page = open_session(chromium, server.url)
    log_in(page, "alice")
    wait_connected(page)
    # A tampered page: alice forges a "listen" and a hang-up of bob's call.
    for action, extra in (("supervise", {"mode": "listen"}), ("hang_up", {})):
        page.evaluate(
            """([action, callId, extra]) => {
                const form = document.createElement("form");
                form.setAttribute("ws-send", "");
                const fields = Object.assign({action: action, call_id: callId}, extra);
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.getElementById("desk").appendChild(form);
                htmx.process(form);
                form.requestSubmit();
            }""",
            [action, bobs_call, extra],
        )
        expect(page.locator("#notice .notice-error")).to_be_visible()
        page.evaluate("document.getElementById('notice').innerHTML = ''")
    assert not [r for r in fake.requests if r[0] in ("supervise", "hang_up")]
    assert fake.call_of("bob").step == CallStep.REQUESTED
    response = page.goto("/supervisor")
    assert response is not None and response.status == 403
    assert_no_htmx_errors(page)
    context.close()


def test_language_switch_and_logout(chromium: Browser, server: GatewayThread) -> None:
    context, page = open_session(chromium, server.url)
    log_in(page, "alice")
    wait_connected(page)
    page.click("a.lang")
    expect(page.locator("#agent-status h2")).to_have_text("My status")
    wait_connected(page)
    expect(page.locator("#call-step")).to_have_text("No call in progress. Choose a contact or dial a number.")
    shot(page, "13-agent-english")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto("/agent")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert PASSWORDS["alice"] not in page.content()
    assert_no_htmx_errors(page)
    context.close()


def test_supervisor_recordings(chromium: Browser, server: GatewayThread, fake: FakeCallCenter) -> None:
    import wave

    folder = server.gateway.settings.resolved_recordings_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fake.log_in("alice")
    fake.set_workstation("alice", "mobile", "+33612345678")  # type: ignore[arg-type]
    assert fake.place_call("alice", "+33145678901") is None
    fake.advance("alice", CallStep.CONNECTED)
    name = f"{fake.call_of('alice').call_id}-rec"
    with wave.open(str(folder / f"{name}.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000)
    fake.set_recording("alice", name)
    fake.customer_hangs_up("alice")
    fake.wait_idle()

    context, page = open_session(chromium, server.url)
    log_in(page, "sam")
    wait_connected(page)
    page.click("a[href='/recordings']")
    row = page.locator("#recordings-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td[data-agent=alice]")).to_have_text("Alice Martin")
    expect(row).to_contain_text("01 45 67 89 01")
    duration = page.locator("audio").evaluate(
        "a => new Promise(r => { a.onloadedmetadata = () => r(a.duration); a.load(); })")
    assert abs(duration - 1.0) < 0.05  # the browser decoded the served WAV
    page.select_option("select[name=agent]", "bob")
    page.click(".filters button")
    expect(page.locator("#recordings-table")).to_have_count(0)
    page.select_option("select[name=agent]", "alice")
    page.click(".filters button")
    expect(row).to_have_count(1)
    shot(page, "14-supervisor-recordings")
    assert_no_htmx_errors(page)
    context.close()

    agent_ctx, agent = open_session(chromium, server.url)
    log_in(agent, "alice")
    wait_connected(agent)
    response = agent.goto(f"/recordings/{name}.wav")
    assert response is not None and response.status == 403
    assert_no_htmx_errors(agent)
    agent_ctx.close()


def test_server_restart_sends_the_page_back_to_sign_in(
    chromium: Browser, server: GatewayThread, fake: FakeCallCenter
) -> None:
    import msgspec

    from gateway.server import GatewayThread as Thread

    context, page = open_session(chromium, server.url)
    log_in(page, "alice")
    wait_connected(page)
    gw = server.gateway
    port = server.port
    server.stop()  # sessions live in the server's memory: a restart forgets them
    expect(page.locator("#conn")).to_have_attribute("data-state", "lost")
    settings = msgspec.structs.replace(gw.settings, port=port)
    restarted = Thread(fake, settings, gw.users, gw.contacts).start()
    try:
        expect(page).to_have_url(re.compile(r"/login$"), timeout=10000)
        log_in(page, "alice")
        expect(page).to_have_url(re.compile(r"/agent$"))
        wait_connected(page)
    finally:
        restarted.stop()
    assert_no_htmx_errors(page)
    context.close()
