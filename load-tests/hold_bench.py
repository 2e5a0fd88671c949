"""Two nodes holding many connected calls (issue 8): the product as processes on NATS, two
simulators as two Asterisk boxes, a node for each, one gateway, the analytics writer.

Every agent (500 per node by default, 1,000 in all) is on a mobile phone that answers; every
customer answers and stays on the line (no talk_s). The agents are logged in and the calls
placed through the bus, as the gateway sends them (`LogIn`, `PlaceCall` request/reply to the
agent's node, evscallpro/node_client.py), `--rate` calls per second on each node at once.
The bench follows every node's views (`evs.view.*`) and measures:

- the time until each node holds `--calls` connected calls (from the first PlaceCall);
- while holding (`--hold` seconds), CPU (% of one core) and RSS (max, MiB) of each process:
  node x2, gateway, analytics, nats-server, the two simulators, read from /proc every 0.5 s.

    .venv/bin/python load-tests/hold_bench.py --calls 500 --rate 20 --hold 30 \\
        --json /tmp/hold.json

Stops within `--budget` seconds whatever happens (every process is then stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_sim import start_simulator  # noqa: E402
from gateway_bench import Child, Sampler, agent_ids, processes_config, write_users  # noqa: E402

NODES = ("n1", "n2")
SIM_CONFIG = """
time_scale = 1.0
rules = [
  {{ pattern = "PJSIP/+3361*", profile = "hold-agent" }},
  {{ pattern = "PJSIP/+3362*", profile = "hold-customer" }},
]
[profiles.hold-agent]
kind = "answer"
ring_s = {ring}
[profiles.hold-customer]
kind = "answer"
ring_s = {ring}
"""


class Connected:
    """Connected calls per node, from the nodes' views (the bus client's loop thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[str, set[str]] = {n: set() for n in NODES}
        self.ended: dict[str, set[str]] = {n: set() for n in NODES}
        self.reached: dict[str, float] = {}
        self.target = 0

    def on_change(self, change: Any) -> None:
        call = change.call
        if call is None or change.node not in self.calls:
            return
        with self.lock:
            step = str(call.step)
            if step == "connected":
                self.calls[change.node].add(call.call_id)
            elif step in ("ended", "failed", "rejected"):
                self.calls[change.node].discard(call.call_id)
                self.ended[change.node].add(call.call_id)
            if len(self.calls[change.node]) >= self.target and change.node not in self.reached:
                self.reached[change.node] = time.time()

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {n: len(c) for n, c in self.calls.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="connected calls per node")
    parser.add_argument("--rate", type=float, default=20.0, help="calls placed per s per node")
    parser.add_argument("--ring", type=float, default=1.0, help="agent and customer ring, s")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds holding the calls")
    parser.add_argument("--budget", type=float, default=300.0, help="whole run bound, s")
    parser.add_argument("--json", default="", help="write the figures to this JSON file")
    args = parser.parse_args()
    if not (1 <= args.calls <= 2000 and 0 < args.rate <= 200 and 0 < args.hold <= 300):
        parser.error("--calls in [1, 2000], --rate in (0, 200], --hold in (0, 300]")

    from bus.protocol import LogIn, PlaceCall
    from bus.server import NatsServer
    from evscallpro.node_client import NodeClient
    from evscallpro.settings_file import BusSettings

    started_at = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="evs-hold-bench-"))
    logs = folder / "logs"
    logs.mkdir()
    nats = NatsServer(store_dir=folder / "nats").start()
    sims = {}
    for node in NODES:
        (folder / f"sim-{node}").mkdir()
        sims[node] = start_simulator(SIM_CONFIG.format(ring=args.ring), folder / f"sim-{node}")
    everyone = agent_ids(args.calls * len(NODES))
    agents_of = {n: everyone[i * args.calls:(i + 1) * args.calls] for i, n in enumerate(NODES)}
    config = processes_config(folder, nats.url, sims, agents_of, 0)
    write_users(folder / "data", len(everyone), 0)
    cli = [sys.executable, "-m", "evscallpro.cli"]
    children: dict[str, Child] = {}
    sampler: Sampler | None = None
    client: NodeClient | None = None
    try:
        children["analytics"] = Child("analytics", [*cli, "analytics", "--config", str(config)],
                                      logs)
        for node in NODES:
            children[f"node_{node}"] = Child(
                f"node-{node}", [*cli, "node", "--config", str(config), "--node", node], logs)
        children["gateway"] = Child(
            "gateway", [*cli, "gateway", "--config", str(config), "--port", "0"], logs)
        for child in children.values():
            child.ready()
        pids = {name: c.pid for name, c in children.items()}
        pids["nats"] = nats.process.pid  # type: ignore[union-attr]
        pids.update({f"sim_{n}": s.pid for n, s in sims.items()})
        sampler = Sampler(pids, None)
        sampler.start()
        print(f"processes ready in {time.monotonic() - started_at:.1f}s: nats, 2 sims, "
              f"{', '.join(children)}; load average {os.getloadavg()}", flush=True)

        connected = Connected()
        connected.target = args.calls
        client = NodeClient(BusSettings(url=nats.url), name="hold-bench", timeout_s=30).start()
        client.subscribe_views(connected.on_change)
        node_of = {a: n for n, agents in agents_of.items() for a in agents}
        refusals: list[str] = []
        with ThreadPoolExecutor(16) as pool:
            def ask(agent: str, command: Any) -> None:
                assert client is not None
                reply = client.ask(node_of[agent], command)
                if reply.refusal is not None:
                    refusals.append(f"{type(command).__name__} {agent}: {reply.refusal}")

            list(pool.map(lambda a: ask(a, LogIn(a)), everyone))
            print(f"{len(everyone)} agents logged in; refusals {len(refusals)}", flush=True)
            load_start = os.getloadavg()
            t0 = time.time()
            futures = []
            for i in range(args.calls):  # call i on every node at once, rate per node
                delay = t0 + i / args.rate - time.time()
                if delay > 0:
                    time.sleep(delay)  # pacing the load, not waiting for a result
                for k, node in enumerate(NODES):
                    agent = agents_of[node][i]
                    number = f"+3362{k * args.calls + i:07d}"  # the customer answers, stays up
                    futures.append(pool.submit(ask, agent, PlaceCall(agent, number)))
                if i % max(1, int(args.rate * 5)) == 0:
                    print(f"  t+{time.time() - t0:5.1f}s placed {i + 1}/node, connected "
                          f"{connected.counts()}", flush=True)
            for future in futures:
                future.result()
        placed_at = time.time()
        print(f"all placed in {placed_at - t0:.1f}s; refusals {len(refusals)} "
              f"{refusals[:3]}", flush=True)
        if len(refusals) >= len(futures):
            print("FAILED: every PlaceCall was refused")
            return 1
        deadline = started_at + args.budget - args.hold - 20
        while len(connected.reached) < len(NODES) and time.monotonic() < deadline:
            time.sleep(0.5)  # polling the counts to print progress
            print(f"  t+{time.time() - t0:5.1f}s connected {connected.counts()}", flush=True)
        reached = {n: round(t - t0, 2) for n, t in connected.reached.items()}
        print(f"connected calls per node reached {args.calls}: {reached} s after the first "
              f"PlaceCall (ended early: { {n: len(e) for n, e in connected.ended.items()} })")
        hold_start = time.time()
        hold_until = time.monotonic() + args.hold
        while time.monotonic() < hold_until:
            time.sleep(1.0)  # holding the calls while the sampler reads /proc
        hold_end = time.time()
        load_end = os.getloadavg()
        held = connected.counts()
        sampler.halt.set()
        usage = sampler.window(hold_start, hold_end)
        ramp = sampler.window(t0, hold_start)
        print(f"held {held} connected calls for {hold_end - hold_start:.0f}s; load average "
              f"{load_start[0]:.2f} at the first call, {load_end[0]:.2f} at the end")
        print("while holding: CPU % of one core, RSS max MiB (ramp CPU in brackets)")
        for name in pids:
            print(f"    {name:10s} CPU {usage.get(name + '_cpu', 0):5.1f} %"
                  f" ({ramp.get(name + '_cpu', 0):5.1f} %)  RSS {usage.get(name + '_rss_max', 0):6.1f} MiB")
        ok = len(connected.reached) == len(NODES)
        outcomes: dict[str, int] = {}  # calls that ended before the hold: outcome (reason)
        for node in NODES:
            for line in children[f"node_{node}"].of("record"):
                record = line["record"]
                if "outcome" in record:
                    key = f"{node} {record['outcome']} ({record.get('reason', '')})"
                    outcomes[key] = outcomes.get(key, 0) + 1
        print(f"call records (calls that ended): {outcomes or 'none'}")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "calls_per_node": args.calls, "rate_per_node": args.rate, "hold_s": args.hold,
                "reached_s": reached, "held": held, "ended_records": outcomes, "refusals": refusals[:20],
                "load_average": {"start": load_start, "end": load_end},
                "usage_holding": usage, "usage_ramp": ramp, "run_folder": str(folder),
            }, indent=2))
            print(f"JSON result: {args.json}")
        if not ok:
            print(f"FAILED: not every node reached {args.calls} connected calls")
            return 1
        return 0
    finally:
        if sampler is not None:
            sampler.halt.set()
        if client is not None:
            client.close()
        for child in reversed(list(children.values())):
            child.stop()
        for sim in sims.values():
            sim.stop()
        nats.stop()


if __name__ == "__main__":
    sys.exit(main())
