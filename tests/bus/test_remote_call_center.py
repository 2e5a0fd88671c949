"""RemoteCallCenter against a real nats-server and fake nodes (tests/bus/fake_node.py):
routing, refusals, node_unavailable, ordering of views, snapshots, health."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_node import (
    WAIT_S,
    FakeNode,
    Views,
    agent,
    call,
    refusal,
    two_node_settings,
    wait_until,
)
from prometheus_client import REGISTRY

from bus.bus_thread import BusThread
from bus.protocol import GetSnapshot, LogIn, PlaceCall, StopSupervision, Supervise
from bus.remote_call_center import RemoteCallCenter
from bus.server import NatsServer
from core.domain import AgentState, SupervisionMode
from core.telephony import TelephonyState
from core.views import AgentView
from evscallpro.settings_file import BusSettings


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def nodes(nats_server: NatsServer) -> Iterator[dict[str, FakeNode]]:
    started = {n: FakeNode(nats_server.url, n).start() for n in ("n1", "n2")}
    try:
        yield started
    finally:
        for node in started.values():
            node.stop()


def remote(nats_server: NatsServer, tmp_path: Path, timeout_s: float = 2.0,
           stale_s: float = 3.5) -> RemoteCallCenter:
    settings = two_node_settings(tmp_path, nats_server.url)
    bus = BusThread(BusSettings(url=nats_server.url), "gateway").start()
    return RemoteCallCenter(settings, bus, request_timeout_s=timeout_s, stale_s=stale_s).start()


@pytest.fixture
def center(nats_server: NatsServer, tmp_path: Path,
           nodes: dict[str, FakeNode]) -> Iterator[RemoteCallCenter]:
    rc = remote(nats_server, tmp_path)
    try:
        yield rc
    finally:
        rc.stop()
        rc.bus.stop()


def test_agent_requests_go_to_the_agents_node(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    assert center.log_in("alice") is None
    assert center.place_call("bob", "+33612345678", "contact-7") is None
    assert LogIn("alice") in nodes["n1"].commands
    assert PlaceCall("bob", "+33612345678", "contact-7") in nodes["n2"].commands
    assert not any(isinstance(c, PlaceCall) for c in nodes["n1"].commands)
    assert not any(isinstance(c, LogIn) for c in nodes["n2"].commands)


def test_a_nodes_refusal_comes_back_and_an_unknown_agent_is_refused_here(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    nodes["n1"].answer = lambda _: refusal("agent_not_available", "alice is paused")
    answer = center.place_call("alice", "+33612345678")
    assert answer is not None and answer.code == "agent_not_available"
    assert answer.detail == "alice is paused"
    unknown = center.log_in("mallory")
    assert unknown is not None and unknown.code == "unknown_agent"


def test_a_node_that_does_not_answer_gives_node_unavailable(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    nodes["n2"].silent = True
    requests = "evscallpro_gateway_node_requests_total"
    before = counted(requests, target_node="n2", result="unavailable")
    hung = center.log_in("bob")
    assert hung is not None and hung.code == "node_unavailable"
    assert counted(requests, target_node="n2", result="unavailable") == before + 1
    assert "n2" in hung.detail
    assert nodes["n2"].received.is_set()  # it was asked, and did not answer
    nodes["n1"].stop()  # no responder at all
    gone = center.log_in("alice")
    assert gone is not None and gone.code == "node_unavailable"


def test_a_node_subscribing_again_within_a_moment_gets_the_command(
    nats_server: NatsServer, tmp_path: Path, nodes: dict[str, FakeNode]
) -> None:
    settings = two_node_settings(tmp_path, nats_server.url)
    bus = BusThread(BusSettings(url=nats_server.url), "gateway").start()
    rc = RemoteCallCenter(settings, bus, request_timeout_s=8.0, no_responders_retry_s=8.0)
    nodes["n1"].stop()  # n1 reconnecting: nobody subscribed to its commands for a moment
    retries = "evscallpro_gateway_no_responders_retries_total"
    before = counted(retries, target_node="n1")
    answers: list[object] = []
    asking = threading.Thread(target=lambda: answers.append(rc.log_in("alice")))
    asking.start()
    back = None
    try:
        wait_until(lambda: counted(retries, target_node="n1") > before)  # asked: no one there
        back = FakeNode(nats_server.url, "n1").start()
        asking.join(WAIT_S)
        assert answers == [None]  # carried out, not node_unavailable
        assert LogIn("alice") in back.commands
    finally:
        asking.join(WAIT_S)
        if back is not None:
            back.stop()
        bus.stop()


def test_supervision_goes_to_the_node_holding_the_call(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    nodes["n2"].publish_call(call("c-42", "bob"), seq=1)
    views.wait_for(lambda v: getattr(v, "call_id", "") == "c-42")
    assert center.supervise("sup", "c-42", SupervisionMode.LISTEN) is None
    assert center.stop_supervision("sup", "c-42") is None
    assert Supervise("sup", "c-42", SupervisionMode.LISTEN) in nodes["n2"].commands
    assert StopSupervision("sup", "c-42") in nodes["n2"].commands
    assert not any(isinstance(c, Supervise) for c in nodes["n1"].commands)
    nobody = center.supervise("sup", "c-unknown", SupervisionMode.BARGE)
    assert nobody is not None and nobody.code == "unknown_call"


def test_snapshot_at_start_merges_every_nodes_agents(
    nats_server: NatsServer, tmp_path: Path, nodes: dict[str, FakeNode]
) -> None:
    nodes["n1"].set_agent(agent("alice"), seq=4)
    nodes["n2"].set_agent(agent("bob", AgentState.PAUSED), seq=9)
    rc = remote(nats_server, tmp_path)
    try:
        assert nodes["n1"].snapshots_served() >= 1 and nodes["n2"].snapshots_served() >= 1
        by_id = {a.agent_id: a for a in rc.snapshot()}
        assert set(by_id) == {"alice", "bob"}
        assert by_id["bob"].state == AgentState.PAUSED
    finally:
        rc.stop()
        rc.bus.stop()


def test_a_stale_change_never_replaces_a_newer_view(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    n1 = nodes["n1"]
    n1.publish_agent(agent("alice", AgentState.AVAILABLE, since=1), seq=1)
    n1.publish_agent(agent("alice", AgentState.PAUSED, since=2), seq=2)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.state == AgentState.PAUSED)
    n1.publish_agent(agent("alice", AgentState.OFFLINE, since=0.5), seq=1, hold=False)  # late
    n1.publish_agent(agent("alice", AgentState.ON_CALL, since=3), seq=3)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.state == AgentState.ON_CALL)
    states = [v.state for v in views.seen if isinstance(v, AgentView)]
    assert AgentState.OFFLINE not in states  # the stale seq 1 was dropped
    held = {a.agent_id: a.state for a in center.snapshot()}
    assert held["alice"] == AgentState.ON_CALL


def test_the_view_hop_is_observed_from_the_nodes_publish_stamp(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    name = "evscallpro_bus_view_hop_seconds"
    before = counted(name + "_count", target_node="n1")
    before_sum = counted(name + "_sum", target_node="n1")
    before_fast = counted(name + "_bucket", target_node="n1", le="0.15")
    nodes["n1"].publish_call(call("c-old", "alice"), seq=1)  # no stamp: not observed
    views.wait_for(lambda v: getattr(v, "call_id", "") == "c-old")
    assert counted(name + "_count", target_node="n1") == before
    nodes["n1"].publish_call(call("c-hop", "alice"), seq=1, published_at=time.time() - 0.2)
    views.wait_for(lambda v: getattr(v, "call_id", "") == "c-hop")
    assert counted(name + "_count", target_node="n1") == before + 1
    assert counted(name + "_sum", target_node="n1") - before_sum >= 0.2
    assert counted(name + "_bucket", target_node="n1", le="0.15") == before_fast  # >= 0.2 s


def test_a_gap_in_a_views_sequence_asks_a_snapshot(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    n1 = nodes["n1"]
    n1.publish_agent(agent("alice", AgentState.AVAILABLE), seq=1)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "alice")
    asked = n1.snapshots_served()
    asked_total = "evscallpro_gateway_snapshots_asked_total"
    gaps = counted(asked_total, target_node="n1", reason="gap")
    n1.set_agent(agent("bob-never-published", AgentState.PAUSED), seq=1)  # only in snapshots
    n1.publish_agent(agent("alice", AgentState.PAUSED), seq=5)  # 2..4 were lost
    views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "bob-never-published")
    assert n1.snapshots_served() > asked
    assert counted(asked_total, target_node="n1", reason="gap") > gaps


def test_a_new_incarnation_asks_a_snapshot_and_its_changes_win(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    n1 = nodes["n1"]
    n1.publish_agent(agent("alice", AgentState.ON_CALL), seq=40)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.state == AgentState.ON_CALL)
    asked = n1.snapshots_served()
    n1.incarnation = 2  # the node restarted: its sequences count from 1 again
    n1.set_agent(agent("carol", AgentState.PAUSED), seq=1)
    n1.publish_agent(agent("alice", AgentState.AVAILABLE), seq=1)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "carol")
    assert n1.snapshots_served() > asked
    held = {a.agent_id: a.state for a in center.snapshot()}
    assert held["alice"] == AgentState.AVAILABLE  # (2, 1) is newer than (1, 40)
    n1.publish_agent(agent("alice", AgentState.OFFLINE), seq=41, incarnation=1, hold=False)
    n1.publish_agent(agent("alice", AgentState.PAUSED), seq=2)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.state == AgentState.PAUSED)
    assert {a.agent_id: a.state for a in center.snapshot()}["alice"] == AgentState.PAUSED


def test_a_restart_while_a_snapshot_is_in_flight_asks_one_more(
    center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    n1 = nodes["n1"]
    n1.hold_snapshots = True
    n1.publish_agent(agent("alice", AgentState.ON_CALL), seq=7)  # first heard at 7: a gap
    wait_until(lambda: len(n1.held) == 1)  # the snapshot asked, taken, not yet answered
    n1.incarnation = 2  # the node restarts meanwhile
    n1.set_agent(agent("carol", AgentState.PAUSED), seq=1)
    n1.publish_agent(agent("alice", AgentState.AVAILABLE), seq=1)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.state == AgentState.AVAILABLE)
    n1.release()  # the old incarnation's snapshot arrives: it lacks carol
    views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "carol")


def test_health_is_up_only_when_every_node_is_up_and_heard(
    nats_server: NatsServer, tmp_path: Path, nodes: dict[str, FakeNode]
) -> None:
    rc = remote(nats_server, tmp_path, stale_s=1.0)
    try:
        assert not rc.telephony_health().ok  # nobody heard yet
        nodes["n1"].publish_health("up")
        nodes["n2"].publish_health("down", "connection refused")
        wait_until(lambda: all(d["telephony"] != "unknown" for d in rc.node_health()))
        health = rc.telephony_health()
        assert not health.ok and "n2" in health.reason and "n1" not in health.reason
        assert "connection refused" in health.reason
        nodes["n2"].publish_health("up")
        wait_until(lambda: rc.telephony_health().ok)
        detail = {d["node"]: d for d in rc.node_health()}
        assert detail["n1"]["ari_link_up"] and detail["n1"]["stasis_app_held"]
        # n2 goes silent: past stale_s it is missing, and named
        nodes["n2"].stop()

        def only_n2_missing() -> bool:
            nodes["n1"].publish_health("up")  # n1 keeps beating, as a node does each second
            return rc.missing_nodes() == ["n2"]

        wait_until(only_n2_missing, timeout=5.0)
        health = rc.telephony_health()
        assert health.state == TelephonyState.DOWN
        assert "node n2: not heard on the bus" in health.reason and "n1" not in health.reason
    finally:
        rc.stop()
        rc.bus.stop()


def test_a_node_heard_after_start_gets_asked_its_snapshot(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    rc = remote(nats_server, tmp_path, timeout_s=0.5)  # no node up: snapshots go unanswered
    n1 = FakeNode(nats_server.url, "n1").start()
    try:
        views = Views()
        rc.subscribe(views)
        n1.set_agent(agent("alice", AgentState.PAUSED), seq=3)
        n1.publish_health("up")
        views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "alice")
        assert any(isinstance(c, GetSnapshot) for c in n1.commands)
    finally:
        n1.stop()
        rc.stop()
        rc.bus.stop()


def test_after_the_bus_comes_back_the_gateway_asks_every_node_a_snapshot(
    nats_server: NatsServer, center: RemoteCallCenter, nodes: dict[str, FakeNode]
) -> None:
    views = Views()
    center.subscribe(views)
    n2 = nodes["n2"]
    n2.publish_agent(agent("bob", AgentState.AVAILABLE), seq=1)
    views.wait_for(lambda v: isinstance(v, AgentView) and v.agent_id == "bob")
    nats_server.stop()  # the bus goes away; meanwhile bob's state changes, unpublished
    n2.set_agent(agent("bob", AgentState.PAUSED), seq=2)
    nats_server.start()  # same port, same JetStream store

    def caught_up() -> bool:
        if n2.bus.nc.is_connected:
            n2.publish_health("up")  # beats: a snapshot missed while it resubscribed is asked again
        return any(isinstance(v, AgentView) and v.state == AgentState.PAUSED for v in views.seen)

    wait_until(caught_up, timeout=20.0)
