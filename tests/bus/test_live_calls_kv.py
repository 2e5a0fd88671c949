"""The live-calls journal in a JetStream KV bucket: what CallJournal does, readable by a node
started afresh (anywhere), writes that never block an actor and wait out a bus outage."""

from __future__ import annotations

import threading
import time

import nats
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from bus.live_calls_kv import LiveCallsKV, key_of
from bus.protocol import live_calls_bucket
from bus.server import NatsServer
from core.call_config import CallRequest
from core.domain import CallStep


def request(call_id: str) -> CallRequest:
    return CallRequest(
        call_id=call_id,
        agent_id="a1",
        agent_endpoint="Local/answer@sim-phones",
        customer_number="+33600000001",
        customer_endpoint="Local/answer@sim-phones",
        requested_at=time.time(),
    )


def from_an_actor_thread(action: object) -> None:
    assert callable(action)
    thread = threading.Thread(target=action)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()  # an actor is never held by the bus


async def held(kv: KeyValue, keys: list[str]) -> set[str]:
    """The keys among `keys` that hold a value (read one by one: nats-py's `kv.keys()` may
    see its watch's end marker before the entries and say there are none, as under load)."""
    found = set()
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:  # never written, deleted or purged
            continue
        if entry.value:
            found.add(key)
    return found


async def test_live_calls_survive_in_the_bucket_and_ended_ones_leave_it(
    nats_server: NatsServer,
) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    journal = await LiveCallsKV.open(js, "n1")
    assert journal.live_calls() == {}

    def actor() -> None:
        journal.started(request("c1"), 1.0)
        journal.started(request("c2"), 2.0)
        journal.started(request("odd id/é"), 2.5)
        journal.connected("c1", 3.0)
        journal.ended("c2", 4.0)

    from_an_actor_thread(actor)
    assert set(journal.live_calls()) == {"c1", "odd id/é"}  # at once, before the bucket
    assert await journal.flush()
    await journal.close()
    await nc.close()

    nc = await nats.connect(nats_server.url)  # a node started afresh, on any machine
    js = nc.jetstream()
    again = await LiveCallsKV.open(js, "n1")
    calls = again.live_calls()
    assert set(calls) == {"c1", "odd id/é"}
    assert calls["c1"].last_step == CallStep.CONNECTED and calls["c1"].connected_at == 3.0
    assert calls["odd id/é"].connected_at is None
    # no delete marker left behind for the ended call
    kv = await js.key_value(live_calls_bucket("n1"))
    assert await held(kv, ["c1", "c2", key_of("odd id/é")]) == {"c1", key_of("odd id/é")}
    from_an_actor_thread(lambda: again.ended("c1", 5.0))
    assert await again.flush()
    assert await held(kv, ["c1", "c2", key_of("odd id/é")]) == {key_of("odd id/é")}
    await again.close()
    await nc.close()


async def test_writes_wait_out_a_bus_outage(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    journal = await LiveCallsKV.open(js, "n1")
    nats_server.stop()
    from_an_actor_thread(lambda: journal.started(request("c9"), 1.0))
    assert not await journal.flush(timeout_s=1.0)  # nothing reaches a bus that is down
    assert journal.pending == 1
    nats_server.start()
    assert await journal.flush(timeout_s=30.0)
    await journal.close()
    await nc.close()

    nc = await nats.connect(nats_server.url)
    assert set((await LiveCallsKV.open(nc.jetstream(), "n1")).live_calls()) == {"c9"}
    await nc.close()
