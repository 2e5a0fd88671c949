"""The wallboard's fragments are rendered once and shared by the supervisors' connections,
yet each supervisor still sees only their own "you listen/whisper/barge" marker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until

from core.domain import AgentState, CallStep, SupervisionMode, WorkstationMode
from core.views import AgentView, CallView
from gateway.contacts import ContactStore
from gateway.hub import ROW_KEY_PREFIX, TOTALS_KEY, Hub, HubClient
from gateway.i18n import Catalog
from gateway.render import Renderer, WallboardFragments
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

NOW = 2000.0


class CountingRenderer(Renderer):
    """A renderer at a fixed clock that counts the wallboard renders it really does."""

    def __init__(self) -> None:
        super().__init__(Catalog(), GatewaySettings(), clock=lambda: NOW)
        self.rows: list[tuple[str, str, bool]] = []
        self.totals_renders = 0

    def wallboard_row(self, lang: str, supervisor_id: str, agent: AgentView, known: bool) -> str:
        self.rows.append((lang, supervisor_id, known))
        return super().wallboard_row(lang, supervisor_id, agent, known)

    def totals(self, lang: str, totals: dict[str, int]) -> str:
        self.totals_renders += 1
        return super().totals(lang, totals)


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def on_call(monitored_by: tuple[tuple[str, SupervisionMode], ...] = ()) -> AgentView:
    call = CallView(call_id="call-1", agent_id="alice", step=CallStep.CONNECTED,
                    customer_number="+33145678901", workstation=WorkstationMode.SOFTPHONE,
                    step_since=NOW - 65, connected_at=NOW - 65, monitored_by=monitored_by)
    return AgentView(agent_id="alice", display_name="Alice Martin", state=AgentState.ON_CALL,
                     state_since=NOW - 70, workstation=WorkstationMode.SOFTPHONE, call=call)


def test_a_row_is_rendered_once_for_supervisors_not_monitoring() -> None:
    renderer = CountingRenderer()
    shared = WallboardFragments(renderer, clock=Ticks())
    agent = on_call()
    rows = [shared.row("fr", sup, agent, True) for sup in ("sam", "sue", "sol")]
    assert len(renderer.rows) == 1
    assert rows[0] == rows[1] == rows[2]
    # Identical to what each supervisor would have got rendered for them alone.
    assert rows[2] == Renderer(Catalog(), GatewaySettings(), clock=lambda: NOW).wallboard_row(
        "fr", "sol", agent, True)
    assert "01:05" in rows[0] and 'class="monitoring"' not in rows[0]


def test_a_monitoring_supervisor_sees_their_marker_and_others_do_not() -> None:
    renderer = CountingRenderer()
    shared = WallboardFragments(renderer, clock=Ticks())
    agent = on_call(monitored_by=(("sam", SupervisionMode.LISTEN), ("sol", SupervisionMode.BARGE)))
    sue_first = shared.row("fr", "sue", agent, True)  # the shared, non-monitoring row first
    sam = shared.row("fr", "sam", agent, True)
    sue = shared.row("fr", "sue", agent, True)
    sol = shared.row("fr", "sol", agent, True)
    ann = shared.row("fr", "ann", agent, True)
    assert sue_first == sue == ann
    assert 'class="monitoring"' not in sue and 'data-stop="alice"' not in sue
    assert 'data-mode="listen"' in sam and 'data-stop="alice"' in sam
    assert 'data-supervise="alice:listen"' not in sam and 'data-supervise="alice:barge"' in sam
    assert 'data-mode="barge"' in sol and 'data-mode="listen"' not in sol
    assert len(renderer.rows) == 3  # none, listen, barge
    direct = Renderer(Catalog(), GatewaySettings(), clock=lambda: NOW)
    for who, html in (("sam", sam), ("sue", sue), ("sol", sol)):
        assert html == direct.wallboard_row("fr", who, agent, True), who


def test_language_and_known_rows_are_rendered_apart() -> None:
    renderer = CountingRenderer()
    shared = WallboardFragments(renderer, clock=Ticks())
    agent = on_call()
    fr_known = shared.row("fr", "sam", agent, True)
    fr_new = shared.row("fr", "sue", agent, False)
    en_known = shared.row("en", "sol", agent, True)
    assert len(renderer.rows) == 3
    assert fr_new.startswith('<div hx-swap-oob="beforeend:#wallboard-body">')
    assert 'hx-swap-oob="true"' in fr_known and "beforeend" not in fr_known
    assert "Connecté" in fr_known or "En appel" in fr_known
    assert en_known != fr_known


def test_a_new_view_or_an_old_entry_is_rendered_again() -> None:
    renderer = CountingRenderer()
    ticks = Ticks()
    shared = WallboardFragments(renderer, clock=ticks, max_age_s=0.25)
    agent = on_call()
    shared.row("fr", "sam", agent, True)
    paused = AgentView(agent_id="alice", display_name="Alice Martin", state=AgentState.PAUSED,
                       state_since=NOW, pause_reason="lunch")
    assert "Déjeuner" in shared.row("fr", "sue", paused, True)
    assert len(renderer.rows) == 2
    ticks.now = 0.2
    shared.row("fr", "sol", paused, True)
    assert len(renderer.rows) == 2  # same view, young entry: shared
    ticks.now = 0.5  # the timers' `now` would be too old: drawn again
    shared.row("fr", "sam", paused, True)
    assert len(renderer.rows) == 3
    # An equal but new view object (a republished state) is drawn again too.
    shared.row("fr", "sam", msgspec.structs.replace(paused), True)
    assert len(renderer.rows) == 4


def test_totals_are_rendered_once_per_value() -> None:
    renderer = CountingRenderer()
    shared = WallboardFragments(renderer)
    counts = {"available": 3, "on_call": 1, "wrap_up": 0, "paused": 1, "calls": 1}
    first = shared.totals("fr", dict(counts))
    assert shared.totals("fr", dict(counts)) == first
    assert renderer.totals_renders == 1
    changed = shared.totals("fr", {**counts, "available": 2, "on_call": 2})
    assert renderer.totals_renders == 2 and 'id="total-available">2<' in changed
    assert 'id="total-available">3<' in first


async def test_hub_totals_follow_every_change_and_reach_only_the_right_outboxes() -> None:
    hub = Hub(asyncio.get_running_loop())
    alice = HubClient("alice", wallboard=False)
    bob = HubClient("bob", wallboard=False)
    boards = [HubClient(sup, wallboard=True) for sup in ("sam", "sue")]
    for client in (alice, bob, *boards):
        hub.attach(client)
        await client.next_batch()  # the initial state
    hub.seed([AgentView(agent_id="alice", display_name="Alice", state=AgentState.AVAILABLE,
                        state_since=1.0)])
    assert hub.totals()["available"] == 1
    hub.publish(AgentView(agent_id="alice", display_name="Alice", state=AgentState.PAUSED,
                          state_since=2.0, pause_reason="break"))
    batch = await asyncio.wait_for(alice.next_batch(), 1)
    assert list(batch) == ["agent"] and bob.pending_keys == []
    for board in boards:
        assert set(board.pending_keys) == {f"{ROW_KEY_PREFIX}alice", TOTALS_KEY}
    totals = hub.totals()
    assert totals["available"] == 0 and totals["paused"] == 1
    totals["paused"] = 99  # a caller's copy: the hub's count is not changed by it
    assert hub.totals()["paused"] == 1
    hub.detach(boards[0])
    hub.detach(alice)
    hub.publish(AgentView(agent_id="alice", display_name="Alice", state=AgentState.AVAILABLE,
                          state_since=3.0))
    await asyncio.wait_for(boards[1].next_batch(), 1)
    assert alice.pending_keys == [] and hub.client_count == 2
    assert hub.totals()["available"] == 1


# -- through the gateway: two supervisors' sockets -------------------------------------------


@pytest.fixture
async def two_boards(fake: FakeCallCenter, settings: GatewaySettings, users_template: list[Any],
                     contacts: ContactStore) -> AsyncIterator[Gateway]:
    users = UserDirectory(list(users_template),
                          hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("sue", "sue-pw-4", Role.SUPERVISOR, "Sue Blanc")
    gw = Gateway(fake, settings, users, contacts)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


async def test_two_wallboards_share_one_render_and_keep_their_own_marker(
    two_boards: Gateway, fake: FakeCallCenter, tmp_path: Path
) -> None:
    rendered: list[tuple[AgentView, bool, str]] = []  # the views are kept: ids stay unique
    render = two_boards.renderer.wallboard_row

    def counted(lang: str, supervisor_id: str, agent: AgentView, known: bool) -> str:
        rendered.append((agent, known, supervisor_id))
        return render(lang, supervisor_id, agent, known)

    two_boards.renderer.wallboard_row = counted  # type: ignore[method-assign]
    base = two_boards.base_url  # type: ignore[attr-defined]
    sam, sue = Browser(base), Browser(base)
    try:
        assert (await sam.login("sam")).status == 200
        assert (await sue.login("sue", "sue-pw-4")).status == 200
        async with sam.socket() as sam_ws, sue.socket() as sue_ws:
            await recv_until(sam_ws, 'id="row-alice"')
            await recv_until(sue_ws, 'id="row-alice"')
            await asyncio.to_thread(fake.set_workstation, "alice", WorkstationMode.SOFTPHONE)
            await asyncio.to_thread(fake.set_available, "alice")
            assert fake.place_call("alice", "+33145678901") is None
            await recv_until(sam_ws, 'data-supervise="alice:listen"')
            await recv_until(sue_ws, 'data-supervise="alice:listen"')
            rendered.clear()
            await asyncio.to_thread(fake.advance, "alice", CallStep.CONNECTED)
            await recv_until(sam_ws, 'data-step="connected"')
            await recv_until(sue_ws, 'data-step="connected"')
            # Each published view of alice is drawn once for both boards, not once per board
            # (how many views the boards saw depends on their batching).
            drawn = [(id(agent), known) for agent, known, _ in rendered]
            assert drawn and len(drawn) == len(set(drawn)), [s for _, _, s in rendered]
            call_id = fake.call_of("alice").call_id
            await asyncio.to_thread(fake.supervise, "sam", call_id, SupervisionMode.WHISPER)
            mine = await recv_until(sam_ws, 'data-mode="whisper"')
            theirs = await recv_until(sue_ws, 'data-supervise="alice:whisper"')
            assert 'data-stop="alice"' in mine and 'data-supervise="alice:whisper"' not in mine
            assert 'class="monitoring"' not in theirs and 'data-stop="alice"' not in theirs
    finally:
        await sam.close()
        await sue.close()


async def test_a_wallboard_change_after_a_quiet_spell_leaves_at_once_a_burst_waits() -> None:
    hub = Hub(asyncio.get_running_loop())
    sup = HubClient("sam", wallboard=True, batch_s=5.0)
    hub.attach(sup)
    first = await asyncio.wait_for(sup.next_batch(), 1)  # quiet before: no 5 s wait
    assert list(first) == ["wallboard"]
    hub.publish(AgentView(agent_id="alice", display_name="Alice", state=AgentState.PAUSED,
                          state_since=2.0, pause_reason="break"))
    waiter = asyncio.create_task(sup.next_batch())
    done, _ = await asyncio.wait({waiter}, timeout=0.2)
    assert not done  # within 5 s of the last frame: waits for the window's end
    waiter.cancel()
    sup._last_batch_at -= 5.0  # as if the last frame left 5 s ago
    batch = await asyncio.wait_for(sup.next_batch(), 1)
    assert set(batch) == {f"{ROW_KEY_PREFIX}alice", TOTALS_KEY}
