"""The gateway on the real core: CallCenterApp and its actors against the ARI simulator.

One browser session (a WebSocket speaking the htmx ws extension's JSON) places a call
through the gateway and follows it to the qualification, as the agent desktop does.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from gateway_helpers import Browser, recv_until
from support.sim_core import WAIT_S, core_config

from asterisk.sim.testing import SimulatorThread
from evscallpro.root import AgentDirectoryEntry, CallCenterApp
from gateway.contacts import ContactStore
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

pytestmark = pytest.mark.slow


def send(action: str, **fields: str) -> str:
    return json.dumps({"action": action, **fields, "HEADERS": {"HX-Request": "true"}})


@pytest.fixture
def core(sim: SimulatorThread) -> Iterator[CallCenterApp]:
    alice = AgentDirectoryEntry(
        agent_id="alice", display_name="Alice Martin", softphone_endpoint="agent-1001"
    )
    app = CallCenterApp(core_config(sim, agents=(alice,)))
    app.start(wait_for_link_s=WAIT_S)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
async def real_gateway(core: CallCenterApp, tmp_path: Path) -> AsyncIterator[Gateway]:
    users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("alice", "alice-pw-1", Role.AGENT, "Alice Martin", "+33600000001")
    users.add("sam", "sam-pw-3", Role.SUPERVISOR, "Sam Leroy")
    settings = GatewaySettings(port=0, data_dir=str(tmp_path), session_secret="x" * 32)
    gw = Gateway(core, settings, users, ContactStore(tmp_path / "contacts.json"))
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


async def test_agent_call_through_gateway_and_core(real_gateway: Gateway) -> None:
    agent = Browser(real_gateway.base_url)  # type: ignore[attr-defined]
    try:
        assert (await agent.login("alice", "alice-pw-1")).status == 200  # logs in to the core
        async with agent.socket() as ws:
            await recv_until(ws, 'data-state="available"', timeout=10)
            await ws.send(send("set_workstation", mode="mobile", mobile_number="+33600000001"))
            # Accepted (the notice is cleared). The core publishes no AgentView for a
            # workstation change alone (actors/agent_actor.py), so the radio follows later.
            await recv_until(ws, 'id="notice"', timeout=10)
            # +33600000008: the simulator's customer who answers, then hangs up after 5 s.
            await ws.send(send("place_call", number="+33600000008"))
            await recv_until(ws, "Votre mobile sonne", timeout=10)
            await recv_until(ws, "En communication", timeout=15)
            frame = await recv_until(ws, 'id="wrapup-form"', timeout=15)
            assert 'data-outcome="completed"' in frame
            call_id = frame.split('name="call_id" value="')[1].split('"')[0]
            await ws.send(send("qualify", call_id=call_id, disposition="sale"))
            frame = await recv_until(ws, 'data-state="available"', timeout=10)
            assert 'id="wrapup-form"' not in frame
            assert "06 00 00 00 08" in frame  # in today's history
    finally:
        await agent.close()


async def test_busy_customer_and_ui_hang_up_through_gateway_and_core(real_gateway: Gateway) -> None:
    agent = Browser(real_gateway.base_url)  # type: ignore[attr-defined]
    sup = Browser(real_gateway.base_url)  # type: ignore[attr-defined]
    try:
        assert (await agent.login("alice", "alice-pw-1")).status == 200
        assert (await sup.login("sam", "sam-pw-3")).status == 200
        async with agent.socket() as ws, sup.socket() as board:
            await recv_until(ws, 'data-state="available"', timeout=10)
            await ws.send(send("set_workstation", mode="mobile", mobile_number="+33600000001"))
            await recv_until(ws, 'id="notice"', timeout=10)
            await ws.send(send("place_call", number="+33600000002"))  # busy
            frame = await recv_until(ws, 'id="wrapup-form"', timeout=15)
            assert 'data-outcome="customer_busy"' in frame and "Client occupé" in frame
            call_id = frame.split('name="call_id" value="')[1].split('"')[0]
            await ws.send(send("qualify", call_id=call_id, disposition="callback"))
            await recv_until(ws, 'data-state="available"', timeout=10)

            await ws.send(send("place_call", number="+33600000001"))  # answers and stays
            await recv_until(ws, "En communication", timeout=15)
            row = await recv_until(board, 'data-step="connected"', timeout=5)
            live_id = row.split('name="call_id" value="')[1].split('"')[0]
            await board.send(send("supervise", call_id=live_id, mode="listen"))
            assert "notice-error" in await recv_until(board, 'id="notice"', timeout=5)
            await ws.send(send("hang_up", call_id=live_id))
            frame = await recv_until(ws, 'id="wrapup-form"', timeout=15)
            assert 'data-outcome="completed"' in frame or 'data-outcome="cancelled"' in frame
    finally:
        await agent.close()
        await sup.close()
