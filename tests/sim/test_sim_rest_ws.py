"""REST + events WebSocket behaviour of the simulator, checked against the traces' rules."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sim_helpers import EventTap, ari, auth_header, channel_id, open_tap

from asterisk.sim.routes import ROUTES
from asterisk.sim.testing import SimHandle, running_simulator

pytestmark = pytest.mark.timeout(60)
SCALE = 50.0


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[SimHandle]:
    async with running_simulator(time_scale=getattr(request, "param", SCALE)) as handle:
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


async def originate(http: aiohttp.ClientSession, sim: SimHandle, exten: str, cid: str,
                    **extra: str) -> dict:
    params = {"endpoint": f"Local/{exten}@sim-phones", "app": "evscallpro",
              "appArgs": "agent,call-1", "channelId": cid, "otherChannelId": f"{cid}-2",
              "callerId": '"EVS CallPro" <+33100000000>', **extra}
    status, body = await ari(http, sim, "POST", "/channels", params=params)
    assert status == 200, body
    return body


# ------------------------------------------------------------------------------ auth, docs
async def test_authentication_like_asterisk(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    async with http.get(sim.ari_url + "/channels") as response:
        assert response.status == 401
        assert await response.json() == {"message": "Authentication required"}
    bad = {"Authorization": aiohttp.encode_basic_auth(sim.username, "wrong")}
    async with http.get(sim.ari_url + "/channels", headers=bad) as response:
        assert response.status == 401
    ok = {"api_key": f"{sim.username}:{sim.password}"}
    async with http.get(sim.ari_url + "/asterisk/info", params=ok) as response:
        assert response.status == 200
        assert (await response.json())["system"]["version"] == "22.10.1"
    async with http.get(sim.ari_url + "/asterisk/info",
                        params={"api_key": "evscallpro:nope"}) as response:
        assert response.status == 401


async def test_websocket_rejects_bad_credentials_and_missing_app(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    bad = {"Authorization": aiohttp.encode_basic_auth(sim.username, "wrong")}
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await http.ws_connect(sim.ari_url + "/events", params={"app": "x"}, headers=bad)
    assert error.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await http.ws_connect(sim.ari_url + "/events", headers=auth_header(sim))
    assert error.value.status == 400


async def test_swagger_documents_every_route(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    status, listing = await ari(http, sim, "GET", "/api-docs/resources.json")
    assert status == 200 and listing["swaggerVersion"] == "1.1"
    names = [api["path"].split("/")[-1].split(".")[0] for api in listing["apis"]]
    documented: set[tuple[str, str, str]] = set()
    for name in names:
        status, doc = await ari(http, sim, "GET", f"/api-docs/{name}.json")
        assert status == 200
        assert doc["basePath"] == sim.ari_url
        assert doc["resourcePath"] == f"/api-docs/{name}.{{format}}"
        for model_id, model in doc["models"].items():
            assert model["id"] == model_id and model["properties"]
        for api in doc["apis"]:
            for op in api["operations"]:
                for param in op["parameters"]:
                    assert {"name", "paramType", "dataType", "required", "allowMultiple"} <= set(param)
                documented.add((op["httpMethod"], api["path"], op["nickname"]))
    assert documented == {(r.method, r.path, r.nickname) for r in ROUTES}
    status, events_doc = await ari(http, sim, "GET", "/api-docs/events.json")
    assert events_doc["models"]["StasisStart"]["properties"]["channel"]["type"] == "Channel"
    assert (await ari(http, sim, "GET", "/api-docs/nothing.json"))[0] == 404


# ------------------------------------------------------------------------------ Local legs
async def test_local_originate_answer_then_far_end_hangup(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    params = {"endpoint": "Local/answer-hangup3@sim-phones", "app": "evscallpro",
              "appArgs": "agent,call-1", "channelId": "a1", "otherChannelId": "a1-2",
              "callerId": '"EVS CallPro" <+33100000000>'}
    status, body = await ari(http, sim, "POST", "/channels", params=params,
                             json={"variables": {"EVS_CALL_ID": "call-1", "EVS_ROLE": "agent"}})
    assert status == 200
    assert body["name"].startswith("Local/answer-hangup3@sim-phones-") and body["name"].endswith(";1")
    assert body["state"] == "Down" and body["dialplan"]["app_name"] == "AppDial2"
    assert body["caller"] == {"name": "EVS CallPro", "number": "+33100000000"}
    start = await tap.wait_type("StasisStart", "a1")
    assert start["args"] == ["agent", "call-1"] and start["channel"]["state"] == "Up"
    await tap.wait_type("ChannelDestroyed", "a1")
    assert tap.of("a1") == [
        "Dial:", "ChannelStateChange:Ringing", "Dial:RINGING", "ChannelStateChange:Up",
        "Dial:ANSWER", "ChannelVarset:STASISSTATUS", "StasisStart", "ChannelHangupRequest:16",
        "StasisEnd", "ChannelVarset:STASISSTATUS", "ChannelDestroyed:16"]
    two = tap.of("a1-2")
    assert two[:4] == ["ChannelVarset:EVS_ROLE", "ChannelVarset:EVS_CALL_ID", "ChannelCallerId",
                       "ChannelConnectedLine"]
    assert two[-3:] == ["ChannelDialplan", "ChannelHangupRequest:16", "ChannelDestroyed:16"]
    soft = [e for e in tap.events if e["type"] == "ChannelHangupRequest" and channel_id(e) == "a1-2"]
    assert [e.get("soft") for e in soft] == [True]


@pytest.mark.parametrize(
    ("exten", "timeout", "dial", "one", "two"),
    [
        ("busy", "30", "BUSY", 0, 17),
        ("congestion", "30", "CONGESTION", 0, 34),
        ("unallocated", "30", "NOANSWER", 1, 1),
        ("reject", "30", "NOANSWER", 21, 21),
        ("noanswer", "5", None, 19, 19),
    ],
)
async def test_local_failures_follow_the_readme_table(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap,
    exten: str, timeout: str, dial: str | None, one: int, two: int,
) -> None:
    await originate(http, sim, exten, "f1", timeout=timeout)
    destroyed_two = await tap.wait_type("ChannelDestroyed", "f1-2")
    destroyed_one = await tap.wait_type("ChannelDestroyed", "f1")
    assert destroyed_one["cause"] == one and destroyed_two["cause"] == two
    dials = [s for s in tap.of("f1") if s.startswith("Dial:") and s != "Dial:"
             and s != "Dial:RINGING"]
    assert dials == ([f"Dial:{dial}"] if dial else [])
    assert "StasisStart" not in tap.types()
    assert (await ari(http, sim, "GET", "/channels/f1"))[0] == 404


async def test_unknown_context_is_200_then_destroyed_cause_0(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    status, body = await ari(http, sim, "POST", "/channels", params={
        "endpoint": "Local/123@no-such-context", "app": "evscallpro", "channelId": "n1",
        "otherChannelId": "n1-2"})
    assert status == 200 and body["dialplan"]["context"] == "no-such-context"
    await tap.wait_type("ChannelDestroyed", "n1")
    assert tap.of("n1-2") == ["ChannelDestroyed:0"] and tap.of("n1") == ["ChannelDestroyed:0"]


async def test_delete_gives_32_soft_then_real_cause(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    status, _ = await ari(http, sim, "POST", "/channels", params={
        "endpoint": "Local/answer@sim-phones", "app": "evscallpro", "channelId": "d1",
        "otherChannelId": "d1-2"}, json={"variables": {"EVS_CALL_ID": "call-1"}})
    assert status == 200
    await tap.wait_type("StasisStart", "d1")
    for cid in ("d1", "d1-2"):  # readable on both halves (recovery reads them on ;1)
        assert (await ari(http, sim, "GET", f"/channels/{cid}/variable",
                          params={"variable": "EVS_CALL_ID"}))[1] == {"value": "call-1"}
    status, body = await ari(http, sim, "DELETE", "/channels/d1", params={"reason": "bogus"})
    assert (status, body) == (400, {"message": "Invalid reason for hangup reason provided"})
    assert (await ari(http, sim, "DELETE", "/channels/d1", params={"reason_code": "21"}))[0] == 204
    await tap.wait_type("ChannelDestroyed", "d1-2")
    assert tap.of("d1")[-4:] == ["ChannelHangupRequest:32", "StasisEnd",
                                 "ChannelVarset:STASISSTATUS", "ChannelDestroyed:21"]
    assert tap.of("d1-2")[-3:] == ["ChannelHangupRequest:21", "ChannelHangupRequest:16",
                                   "ChannelDestroyed:21"]


async def test_delete_ringing_leg_gives_dial_noanswer(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    await originate(http, sim, "noanswer", "r1")
    await tap.wait_for(lambda e: e["type"] == "Dial" and e["dialstatus"] == "RINGING")
    assert (await ari(http, sim, "DELETE", "/channels/r1"))[0] == 204
    await tap.wait_type("ChannelDestroyed", "r1-2")
    assert tap.of("r1")[-3:] == ["ChannelHangupRequest:32", "Dial:NOANSWER",
                                 "ChannelDestroyed:16"]


async def test_create_then_dial(sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap) -> None:
    for cid, exten in (("c-ans", "answer"), ("c-busy", "busy"), ("c-none", "noanswer")):
        status, body = await ari(http, sim, "POST", "/channels/create", params={
            "endpoint": f"Local/{exten}@sim-phones", "app": "evscallpro",
            "appArgs": "customer,call-1", "channelId": cid, "otherChannelId": f"{cid}-2"})
        assert status == 200 and body["state"] == "Down"
        await tap.wait_type("StasisStart", cid)
        timeout = "2" if exten == "noanswer" else "20"
        assert (await ari(http, sim, "POST", f"/channels/{cid}/dial",
                          params={"timeout": timeout}))[0] == 204
    await tap.wait_for(lambda e: e["type"] == "Dial" and e["dialstatus"] == "ANSWER")
    await tap.wait_for(lambda e: e["type"] == "Dial" and e["dialstatus"] == "BUSY")
    destroyed = await tap.wait_type("ChannelDestroyed", "c-none")
    assert destroyed["cause"] == 19
    assert tap.of("c-none")[-4:] == ["ChannelHangupRequest:32", "StasisEnd",
                                     "ChannelVarset:STASISSTATUS", "ChannelDestroyed:19"]
    status, busy = await ari(http, sim, "GET", "/channels/c-busy")  # S10 B: stays in Stasis
    assert status == 200 and busy["dialplan"]["app_name"] == "Stasis"
    assert tap.of("c-ans")[:3] == ["ChannelDialplan", "ChannelVarset:STASISSTATUS", "StasisStart"]
    assert not [e for e in tap.events if channel_id(e) in ("c-ans-2", "c-busy-2")]
    assert (await ari(http, sim, "POST", "/channels/c-ans/dial"))[0] == 409


# ------------------------------------------------------------------------------ PJSIP legs
async def pjsip(http: aiohttp.ClientSession, sim: SimHandle, number: str, cid: str,
                timeout: str = "30") -> tuple[int, dict]:
    return await ari(http, sim, "POST", "/channels", params={
        "endpoint": f"PJSIP/{number}@carrier", "app": "evscallpro", "appArgs": "customer",
        "channelId": cid, "timeout": timeout})


async def test_pjsip_legs_are_one_channel_with_sip_causes(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    status, body = await pjsip(http, sim, "+33600000001", "p-ok")
    assert status == 200 and body["name"].startswith("PJSIP/carrier-")
    assert body["protocol_id"] and body["dialplan"]["context"] == "from-carrier"
    await pjsip(http, sim, "+33600000002", "p-busy")
    await pjsip(http, sim, "+33600000006", "p-603")
    await pjsip(http, sim, "+33600000009", "p-early")
    await pjsip(http, sim, "+33600000003", "p-slow", timeout="2")
    await tap.wait_type("StasisStart", "p-ok")
    busy = await tap.wait_type("ChannelDestroyed", "p-busy")
    assert (busy["cause"], busy["tech_cause"]) == (17, 486)
    assert tap.of("p-busy") == ["Dial:", "ChannelHangupRequest:17", "Dial:BUSY",
                                "ChannelDestroyed:17"]
    declined = await tap.wait_type("ChannelDestroyed", "p-603")
    assert (declined["cause"], declined["tech_cause"]) == (21, 603)
    await tap.wait_type("StasisStart", "p-early")
    assert tap.of("p-early")[:4] == ["Dial:", "Dial:PROGRESS", "ChannelStateChange:Up",
                                     "Dial:ANSWER"]
    slow = await tap.wait_type("ChannelDestroyed", "p-slow")
    assert (slow["cause"], slow["tech_cause"]) == (19, 480)
    assert "ChannelHangupRequest" not in [e["type"] for e in tap.events
                                          if channel_id(e) == "p-slow"]
    assert (await ari(http, sim, "DELETE", "/channels/p-ok"))[0] == 204
    await tap.wait_type("ChannelDestroyed", "p-ok")
    assert tap.of("p-ok")[-9:-4] == [f"ChannelVarset:RTPAUDIOQOS{x}" for x in
                                     ("", "JITTER", "LOSS", "RTT", "MES")]
    assert not [e for e in tap.events if str(channel_id(e)).endswith("-2")]


async def test_pjsip_unknown_endpoint_is_allocation_failed(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    for path in ("/channels", "/channels/create"):
        status, body = await ari(http, sim, "POST", path, params={
            "endpoint": "PJSIP/1000", "app": "evscallpro"})
        assert (status, body) == (500, {"error": "Allocation failed"})
    status, body = await ari(http, sim, "POST", "/channels", params={
        "endpoint": "PJSIP/agent-1001", "app": "evscallpro", "channelId": "ep"})
    assert status == 200 and body["name"].startswith("PJSIP/agent-1001-")
    status, endpoint = await ari(http, sim, "GET", "/endpoints/PJSIP/carrier")
    assert endpoint == {"technology": "PJSIP", "resource": "carrier", "state": "online",
                        "channel_ids": []}
    assert (await ari(http, sim, "GET", "/endpoints/PJSIP/nobody"))[0] == 404


# ------------------------------------------------------------------------------ bridges
@pytest.mark.parametrize("sim", [10.0], indirect=True)  # 1 s = 100 ms: room for a busy CPU
async def test_bridge_record_and_stored_wav(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    await originate(http, sim, "answer", "ag")
    await originate(http, sim, "cust-hello-hangup8", "cu")
    await tap.wait_type("StasisStart", "ag")
    await tap.wait_type("StasisStart", "cu")
    status, bridge = await ari(http, sim, "POST", "/bridges",
                               params={"type": "mixing", "bridgeId": "b1", "name": "call-1"})
    assert status == 200 and bridge["technology"] == "simple_bridge" and bridge["channels"] == []
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b1"}))[1] == {
        "message": "Bridge with id 'b1' already exists"}
    assert (await ari(http, sim, "POST", "/bridges/b1/addChannel",
                      params={"channel": "ag,cu"}))[0] == 204
    status, rec = await ari(http, sim, "POST", "/bridges/b1/record",
                            params={"name": "rec1", "format": "wav", "ifExists": "fail"})
    assert status == 201 and rec["state"] == "queued"
    started = await tap.wait_type("RecordingStarted")
    assert started["recording"]["target_uri"] == "bridge:b1"
    status, got = await ari(http, sim, "GET", "/bridges/b1")
    assert got["channels"] == ["ag", "cu"] and got["technology"] == "softmix"
    peers = [e["value"] for e in tap.events if e["type"] == "ChannelVarset"
             and e["variable"] == "BRIDGEPEER" and channel_id(e) == "ag"]
    recorder, peer = peers[-1].split(",")
    assert recorder.startswith("Recorder/ARI-") and recorder.endswith(";2")
    assert peer.startswith("Local/cust-hello-hangup8@sim-phones-") and peer.endswith(";1")
    await tap.wait_type("StasisEnd", "cu")  # the customer hangs up ~8 simulated s later
    assert (await ari(http, sim, "DELETE", "/channels/ag"))[0] == 204
    finished = await tap.wait_type("RecordingFinished")
    duration = finished["recording"]["duration"]
    assert 7 <= duration <= 12  # ~8.4 s of conversation
    assert (await ari(http, sim, "DELETE", "/bridges/b1"))[0] == 204
    await tap.wait_type("BridgeDestroyed")
    assert (await ari(http, sim, "GET", "/recordings/stored"))[1] == [
        {"name": "rec1", "format": "wav"}]
    assert (await ari(http, sim, "GET", "/recordings/stored/rec1"))[1] == {
        "name": "rec1", "format": "wav"}
    async with http.get(sim.ari_url + "/recordings/stored/rec1/file",
                        headers=auth_header(sim)) as response:
        assert response.status == 200 and response.content_type == "audio/wav"
        data = await response.read()
    path = sim.recordings_dir / "rec1.wav"
    assert path.read_bytes() == data
    with wave.open(str(path)) as audio:
        assert (audio.getframerate(), audio.getsampwidth(), audio.getnchannels()) == (8000, 2, 1)
        seconds = audio.getnframes() / 8000
    assert duration <= seconds < duration + 1
    assert (await ari(http, sim, "POST", "/bridges/b0/record",
                      params={"name": "rec1", "format": "wav"}))[0] == 404
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b2"}))[0] == 200
    assert (await ari(http, sim, "POST", "/bridges/b2/record",
                      params={"name": "rec1", "format": "wav", "ifExists": "fail"}))[1] == {
        "message": "Recording 'rec1' already exists and can not be overwritten"}
    assert (await ari(http, sim, "POST", "/bridges/b2/record",
                      params={"name": "x", "format": "mp9"}))[0] == 422
    assert (await ari(http, sim, "POST", "/bridges/b2/record",
                      params={"format": "wav"}))[1] == {"message": "Error parsing request"}
    assert (await ari(http, sim, "DELETE", "/recordings/stored/rec1"))[0] == 204
    assert (await ari(http, sim, "DELETE", "/recordings/stored/rec1"))[0] == 404


async def test_bridge_membership_errors(sim: SimHandle, http: aiohttp.ClientSession,
                                        tap: EventTap) -> None:
    await originate(http, sim, "answer", "m1")
    await tap.wait_type("StasisStart", "m1")
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "x1"})
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "x2"})
    cases = [
        ("POST", "/bridges/x1/addChannel", {"channel": "ghost"}, 400, "Channel not found"),
        ("POST", "/bridges/nope/addChannel", {"channel": "m1"}, 404, "Bridge not found"),
        ("POST", "/bridges/x1/addChannel", {"channel": "m1-2"}, 422,
         "Channel not in Stasis application"),
        ("POST", "/bridges/x1/removeChannel", {"channel": "m1"}, 422,
         "Channel not in this bridge"),
        ("POST", "/channels/m1-2/moh", {}, 409, "Channel not in Stasis application"),
        ("GET", "/bridges/nope", {}, 404, "Bridge not found"),
        ("DELETE", "/playbacks/nope", {}, 404, "Playback not found"),
        ("POST", "/recordings/live/nope/stop", {}, 404, "Recording not found"),
        ("POST", "/channels/nope/snoop", {"spy": "both", "app": "evscallpro"}, 404,
         "Provided channel was not found"),
    ]
    for method, path, params, status, message in cases:
        assert await ari(http, sim, method, path, params=params) == (status, {"message": message})
    assert (await ari(http, sim, "POST", "/bridges/x1/addChannel", params={"channel": "m1"}))[0] == 204
    assert (await ari(http, sim, "POST", "/bridges/x2/addChannel", params={"channel": "m1"}))[0] == 204
    assert (await ari(http, sim, "GET", "/bridges/x1"))[1]["channels"] == []
    assert (await ari(http, sim, "GET", "/bridges/x2"))[1]["channels"] == ["m1"]
    assert tap.of("m1").count("ChannelEnteredBridge") == 2
    assert tap.of("m1").count("ChannelLeftBridge") == 1


# ------------------------------------------------------------------------------ media, dtmf
async def test_playbacks(sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap) -> None:
    await originate(http, sim, "answer", "pb")
    await tap.wait_type("StasisStart", "pb")
    status, body = await ari(http, sim, "POST", "/channels/pb/play/p1",
                             params={"media": "sound:vm-press,sound:digits/1", "lang": "fr"})
    assert status == 201 and body == {
        "id": "p1", "media_uri": "sound:vm-press", "next_media_uri": "sound:digits/1",
        "target_uri": "channel:pb", "language": "fr", "state": "queued"}
    finished = await tap.wait_type("PlaybackFinished")
    kinds = [(e["type"], e["playback"]["media_uri"]) for e in tap.events
             if e["type"].startswith("Playback")]
    assert kinds == [("PlaybackStarted", "sound:vm-press"),
                     ("PlaybackContinuing", "sound:vm-press"),
                     ("PlaybackStarted", "sound:digits/1"),
                     ("PlaybackFinished", "sound:digits/1")]
    assert finished["playback"]["state"] == "done"
    await ari(http, sim, "POST", "/channels/pb/play/p2", params={"media": "sound:pls-wait-connect-call"})
    failed = await tap.wait_for(lambda e: e["type"] == "PlaybackFinished"
                                and e["playback"]["id"] == "p2")
    assert failed["playback"]["state"] == "failed"
    await ari(http, sim, "POST", "/channels/pb/play/p3", params={"media": "nosuchscheme:x"})
    await tap.wait_for(lambda e: e["type"] == "PlaybackStarted" and e["playback"]["id"] == "p3")
    assert (await ari(http, sim, "GET", "/playbacks/p3"))[0] == 404
    await ari(http, sim, "POST", "/channels/pb/play/p4", params={"media": "tone:busy"})
    await tap.wait_for(lambda e: e["type"] == "PlaybackStarted" and e["playback"]["id"] == "p4")
    assert (await ari(http, sim, "GET", "/playbacks/p4"))[1]["state"] == "playing"
    assert (await ari(http, sim, "DELETE", "/playbacks/p4"))[0] == 204
    stopped = await tap.wait_for(lambda e: e["type"] == "PlaybackFinished"
                                 and e["playback"]["id"] == "p4")
    assert stopped["playback"]["state"] == "done"


async def test_far_end_dtmf_and_variables(sim: SimHandle, http: aiohttp.ClientSession,
                                          tap: EventTap) -> None:
    await originate(http, sim, "answer-dtmf1", "dt")
    digit = await tap.wait_type("ChannelDtmfReceived", "dt")
    assert (digit["digit"], digit["duration_ms"]) == ("1", 100)
    assert (await ari(http, sim, "POST", "/channels/dt/variable",
                      params={"variable": "EVS_X", "value": "42"}))[0] == 204
    assert (await ari(http, sim, "GET", "/channels/dt/variable",
                      params={"variable": "EVS_X"}))[1] == {"value": "42"}
    assert (await ari(http, sim, "GET", "/channels/dt/variable",
                      params={"variable": "NOPE"}))[0] == 404
    assert (await ari(http, sim, "POST", "/channels/dt/dtmf", params={"dtmf": "12"}))[0] == 204
    for path in ("/channels/dt/ring", "/channels/dt/moh"):
        assert (await ari(http, sim, "POST", path))[0] == 204
        assert (await ari(http, sim, "DELETE", path))[0] == 204


async def test_snoop_channel(sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap) -> None:
    await originate(http, sim, "answer", "sp")
    await tap.wait_type("StasisStart", "sp")
    status, snoop = await ari(http, sim, "POST", "/channels/sp/snoop", params={
        "spy": "both", "app": "evscallpro", "appArgs": "snoop,call-1", "snoopId": "sn1"})
    assert status == 200 and snoop["name"].startswith("Snoop/sp-") and snoop["state"] == "Up"
    assert (snoop["dialplan"]["context"], snoop["dialplan"]["exten"]) == ("default", "s")
    start = await tap.wait_type("StasisStart", "sn1")
    assert start["args"] == ["snoop", "call-1"]
    assert (await ari(http, sim, "DELETE", "/channels/sn1"))[0] == 204
    await tap.wait_type("StasisEnd", "sn1")
    assert tap.of("sn1") == ["StasisStart", "ChannelHangupRequest:32", "StasisEnd"]
    assert (await ari(http, sim, "POST", "/channels/sp/snoop",
                      params={"spy": "sideways", "app": "evscallpro"}))[0] == 400


# ------------------------------------------------------------------------------ apps
async def test_second_socket_replaces_the_first(sim: SimHandle, http: aiohttp.ClientSession,
                                                tap: EventTap) -> None:
    second = await open_tap(http, sim)
    replaced = await tap.wait_type("ApplicationReplaced")
    assert replaced["application"] == "evscallpro"
    await originate(http, sim, "answer", "ap")
    await second.wait_type("StasisStart", "ap")
    assert tap.types() == ["ApplicationReplaced"]
    await second.close()
    await ari(http, sim, "DELETE", "/channels/ap")
    status, apps = await ari(http, sim, "GET", "/applications")
    assert status == 200 and apps == []
    assert (await ari(http, sim, "GET", "/applications/evscallpro"))[0] == 404


async def test_app_stays_registered_while_it_owns_channels(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    await originate(http, sim, "answer", "own")
    await tap.wait_type("StasisStart", "own")
    await tap.close()
    await tap.closed.wait()
    status, apps = await ari(http, sim, "GET", "/applications")
    assert status == 200 and [a["name"] for a in apps] == ["evscallpro"]
    assert set(apps[0]["channel_ids"]) == {"own", "own-2"}
    again = await open_tap(http, sim)
    await ari(http, sim, "DELETE", "/channels/own")
    await again.wait_type("ChannelDestroyed", "own")
    assert "StasisStart" not in again.types()  # nothing replayed
    await again.close()


async def test_originate_to_absent_app_is_hung_up_silently(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    watcher = await open_tap(http, sim, app="watcher")
    status, _ = await ari(http, sim, "POST", "/channels", params={
        "endpoint": "Local/answer-hangup3@sim-phones", "app": "absent", "channelId": "ab"})
    assert status == 200
    # nothing reaches any socket here, so poll the REST state against a deadline
    deadline = asyncio.get_running_loop().time() + 5.0
    while (await ari(http, sim, "GET", "/channels/ab"))[0] != 404:
        assert asyncio.get_running_loop().time() < deadline, "absent-app leg never hung up"
        await asyncio.sleep(0.02)
    assert watcher.events == []
    await watcher.close()


# ------------------------------------------------------------------------------ bad input
async def test_malformed_requests_get_400_and_the_server_survives(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    headers = {**auth_header(sim), "Content-Type": "application/json"}
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/channels", {"data": b"{not json"}),
        ("POST", "/channels", {"data": b"[1, 2]"}),
        ("POST", "/channels", {"json": {"endpoint": "Local/a@sim-phones", "app": "x",
                                        "timeout": "soon"}}),
        ("POST", "/channels", {"json": {"endpoint": "Local/a@sim-phones", "app": "x",
                                        "variables": ["not", "an", "object"]}}),
        ("POST", "/channels", {"json": {"endpoint": {"nested": True}, "app": "x"}}),
        ("POST", "/channels", {"params": {"endpoint": "garbage", "app": "x"}}),
        ("POST", "/channels", {"params": {"app": "x"}}),
        ("POST", "/channels", {"params": {"endpoint": "Local/answer@sim-phones"}}),
        ("POST", "/bridges", {"params": {"type": "teleporter"}}),
        ("POST", "/channels/x/dial", {"params": {"timeout": "1.5.5"}}),
        ("DELETE", "/channels/x", {"params": {"reason_code": "x", "reason": "busy"}}),
    ]
    for method, path, kwargs in cases:
        extra_headers = headers if "data" in kwargs else auth_header(sim)
        async with http.request(method, sim.ari_url + path, headers=extra_headers,
                                **kwargs) as response:
            assert response.status == 400, (path, kwargs, await response.text())
            assert "message" in await response.json()
    status, body = await ari(http, sim, "GET", "/no-such-resource")
    assert (status, body) == (404, {"message": "Resource not found"})
    assert (await ari(http, sim, "GET", "/asterisk/info"))[0] == 200


async def test_subscribe_all_socket_sees_other_apps_events(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    owner = await open_tap(http, sim, app="dialer")
    spy = await open_tap(http, sim, app="wallboard", subscribe_all=True)
    await ari(http, sim, "POST", "/channels", params={
        "endpoint": "Local/answer@sim-phones", "app": "dialer", "channelId": "sa"})
    mine = await owner.wait_type("StasisStart", "sa")
    seen = await spy.wait_type("StasisStart", "sa")
    assert (mine["application"], seen["application"]) == ("dialer", "wallboard")
    await owner.close()
    await spy.close()


async def test_recording_limits_empty_bridge_and_cancel(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    await originate(http, sim, "answer", "rl")
    await tap.wait_type("StasisStart", "rl")
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "full"})
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "empty"})
    await ari(http, sim, "POST", "/bridges/full/addChannel", params={"channel": "rl"})
    status, _ = await ari(http, sim, "POST", "/bridges/full/record", params={
        "name": "capped", "format": "wav", "maxDurationSeconds": "2"})
    assert status == 201
    finished = await tap.wait_type("RecordingFinished")
    assert finished["recording"]["name"] == "capped" and finished["recording"]["duration"] == 2
    # S12: an empty bridge records silently; stop stores the file without an event
    assert (await ari(http, sim, "POST", "/bridges/empty/record", params={
        "name": "quiet", "format": "wav", "ifExists": "overwrite"}))[0] == 201
    assert (await ari(http, sim, "GET", "/recordings/live/quiet"))[1]["state"] == "recording"
    assert (await ari(http, sim, "POST", "/recordings/live/quiet/stop"))[0] == 204
    assert (await ari(http, sim, "GET", "/recordings/stored/quiet"))[0] == 200
    # cancel discards
    await ari(http, sim, "POST", "/bridges/full/record", params={"name": "gone", "format": "wav"})
    await tap.wait_for(lambda e: e["type"] == "RecordingStarted"
                       and e["recording"]["name"] == "gone")
    assert (await ari(http, sim, "DELETE", "/recordings/live/gone"))[0] == 204
    assert (await ari(http, sim, "GET", "/recordings/stored/gone"))[0] == 404
    assert (await ari(http, sim, "GET", "/recordings/live/gone"))[0] == 404
    names = [e["recording"]["name"] for e in tap.events if e["type"] == "RecordingFinished"]
    assert names == ["capped"]


async def test_hanging_up_the_local_2_half_ends_the_pair(
    sim: SimHandle, http: aiohttp.ClientSession, tap: EventTap
) -> None:
    await originate(http, sim, "answer", "h2")
    await tap.wait_type("StasisStart", "h2")
    assert (await ari(http, sim, "DELETE", "/channels/h2-2"))[0] == 204
    await tap.wait_type("ChannelDestroyed", "h2")
    assert tap.of("h2")[-3:] == ["StasisEnd", "ChannelVarset:STASISSTATUS", "ChannelDestroyed:16"]
    assert (await ari(http, sim, "GET", "/channels"))[1] == []


WEIRD_VALUES: list[Any] = ["", "-1", "x" * 300, "🙂", "a,b,,c", "1e9", "null"]
WEIRD_JSON: list[Any] = [None, 3.5, [], {"k": [1]}, True]


async def test_every_route_survives_garbage(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    """No input makes the simulator answer 500 except Asterisk's own 500s, or crash."""
    allowed_500 = {"Allocation failed", "Error parsing request"}
    for route in ROUTES:
        if route.upgrade:
            continue
        path = route.path
        for param in route.path_params:
            path = path.replace("{" + param.name + "}", "zz%2Fzz")
        names = [p.name for p in route.params if p.param_type != "path"]
        attempts: list[dict[str, Any]] = [
            {"params": {name: value for name in names}} for value in WEIRD_VALUES
        ] + [{"json": {name: value for name in names}} for value in WEIRD_JSON]
        for kwargs in attempts:
            async with http.request(route.method, sim.ari_url + path,
                                    headers=auth_header(sim), **kwargs) as response:
                body = await response.read()
                assert response.status < 500 or any(
                    m.encode() in body for m in allowed_500), (route.nickname, kwargs, body)
                if response.status >= 400:
                    assert set((await response.json()).keys()) <= {"message", "error"}
    assert (await ari(http, sim, "GET", "/asterisk/info"))[0] == 200


async def test_tone_plays_until_stopped(sim: SimHandle, http: aiohttp.ClientSession,
                                        tap: EventTap) -> None:
    await originate(http, sim, "answer", "tn")
    await tap.wait_type("StasisStart", "tn")
    await ari(http, sim, "POST", "/channels/tn/play/ring", params={"media": "tone:ring"})
    await tap.wait_for(lambda e: e["type"] == "PlaybackStarted" and e["playback"]["id"] == "ring")
    await ari(http, sim, "POST", "/channels/tn/play/after", params={"media": "sound:beep"})
    assert (await ari(http, sim, "GET", "/playbacks/ring"))[1]["state"] == "playing"
    assert (await ari(http, sim, "GET", "/playbacks/after"))[1]["state"] == "queued"
    assert (await ari(http, sim, "DELETE", "/playbacks/ring"))[0] == 204
    await tap.wait_for(lambda e: e["type"] == "PlaybackFinished" and e["playback"]["id"] == "after")
    order = [(e["type"], e["playback"]["id"]) for e in tap.events if e["type"].startswith("Playback")]
    assert order == [("PlaybackStarted", "ring"), ("PlaybackFinished", "ring"),
                     ("PlaybackStarted", "after"), ("PlaybackFinished", "after")]
