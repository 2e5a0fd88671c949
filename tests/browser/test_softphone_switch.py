"""The mid-call switch from the real browser softphone, in Debian Chromium with fake media
devices, against the demo (core + gateway + simulator: SIP over WebSocket, aiortc media):

agent4 answers a call in the page (audio both ways), clicks "Passer l'appel sur mon mobile":
her mobile (the simulator's: answers, presses 1) takes the call, the page's SIP call ends
with a BYE and the desk says the call is on the mobile; then "Passer l'appel sur mon
softphone" brings it back into the page, where audio flows both ways again. One record,
with the three agent legs. The customer stays in the bridge throughout.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect
from test_softphone import (
    AGENT,
    CHROMIUM,
    CHROMIUM_ARGS,
    ENDPOINT,
    MEDIA_ARGS,
    TIMEOUT_MS,
    WAIT_S,
    live_media,
    page_stats,
    shot,
    sim_webrtc,
    wait_until,
)

from actors.sinks import MemoryRecordSink
from core.domain import CallOutcome, WorkstationMode
from core.records import CallRecord
from evscallpro.demo import Demo
from evscallpro.demo_seed import demo_password

pytestmark = [pytest.mark.timeout(240), pytest.mark.browser]


@pytest.fixture(scope="module")
def records() -> MemoryRecordSink:
    return MemoryRecordSink()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, records: MemoryRecordSink) -> Iterator[Demo]:
    # Real phone timings (time scale 1): the customer talks 25 s at least.
    running = Demo(data_dir=str(tmp_path_factory.mktemp("switch")), port=0, ari_port=0,
                   time_scale=1.0, flush_interval_s=0.05, extra_sinks=[records]).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium: run scripts/install-system-deps.sh")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + MEDIA_ARGS)
        yield chromium
        chromium.close()


def test_a_softphone_call_moves_to_the_mobile_and_back_with_audio(
        browser: Browser, demo: Demo, records: MemoryRecordSink) -> None:
    context = browser.new_context(base_url=demo.url, locale="fr-FR",
                                  viewport={"width": 1366, "height": 900},
                                  permissions=["microphone"])
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto("/login")
    page.fill("#login-user", AGENT)
    page.fill("#login-password", demo_password(AGENT))
    page.click("#login-submit")
    page.wait_for_url("**/agent")
    if page.locator("#log-in").count():
        page.click("#log-in")
    page.check("#workstation-form input[value=softphone]")
    page.click("#workstation-save")
    softphone = page.locator("#softphone")
    expect(softphone).to_have_attribute("data-state", "registered")
    if page.locator("#agent-state").get_attribute("data-state") != "available":
        page.click("#set-available")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    page.fill("#contact-search input[name=q]", "Martine")
    expect(page.locator("#contact-list .contact-row")).to_have_count(1)
    page.click("#contact-list .contact-row")
    page.click("#call-contact")
    expect(softphone).to_have_attribute("data-state", "in_call")
    expect(page.locator("#call-step")).to_have_attribute("data-step", "connected",
                                                        timeout=30000)
    wait_until(lambda: (m := live_media(demo)) and m["rtp_packets_received"] >= 25 and m,
               "RTP from the browser before the switch")

    # To the mobile: the page's SIP call ends (BYE), the desk says where the call is.
    switch = page.locator("#switch-call")
    expect(switch).to_have_text("Passer l'appel sur mon mobile")
    switch.click()
    expect(page.locator("#switch-progress")).to_be_visible(timeout=10000)
    shot(page, "switch-1-moving")
    result = page.locator("#switch-result")
    expect(result).to_have_attribute("data-result", "switched", timeout=30000)
    expect(result).to_have_text("L'appel est passé sur votre mobile.")
    expect(softphone).to_have_attribute("data-state", "registered", timeout=10000)
    ended = wait_until(lambda: [c for c in sim_webrtc(demo)["ended_calls"]
                                if c["endpoint"] == ENDPOINT], "the page's SIP call ended")
    assert ended[-1]["transport_open"] is True  # ended by the PBX's BYE, page still there
    expect(page.locator("#call-step")).to_have_attribute("data-step", "connected")
    shot(page, "switch-2-on-mobile")

    # Back to the softphone: the page answers again and audio flows both ways.
    expect(switch).to_have_text("Passer l'appel sur mon softphone")
    switch.click()
    expect(softphone).to_have_attribute("data-state", "in_call", timeout=30000)
    expect(result).to_have_attribute("data-result", "switched", timeout=30000)
    expect(result).to_have_text("L'appel est passé sur votre softphone.")
    heard = wait_until(lambda: (m := live_media(demo)) and m["rtp_packets_received"] >= 50
                       and m["audio_energy"] > 0 and m, "RTP from the browser after the switch")
    assert heard["connection_state"] == "connected"
    got = wait_until(lambda: (s := page_stats(page)) and s.get("packetsReceived", 0) >= 50
                     and s, "RTP in the page after the switch")
    assert got["packetsSent"] > 0
    shot(page, "switch-3-back-on-softphone")

    page.click("#hang-up")
    record = records.wait_for(
        lambda r: isinstance(r, CallRecord) and r.agent_id == AGENT, WAIT_S)
    assert isinstance(record, CallRecord)
    assert record.outcome == CallOutcome.COMPLETED, record.reason
    assert [leg.workstation for leg in record.agent_legs] == [
        WorkstationMode.SOFTPHONE, WorkstationMode.MOBILE, WorkstationMode.SOFTPHONE]
    assert [leg.end_reason for leg in record.agent_legs] == [
        "switched_away", "switched_away", "call_ended"]
    assert all(leg.joined_at is not None for leg in record.agent_legs[1:])
    assert problems == []
    context.close()
