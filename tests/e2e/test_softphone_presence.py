"""The real core against the simulator with a browser softphone (the Python test phone,
speaking JsSIP's SIP over WebSocket with aiortc media): an agent leg to a softphone that is
not registered fails as `softphone_not_registered` (W03), and a softphone whose page closes
mid-call is seen offline by `SoftphonePresence`, which ends the call (`agent_softphone_lost`,
W05: Asterisk alone would keep the channel Up)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
from e2e_support import Core

from actors.loop import EventLoopThread
from actors.softphone_presence import SoftphonePresence
from asterisk.sim.sip_test_phone import TestSoftphone
from asterisk.sim.testing import SimulatorThread
from core.domain import CallOutcome, CallStep, WorkstationMode
from core.softphone import OFFLINE_HANGUP_BY, REASON_NOT_REGISTERED, REASON_OFFLINE

pytestmark = pytest.mark.timeout(90)
ENDPOINT = "webrtc-1001"  # asterisk/sim/default.toml
PASSWORD = "webrtc-1001-secret"
WAIT_S = 15.0
LOCAL = "Local/{}@sim-phones"


@pytest.fixture
def phone_loop() -> Iterator[EventLoopThread]:
    loop = EventLoopThread("test-softphone")
    loop.start()
    yield loop
    loop.stop()


def on(loop: EventLoopThread, coro: Any) -> Any:
    return asyncio.run_coroutine_threadsafe(coro, loop.loop).result(WAIT_S)


def test_unregistered_softphone_is_a_failed_agent_leg_named_so(core: Core) -> None:
    req = core.call(f"PJSIP/{ENDPOINT}", LOCAL.format("answer"),
                    workstation=WorkstationMode.SOFTPHONE)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.AGENT_UNREACHABLE
    assert record.reason.startswith(REASON_NOT_REGISTERED)
    assert "Allocation failed" in record.reason


def test_closed_page_mid_call_ends_the_call_as_softphone_lost(
        core: Core, sim: SimulatorThread, phone_loop: EventLoopThread) -> None:
    async def registered() -> tuple[aiohttp.ClientSession, TestSoftphone]:
        http = aiohttp.ClientSession()
        phone = TestSoftphone(http, sim.base_url, ENDPOINT, PASSWORD)
        assert await phone.register() == 200
        return http, phone

    http, phone = on(phone_loop, registered())
    end_call: Callable[[str], object] = lambda cid: core.app.hang_up_call(cid, by=OFFLINE_HANGUP_BY)  # noqa: E731
    presence = SoftphonePresence(sim.base_url, sim.username, sim.password, "evscallpro",
                                 {"a1": ENDPOINT}, end_call)
    core.app.subscribe(presence.on_view)
    presence.start()
    try:
        assert presence.ready.wait(WAIT_S)
        assert presence.online(ENDPOINT) is True
        req = core.call(f"PJSIP/{ENDPOINT}", LOCAL.format("answer"),
                        workstation=WorkstationMode.SOFTPHONE)
        assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
        on(phone_loop, phone.close())  # the page goes: no BYE, the socket closes
        record = core.record(req.call_id)
        assert (record.outcome, record.reason) == (CallOutcome.AGENT_SOFTPHONE_LOST,
                                                   REASON_OFFLINE)
        assert presence.ended_calls == [req.call_id]
        assert presence.online(ENDPOINT) is False
        assert phone.requests_received("BYE") == []
    finally:
        presence.stop()
        on(phone_loop, http.close())
