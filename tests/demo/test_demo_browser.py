"""The demo as a visitor uses it, in headless Chromium: agent1 signs in, finds a contact,
reads the campaign script, calls (their simulated mobile answers and presses 1), talks,
hangs up and qualifies; the supervisor's wallboard shows the call meanwhile.
Screenshots go to test-artifacts/screenshots/demo-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from evscallpro.demo import Demo
from evscallpro.demo_seed import demo_password

pytestmark = [pytest.mark.timeout(120), pytest.mark.browser]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 15000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = Demo(
        data_dir=str(tmp_path_factory.mktemp("demo-browser")),
        port=0,
        ari_port=0,
        time_scale=10.0,
        flush_interval_s=0.05,
    ).start()
    try:
        yield running
    finally:
        running.stop()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret leaves style="" on inputs, which the CSP refuses.
    page.screenshot(path=str(SCREENSHOTS / f"demo-{name}.png"), full_page=True, caret="initial")


def _signed_in(chromium: Browser, demo: Demo, user: str) -> tuple[BrowserContext, Page, list[str]]:
    context = chromium.new_context(
        base_url=demo.url, viewport={"width": 1366, "height": 900}, locale="fr-FR"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto("/login")
    page.fill("#login-user", user)
    page.fill("#login-password", demo_password(user))
    page.click("#login-submit")
    page.wait_for_url("**/" + ("supervisor" if user == "supervisor" else "agent"))
    return context, page, errors


def test_agent_calls_a_contact_from_the_demo_desktop(chromium: Browser, demo: Demo) -> None:
    agent_ctx, agent, agent_errors = _signed_in(chromium, demo, "agent1")
    sup_ctx, supervisor, sup_errors = _signed_in(chromium, demo, "supervisor")
    try:
        expect(agent.locator("#contact-list .contact-row")).to_have_count(50)
        agent.fill("#contact-search input[name=q]", "Martine")
        expect(agent.locator("#contact-list .contact-row")).to_have_count(1)
        agent.click("#contact-list .contact-row")
        card = agent.locator("#contact-card")
        expect(card).to_contain_text("Renouvellement contrat énergie")
        expect(card.locator(".script")).to_contain_text("parler à Martine Dubois")
        expect(card.locator(".script")).to_contain_text("Je suis Camille Lefèvre")
        _shot(agent, "1-contact-card")

        agent.click("#call-contact")
        expect(agent.locator("#call-step[data-step=connected]")).to_be_visible()
        expect(agent.locator("#call-panel")).to_contain_text("Martine Dubois")
        expect(supervisor.locator("#wallboard")).to_contain_text("Camille Lefèvre")
        expect(supervisor.locator("#wallboard")).to_contain_text("01 99 00 53 05")
        _shot(agent, "2-connected")
        _shot(supervisor, "3-wallboard")

        agent.click("#hang-up")
        expect(agent.locator("#wrapup-form")).to_be_visible()
        agent.check("input[name=disposition][value=callback]")
        agent.fill("#wrapup-comment", "Rappeler après le 15, souhaite l'offre verte")
        _shot(agent, "4-wrap-up")
        agent.click("#wrapup-submit")
        expect(agent.locator("#wrapup-form")).to_have_count(0)
        expect(agent.locator("#history")).to_contain_text("01 99 00 53 05")

        # the recording, with its qualification, on the supervisor's recordings page
        supervisor.goto("/recordings")
        row = supervisor.locator("#recordings-table tbody tr", has_text="01 99 00 53 05")
        expect(row).to_have_count(1)
        expect(row.locator("td[data-agent=agent1]")).to_have_text("Camille Lefèvre")
        audio = row.locator("audio")
        wav = supervisor.request.get(str(audio.get_attribute("src")))
        assert wav.status == 200 and wav.body()[:4] == b"RIFF"
        _shot(supervisor, "5-recordings")
        assert not agent_errors and not sup_errors, agent_errors + sup_errors
    finally:
        agent_ctx.close()
        sup_ctx.close()
