"""Every fault, through the Python helpers and through the /_sim admin API; the threaded
variant; the CLI registration."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sim_helpers import EventTap, ari, auth_header, open_tap

from asterisk.sim import cli as sim_cli
from asterisk.sim.testing import SimHandle, SimulatorThread, running_simulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    async with running_simulator(time_scale=50.0) as handle:
        yield handle


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def answered(http: aiohttp.ClientSession, sim: SimHandle, tap: EventTap, cid: str,
                   exten: str = "answer") -> None:
    status, _ = await ari(http, sim, "POST", "/channels", params={
        "endpoint": f"Local/{exten}@sim-phones", "app": "evscallpro", "channelId": cid,
        "otherChannelId": f"{cid}-2"})
    assert status == 200
    await tap.wait_type("StasisStart", cid)


async def admin(http: aiohttp.ClientSession, sim: SimHandle, method: str, path: str,
                **kwargs: Any) -> tuple[int, Any]:
    async with http.request(method, sim.base_url + "/_sim" + path, **kwargs) as response:
        text = await response.text()
        return response.status, json.loads(text) if text else None


async def test_drop_websockets_keeps_calls_alive(sim: SimHandle,
                                                 http: aiohttp.ClientSession) -> None:
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "k1")
    assert await sim.drop_websockets() == 1
    await asyncio.wait_for(tap.closed.wait(), 5)
    assert (await ari(http, sim, "GET", "/channels/k1"))[0] == 200
    again = await open_tap(http, sim)
    await ari(http, sim, "DELETE", "/channels/k1")
    await again.wait_type("ChannelDestroyed", "k1")
    status, body = await admin(http, sim, "POST", "/drop-websockets")
    assert (status, body) == (200, {"dropped": 1})
    await asyncio.wait_for(again.closed.wait(), 5)


async def test_refused_websockets_then_accepted_again(sim: SimHandle,
                                                      http: aiohttp.ClientSession) -> None:
    sim.refuse_websockets(1.0)
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await open_tap(http, sim)
    assert error.value.status == 503
    deadline = time.monotonic() + 6
    while True:  # the refusal window is wall-clock: retry like a reconnecting core would
        try:
            tap = await open_tap(http, sim)
            break
        except aiohttp.WSServerHandshakeError:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    await tap.close()
    assert (await admin(http, sim, "POST", "/refuse-websockets", params={"seconds": "5"}))[0] == 204
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await open_tap(http, sim)
    assert (await admin(http, sim, "POST", "/refuse-websockets"))[0] == 400


async def test_restart_vanishes_everything_without_events(sim: SimHandle,
                                                          http: aiohttp.ClientSession) -> None:
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "v1")
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "vb"})
    await ari(http, sim, "POST", "/bridges/vb/addChannel", params={"channel": "v1"})
    await tap.wait_type("ChannelEnteredBridge", "v1")
    await sim.restart()
    await asyncio.wait_for(tap.closed.wait(), 5)
    teardown = {"ChannelHangupRequest", "ChannelLeftBridge", "StasisEnd", "ChannelDestroyed",
                "BridgeDestroyed"}
    assert not teardown & set(tap.types())  # everything vanished without a word
    assert (await ari(http, sim, "GET", "/channels"))[1] == []
    assert (await ari(http, sim, "GET", "/bridges"))[1] == []
    assert (await ari(http, sim, "GET", "/applications"))[1] == []
    tap2 = await open_tap(http, sim)
    await answered(http, sim, tap2, "v2")
    assert (await admin(http, sim, "POST", "/restart"))[0] == 204
    await asyncio.wait_for(tap2.closed.wait(), 5)
    assert (await admin(http, sim, "GET", "/state"))[1]["channels"] == []


async def test_delayed_events_arrive_late_and_in_order(sim: SimHandle,
                                                       http: aiohttp.ClientSession) -> None:
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "late")
    sim.delay_events(300)
    sent = time.monotonic()
    await ari(http, sim, "DELETE", "/channels/late")
    await tap.wait_type("ChannelDestroyed", "late")
    assert time.monotonic() - sent >= 0.3
    assert tap.of("late")[-4:] == ["ChannelHangupRequest:32", "StasisEnd",
                                   "ChannelVarset:STASISSTATUS", "ChannelDestroyed:16"]
    assert (await admin(http, sim, "POST", "/delay-events", params={"ms": "0"}))[0] == 204
    assert (await admin(http, sim, "POST", "/delay-events", params={"ms": "-1"}))[0] == 400
    await tap.close()


async def test_fail_next_by_nickname_and_by_path(sim: SimHandle,
                                                 http: aiohttp.ClientSession) -> None:
    params = {"endpoint": "Local/answer@sim-phones", "app": "evscallpro"}
    sim.fail_next("originate", count=2, status=503, message="try later")
    for _ in range(2):
        assert await ari(http, sim, "POST", "/channels", params=params) == (
            503, {"message": "try later"})
    assert (await ari(http, sim, "POST", "/channels", params=params))[0] == 200
    sim.fail_next("POST /bridges/{bridgeId}/addChannel", status=500, message="boom")
    await ari(http, sim, "POST", "/bridges", params={"bridgeId": "fb"})
    assert await ari(http, sim, "POST", "/bridges/fb/addChannel", params={"channel": "x"}) == (
        500, {"message": "boom"})
    assert (await ari(http, sim, "POST", "/bridges/fb/addChannel",
                      params={"channel": "x"}))[0] == 400  # back to normal
    status, _ = await admin(http, sim, "POST", "/fail-next", json={
        "operation": "GET /channels", "count": 1, "status": 500, "message": "list failed"})
    assert status == 204
    assert await ari(http, sim, "GET", "/channels") == (500, {"message": "list failed"})
    assert (await admin(http, sim, "POST", "/fail-next", json={"operation": "x",
                                                               "status": 200}))[0] == 400
    assert (await admin(http, sim, "POST", "/fail-next", data=b"{oops"))[0] == 400
    with pytest.raises(ValueError):
        sim.fail_next("originate", count=0)


async def test_far_end_hangup_and_digit_on_demand(sim: SimHandle,
                                                  http: aiohttp.ClientSession) -> None:
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "ph")
    sim.press_digit("ph", "5")
    digit = await tap.wait_type("ChannelDtmfReceived", "ph")
    assert digit["digit"] == "5"
    assert (await admin(http, sim, "POST", "/channels/ph/dtmf", params={"digit": "#"}))[0] == 204
    await tap.wait_for(lambda e: e["type"] == "ChannelDtmfReceived" and e["digit"] == "#")
    assert (await admin(http, sim, "POST", "/channels/ph/dtmf", params={"digit": "xx"}))[0] == 400
    sim.far_end_hangup("ph", 17)
    destroyed = await tap.wait_type("ChannelDestroyed", "ph")
    assert destroyed["cause"] == 17
    await answered(http, sim, tap, "ph2")
    assert (await admin(http, sim, "POST", "/channels/ph2/hangup", params={"cause": "16"}))[0] == 204
    await tap.wait_type("ChannelDestroyed", "ph2")
    assert (await admin(http, sim, "POST", "/channels/ghost/hangup"))[0] == 404
    await tap.close()


def test_simulator_thread_serves_a_threaded_client(tmp_path: Path) -> None:
    with SimulatorThread(time_scale=50.0, recordings_dir=tmp_path) as sim:
        request = urllib.request.Request(
            sim.ari_url + "/channels?endpoint=Local/noanswer@sim-phones&app=other&channelId=t1",
            method="POST", headers=auth_header(sim))  # type: ignore[arg-type]
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        ids = [c["id"] for c in sim.state()["channels"]]
        assert ids[0] == "t1" and ids[1].replace(".", "").isdigit()  # Asterisk-style uniqueid
        sim.fail_next("list", 1, 500, "x")
        sim.delay_events(0)
        sim.refuse_websockets(0)
        assert sim.drop_websockets() == 0
        sim.restart()
        assert sim.state()["channels"] == []
        assert sim.recordings_dir == tmp_path
    assert not any(t.name == "ari-simulator" and t.is_alive() for t in threading.enumerate())


def test_cli_registers_sim_and_rejects_a_bad_config(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from evscallpro.cli import build_parser

    args = build_parser().parse_args(["sim", "--port", "0", "--time-scale", "10"])
    assert args.handler is sim_cli.run and args.time_scale == 10.0
    bad = tmp_path / "bad.toml"
    bad.write_text("time_scale = -1\n")
    parser = argparse.ArgumentParser()
    sim_cli.register(parser.add_subparsers())
    assert sim_cli.run(parser.parse_args(["sim", "--config", str(bad)])) == 2
    assert "time_scale" in capsys.readouterr().err
