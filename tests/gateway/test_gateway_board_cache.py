"""The full wallboard sent on connect is rendered once per (language, hub version), not once
per connecting supervisor; a supervisor who monitors a call still gets their own board."""

from __future__ import annotations

import asyncio

import test_gateway_wallboard_cache as shared_fixtures
from gateway_helpers import Browser, published, recv_until
from test_gateway_wallboard_cache import NOW, Ticks, on_call

from core.domain import AgentState, SupervisionMode
from core.views import AgentView
from gateway.hub import Hub
from gateway.i18n import Catalog
from gateway.render import Renderer, WallboardFragments
from gateway.server import Gateway
from gateway.settings import GatewaySettings

two_boards = shared_fixtures.two_boards  # the fixture: a gateway with two supervisors
TOTALS = {"available": 0, "on_call": 1, "wrap_up": 0, "paused": 0, "calls": 1}


class BoardCounter(Renderer):
    def __init__(self) -> None:
        super().__init__(Catalog(), GatewaySettings(), clock=lambda: NOW)
        self.boards = 0

    def wallboard(self, lang: str, supervisor_id: str, agents: list[AgentView],
                  totals: dict[str, int]) -> str:
        self.boards += 1
        return super().wallboard(lang, supervisor_id, agents, totals)


def test_the_board_is_rendered_once_per_language_and_version() -> None:
    renderer = BoardCounter()
    ticks = Ticks()
    shared = WallboardFragments(renderer, clock=ticks, max_age_s=0.25)
    agents = [on_call()]
    first = shared.board("fr", 7, agents, TOTALS)
    assert all(shared.board("fr", 7, agents, TOTALS) == first for _ in range(20))
    assert renderer.boards == 1
    # Equal to the board a supervisor monitoring nothing gets rendered for them alone.
    direct = Renderer(Catalog(), GatewaySettings(), clock=lambda: NOW)
    assert first == direct.wallboard("fr", "sam", agents, TOTALS)
    shared.board("en", 7, agents, TOTALS)
    assert renderer.boards == 2
    shared.board("fr", 8, agents, TOTALS)  # the hub changed
    assert renderer.boards == 3
    ticks.now = 0.5  # same version, but its timers' `now` would be too old
    shared.board("fr", 8, agents, TOTALS)
    assert renderer.boards == 4


async def test_the_hub_version_and_monitoring_follow_each_view() -> None:
    hub = Hub(asyncio.get_running_loop())
    start = hub.version
    hub.seed([AgentView(agent_id="alice", display_name="Alice", state=AgentState.AVAILABLE,
                        state_since=1.0)])
    assert hub.version == start + 1 and hub.monitoring() == frozenset()
    hub.seed([on_call(monitored_by=(("sam", SupervisionMode.LISTEN),))])  # already known: kept
    assert hub.version == start + 1
    await published(hub, on_call(monitored_by=(("sam", SupervisionMode.LISTEN),)))
    assert hub.version == start + 2 and hub.monitoring() == frozenset({"sam"})
    await published(hub, on_call())
    assert hub.monitoring() == frozenset()


async def test_supervisors_connecting_share_one_board_render(two_boards: Gateway) -> None:
    boards: list[str] = []
    render = two_boards.renderer.wallboard

    def counted(lang: str, supervisor_id: str, agents: list[AgentView],
                totals: dict[str, int]) -> str:
        boards.append(supervisor_id)
        return render(lang, supervisor_id, agents, totals)

    two_boards.renderer.wallboard = counted  # type: ignore[method-assign]
    two_boards.wallboard_fragments.max_age_s = 60.0  # a slow test machine must not expire it
    base = two_boards.base_url  # type: ignore[attr-defined]
    sam, sue = Browser(base), Browser(base)
    try:
        assert (await sam.login("sam")).status == 200
        assert (await sue.login("sue", "sue-pw-4")).status == 200
        async with sam.socket() as sam_ws:
            await recv_until(sam_ws, 'id="row-alice"')
            async with sue.socket() as sue_ws:
                await recv_until(sue_ws, 'id="row-alice"')
        assert len(boards) == 1, boards
    finally:
        await sam.close()
        await sue.close()
