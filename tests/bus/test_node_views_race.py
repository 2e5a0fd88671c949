"""The view contract under load, without telephony: views published from several actor
threads while gateways ask for snapshots. A gateway that applies a snapshot, then every
change whose (incarnation, seq) is newer than what it holds, ends with the latest view of
every agent, whatever arrived first."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.msg import Msg

from bus.node_service import NodeService
from bus.protocol import (
    GetSnapshot,
    LogIn,
    command_encoder,
    command_subject,
    reply_decoder,
    view_decoder,
    view_subject,
)
from bus.server import NatsServer
from core.domain import AgentState, Refusal
from core.telephony import TelephonyHealth
from core.views import AgentView

AGENTS = [f"a{n}" for n in range(8)]
CHANGES = 300  # views per agent


class FakeCore:
    """Agents whose views change on their own threads; requests answered at once."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[Any], None]] = []
        self.latest: dict[str, AgentView] = {}
        self.lock = threading.Lock()

    def subscribe(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: None

    def publish(self, view: AgentView) -> None:
        with self.lock:
            self.latest[view.agent_id] = view
        for listener in self.listeners:
            listener(view)

    def log_in(self, agent_id: str) -> Refusal | None:
        return None if agent_id in AGENTS else Refusal("unknown_agent", agent_id)

    def snapshot(self) -> list[AgentView]:
        with self.lock:
            return list(self.latest.values())

    def telephony_health(self) -> TelephonyHealth:
        return TelephonyHealth()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


def view(agent_id: str, n: int) -> AgentView:
    return AgentView(agent_id=agent_id, display_name=agent_id, state=AgentState.AVAILABLE,
                     state_since=float(n))


async def test_snapshot_then_newer_changes_give_the_latest_views(nats_server: NatsServer) -> None:
    node_side = await nats.connect(nats_server.url)
    gateway = await nats.connect(nats_server.url)
    core = FakeCore()
    service = NodeService(node_side, "n1", core, agent_ids=AGENTS)  # type: ignore[arg-type]
    service.attach()
    await service.start()
    held: dict[str, tuple[int, AgentView]] = {}
    received = asyncio.Event()

    def apply(seq: int, agent: AgentView) -> None:
        if agent.agent_id not in held or held[agent.agent_id][0] < seq:
            held[agent.agent_id] = (seq, agent)

    async def on_change(msg: Msg) -> None:
        change = view_decoder.decode(msg.data)
        assert change.incarnation == service.incarnation and change.agent is not None
        apply(change.seq, change.agent)
        received.set()

    await gateway.subscribe(view_subject("n1"), cb=on_change)
    await gateway.flush()

    def agent_thread(agent_id: str) -> None:
        for n in range(1, CHANGES + 1):
            core.publish(view(agent_id, n))

    threads = [threading.Thread(target=agent_thread, args=(a,)) for a in AGENTS]
    for thread in threads:
        thread.start()
    snapshots = 0
    while any(t.is_alive() for t in threads) or snapshots < 3:
        answer = await gateway.request(command_subject("n1"),
                                       command_encoder.encode(GetSnapshot()), timeout=10)
        snapshot = reply_decoder.decode(answer.data).snapshot
        assert snapshot is not None
        for sequenced in snapshot.agents:
            apply(sequenced.seq, sequenced.view)
        snapshots += 1
    for thread in threads:
        thread.join(10)
    refusal = reply_decoder.decode((await gateway.request(
        command_subject("n1"), command_encoder.encode(LogIn(agent_id="zz")), timeout=10)).data)
    assert refusal.refusal == Refusal("unknown_agent", "zz")

    async def caught_up() -> None:
        while not all(a in held and held[a][0] == CHANGES for a in AGENTS):
            received.clear()
            await received.wait()

    await asyncio.wait_for(caught_up(), 30)
    assert {a: held[a][1] for a in AGENTS} == {a: view(a, CHANGES) for a in AGENTS}
    await service.stop()
    await gateway.close()
    await node_side.close()
