"""ARI simulator load benchmark: originate rate, concurrent channels, event throughput.

The simulator runs in its own process (`python -m evscallpro.cli sim`) with a config whose
far end answers fast and stays up. This process is the client: one events WebSocket for a
dedicated app name (never the core's), and REST originates to `PJSIP/<n>@carrier` (one
channel per leg) paced at --rate per second.

Phases, all bounded: ramp (originate until --hold channels are up in Stasis or --ramp-max
seconds pass), then steady (each tick originates --rate/10 new legs and hangs up as many of
the oldest, so the population stays at --hold while the originate rate is sustained).
Measured: originate latency p50/p99 (POST to its 200), events/s received, the most
channels up at once (StasisStart minus StasisEnd, cross-checked by GET /ari/channels),
and the simulator's peak RSS and CPU seconds from /proc. Binds 127.0.0.1 only.

    .venv/bin/python load-tests/sim_bench.py --rate 100 --hold 5000 --steady 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from bench_sim import start_simulator  # load-tests/bench_sim.py

APP = "evscallpro-bench"
USER, PASSWORD = "evscallpro", "evscallpro"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

CONFIG = """
time_scale = {time_scale}
[users]
{user} = "{password}"
[profiles.bench-answer]
kind = "answer"
ring_s = {ring_s}
[[rules]]
pattern = "PJSIP/+3399*@carrier"
profile = "bench-answer"
"""


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    events: int = 0
    up: int = 0
    max_up: int = 0
    started: deque[str] = field(default_factory=deque)  # channel ids in Stasis, oldest first
    live: set[str] = field(default_factory=set)
    peak_rss_mb: float = 0.0

    def fail(self, why: str) -> None:
        self.failures[why] = self.failures.get(why, 0) + 1


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def proc_rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20


async def read_events(ws: aiohttp.ClientWebSocketResponse, stats: Stats) -> None:
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            continue
        stats.events += 1
        event = json.loads(msg.data)
        kind = event.get("type")
        channel = (event.get("channel") or {}).get("id")
        if kind == "StasisStart" and channel:
            stats.up += 1
            stats.max_up = max(stats.max_up, stats.up)
            stats.started.append(channel)
            stats.live.add(channel)
        elif kind == "StasisEnd" and channel in stats.live:
            stats.up -= 1
            stats.live.discard(channel)


async def originate(session: aiohttp.ClientSession, base: str, n: int, stats: Stats) -> None:
    params = {"endpoint": f"PJSIP/+3399{n:08d}@carrier", "app": APP, "appArgs": "bench",
              "channelId": f"bench-{n}", "timeout": "30"}
    t0 = time.perf_counter()
    try:
        async with session.post(f"{base}/ari/channels", params=params) as resp:
            await resp.read()
            if resp.status != 200:
                stats.fail(f"originate {resp.status}")
                return
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.fail(f"originate {type(exc).__name__}")
        return
    stats.latencies_ms.append((time.perf_counter() - t0) * 1000.0)


async def hang_up(session: aiohttp.ClientSession, base: str, channel: str, stats: Stats) -> None:
    try:
        async with session.delete(f"{base}/ari/channels/{channel}") as resp:
            await resp.read()
            if resp.status not in (204, 404):
                stats.fail(f"hangup {resp.status}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.fail(f"hangup {type(exc).__name__}")


async def sample_rss(pid: int, stats: Stats, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            stats.peak_rss_mb = max(stats.peak_rss_mb, proc_rss_mb(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def drive(args: argparse.Namespace, base: str, pid: int) -> dict[str, object]:
    stats = Stats()
    auth = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=30.0)
    async with aiohttp.ClientSession(headers=auth, connector=connector, timeout=timeout) as session:
        ws = await session.ws_connect(f"{base.replace('http', 'ws', 1)}/ari/events",
                                      params={"app": APP}, heartbeat=None, max_msg_size=0)
        reader = asyncio.create_task(read_events(ws, stats))
        stop_sampling = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(pid, stats, stop_sampling))
        tasks: set[asyncio.Task[None]] = set()
        tick = 0.1
        per_tick = args.rate * tick
        cpu0, wall0, events0 = proc_cpu_s(pid), time.monotonic(), stats.events
        sent, credit = 0, 0.0
        ramp_end = wall0 + args.ramp_max
        steady_end: float | None = None
        next_tick = wall0
        while True:
            now = time.monotonic()
            if steady_end is None and (stats.up >= args.hold or now >= ramp_end):
                steady_end = now + args.steady
                ramp_s, up_at_ramp_end = now - wall0, stats.up
            if steady_end is not None and now >= steady_end:
                break
            credit += per_tick
            while credit >= 1.0:
                credit -= 1.0
                sent += 1
                task = asyncio.create_task(originate(session, base, sent, stats))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if steady_end is not None and stats.started:
                    old = stats.started.popleft()
                    task = asyncio.create_task(hang_up(session, base, old, stats))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            next_tick += tick
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        elapsed = time.monotonic() - wall0
        cpu_s = proc_cpu_s(pid) - cpu0
        events = stats.events - events0
        if tasks:
            await asyncio.wait(tasks, timeout=30.0)
        async with session.get(f"{base}/ari/channels") as resp:
            listed = len(await resp.json()) if resp.status == 200 else -1
        stop_sampling.set()
        await sampler
        await ws.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    lat = sorted(stats.latencies_ms)
    return {
        "originates_sent": sent,
        "originates_ok": len(lat),
        "originate_rate_per_s": round(len(lat) / elapsed, 1),
        "originate_p50_ms": round(statistics.median(lat), 2) if lat else None,
        "originate_p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2) if lat else None,
        "originate_max_ms": round(lat[-1], 2) if lat else None,
        "failures": stats.failures,
        "ramp_s": round(ramp_s, 1),
        "up_at_ramp_end": up_at_ramp_end,
        "max_channels_up": stats.max_up,
        "channels_listed_at_end": listed,
        "events": events,
        "events_per_s": round(events / elapsed, 1),
        "elapsed_s": round(elapsed, 1),
        "sim_cpu_s": round(cpu_s, 1),
        "sim_cpu_percent_of_one_core": round(100.0 * cpu_s / elapsed, 1),
        "sim_peak_rss_mb": round(stats.peak_rss_mb, 1),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="originates per second")
    parser.add_argument("--hold", type=int, default=5000, help="channels to keep up at once")
    parser.add_argument("--ramp-max", type=float, default=70.0, help="longest ramp, seconds")
    parser.add_argument("--steady", type=float, default=30.0, help="steady phase, seconds")
    parser.add_argument("--ring-s", type=float, default=0.5, help="far-end ring time")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=64, help="HTTP connection pool")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.hold <= 0 or args.ramp_max <= 0 or args.steady < 0:
        parser.error("--rate, --hold and --ramp-max must be positive, --steady not negative")
    if args.ramp_max + args.steady > 150:
        parser.error("keep a run under 150 s: the machine is shared")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sim-bench-") as tmp:
        log = Path(tmp) / "sim.log"
        text = CONFIG.format(
            time_scale=args.time_scale, user=USER, password=PASSWORD, ring_s=args.ring_s
        )
        sim = start_simulator(text, Path(tmp), log=log)
        try:
            result = asyncio.run(drive(args, sim.base_url, sim.pid))
        except Exception:
            print(log.read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            sim.stop()
    result["command"] = "load-tests/sim_bench.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0 if result["originates_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

