"""The browser softphone for real, in Debian Chromium with fake media devices, against the
demo (core + gateway + simulator speaking SIP over WebSocket with aiortc media):

agent4 signs in, chooses Softphone, sees "registered"; a call's agent leg rings in the page,
which answers it; audio flows both ways (the simulator counts RTP packets and the level of
the fake microphone, the page's getStats() counts packets from the simulator's tone); mute
silences the microphone; no RTP from the PBX shows "no audio"; closing the page mid-call
ends the call as `agent_softphone_lost`.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from actors.sinks import MemoryRecordSink
from core.domain import CallOutcome, WorkstationMode
from core.records import CallRecord
from evscallpro.demo import Demo
from evscallpro.demo_seed import demo_password

pytestmark = [pytest.mark.timeout(180), pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
# tests/conftest.py's flags (nothing reaching out on its own) plus the fake media devices.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 20000
WAIT_S = 20.0
AGENT = "agent4"  # demo/evscallpro-demo.toml: the browser softphone webrtc-4001
ENDPOINT = "webrtc-4001"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
T = TypeVar("T")


@pytest.fixture(scope="module")
def records() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, records: MemoryRecordSink) -> Iterator[Demo]:
    running = Demo(data_dir=str(tmp_path_factory.mktemp("softphone")), port=0, ari_port=0,
                   time_scale=2.0, flush_interval_s=0.05, extra_sinks=[records]).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with a fake microphone (a periodic beep) granted without a prompt."""
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium: run scripts/install-system-deps.sh")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MEDIA_ARGS)
        yield chromium
        chromium.close()


def wait_until(probe: Callable[[], T | None], what: str, timeout: float = WAIT_S) -> T:
    """Poll `probe` until it returns something truthy; bounded, fails naming `what`."""
    pause = threading.Event()
    for _ in range(int(timeout / 0.1)):
        value = probe()
        if value:
            return value
        pause.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def sim_webrtc(demo: Demo) -> dict[str, Any]:
    assert demo.simulator is not None
    with urllib.request.urlopen(demo.simulator.base_url + "/_sim/webrtc", timeout=5) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def sim_post(demo: Demo, path: str) -> None:
    assert demo.simulator is not None
    request = urllib.request.Request(demo.simulator.base_url + path, method="POST")
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert resp.status == 204


def live_media(demo: Demo) -> dict[str, Any] | None:
    calls = [c for c in sim_webrtc(demo)["calls"] if c["endpoint"] == ENDPOINT]
    return calls[0]["media"] if calls else None


def page_stats(page: Page) -> dict[str, Any]:
    stats: dict[str, Any] | None = page.evaluate("() => window.evsSoftphone.stats()")
    return stats or {}


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"softphone-{name}.png"), full_page=True,
                    caret="initial")


def test_softphone_registers_answers_carries_audio_mutes_and_a_closed_page_ends_the_call(
        browser: Browser, demo: Demo, records: MemoryRecordSink) -> None:
    context = browser.new_context(base_url=demo.url, locale="fr-FR",
                                  viewport={"width": 1366, "height": 900},
                                  permissions=["microphone"])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text)
            if "Content Security Policy" in m.text else None)

    page.goto("/login")
    page.fill("#login-user", AGENT)
    page.fill("#login-password", demo_password(AGENT))
    page.click("#login-submit")
    page.wait_for_url("**/agent")
    expect(page.locator("#conn")).to_have_attribute("data-state", "open")
    if page.locator("#log-in").count():  # the demo may have signed the agent in already
        page.click("#log-in")
    page.check("#workstation-form input[value=softphone]")
    page.click("#workstation-save")
    softphone = page.locator("#softphone")
    expect(softphone).to_be_visible()
    expect(softphone).to_have_attribute("data-state", "registered")
    expect(page.locator("#softphone-state")).to_have_text("Enregistré — prêt à recevoir les appels")
    assert sim_webrtc(demo)["endpoints"][ENDPOINT]["state"] == "online"
    shot(page, "1-registered")

    # A call: the core places the agent leg on the softphone; the page rings and answers.
    if page.locator("#agent-state").get_attribute("data-state") != "available":
        page.click("#set-available")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    page.fill("#contact-search input[name=q]", "Martine")  # answers and talks (sim-phones)
    expect(page.locator("#contact-list .contact-row")).to_have_count(1)
    page.click("#contact-list .contact-row")
    expect(page.locator("#contact-card")).to_contain_text("Martine Dubois")
    page.click("#call-contact")
    expect(softphone).to_have_attribute("data-state", "in_call")
    expect(page.locator("#softphone-mute")).to_be_enabled()

    # Audio both ways: the simulator hears the fake microphone, the page gets the tone.
    heard = wait_until(lambda: (m := live_media(demo)) and m["rtp_packets_received"] >= 50
                       and m["audio_energy"] > 0 and m, "RTP from the browser")
    assert heard["connection_state"] == "connected"
    assert heard["level_max"] > 0.01
    got = wait_until(lambda: (s := page_stats(page)) and s["packetsReceived"] >= 50 and s,
                     "RTP in the page")
    assert got["packetsSent"] > 0
    shot(page, "2-in-call")

    # Mute: packets may go on (silence), the energy the simulator measures stops growing.
    page.click("#softphone-mute")
    expect(page.locator("#softphone-mute")).to_have_attribute("aria-pressed", "true")
    wait_until(lambda: page.evaluate("() => window.evsSoftphone.muted()"), "muted")
    # Frames encoded before the click may still arrive (later on a loaded machine): settled
    # once 25 more frames brought no energy; a mute that does not work never settles.
    readings: list[dict[str, Any]] = []

    def settled() -> dict[str, Any] | None:
        m = live_media(demo)
        if not m:
            return None
        if not readings:
            readings.append(m)
        elif m["frames_received"] >= readings[-1]["frames_received"] + 25:
            if m["audio_energy"] == pytest.approx(readings[-1]["audio_energy"], abs=1e-6):
                return m
            readings.append(m)
        return None

    settle = wait_until(settled, "the energy to stop growing once muted")
    after = wait_until(lambda: (m := live_media(demo)) and m["frames_received"]
                       >= settle["frames_received"] + 75 and m, "frames while muted")
    assert after["audio_energy"] == pytest.approx(settle["audio_energy"], abs=1e-6)
    assert after["rtp_packets_received"] > settle["rtp_packets_received"]
    page.click("#softphone-mute")
    expect(page.locator("#softphone-mute")).to_have_attribute("aria-pressed", "false")
    wait_until(lambda: (m := live_media(demo)) and m["audio_energy"]
               > after["audio_energy"] and m, "audio after unmute")

    # Nothing comes from the PBX for a while: the desk says "no audio", then recovers.
    channel = sim_webrtc(demo)["calls"][0]["channel_id"]
    sim_post(demo, f"/_sim/webrtc/{channel}/audio?send=off")
    expect(softphone).to_have_attribute("data-state", "no_audio")
    expect(page.locator("#softphone-state")).to_have_text("Pas d'audio reçu")
    sim_post(demo, f"/_sim/webrtc/{channel}/audio?send=on")
    expect(softphone).to_have_attribute("data-state", "in_call")

    # The page closes mid-call: no SIP; the endpoint goes offline; the core ends the call.
    page.close()
    record = records.wait_for(
        lambda r: isinstance(r, CallRecord) and r.agent_id == AGENT, WAIT_S)
    assert isinstance(record, CallRecord)
    assert record.workstation == WorkstationMode.SOFTPHONE
    assert (record.outcome, record.reason) == (CallOutcome.AGENT_SOFTPHONE_LOST,
                                               "softphone_offline")
    ended = wait_until(lambda: [c for c in sim_webrtc(demo)["ended_calls"]
                                if c["endpoint"] == ENDPOINT], "the SIP call ended")
    assert ended[-1]["transport_open"] is False  # no BYE could be sent: the page was gone
    assert problems == []
    context.close()


def test_another_agent_gets_no_softphone_credentials(browser: Browser, demo: Demo) -> None:
    context = browser.new_context(base_url=demo.url, locale="fr-FR")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/login")
    page.fill("#login-user", "agent1")
    page.fill("#login-password", demo_password("agent1"))
    page.click("#login-submit")
    page.wait_for_url("**/agent")
    response = page.request.get("/softphone")
    assert response.status == 404
    assert "demo-webrtc-4001" not in response.text()
    assert page.locator("#softphone").count() == 0
    context.close()
