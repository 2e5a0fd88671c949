"""The agent desktop and wallboard over the WebSocket, against the scripted fake core."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until

from core.domain import CallOutcome, CallStep, Refusal, SupervisionMode
from gateway.server import Gateway


def send(action: str, **fields: str) -> str:
    return json.dumps({"action": action, **fields, "HEADERS": {"HX-Request": "true"}})


async def agent_socket(gateway: Gateway, user: str = "alice") -> Browser:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    assert (await b.login(user)).status == 200
    return b


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ("not json at all", "malformed"),
        ('{"action": "launch_missiles"}', "launch_missiles"),
        ('{"call_id": "x"}', "action"),
        ('{"action": "hang_up"}', "call_id"),
        ('{"action": "hang_up", "call_id": ""}', "call_id"),
        ('{"action": "set_workstation", "mode": "fax"}', "mode"),
        ('{"action": "pause", "reason": 42}', "reason"),
        ("[1, 2, 3]", "invalid"),
    ],
)
async def test_bad_messages_get_an_error_and_change_nothing(
    gateway: Gateway, fake: FakeCallCenter, message: str, why: str
) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            before = list(fake.requests)
            await ws.send(message)
            frame = await recv_until(ws, 'id="notice"')
            assert "notice-error" in frame and why in frame
            assert fake.requests == before
    finally:
        await b.close()


async def test_agent_may_not_supervise(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            await ws.send(send("supervise", call_id="call-1", mode="listen"))
            frame = await recv_until(ws, "notice-error")
            assert "Vous n&#39;avez pas le droit" in frame
            assert not [r for r in fake.requests if r[0] == "supervise"]
    finally:
        await b.close()


async def test_agent_cannot_hang_up_another_agents_call(gateway: Gateway, fake: FakeCallCenter) -> None:
    fake.log_in("bob")
    fake.set_workstation("bob", fake.agent("bob").workstation or "mobile", "+33698765432")  # type: ignore[arg-type]
    assert fake.place_call("bob", "+33145678901") is None
    bobs_call = fake.call_of("bob").call_id
    fake.wait_idle()
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            await ws.send(send("hang_up", call_id=bobs_call))
            other_agents = await recv_until(ws, "notice-error")
            await ws.send(send("hang_up", call_id="no-such-call"))
            no_call = await recv_until(ws, "notice-error")
            # The same words for another agent's live call and for no call at all: an
            # agent cannot probe which call ids exist (issue 10, item 15).
            assert other_agents == no_call
            assert "pas d&#39;appel en cours avec cet identifiant" in no_call
            assert bobs_call not in no_call + other_agents
            assert not [r for r in fake.requests if r[0] == "hang_up"]
            assert fake.call_of("bob").step == CallStep.REQUESTED
    finally:
        await b.close()


async def test_supervisor_may_not_place_calls(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway, "sam")
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="wallboard"')
            await ws.send(send("place_call", number="+33145678901"))
            await recv_until(ws, "notice-error")
            assert not [r for r in fake.requests if r[0] == "place_call"]
    finally:
        await b.close()


async def test_invalid_input_is_explained(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            await ws.send(send("set_workstation", mode="mobile", mobile_number=""))
            assert "numéro de mobile" in await recv_until(ws, "notice-error")
            await ws.send(send("set_workstation", mode="mobile", mobile_number="12"))
            assert "« 12 » n&#39;est pas un numéro de téléphone valide" in await recv_until(ws, "notice-error")
            await ws.send(send("place_call", number="not a number"))
            assert "« not a number » n&#39;est pas" in await recv_until(ws, "notice-error")
            await ws.send(send("pause", reason="nap"))
            assert "motif" in await recv_until(ws, "notice-error")
            assert not [r for r in fake.requests if r[0] in ("set_workstation", "place_call", "pause")]
    finally:
        await b.close()


async def test_a_call_from_request_to_qualification(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            await ws.send(send("set_workstation", mode="mobile", mobile_number="06 12 34 56 78"))
            await recv_until(ws, 'value="mobile" checked')
            assert ("set_workstation", ("alice", "mobile", "+33612345678")) in fake.requests
            await ws.send(send("show_contact", contact_id="c1"))
            card = await recv_until(ws, 'id="contact-card"')
            assert "offre de printemps" in card  # the campaign's call script
            await ws.send(send("place_call", number="+33145678901", contact_id="c1"))
            await recv_until(ws, "Préparation de l&#39;appel")
            for step, words in [
                (CallStep.AGENT_DIALING, "Votre mobile sonne"),
                (CallStep.AGENT_CONFIRMING, "Appuyez sur 1 pour accepter"),
                (CallStep.ANNOUNCING, "Appel du client en cours"),
                (CallStep.CUSTOMER_DIALING, "Le téléphone du client sonne"),
                (CallStep.CONNECTED, "En communication"),
            ]:
                fake.advance("alice", step)
                frame = await recv_until(ws, words)
                assert 'id="hang-up"' in frame  # hang-up offered at every step
            call_id = fake.call_of("alice").call_id
            await ws.send(send("hang_up", call_id=call_id))
            frame = await recv_until(ws, 'id="wrapup-form"')
            assert "Vous avez raccroché" in frame
            assert "disabled" in frame.split('id="set-available"')[1].split(">")[0]
            await ws.send(send("set_available"))
            assert "Qualifiez" in await recv_until(ws, "notice-error")
            await ws.send(send("qualify", call_id=call_id, disposition="sale",
                               comment="ok", callback_at="2026-12-01T10:30"))
            frame = await recv_until(ws, 'data-state="available"')
            assert 'id="wrapup-form"' not in frame
            assert "Mes appels du jour" in frame and "01 45 67 89 01" in frame
            assert fake.qualifications == [("alice", call_id, "sale", "ok", "2026-12-01T10:30")]
    finally:
        await b.close()


async def test_a_failed_call_shows_its_reason(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            await ws.send(send("set_workstation", mode="softphone"))
            await recv_until(ws, 'value="softphone" checked')
            await ws.send(send("place_call", number="0145678901"))
            await recv_until(ws, "Préparation")
            fake.advance("alice", CallStep.AGENT_DIALING)
            await recv_until(ws, "Votre softphone sonne")
            fake.advance("alice", CallStep.CUSTOMER_DIALING)
            fake.fail("alice", CallOutcome.CUSTOMER_BUSY, "busy")
            frame = await recv_until(ws, "Client occupé")
            assert 'data-outcome="customer_busy"' in frame
    finally:
        await b.close()


async def test_a_call_the_agent_did_not_accept_needs_no_qualification(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            await ws.send(send("set_workstation", mode="mobile", mobile_number="0612345678"))
            await recv_until(ws, 'value="mobile" checked')
            await ws.send(send("place_call", number="0145678901"))
            await recv_until(ws, "Préparation")
            fake.advance("alice", CallStep.AGENT_CONFIRMING)
            await recv_until(ws, "Appuyez sur 1")
            fake.fail("alice", CallOutcome.AGENT_NOT_CONFIRMED, "no_digit")
            frame = await recv_until(ws, "touche 1 non pressée")
            assert 'id="wrapup-form"' not in frame  # no customer conversation: nothing to qualify
            assert 'data-state="available"' in frame and "Dernier appel" in frame
    finally:
        await b.close()


async def test_core_refusal_is_shown(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            await ws.send(send("place_call", number="0145678901"))  # no workstation chosen
            frame = await recv_until(ws, "notice-error")
            assert "choisissez d&#39;abord un poste" in frame  # the core's refusal, in words
    finally:
        await b.close()


async def test_each_agent_gets_only_their_own_updates(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            fake.log_in("bob")
            fake.pause("bob", "lunch")
            fake.pause("alice", "break")  # published after bob's changes, on the same thread
            frame = await recv_until(ws, 'id="agent-status"')
            assert "Pause café" in frame  # the first frame after is alice's own
            assert "Bob" not in frame and "Déjeuner" not in frame.split('id="pause-reason"')[0]
    finally:
        await b.close()


async def test_reconnecting_browser_gets_the_live_call(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            await ws.send(send("set_workstation", mode="mobile", mobile_number="+33612345678"))
            await ws.send(send("place_call", number="+33145678901"))
            await recv_until(ws, "Préparation")
        fake.advance("alice", CallStep.CONNECTED)  # the call goes on while the browser is away
        fake.wait_idle()
        async with b.socket() as ws:
            frame = await recv_until(ws, 'id="call-panel"')
            assert "En communication" in frame and 'id="call-timer"' in frame
    finally:
        await b.close()


async def test_supervisor_wallboard_and_listen(gateway: Gateway, fake: FakeCallCenter) -> None:
    agent = await agent_socket(gateway)
    sup = await agent_socket(gateway, "sam")
    try:
        async with agent.socket() as agent_ws, sup.socket() as sup_ws:
            await recv_until(agent_ws, "Disponible")
            await recv_until(sup_ws, 'id="row-alice"')
            await agent_ws.send(send("set_workstation", mode="mobile", mobile_number="+33612345678"))
            await agent_ws.send(send("place_call", number="+33145678901"))
            await recv_until(agent_ws, "Préparation")
            fake.advance("alice", CallStep.CONNECTED)
            board = await recv_until(sup_ws, 'data-step="connected"')
            assert 'id="total-calls">1<' in board and 'id="total-on_call">1<' in board
            call_id = fake.call_of("alice").call_id
            await sup_ws.send(send("supervise", call_id=call_id, mode="listen"))
            board = await recv_until(sup_ws, "Vous écoutez")
            assert ("supervise", ("sam", call_id, SupervisionMode.LISTEN)) in fake.requests
            assert "Un superviseur écoute cet appel." in await recv_until(agent_ws, 'id="monitored"')
            await sup_ws.send(send("supervise", call_id="call-999", mode="barge"))
            assert "pas en cours" in await recv_until(sup_ws, "notice-error")
    finally:
        await agent.close()
        await sup.close()


async def test_recordings_for_supervisors_only(gateway: Gateway, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = settings.resolved_recordings_dir()
    folder.mkdir(parents=True)
    (folder / "call-7-bridge.wav").write_bytes(b"RIFF....WAVEfmt fake")
    (tmp_path / "secret.wav").write_bytes(b"nope")
    sup = await agent_socket(gateway, "sam")
    try:
        page = await sup.get("/recordings")
        assert "call-7-bridge" in await page.text()
        wav = await sup.get("/recordings/call-7-bridge.wav")
        assert wav.status == 200 and wav.headers["Content-Type"] == "audio/wav"
        assert await wav.read() == b"RIFF....WAVEfmt fake"
        for bad in ("/recordings/..%2Fsecret.wav", "/recordings/.hidden.wav", "/recordings/nope.wav"):
            assert (await sup.get(bad)).status == 404, bad
        filtered = await sup.get("/recordings?q=zzz")
        assert "call-7-bridge" not in await filtered.text()
    finally:
        await sup.close()


async def test_contact_search(gateway: Gateway) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            await ws.send(send("search_contacts", q="boulangerie"))
            assert "Claire Petit" in await recv_until(ws, 'id="contact-list"')
            await ws.send(send("search_contacts", q="nobody"))
            assert "Aucun contact trouvé" in await recv_until(ws, 'id="contact-list"')
            await ws.send(send("show_contact", contact_id="c404"))
            assert "n&#39;existe pas" in await recv_until(ws, "notice-error")
    finally:
        await b.close()


async def test_a_flood_of_messages_is_cut_off(gateway: Gateway, fake: FakeCallCenter) -> None:
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            for _ in range(80):  # the limit is 60 per 10 s per connection
                await ws.send(send("pause", reason="break"))
            await recv_until(ws, "Trop de demandes", timeout=5)
            await asyncio.to_thread(fake.wait_idle)
            assert len([r for r in fake.requests if r[0] == "pause"]) == 60
    finally:
        await b.close()


async def test_every_change_reaches_agent_and_wallboard(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    """Delivery, not speed: the latency is measured by load-tests/gateway_bench.py."""
    agent = await agent_socket(gateway)
    sup = await agent_socket(gateway, "sam")
    try:
        async with agent.socket() as ws, sup.socket() as board:
            await recv_until(ws, "Disponible")
            await recv_until(board, 'id="row-alice"')
            for reason in ["break", "lunch"] * 10:
                await asyncio.to_thread(fake.pause, "alice", reason)  # an actor thread publishes
                words = "Pause café" if reason == "break" else "Déjeuner"
                await recv_until(ws, f"En pause · {words}", timeout=10)
                await recv_until(board, f"En pause · {words}", timeout=10)
    finally:
        await agent.close()
        await sup.close()


async def test_an_open_desk_brings_its_agent_back_on_shift_after_the_core_lost_them(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    """A node restarted (or a core that lost the agent) says the agent is offline while the
    desk is still open: the gateway logs the agent in again, once, with no click."""
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            fake.log_out("alice")  # e.g. the core restarted
            await recv_until(ws, 'data-state="offline"')
            frame = await recv_until(ws, 'data-state="available"')
            assert 'id="log-in"' not in frame
            after = fake.requests[fake.requests.index(("log_out", ("alice",))):]
            assert after.count(("log_in", ("alice",))) == 1
            # lost again a moment later (a node restarting twice): back on shift again, the
            # throttle holds back repeats only while the agent stays offline
            fake.log_out("alice")
            await recv_until(ws, 'data-state="offline"')
            await recv_until(ws, 'data-state="available"')
            after = fake.requests[fake.requests.index(("log_out", ("alice",))):]
            assert after.count(("log_in", ("alice",))) == 2
            fake.log_out("bob")  # Bob has no desk open here: left offline
            fake.wait_idle()
            assert ("log_in", ("bob",)) not in fake.requests
    finally:
        await b.close()


async def test_offline_agent_can_start_their_shift(
    gateway: Gateway, fake: FakeCallCenter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the core refuses to log the agent in again, the desk offers the button."""
    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            log_in = fake.log_in
            monkeypatch.setattr(fake, "log_in", lambda agent_id: Refusal("telephony_down"))
            fake.log_out("alice")
            frame = await recv_until(ws, 'id="log-in"')
            assert "hors ligne" in frame
            monkeypatch.setattr(fake, "log_in", log_in)
            await ws.send(send("log_in"))
            frame = await recv_until(ws, 'data-state="available"')
            assert 'id="log-in"' not in frame
    finally:
        await b.close()


async def test_a_browser_that_does_not_read_gets_the_latest_state_not_a_backlog(
    gateway: Gateway, fake: FakeCallCenter
) -> None:
    from core.domain import AgentState
    from core.views import AgentView

    b = await agent_socket(gateway)
    try:
        async with b.socket() as ws:
            await recv_until(ws, "Disponible")
            base = fake.agent("alice")

            def burst() -> None:  # an actor thread publishing 3,000 changes, fast
                for i in range(3000):
                    reason = "lunch" if i == 2999 else "break"
                    fake.publish_raw(AgentView(
                        agent_id="alice", display_name=base.display_name, state=AgentState.PAUSED,
                        state_since=float(i), pause_reason=reason))
                fake.wait_idle()

            await asyncio.to_thread(burst)  # the test reads nothing meanwhile
            outboxes = [c for c in gateway.hub._clients if c.user_id == "alice"]
            assert outboxes and all(len(c.pending_keys) <= 1 for c in outboxes)
            frames = 0

            async def until_final() -> None:
                nonlocal frames
                while True:
                    frame = str(await ws.recv())
                    frames += 1
                    if "En pause · Déjeuner" in frame:
                        return

            await asyncio.wait_for(until_final(), 5)
            assert frames < 1000, frames  # coalesced (about 20 here): far fewer than changes
    finally:
        await b.close()
