"""A switched call's agent legs and a persistent agent-leg session, published by a node and
written by the bus writer (the bulk JSON path): in `call_agent_legs` and `agent_leg_sessions`
once, and a batch committed but not acknowledged, delivered again, changes nothing."""

from __future__ import annotations

from pathlib import Path

import msgspec
import nats
from bus_helpers import drain, record, records_bus
from nats.aio.msg import Msg

from analytics.store import CallStore
from bus.records import RecordWriter
from bus.server import NatsServer
from core.agent_leg_session import AgentSessionRecord
from core.domain import WorkstationMode
from core.records import AgentLegRecord, CallRecord


def switched(n: int) -> CallRecord:
    base = record(n)
    legs = (
        AgentLegRecord(workstation=WorkstationMode.SOFTPHONE, endpoint="PJSIP/agent1",
                       channel_id=f"c{n}-agent", dialed_at=1000.0 + n, answered_at=1001.0 + n,
                       joined_at=1003.0 + n, ended_at=1005.0 + n, end_reason="switched_away",
                       billable_seconds=4.0),
        AgentLegRecord(workstation=WorkstationMode.MOBILE, endpoint="PJSIP/+336@trunk",
                       channel_id=f"c{n}-agent-2", dialed_at=1002.0 + n, answered_at=1004.5 + n,
                       joined_at=1005.0 + n, ended_at=1010.0 + n, end_reason="call_ended",
                       billable_seconds=5.5, cost=0.06),
    )
    return msgspec.structs.replace(base, agent_legs=legs)


def session(n: int) -> AgentSessionRecord:
    return AgentSessionRecord(agent_id=f"agent{n}", workstation=WorkstationMode.MOBILE,
                              endpoint="PJSIP/+336@trunk", started_at=900.0 + n,
                              answered_at=905.0 + n, ended_at=2000.0 + n,
                              end_reason="agent_hung_up", calls=3, legs=1,
                              billable_seconds=1095.0, cost=2.24)


class KilledBeforeAck(RecordWriter):
    """Commits the batch to DuckDB, then dies before acknowledging it."""

    async def _acknowledge(self, messages: list[Msg]) -> None:
        return None


def rows(store: CallStore) -> list[list[tuple[object, ...]]]:
    return [store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
            for t in ("call_agent_legs", "agent_leg_sessions")]


async def test_agent_legs_and_sessions_through_jetstream_once(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    nc, js, publisher = await records_bus(nats_server.url)
    for n in range(6):
        assert await publisher.publish(switched(n))
        assert await publisher.publish(session(n))
    assert not await publisher.publish(session(0))  # a node that retried: de-duplicated
    store = CallStore(tmp_path / "calls.duckdb")

    killed = KilledBeforeAck(js, store, batch_size=12, ack_wait_s=1.0)
    await drain(killed, 12)
    assert store.count("call_agent_legs") == 12
    assert store.count("agent_leg_sessions") == 6
    first = rows(store)
    await nc.close()

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    restarted = RecordWriter(js, store, batch_size=12, ack_wait_s=1.0)
    await drain(restarted, 12)
    assert restarted.written == 12  # the unacknowledged batch came again ...
    assert rows(store) == first  # ... and changed nothing
    assert store.con.execute(
        "SELECT end_reason, cost FROM call_agent_legs WHERE call_id = 'c2' ORDER BY leg_index"
    ).fetchall() == [("switched_away", None), ("call_ended", 0.06)]
    await nc.close()
    store.close()
