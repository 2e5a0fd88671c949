"""A deleted bridge's id is not free at once (traces README, "Later facts"): the simulator
answers 409 on create and 404 on addChannel / DELETE while a bridge deleted with channels in
it is being destroyed, throws its channels out when it finishes, then frees the id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sim_helpers import EventTap, ari, open_tap
from test_sim_faults import answered

from asterisk.sim.config import load_config
from asterisk.sim.testing import SimHandle, running_simulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[SimHandle]:
    # 25 Asterisk seconds at time scale 50: a 0.5 s window, wide enough on a loaded machine.
    async with running_simulator(load_config(bridge_dissolve_s=25.0), time_scale=50.0) as h:
        yield h


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _left(tap: EventTap, bridge: str, cid: str) -> bool:
    return any(
        e["type"] == "ChannelLeftBridge"
        and e["bridge"]["id"] == bridge
        and e["channel"]["id"] == cid
        for e in tap.events
    )


async def test_deleted_bridge_with_a_channel_keeps_its_id_until_destroyed(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "k1")
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b1"}))[0] == 200
    assert (await ari(http, sim, "POST", "/bridges/b1/addChannel", params={"channel": "k1"}))[
        0
    ] == 204
    await tap.wait_type("ChannelEnteredBridge", "k1")
    assert (await ari(http, sim, "DELETE", "/bridges/b1"))[0] == 204
    status, body = await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b1"})
    assert (status, body) == (409, {"message": "Bridge with id 'b1' already exists"})
    status, body = await ari(http, sim, "POST", "/bridges/b1/addChannel", params={"channel": "k1"})
    assert (status, body) == (404, {"message": "Bridge not found"})
    assert (await ari(http, sim, "DELETE", "/bridges/b1"))[0] == 404
    assert sim.state()["dissolving_bridges"] == ["b1"]
    await tap.wait_for(lambda e: e["type"] == "BridgeDestroyed" and e["bridge"]["id"] == "b1")
    assert _left(tap, "b1", "k1")
    assert sim.state()["dissolving_bridges"] == []
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b1"}))[0] == 200


async def test_empty_bridge_id_is_free_at_once(sim: SimHandle, http: aiohttp.ClientSession) -> None:
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b2"}))[0] == 200
    assert (await ari(http, sim, "DELETE", "/bridges/b2"))[0] == 204
    assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": "b2"}))[0] == 200


async def test_channel_moved_out_of_a_dissolving_bridge_is_thrown_out_of_its_new_one(
    sim: SimHandle, http: aiohttp.ClientSession
) -> None:
    """A supervisor added to the call bridge while its private bridge is deleted: Asterisk
    logged it joining the call bridge and leaving it at once, leaving it Up in no bridge."""
    tap = await open_tap(http, sim)
    await answered(http, sim, tap, "sup")
    for bridge in ("private", "call"):
        assert (await ari(http, sim, "POST", "/bridges", params={"bridgeId": bridge}))[0] == 200
    await ari(http, sim, "POST", "/bridges/private/addChannel", params={"channel": "sup"})
    await tap.wait_type("ChannelEnteredBridge", "sup")
    assert (await ari(http, sim, "DELETE", "/bridges/private"))[0] == 204
    assert (await ari(http, sim, "POST", "/bridges/call/addChannel", params={"channel": "sup"}))[
        0
    ] == 204  # accepted...
    await tap.wait_for(
        lambda e: e["type"] == "ChannelEnteredBridge" and e["bridge"]["id"] == "call"
    )
    # (no BridgeDestroyed here: moving the channel out dropped the app's subscription)
    await tap.wait_for(lambda e: _left(tap, "call", "sup"))  # ...and thrown out
    assert _left(tap, "private", "sup")
    status, call = await ari(http, sim, "GET", "/bridges/call")
    assert status == 200 and call["channels"] == []
    assert (await ari(http, sim, "GET", "/channels/sup"))[1]["state"] == "Up"
