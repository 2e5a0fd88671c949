"""The mid-call switch on the agent desk: the button on a connected call, progress and the
reason of a failure, and the offer when the desk's link degrades (heartbeats unanswered)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until

from core.domain import CallStep, WorkstationMode
from gateway.link_quality import LinkQuality, watch_link
from gateway.server import Gateway
from gateway.settings import GatewaySettings, validate


def send(action: str, **fields: str) -> str:
    return json.dumps({"action": action, **fields, "HEADERS": {"HX-Request": "true"}})


def connected_call(fake: FakeCallCenter, workstation: WorkstationMode) -> str:
    fake.log_in("alice")
    fake.set_workstation("alice", workstation, "+33612345678")
    assert fake.place_call("alice", "+33145678901") is None
    fake.advance("alice", CallStep.CONNECTED)
    fake.wait_idle()
    return fake.call_of("alice").call_id


async def frames_until(ws: object, *needles: str, timeout: float = 2.0) -> str:
    """Every frame until each needle was seen (a notice and the desk may share a frame)."""
    seen = ""

    async def scan() -> str:
        nonlocal seen
        while not all(n in seen for n in needles):
            seen += str(await ws.recv())  # type: ignore[attr-defined]
        return seen

    try:
        return await asyncio.wait_for(scan(), timeout)
    except TimeoutError:
        raise AssertionError(f"{needles!r} not all received: {seen[-2000:]!r}") from None


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def test_softphone_call_offers_the_mobile_and_shows_why_the_switch_failed(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    call_id = connected_call(fake, WorkstationMode.SOFTPHONE)
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    try:
        async with b.socket() as ws:
            desk = await recv_until(ws, 'id="switch-call"')
            assert "Passer l&#39;appel sur mon mobile" in desk
            assert 'data-degraded="false"' in desk and "switch-degraded" not in desk
            await ws.send(send("switch_call", call_id=call_id, target="mobile"))
            progress = await frames_until(ws, "Votre mobile va sonner", 'id="switch-progress"')
            assert "Passage de l&#39;appel sur votre mobile" in progress
            assert ("switch_agent_leg", ("alice", call_id, WorkstationMode.MOBILE)) in fake.requests
            fake.switch_over("alice", "no_answer")
            result = await recv_until(ws, 'id="switch-result"')
            assert "Votre mobile n&#39;a pas répondu" in result
            assert "sur mon mobile" in result  # the button is there again
    finally:
        await b.close()


async def test_mobile_call_offers_the_softphone_and_says_when_it_moved(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    call_id = connected_call(fake, WorkstationMode.MOBILE)
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    try:
        async with b.socket() as ws:
            desk = await recv_until(ws, 'id="switch-call"')
            assert "Passer l&#39;appel sur mon softphone" in desk
            await ws.send(send("switch_call", call_id=call_id, target="softphone"))
            await frames_until(ws, 'id="switch-progress"')
            fake.switch_over("alice", "switched")
            result = await recv_until(ws, 'id="switch-result"')
            assert "L&#39;appel est passé sur votre softphone" in result
            assert "sur mon mobile" in result  # and it can go back
    finally:
        await b.close()


async def test_switch_of_a_call_not_connected_is_refused_in_words(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    fake.log_in("alice")
    fake.set_workstation("alice", WorkstationMode.SOFTPHONE, None)
    assert fake.place_call("alice", "+33145678901") is None
    fake.wait_idle()
    call_id = fake.call_of("alice").call_id
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    try:
        async with b.socket() as ws:
            desk = await recv_until(ws, 'id="call-panel"')
            assert 'id="switch-call"' not in desk  # only on a connected call
            await ws.send(send("switch_call", call_id=call_id, target="mobile"))
            refused = await recv_until(ws, "notice-error")
            assert "seul un appel en communication peut changer de poste" in refused
            await ws.send(send("switch_call", call_id=call_id, target="fax"))
            bad = await recv_until(ws, "notice-error")
            assert "target" in bad
    finally:
        await b.close()


@pytest.fixture
def settings(tmp_path: Path) -> GatewaySettings:
    """Fast heartbeats: two unanswered ones make the link degraded."""
    return GatewaySettings(
        port=0,
        data_dir=str(tmp_path),
        session_secret="test-secret-0123456789abcdef",
        link_heartbeat_s=0.2,
        link_window=3,
        link_loss_degraded=0.5,
    )


async def test_unanswered_heartbeats_make_the_desk_offer_the_mobile(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    connected_call(fake, WorkstationMode.SOFTPHONE)
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'data-degraded="false"')
            await until(lambda: "alice" in gateway.links)
            link = gateway.links["alice"]
            await until(lambda: link.rtt_s is not None)  # answered heartbeats: a round trip
            assert not link.degraded
            ws.transport.pause_reading()  # the browser stops answering (a bad link)
            await until(lambda: link.degraded)
            ws.transport.resume_reading()
            offer = await recv_until(ws, 'id="switch-degraded"')
            assert "Votre connexion se dégrade" in offer and "btn-primary" in offer
            await until(lambda: not link.degraded)  # answered again: the offer goes
            calm = await recv_until(ws, 'data-degraded="false"')
            assert "switch-degraded" not in calm
    finally:
        await b.close()


def test_link_quality_counts_round_trips_and_losses() -> None:
    q = LinkQuality(rtt_degraded_s=0.4, loss_degraded=0.3, window=4)
    assert not q.degraded and q.rtt_s is None and q.loss == 0.0
    assert not q.answered(0.05)
    assert not q.answered(0.1)
    assert q.rtt_s == pytest.approx(0.075)
    assert q.lost()  # 1 of 3 lost: 33 % >= 30 %: degraded (changed)
    assert q.degraded and q.loss == pytest.approx(1 / 3)
    assert q.answered(0.05)  # 1 of 4 lost: 25 % < 30 %: no longer degraded (changed)
    assert not q.degraded
    for _ in range(4):
        q.answered(0.6)  # slow but answered: the median round trip decides
    assert q.degraded and q.loss == 0.0


async def test_watch_link_reports_a_lost_heartbeat_and_stops_with_the_connection() -> None:
    changes: list[bool] = []
    quality = LinkQuality(rtt_degraded_s=1.0, loss_degraded=0.5, window=2)
    changed = asyncio.Event()

    class Silent:  # a peer that never answers, then closes
        pings = 0

        async def ping(self) -> asyncio.Future[float]:
            self.pings += 1
            if self.pings > 2:
                raise ConnectionError("closed")
            return asyncio.get_running_loop().create_future()

    def on_change() -> None:
        changes.append(quality.degraded)
        changed.set()

    await asyncio.wait_for(watch_link(Silent(), quality, 0.01, on_change), 5.0)
    assert changed.is_set() and changes == [True]
    assert quality.loss == 1.0


def test_link_settings_are_checked() -> None:
    bad = msgspec.structs.replace(
        GatewaySettings(session_secret="x" * 16), link_heartbeat_s=0.01, link_window=0,
        link_rtt_degraded_ms=1, link_loss_degraded=0,
    )
    errors = "\n".join(validate(bad))
    for key in ("link_heartbeat_s", "link_window", "link_rtt_degraded_ms", "link_loss_degraded"):
        assert f"gateway.{key}" in errors


async def test_the_desk_keeps_the_mobile_on_the_line_and_offers_to_call_it_back(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    fake.log_in("alice")
    fake.set_workstation("alice", WorkstationMode.MOBILE, "+33612345678")
    fake.wait_idle()
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login("alice")).status == 200
    try:
        async with b.socket() as ws:
            desk = await recv_until(ws, 'id="open-session"')
            assert "Garder mon mobile en ligne entre les appels" in desk
            await ws.send(send("open_session"))
            ringing = await frames_until(ws, "Votre mobile va sonner", 'data-state="dialing"')
            assert "Libérer mon mobile" in ringing
            assert ("open_agent_session", ("alice", WorkstationMode.MOBILE)) in fake.requests
            fake._change("alice", leg_session="waiting", leg_session_calls=3)
            waiting = await recv_until(ws, 'data-state="waiting"')
            assert "Mobile en ligne, en attente d&#39;appel (3 appels)" in waiting
            fake._change("alice", leg_session="ended", leg_session_reason="agent_hung_up")
            ended = await recv_until(ws, 'id="leg-session-ended"')
            assert "Rappeler mon mobile" in ended and "session terminée (3 appels)" in ended
            await ws.send(send("close_session"))
            await frames_until(ws, 'data-reason="closed"')
    finally:
        await b.close()
