"""A node's core on the bus: commands over NATS reach the CallCenterApp (refusals come
back), views arrive in order with a per-view seq, the snapshot agrees with the changes, a
supervision of the node's call works, and the heartbeat beats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from support.sim_core import ALICE, WAIT_S, core_config

from asterisk.sim.testing import SimulatorThread
from bus.node_service import NodeService, ping_subject
from bus.protocol import (
    GetSnapshot,
    HangUp,
    LogIn,
    NodeCommand,
    NodeReply,
    PlaceCall,
    StopSupervision,
    Supervise,
    ViewChange,
    command_encoder,
    command_subject,
    health_decoder,
    health_subject,
    reply_decoder,
    view_decoder,
    view_subject,
)
from bus.server import NatsServer
from core.domain import CallStep, SupervisionMode
from evscallpro.root import CallCenterApp, SupervisorEntry

pytestmark = pytest.mark.slow

NODE = "n1"
SAM = SupervisorEntry(supervisor_id="s1", endpoint="Local/answer@sim-phones")


@dataclass
class Views:
    """Every ViewChange received, with an event per arrival."""

    changes: list[ViewChange] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_message(self, msg: Msg) -> None:
        self.changes.append(view_decoder.decode(msg.data))
        self.arrived.set()

    async def wait_for(self, predicate: object, timeout: float = WAIT_S) -> ViewChange:
        assert callable(predicate)

        async def found() -> ViewChange:
            while True:
                for change in self.changes:
                    if predicate(change):
                        return change
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(found(), timeout)


@dataclass
class Node:
    app: CallCenterApp
    service: NodeService
    client: NATS
    views: Views

    async def ask(self, command: NodeCommand) -> NodeReply:
        answer = await self.client.request(
            command_subject(NODE), command_encoder.encode(command), timeout=WAIT_S
        )
        return reply_decoder.decode(answer.data)


@pytest.fixture
async def node(sim: SimulatorThread, nats_server: NatsServer) -> AsyncIterator[Node]:
    server_side = await nats.connect(nats_server.url)
    client = await nats.connect(nats_server.url)
    views = Views()
    await client.subscribe(view_subject(NODE), cb=views.on_message)
    await client.flush()
    app = CallCenterApp(core_config(sim, agents=(ALICE,), supervisors=(SAM,)))
    service = NodeService(server_side, NODE, app, agent_ids=["a1"], health_interval_s=0.2)
    service.attach()
    await asyncio.to_thread(app.start, WAIT_S)
    await service.start()
    await service.seed_agents()
    try:
        yield Node(app, service, client, views)
    finally:
        await service.stop()
        await asyncio.to_thread(app.stop)
        await client.close()
        await server_side.close()


def agent_changes(views: Views, agent_id: str) -> list[ViewChange]:
    return [c for c in views.changes if c.agent is not None and c.agent.agent_id == agent_id]


def call_changes(views: Views, call_id: str) -> list[ViewChange]:
    return [c for c in views.changes if c.call is not None and c.call.call_id == call_id]


async def test_commands_reach_the_core_and_refusals_come_back(node: Node) -> None:
    assert (await node.ask(LogIn(agent_id="a1"))).refusal is None
    refused = (await node.ask(LogIn(agent_id="nobody"))).refusal
    assert refused is not None and refused.code == "unknown_agent"
    bad = reply_decoder.decode(
        (await node.client.request(command_subject(NODE), b'{"type":"Nope"}', timeout=WAIT_S)).data
    )
    assert bad.refusal is not None and bad.refusal.code == "bad_command"
    not_live = (await node.ask(Supervise(supervisor_id="s1", call_id="c-none",
                                         mode=SupervisionMode.LISTEN))).refusal
    assert not_live is not None and not_live.code != "internal_error"
    stranger = (await node.ask(Supervise(supervisor_id="zed", call_id="c-none",
                                         mode=SupervisionMode.LISTEN))).refusal
    assert stranger is not None and stranger.code == "unknown_supervisor"


async def test_views_in_order_with_per_view_seq_and_a_snapshot_that_agrees(node: Node) -> None:
    assert (await node.ask(LogIn(agent_id="a1"))).refusal is None
    # +33600000001: the simulator's customer who answers and stays on the line.
    assert (await node.ask(PlaceCall(agent_id="a1", customer_number="+33600000001"))).refusal is None
    connected = await node.views.wait_for(
        lambda c: c.call is not None and c.call.step == CallStep.CONNECTED
    )
    assert connected.call is not None
    call_id = connected.call.call_id

    snapshot = (await node.ask(GetSnapshot())).snapshot
    assert snapshot is not None and snapshot.node == NODE
    assert snapshot.incarnation == node.service.incarnation
    [agent] = snapshot.agents
    [call] = snapshot.calls
    assert call.view.call_id == call_id and call.seq >= connected.seq
    assert agent.view.agent_id == "a1" and agent.view.call is not None

    # A supervisor of the configuration listens to the node's call, then stops.
    listen = Supervise(supervisor_id="s1", call_id=call_id, mode=SupervisionMode.LISTEN)
    assert (await node.ask(listen)).refusal is None
    await node.views.wait_for(
        lambda c: c.call is not None and c.call.call_id == call_id
        and ("s1", SupervisionMode.LISTEN) in c.call.monitored_by
    )
    assert (await node.ask(StopSupervision(supervisor_id="s1", call_id=call_id))).refusal is None

    assert (await node.ask(GetSnapshot())).snapshot is not None
    # The agent hangs up: the change after the snapshot has a higher seq than it held.
    assert (await node.ask(HangUp(agent_id="a1", call_id=call_id))).refusal is None
    ended = await node.views.wait_for(
        lambda c: c.call is not None and c.call.call_id == call_id and c.call.step == CallStep.ENDED
    )
    assert ended.seq > call.seq
    later = (await node.ask(GetSnapshot())).snapshot
    assert later is not None and later.calls == []  # an ended call leaves the snapshot
    [agent_later] = later.agents
    await node.views.wait_for(lambda c: c.agent is not None and c.seq == agent_later.seq)
    assert agent_later.seq > agent.seq

    for changes in (call_changes(node.views, call_id), agent_changes(node.views, "a1")):
        seqs = [c.seq for c in changes]
        assert seqs == list(range(1, len(seqs) + 1)), seqs  # in order, none lost
        assert {c.incarnation for c in changes} == {node.service.incarnation}
        stamps = [c.published_at for c in changes]  # the bus hop's start, in publish order
        assert all(t > 0 for t in stamps) and stamps == sorted(stamps), stamps
    steps = [c.call.step for c in call_changes(node.views, call_id) if c.call is not None]
    first_ended = steps.index(CallStep.ENDED)
    assert steps.index(CallStep.CONNECTED) < first_ended
    assert set(steps[first_ended:]) == {CallStep.ENDED}  # what follows the end adds detail


async def test_health_heartbeat(node: Node) -> None:
    beats: asyncio.Queue[bytes] = asyncio.Queue()

    async def on_beat(msg: Msg) -> None:
        await beats.put(msg.data)

    await node.client.subscribe(health_subject(NODE), cb=on_beat)
    first = health_decoder.decode(await asyncio.wait_for(beats.get(), WAIT_S))
    second = health_decoder.decode(await asyncio.wait_for(beats.get(), WAIT_S))
    for beat in (first, second):
        assert beat.node == NODE and beat.incarnation == node.service.incarnation
        assert beat.telephony_state == "up" and beat.agents == ["a1"]
        assert beat.app == "evscallpro"
    assert second.at > first.at
    pong = await node.client.request(ping_subject(NODE), b"", timeout=WAIT_S)
    assert pong.data == b"pong"
