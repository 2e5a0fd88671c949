"""Records and a bounded drain loop shared by the bus tests."""

from __future__ import annotations

import asyncio
import time

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from bus.records import RecordPublisher, RecordWriter, ensure_stream
from core.domain import CallOutcome, LegRole, WorkstationMode
from core.records import CallRecord, LegRecord


def record(n: int) -> CallRecord:
    leg = LegRecord(
        role=LegRole.AGENT,
        channel_id=f"c{n}-agent",
        endpoint="Local/a@x",
        dialed_at=1000.0 + n,
        ended_at=1010.0 + n,
    )
    return CallRecord(
        call_id=f"c{n}",
        agent_id="agent1",
        customer_number="+33612345678",
        workstation=WorkstationMode.MOBILE,
        agent_leg=leg,
        outcome=CallOutcome.COMPLETED,
        started_at=1000.0 + n,
        ended_at=1010.0 + n,
    )


async def drain(writer: RecordWriter, expected: int, within_s: float = 30.0) -> None:
    """Fetch batches until `expected` records were written or `within_s` passed (each fetch
    waits up to 0.25 s for messages; a fetch refused while a leader moves returns at once,
    so the next one waits a little: the bound is the deadline, not a sleep to pass)."""
    deadline = time.monotonic() + within_s
    while writer.written < expected and time.monotonic() < deadline:
        if not await writer.write_once(timeout_s=0.25):
            await asyncio.sleep(0.05)


async def records_bus(url: str) -> tuple[Client, JetStreamContext, RecordPublisher]:
    """A connection to the test's server, its JetStream with the records stream, and node1's
    publisher."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js)
    return nc, js, RecordPublisher(js, node="node1")
