"""The simulator's SIP-over-WebSocket side against traces W01-W05 (real Asterisk 22 + JsSIP):
registration and presence, Asterisk's INVITE and offer, every way a call ends as ARI shows
it, media both ways (aiortc on both sides), and a page that closes mid-call.

The browser is `asterisk.sim.sip_test_phone.TestSoftphone` (JsSIP's messages, aiortc media).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sim_helpers import EventTap, ari, channel_id, open_tap, signature

from asterisk.sim.config import ConfigError, load_config
from asterisk.sim.sip_msg import digest_params, parse
from asterisk.sim.sip_test_phone import PhoneCall, TestSoftphone
from asterisk.sim.testing import SimHandle, running_simulator

pytestmark = pytest.mark.timeout(90)
TRACES = Path(__file__).resolve().parent.parent / "fixtures" / "ari-traces" / "webrtc"
ENDPOINT = "webrtc-1001"
PASSWORD = "webrtc-1001-secret"  # asterisk/sim/default.toml
WATCH = "watch-endpoints"
SCALE = 5.0


# ------------------------------------------------------------------------------ traces
def trace(name: str) -> dict[str, Any]:
    return json.loads((TRACES / f"{name}.json").read_text())


def _normalise(sigs: list[str]) -> list[str]:
    """`Dial RINGING` and `ChannelStateChange Ringing` swap between runs (W02 A vs B)."""
    out = list(sigs)
    for i in range(len(out) - 1):
        pair = {out[i], out[i + 1]}
        if pair == {"Dial:RINGING", "ChannelStateChange:Ringing"}:
            out[i], out[i + 1] = "ChannelStateChange:Ringing", "Dial:RINGING"
    return out


def _sig(event: dict[str, Any]) -> str:
    if event["type"] == "ChannelHangupRequest" and "cause" not in event:
        return "ChannelHangupRequest(no cause)"
    return signature(event)


def traced_channel(name: str, cid: str) -> list[str]:
    sigs = [_sig(s["event"]) for s in trace(name)["steps"]
            if s.get("kind") == "event" and s.get("conn") != "endpoint-watch"
            and channel_id(s["event"]) == cid]
    return _normalise(sigs)


def traced_endpoint_events(name: str) -> list[tuple[str, str, str]]:
    out = []
    for step in trace(name)["steps"]:
        if step.get("conn") == "endpoint-watch" and step.get("kind") == "event":
            event = step["event"]
            if event["type"] == "EndpointStateChange" and out and \
                    out[-1][0] == "EndpointStateChange" and out[-1][1] == event["endpoint"]["state"]:
                continue
            out.append(_endpoint_sig(event))
    return out


def _endpoint_sig(event: dict[str, Any]) -> tuple[str, str, str]:
    detail = (event.get("contact_info", {}).get("contact_status")
              or event.get("peer", {}).get("peer_status") or "")
    return event["type"], event["endpoint"]["state"], detail


def sim_channel(tap: EventTap, cid: str) -> list[str]:
    return _normalise([_sig(e) for e in tap.events if channel_id(e) == cid])


def traced_sip(name: str, start: str) -> list[Any]:
    return [parse(m["text"].replace("\n", "\r\n")) for m in trace(name)["asterisk_sip"]
            if m["line"].startswith(start)]


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with running_simulator(time_scale=SCALE) as handle:
        yield handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def tap(http: aiohttp.ClientSession, sim: SimHandle) -> AsyncIterator[EventTap]:
    events = await open_tap(http, sim)
    yield events
    await events.close()


@pytest.fixture
async def watch(http: aiohttp.ClientSession, sim: SimHandle) -> AsyncIterator[EventTap]:
    """A second app subscribed to the endpoint, as the trace recorder's watcher."""
    events = await open_tap(http, sim, app=WATCH)
    status, _ = await ari(http, sim, "POST", f"/applications/{WATCH}/subscription",
                          params={"eventSource": f"endpoint:PJSIP/{ENDPOINT}"})
    assert status == 200
    yield events
    await events.close()


@pytest.fixture
async def phone(http: aiohttp.ClientSession, sim: SimHandle) -> AsyncIterator[TestSoftphone]:
    softphone = TestSoftphone(http, sim.base_url, ENDPOINT, PASSWORD)
    yield softphone
    await softphone.close()


async def originate(http: aiohttp.ClientSession, sim: SimHandle, cid: str,
                    **params: str) -> tuple[int, Any]:
    return await ari(http, sim, "POST", "/channels", params={
        "endpoint": f"PJSIP/{ENDPOINT}", "app": "evscallpro", "channelId": cid,
        "callerId": '"EVS Trace" <2000>', **params})


async def answered_call(http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
                        phone: TestSoftphone, cid: str) -> PhoneCall:
    status, body = await originate(http, sim, cid)
    assert status == 200, body
    call = await phone.next_call()
    await tap.wait_type("StasisStart", cid)
    return call


async def webrtc_state(http: aiohttp.ClientSession, sim: SimHandle) -> dict[str, Any]:
    async with http.get(sim.base_url + "/_sim/webrtc") as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


# ------------------------------------------------------------------------------ registration
async def test_register_is_challenged_then_accepted_and_qualified(
        http: aiohttp.ClientSession, sim: SimHandle, watch: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    statuses = [m.status for m in phone.received if not m.is_request]
    assert statuses[:2] == [401, 200]
    challenge = digest_params(phone.received[0].header("WWW-Authenticate") or "")
    traced = digest_params(traced_sip("W01-register-call-media-ari-hangup",
                                      "SIP/2.0 401")[0].header("WWW-Authenticate") or "")
    assert set(challenge) == set(traced)
    assert (challenge["realm"], challenge["algorithm"], challenge["qop"]) == \
        (traced["realm"], traced["algorithm"], traced["qop"])
    ok = next(m for m in phone.received if m.status == 200)
    assert ok.header("Expires") == "300"
    assert ";received=127.0.0.1" in (ok.header("Via") or "")
    await watch.wait_for(lambda e: e.get("contact_info", {}).get("contact_status") == "Reachable")
    assert phone.requests_received("OPTIONS"), "qualify OPTIONS comes right at registration"
    expected = traced_endpoint_events("W05-page-closed-mid-call")[:4]
    assert [_endpoint_sig(e) for e in watch.events[:4]] == expected
    status, body = await ari(http, sim, "GET", f"/endpoints/PJSIP/{ENDPOINT}")
    assert (status, body["state"]) == (200, "online")


async def test_wrong_password_is_challenged_again_and_stays_offline(
        http: aiohttp.ClientSession, sim: SimHandle, phone: TestSoftphone) -> None:
    assert await phone.register(password="not-the-secret") == 401
    status, body = await ari(http, sim, "GET", f"/endpoints/PJSIP/{ENDPOINT}")
    assert (status, body["state"]) == (200, "offline")
    assert (await webrtc_state(http, sim))["endpoints"][ENDPOINT]["state"] == "offline"


async def test_register_for_an_endpoint_that_is_not_webrtc_is_404(
        http: aiohttp.ClientSession, sim: SimHandle) -> None:
    other = TestSoftphone(http, sim.base_url, "agent-1001", "x")
    try:
        assert await other.register() == 404
    finally:
        await other.close()


async def test_unregister_sends_offline_events(
        http: aiohttp.ClientSession, sim: SimHandle, watch: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    await watch.wait_for(lambda e: e.get("contact_info", {}).get("contact_status") == "Reachable")
    seen = len(watch.events)
    assert await phone.unregister() == 200
    await watch.wait_for(lambda e: e.get("contact_info", {}).get("contact_status") == "Removed")
    assert [_endpoint_sig(e) for e in watch.events[seen:]] == [
        ("EndpointStateChange", "offline", ""), ("PeerStatusChange", "offline", "Unreachable"),
        ("ContactStatusChange", "offline", "Removed")]


async def test_subscriptions_are_counted(http: aiohttp.ClientSession, sim: SimHandle,
                                         watch: EventTap) -> None:
    path = f"/applications/{WATCH}/subscription"
    source = {"eventSource": f"endpoint:PJSIP/{ENDPOINT}"}
    assert (await ari(http, sim, "POST", path, params=source))[0] == 200
    for _ in range(2):
        status, body = await ari(http, sim, "DELETE", path, params=source)
        assert status == 200
    assert body["endpoint_ids"] == []
    status, body = await ari(http, sim, "DELETE", path, params=source)
    assert (status, body) == (422, {"message": "Event source was not subscribed to"})


# ------------------------------------------------------------------------------ not registered
async def test_originate_to_unregistered_softphone_is_500_at_once(
        http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap) -> None:
    traced = [s for s in trace("W03-not-registered")["steps"]
              if s.get("kind") == "response" and s.get("status") == 500]
    assert traced, "W03 records the 500"
    status, body = await originate(http, sim, "w03-phone")
    assert (status, body) == (500, traced[0]["body"])
    status, _ = await ari(http, sim, "GET", "/channels/w03-phone")
    assert status == 404
    assert tap.events == []


# ------------------------------------------------------------------------------ calls
async def test_invite_carries_asterisks_webrtc_offer(
        http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    call = await answered_call(http, sim, tap, phone, "w01-phone")
    invite, traced = call.invite, traced_sip("W01-register-call-media-ari-hangup", "INVITE")[0]
    for header in ("Supported", "Session-Expires", "Min-SE", "Content-Type"):
        assert invite.header(header) == traced.header(header), header
    assert invite.uri.endswith(";transport=ws") and "127.0.0.1:" in invite.uri
    assert (invite.header("From") or "").startswith('"EVS Trace" <sip:2000@')
    sdp = invite.body
    for line in ("a=setup:actpass", "a=fingerprint:sha-256", "a=ice-ufrag:", "a=ice-pwd:",
                 "a=rtcp-mux", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"):
        assert line.lower() in sdp.lower(), line
    assert "UDP/TLS/RTP/SAVPF" in sdp
    candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" typ host" in line for line in candidates)
    assert traced_channel("W01-register-call-media-ari-hangup", "w01-phone")[:7] == \
        sim_channel(tap, "w01-phone")


async def test_media_flows_both_ways(http: aiohttp.ClientSession, sim: SimHandle,
                                     tap: EventTap, phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    call = await answered_call(http, sim, tap, phone, "media")

    async def flowing() -> dict[str, Any]:
        while True:
            state = await webrtc_state(http, sim)
            media = state["calls"][0]["media"] if state["calls"] else {}
            if media.get("rtp_packets_received", 0) >= 25 and call.inbound_frames >= 25:
                return media
            await asyncio.sleep(0.1)

    media = await asyncio.wait_for(flowing(), 15)
    assert media["connection_state"] == "connected"
    assert media["level_max"] > 0.05  # the test phone's tone, decrypted and decoded
    assert media["rtp_packets_sent"] > 0


async def test_core_delete_sends_bye_with_reason_16(
        http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    call = await answered_call(http, sim, tap, phone, "w05a-phone")
    assert (await ari(http, sim, "DELETE", "/channels/w05a-phone"))[0] == 204
    await asyncio.wait_for(call.ended.wait(), 5)
    bye = phone.requests_received("BYE")[-1]
    assert bye.header("Reason") == "Q.850;cause=16"
    await tap.wait_type("ChannelDestroyed", "w05a-phone")
    assert sim_channel(tap, "w05a-phone") == traced_channel("W05-page-closed-mid-call",
                                                            "w05a-phone")


@pytest.mark.parametrize(("reason", "cid"), [(None, "w02-phone"),
                                             ("Q.850;cause=16", "w02b-phone")])
async def test_browser_bye(http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
                           phone: TestSoftphone, reason: str | None, cid: str) -> None:
    assert await phone.register() == 200
    call = await answered_call(http, sim, tap, phone, cid)
    response = await phone.hang_up(call, reason)
    assert response.status == 200
    await tap.wait_type("ChannelDestroyed", cid)
    assert sim_channel(tap, cid) == traced_channel("W02-browser-hangs-up", cid)


@pytest.mark.parametrize(("mode", "cid"), [("busy", "w04a-phone"), ("decline", "w04b-phone"),
                                           ("reject", "w04c-phone")])
async def test_browser_declines(http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
                                phone: TestSoftphone, mode: str, cid: str) -> None:
    assert await phone.register() == 200
    phone.on_invite = mode
    assert (await originate(http, sim, cid))[0] == 200
    destroyed = await tap.wait_type("ChannelDestroyed", cid)
    traced = next(s["event"] for s in trace("W04-browser-declines")["steps"]
                  if s.get("kind") == "event" and s["event"]["type"] == "ChannelDestroyed"
                  and channel_id(s["event"]) == cid)
    assert (destroyed["cause"], destroyed.get("tech_cause")) == \
        (traced["cause"], traced.get("tech_cause"))
    assert sim_channel(tap, cid) == traced_channel("W04-browser-declines", cid)
    await asyncio.sleep(0)
    assert any(m.start.startswith("ACK ") for m in phone.received)


async def test_originate_timeout_cancels(http: aiohttp.ClientSession, sim: SimHandle,
                                         tap: EventTap, phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    phone.on_invite = "ring"
    assert (await originate(http, sim, "w04d-phone", timeout="5"))[0] == 200
    call = await phone.next_call()
    destroyed = await tap.wait_type("ChannelDestroyed", "w04d-phone", timeout=10)
    assert (destroyed["cause"], destroyed["tech_cause"]) == (19, 480)
    await asyncio.wait_for(call.ended.wait(), 5)
    assert call.ended_by == "cancel"
    assert sim_channel(tap, "w04d-phone") == traced_channel("W04-browser-declines",
                                                            "w04d-phone")

    async def acked() -> None:
        while not any(m.start.startswith("ACK ") for m in phone.received):
            await asyncio.sleep(0.02)

    await asyncio.wait_for(acked(), 5)  # the 487 is acknowledged


async def test_page_closed_mid_call_keeps_channel_up_and_endpoint_goes_offline(
        http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap, watch: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    await answered_call(http, sim, tap, phone, "w05b-phone")
    seen = len(watch.events)
    await phone.close()
    removed = await watch.wait_for(
        lambda e: e.get("contact_info", {}).get("contact_status") == "Removed")
    offline = [_endpoint_sig(e) for e in watch.events[seen:]]
    assert offline == [("EndpointStateChange", "offline", ""),
                       ("PeerStatusChange", "offline", "Unreachable"),
                       ("ContactStatusChange", "offline", "Removed")]
    assert removed["endpoint"]["channel_ids"] == ["w05b-phone"]
    status, channel = await ari(http, sim, "GET", "/channels/w05b-phone")
    assert (status, channel["state"]) == (200, "Up")
    assert (await ari(http, sim, "DELETE", "/channels/w05b-phone"))[0] == 204
    await tap.wait_type("ChannelDestroyed", "w05b-phone")
    assert sim_channel(tap, "w05b-phone") == traced_channel("W05-page-closed-mid-call",
                                                            "w05b-phone")
    calls = (await webrtc_state(http, sim))["ended_calls"]
    assert calls[-1]["transport_open"] is False


def test_webrtc_endpoint_needs_a_password(tmp_path: Path) -> None:
    config = tmp_path / "sim.toml"
    config.write_text('[pjsip_endpoints.webrtc-2]\ncontext = "x"\nwebrtc = true\n')
    with pytest.raises(ConfigError, match=r"pjsip_endpoints\.webrtc-2\.password"):
        load_config(config)


async def test_audio_toward_the_browser_can_stop_and_resume(
        http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap,
        phone: TestSoftphone) -> None:
    assert await phone.register() == 200
    await answered_call(http, sim, tap, phone, "quiet")
    path = sim.base_url + "/_sim/webrtc/quiet/audio"
    async with http.post(path, params={"send": "maybe"}) as response:
        assert response.status == 400
    async with http.post(sim.base_url + "/_sim/webrtc/nope/audio",
                         params={"send": "off"}) as response:
        assert response.status == 404
    async with http.post(path, params={"send": "off"}) as response:
        assert response.status == 204
    assert (await webrtc_state(http, sim))["calls"][0]["media"]["sending_audio"] is False
    async with http.post(path, params={"send": "on"}) as response:
        assert response.status == 204
    assert (await webrtc_state(http, sim))["calls"][0]["media"]["sending_audio"] is True
