"""The hub: thread-safe publishing, per-agent routing, latest-value coalescing, latency.

Views go in through `publish`, as the core's actors send them; `published` (gateway_helpers)
waits until the loop has applied them, so no test reaches into the hub."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest
from gateway_helpers import published

from core.domain import AgentState, CallStep
from core.views import AgentView, CallView
from gateway.hub import AGENT_KEY, ROW_KEY_PREFIX, TOTALS_KEY, WALLBOARD_KEY, Hub, HubClient


def agent(agent_id: str, state: AgentState = AgentState.AVAILABLE, since: float = 0.0,
          call: CallView | None = None) -> AgentView:
    return AgentView(agent_id=agent_id, display_name=agent_id.title(), state=state,
                     state_since=since, call=call)


async def test_publish_from_many_threads_lands_on_the_loop() -> None:
    hub = Hub(asyncio.get_running_loop())
    client = HubClient("alice", wallboard=False)
    hub.attach(client)
    await client.next_batch()  # the initial full state
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def actor(n: int) -> None:
        for i in range(500):
            hub.publish(agent("alice", since=float(n * 1000 + i)))

    threads = [threading.Thread(target=actor, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loop.call_soon_threadsafe(done.set)  # queued after every publish above
    await asyncio.wait_for(done.wait(), 2)
    batch = await asyncio.wait_for(client.next_batch(), 1)
    assert list(batch) == [AGENT_KEY]  # 2,000 changes, one pending element
    finals = {hub.agent("alice").state_since}  # type: ignore[union-attr]
    assert finals <= {float(n * 1000 + 499) for n in range(4)}


async def test_slow_client_gets_latest_state_not_a_queue() -> None:
    hub = Hub(asyncio.get_running_loop())
    slow = HubClient("alice", wallboard=False)
    hub.attach(slow)
    for i in range(1000):
        await published(hub, agent("alice", since=float(i)))
        hub.notify(slow, "contact-list", f"<ul id='contact-list'>{i}</ul>")
    assert sorted(slow.pending_keys) == sorted([AGENT_KEY, "html:contact-list"])
    batch = await slow.next_batch()
    assert batch["html:contact-list"] == "<ul id='contact-list'>999</ul>"
    assert hub.agent("alice").state_since == 999.0  # type: ignore[union-attr]


async def test_agents_see_only_themselves_supervisors_see_all() -> None:
    hub = Hub(asyncio.get_running_loop())
    alice, bob = HubClient("alice", wallboard=False), HubClient("bob", wallboard=False)
    sup = HubClient("sam", wallboard=True, batch_s=0.02)
    for c in (alice, bob, sup):
        hub.attach(c)
        await c.next_batch()
    await published(hub, agent("bob", AgentState.PAUSED))
    assert alice.pending_keys == []
    assert bob.pending_keys == [AGENT_KEY]
    assert sorted(sup.pending_keys) == sorted([f"{ROW_KEY_PREFIX}bob", TOTALS_KEY])


async def test_wallboard_batches_a_burst_into_one_frame() -> None:
    hub = Hub(asyncio.get_running_loop())
    sup = HubClient("sam", wallboard=True, batch_s=0.05)
    hub.attach(sup)
    assert list(await sup.next_batch()) == [WALLBOARD_KEY]  # the full board on connect
    waiter = asyncio.create_task(sup.next_batch())
    for i in range(50):
        for state in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.ON_CALL):
            hub.publish(agent(f"agent{i}", state))
    batch = await asyncio.wait_for(waiter, 1)
    # 150 changes, one frame: each agent's row once (its latest state) and the totals.
    assert sorted(batch) == sorted([f"{ROW_KEY_PREFIX}agent{i}" for i in range(50)] + [TOTALS_KEY])
    assert hub.totals()["on_call"] == 50  # all applied before the batch closed


async def test_every_change_from_an_actor_thread_wakes_agent_and_wallboard() -> None:
    """Delivery, not speed: the latency is measured by load-tests/gateway_bench.py."""
    hub = Hub(asyncio.get_running_loop())
    client = HubClient("alice", wallboard=False)
    sup = HubClient("sam", wallboard=True, batch_s=0.05)
    hub.attach(client)
    hub.attach(sup)
    await client.next_batch()
    await sup.next_batch()
    for i in range(20):
        agent_wait = asyncio.create_task(client.next_batch())
        sup_wait = asyncio.create_task(sup.next_batch())
        threading.Thread(target=hub.publish, args=(agent("alice", since=float(i)),)).start()
        agent_batch, sup_batch = await asyncio.wait_for(asyncio.gather(agent_wait, sup_wait), 10)
        assert agent_batch, f"change {i} did not reach the agent"
        assert f"{ROW_KEY_PREFIX}alice" in sup_batch, f"change {i} did not reach the wallboard"


async def test_call_views_update_the_agents_live_call_and_history() -> None:
    hub = Hub(asyncio.get_running_loop())
    await published(hub, agent("alice", AgentState.ON_CALL))
    now = time.time()
    live = CallView(call_id="c1", agent_id="alice", step=CallStep.CONNECTED,
                    customer_number="+33145678901", step_since=now)
    await published(hub, live)
    assert hub.agent("alice").call == live  # type: ignore[union-attr]
    assert hub.live_call("c1") == live
    ended = CallView(call_id="c1", agent_id="alice", step=CallStep.ENDED,
                     customer_number="+33145678901", step_since=now + 1, ended_at=now + 1)
    await published(hub, ended)
    assert hub.agent("alice").call is None  # type: ignore[union-attr]
    assert hub.live_call("c1") is None
    assert hub.last_call("alice") == ended
    assert hub.history_today("alice") == [ended]
    assert hub.totals()["calls"] == 0


async def test_a_bad_view_does_not_break_the_hub() -> None:
    hub = Hub(asyncio.get_running_loop())
    await published(hub, "not a view")  # type: ignore[arg-type]
    await published(hub, agent("alice"))
    assert hub.agent("alice") is not None


async def test_publish_after_loop_close_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gateway.hub")
    loop = asyncio.new_event_loop()
    hub = Hub(loop)
    loop.close()
    hub.publish(agent("alice"))  # must not raise into the actor thread
    assert "dropped a view published after shutdown" in caplog.text
    assert hub.agent("alice") is None and hub.version == 0


async def test_seed_does_not_overwrite_a_newer_published_view() -> None:
    hub = Hub(asyncio.get_running_loop())
    await published(hub, agent("alice", AgentState.PAUSED, since=20.0))  # during start-up
    hub.seed([agent("alice", AgentState.AVAILABLE, since=10.0), agent("bob", since=10.0)])
    assert hub.agent("alice").state == AgentState.PAUSED  # type: ignore[union-attr]
    assert hub.agent("bob") is not None


async def test_an_ended_call_on_an_agent_view_is_not_in_progress() -> None:
    hub = Hub(asyncio.get_running_loop())
    ended = CallView(call_id="c1", agent_id="alice", step=CallStep.ENDED,
                     customer_number="+33145678901", step_since=1.0, ended_at=1.0)
    await published(hub, agent("alice", AgentState.ON_CALL, call=ended))  # as the core may
    assert hub.live_call("c1") is None
    assert hub.totals()["calls"] == 0
    assert hub.last_call("alice") == ended
