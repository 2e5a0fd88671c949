"""Wallboard frames are built once per window for every supervisor seeing the same board and
broadcast; a monitoring supervisor gets their own rows; a slow board is resynced alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import test_gateway_wallboard_cache as shared_fixtures
from gateway_helpers import Browser, recv_until
from test_gateway_wallboard_cache import CountingRenderer, on_call

from core.domain import AgentState, CallStep, SupervisionMode, WorkstationMode
from core.views import AgentView
from gateway.hub import ROW_KEY_PREFIX, TOTALS_KEY, WALLBOARD_KEY, Hub, HubClient
from gateway.render import WallboardFragments
from gateway.server import Gateway
from gateway.wallboard_group import Seat, WallboardGroup

two_boards = shared_fixtures.two_boards  # the fixture: a gateway with two supervisors


def paused(agent_id: str, since: float) -> AgentView:
    return AgentView(agent_id=agent_id, display_name=agent_id.title(), state=AgentState.PAUSED,
                     state_since=since, pause_reason="break")


class Wire:
    """Stands for websockets.broadcast: records each write and to how many sockets."""

    def __init__(self) -> None:
        self.sends: list[tuple[list[object], str]] = []

    def __call__(self, connections: Sequence[object], html: str) -> None:
        self.sends.append((list(connections), html))


def seat(name: str, buffered: list[int] | None = None, alive: list[bool] | None = None) -> Seat:
    size = buffered if buffered is not None else [0]
    up = alive if alive is not None else [True]
    return Seat(name, lambda: up[0], lambda: size[0])


async def make_group(n: int) -> tuple[Hub, WallboardGroup, CountingRenderer, Wire, list[HubClient]]:
    hub = Hub(asyncio.get_running_loop())
    hub.seed([AgentView(agent_id=a, display_name=a.title(), state=AgentState.AVAILABLE,
                        state_since=1.0) for a in ("alice", "bob")])
    renderer = CountingRenderer()
    wire = Wire()
    group = WallboardGroup("fr", hub, WallboardFragments(renderer), wire, batch_s=0.0)
    clients = []
    for i in range(n):
        client = HubClient(f"sup{i}", wallboard=True)
        hub.attach(client)
        client.clear()  # as if its own sender had sent the full board
        client.known_rows = {"alice", "bob"}
        assert group.try_join(client, seat(f"socket{i}"))
        clients.append(client)
    return hub, group, renderer, wire, clients


async def test_one_frame_per_window_for_all_members() -> None:
    hub, group, renderer, wire, clients = await make_group(10)
    hub.publish(paused("alice", 2.0))
    hub.publish(paused("bob", 2.5))
    hub.publish(paused("alice", 3.0))  # alice's latest state only
    batch = await asyncio.wait_for(group.outbox.next_batch(), 1)
    html = group.flush(batch)
    assert len(wire.sends) == 1 and len(wire.sends[0][0]) == 10 and wire.sends[0][1] == html
    assert len(renderer.rows) == 2  # one row per agent, not per supervisor
    assert renderer.totals_renders == 1
    assert 'id="row-alice"' in html and 'id="row-bob"' in html and 'id="total-paused">2<' in html
    assert all(c.pending_keys == [] for c in clients)  # members' own outboxes stay empty


async def test_a_slow_board_leaves_and_gets_the_latest_state_alone() -> None:
    buffered = [0]
    hub, group, _, wire, _clients = await make_group(3)
    slow = HubClient("slow", wallboard=True)
    hub.attach(slow)
    slow.clear()
    slow.known_rows = {"alice", "bob"}
    assert group.try_join(slow, seat("slow-socket", buffered))
    buffered[0] = group.slow_bytes + 1  # its browser stopped reading
    for since in (2.0, 3.0, 4.0):
        hub.publish(paused("alice", since))
        group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert all("slow-socket" not in sockets for sockets, _ in wire.sends)
    assert len(wire.sends) == 3 and group.resyncs == 1 and slow not in group.members
    # Its own outbox holds one full board (rendered at send time: the latest state) plus the
    # rows since, coalesced: a bounded set of keys, not a queue of frames.
    assert set(slow.pending_keys) == {WALLBOARD_KEY, f"{ROW_KEY_PREFIX}alice", TOTALS_KEY}
    assert not group.try_join(slow, seat("slow-socket", buffered))  # still behind


async def test_a_monitoring_supervisor_leaves_with_the_frames_changes() -> None:
    hub, group, _, wire, clients = await make_group(2)
    watcher = clients[0]
    hub.publish(on_call(monitored_by=((watcher.user_id, SupervisionMode.LISTEN),)))
    html = group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert watcher not in group.members and wire.sends[-1][0] == ["socket1"]
    assert 'class="monitoring"' not in html
    assert set(watcher.pending_keys) == {f"{ROW_KEY_PREFIX}alice", TOTALS_KEY}
    assert not group.try_join(watcher, seat("socket0"))  # while monitoring
    hub._apply(on_call())  # applied now (publish only schedules it)
    watcher.clear()  # its own sender sent those rows
    assert group.try_join(watcher, seat("socket0"))


async def test_a_new_agent_sends_one_full_board_to_all() -> None:
    hub, group, _renderer, wire, clients = await make_group(3)
    hub.publish(paused("carol", 2.0))
    html = group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert 'id="row-carol"' in html and 'id="row-alice"' in html and len(wire.sends) == 1
    assert all(c.known_rows == {"alice", "bob", "carol"} for c in clients)


async def test_through_the_gateway_both_boards_join_and_get_one_frame(
    two_boards: Gateway,
) -> None:
    fake = two_boards.call_center
    base = two_boards.base_url  # type: ignore[attr-defined]
    sam, sue = Browser(base), Browser(base)
    try:
        assert (await sam.login("sam")).status == 200
        assert (await sue.login("sue", "sue-pw-4")).status == 200
        async with sam.socket() as sam_ws, sue.socket() as sue_ws:
            await recv_until(sam_ws, 'id="row-alice"')
            await recv_until(sue_ws, 'id="row-alice"')
            (group,) = two_boards.groups.values()
            assert {c.user_id for c in group.members} == {"sam", "sue"}
            frames = group.frames
            await asyncio.to_thread(fake.set_workstation, "alice", WorkstationMode.SOFTPHONE)  # type: ignore[attr-defined]
            await asyncio.to_thread(fake.set_available, "alice")  # type: ignore[attr-defined]
            await recv_until(sam_ws, 'row-available')
            await recv_until(sue_ws, 'row-available')
            assert group.frames > frames
            assert fake.place_call("alice", "+33145678901") is None
            await asyncio.to_thread(fake.advance, "alice", CallStep.CONNECTED)  # type: ignore[attr-defined]
            call_id = fake.call_of("alice").call_id  # type: ignore[attr-defined]
            await asyncio.to_thread(fake.supervise, "sam", call_id, SupervisionMode.WHISPER)  # type: ignore[attr-defined]
            mine = await recv_until(sam_ws, 'data-mode="whisper"')
            theirs = await recv_until(sue_ws, 'data-supervise="alice:whisper"')
            assert 'data-stop="alice"' in mine and 'class="monitoring"' not in theirs
            assert {c.user_id for c in group.members} == {"sue"}
    finally:
        await sam.close()
        await sue.close()


async def test_a_board_with_changes_pending_joins_and_gets_them_in_the_next_frame() -> None:
    hub, group, _, wire, _clients = await make_group(2)
    late = HubClient("late", wallboard=True)
    hub.attach(late)
    late.clear()
    late.known_rows = {"alice", "bob"}
    hub._apply(paused("alice", 2.0))  # applied while its own sender was writing
    group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))  # before it joined
    assert set(late.pending_keys) == {f"{ROW_KEY_PREFIX}alice", TOTALS_KEY}
    late.offer("html:notice", "<div id=notice></div>")
    assert group.try_join(late, seat("late-socket"))
    assert late.pending_keys == ["html:notice"]  # its own, still sent by its own sender
    html = group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert "late-socket" in wire.sends[-1][0] and 'id="row-alice"' in html
    assert "row-paused" in html


async def test_a_board_waiting_for_its_full_board_does_not_join() -> None:
    hub, group, _, _, _ = await make_group(1)
    fresh = HubClient("fresh", wallboard=True)
    hub.attach(fresh)  # the full board is pending
    fresh.known_rows = {"alice", "bob"}
    assert not group.try_join(fresh, seat("fresh-socket"))


async def test_a_big_frame_being_read_is_not_taken_for_a_slow_board() -> None:
    hub, group, _, wire, clients = await make_group(1)
    group.slow_bytes = 100
    buffered = [0]
    reader = HubClient("reader", wallboard=True)
    hub.attach(reader)
    reader.clear()
    reader.known_rows = {"alice", "bob"}
    assert group.try_join(reader, seat("reader-socket", buffered))
    hub._apply(paused("carol", 2.0))  # a new agent: one full board for all
    board = group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert len(board) > 1000 and group.allowance == 2 * len(board)
    buffered[0] = len(board)  # not read yet, over two more (small) frames
    for since in (3.0, 3.5):
        hub._apply(paused("alice", since))
        group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert reader in group.members and group.resyncs == 0
    buffered[0] = 10 * len(board)  # really stuck
    hub._apply(paused("alice", 4.0))
    group.flush(await asyncio.wait_for(group.outbox.next_batch(), 1))
    assert reader not in group.members and group.resyncs == 1
    assert clients[0] in group.members and "reader-socket" not in wire.sends[-1][0]
