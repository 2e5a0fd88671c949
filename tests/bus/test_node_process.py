"""`evscallpro node` as a process, on a real nats-server and the ARI simulator: ready after
reconciling, commands over the bus, a SIGKILL with a live call adopted from the KV bucket by
a node restarted with another data folder (another machine) and listened to by a
[[supervisors]] entry through it, records exactly once in
DuckDB even when JetStream was down as the call ended and the node was killed before it
came back, SIGTERM, and configuration errors (exit 2)."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from bus_helpers import drain
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from analytics.store import CallStore
from asterisk.sim.testing import SimulatorThread
from bus.protocol import (
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
    reply_decoder,
    view_decoder,
    view_subject,
)
from bus.records import STREAM, RecordWriter, ensure_stream
from bus.server import NatsServer
from core.domain import SupervisionMode
from core.ids import agent_channel_id, customer_channel_id

pytestmark = pytest.mark.slow

WAIT_S = 30.0
NODE = "n1"


def write_config(path: Path, sim: SimulatorThread, data_dir: Path, bus_url: str = "") -> Path:
    path.write_text(
        f"""
data_dir = "{data_dir}"

[bus]
url = "{bus_url}"

[ari]
url = "{sim.base_url}"
user = "{sim.username}"
password = "{sim.password}"
app = "evscallpro"

[[nodes]]
id = "{NODE}"

[nodes.ari]
url = "{sim.base_url}"
user = "{sim.username}"
password = "{sim.password}"
app = "evscallpro"

[dial]
trunk = "carrier"

[prompts]
language = "en"

[acceptance]
mobile = false

[timeouts]
customer_ring_s = 300

[[agents]]
id = "a1"
name = "Alice"
mobile_number = "+33600000001"
workstation = "mobile"
node = "{NODE}"

[[supervisors]]
id = "sup-1"
name = "Sophie"
workstation = "softphone"
softphone_endpoint = "agent-1002"
""",
        encoding="utf-8",
    )
    return path


class NodeProcess:
    """`evscallpro node` in a subprocess; its stdout JSON lines arrive on a queue."""

    def __init__(self, config: Path, *extra: str, stderr: Path | None = None) -> None:
        err = open(stderr, "ab") if stderr is not None else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evscallpro.cli", "node", "--config", str(config),
             "--node", NODE, *extra],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(json.loads(line))

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S
    ) -> dict[str, Any]:
        for line in self.seen:
            if predicate(line):
                return line
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if predicate(line):
                return line

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def nodes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    yield started
    for node in started:
        node.kill()


async def ask(nc: NATS, command: NodeCommand) -> NodeReply:
    answer = await nc.request(command_subject(NODE), command_encoder.encode(command),
                              timeout=WAIT_S)
    return reply_decoder.decode(answer.data)


def legs_in_sim(sim: SimulatorThread, call_id: str) -> set[str]:
    ids = {agent_channel_id(call_id), customer_channel_id(call_id)}
    return {c["id"] for c in sim.state()["channels"] if c["id"] in ids}


async def calls_in_duckdb(nc: NATS, db: Path) -> dict[str, tuple[int, str]]:
    """Drain the records stream into DuckDB; call id -> (rows, the stored reason)."""
    js = nc.jetstream()
    await ensure_stream(js)
    store = CallStore(db)
    try:
        writer = RecordWriter(js, store, batch_size=50)
        await drain(writer, (await js.stream_info(STREAM)).state.messages)
        rows = store.con.execute(
            "SELECT call_id, count(*), max(reason) FROM calls GROUP BY call_id"
        ).fetchall()
    finally:
        store.close()
    return {str(call_id): (int(n), str(reason)) for call_id, n, reason in rows}


async def test_node_sigkilled_with_a_live_call_is_adopted_from_the_bucket_elsewhere(
    sim: SimulatorThread, nats_server: NatsServer, tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    first = write_config(tmp_path / "a.toml", sim, tmp_path / "machine-a", nats_server.url)
    node = NodeProcess(first, "--metrics-port", "0", stderr=tmp_path / "node-a.log")
    nodes.append(node)
    ready = node.wait_for(lambda e: e["event"] == "ready")
    assert ready["process"] == "node" and ready["node"] == NODE and ready["agents"] == ["a1"]
    with urllib.request.urlopen(ready["metrics_url"], timeout=WAIT_S) as answer:
        exposition = answer.read()
    assert b'process="node"' in exposition
    assert b'evscallpro_node_records_waiting_bytes{node="n1",process="node"} 0.0' in exposition

    nc = await nats.connect(nats_server.url)
    assert (await ask(nc, LogIn(agent_id="a1"))).refusal is None
    refused = (await ask(nc, LogIn(agent_id="nobody"))).refusal
    assert refused is not None and refused.code == "unknown_agent"
    # +33600000001: the simulator's customer who answers and stays on the line
    assert (await ask(nc, PlaceCall(agent_id="a1", customer_number="+33600000001"))).refusal is None
    call_id = node.wait_for(lambda e: e["event"] == "call" and e["step"] == "connected")["call_id"]
    # the core's event -> next command histogram is the node process's (load-tests/loadgen.py)
    with urllib.request.urlopen(ready["metrics_url"], timeout=WAIT_S) as answer:
        counted = re.search(
            rb'^evscallpro_event_to_command_seconds_count\{node="n1",process="node"\} (\S+)$',
            answer.read(),
            re.M,
        )
    assert counted is not None and float(counted.group(1)) > 0
    node.kill()
    assert legs_in_sim(sim, call_id) == {agent_channel_id(call_id), customer_channel_id(call_id)}
    assert not list((tmp_path / "machine-a").rglob("live-calls.jsonl"))  # the bucket holds them

    # Another machine: another data folder, the same node id, the same bus.
    second = write_config(tmp_path / "b.toml", sim, tmp_path / "machine-b", nats_server.url)
    node = NodeProcess(second, stderr=tmp_path / "node-b.log")
    nodes.append(node)
    reconciled = node.wait_for(lambda e: e["event"] == "reconciled")
    assert reconciled["adopted"] == [call_id]
    second_ready = node.wait_for(lambda e: e["event"] == "ready")
    # a supervisor of the configuration listens to the adopted call, through this node
    monitored: asyncio.Queue[ViewChange] = asyncio.Queue()

    async def on_view(msg: Msg) -> None:
        change = view_decoder.decode(msg.data)
        if change.call is not None and change.call.monitored_by:
            await monitored.put(change)

    await nc.subscribe(view_subject(NODE), cb=on_view)
    await nc.flush()
    listen = Supervise(supervisor_id="sup-1", call_id=call_id, mode=SupervisionMode.LISTEN)
    assert (await ask(nc, listen)).refusal is None
    change = await asyncio.wait_for(monitored.get(), WAIT_S)
    assert change.call is not None and change.call.call_id == call_id
    assert change.call.monitored_by == (("sup-1", SupervisionMode.LISTEN),)
    assert (await ask(nc, StopSupervision(supervisor_id="sup-1", call_id=call_id))).refusal is None
    assert (await ask(nc, HangUp(agent_id="a1", call_id=call_id))).refusal is None
    record = node.wait_for(lambda e: e["event"] == "record" and
                           e["record"].get("call_id") == call_id and "outcome" in e["record"])
    assert record["record"]["recovered"] is True
    # the call and agent metrics are counted here, with this node's label
    with urllib.request.urlopen(second_ready["metrics_url"], timeout=WAIT_S) as answer:
        exposition = answer.read().decode()
    assert re.search(r'evscallpro_calls_total\{node="n1",outcome="completed",process="node",'
                     r'workstation="mobile"\} 1\.0', exposition), exposition[-2000:]
    assert 'evscallpro_calls_in_progress{node="n1",process="node"} 0.0' in exposition
    assert record["record"]["connected_at"] is not None  # from the bucket
    assert node.wait_for(lambda e: e["event"] == "call" and e["call_id"] == call_id
                         and e["step"] == "ended")
    assert legs_in_sim(sim, call_id) == set()

    node.proc.send_signal(signal.SIGTERM)
    stopped = node.wait_for(lambda e: e["event"] == "stopped")
    assert node.proc.wait(WAIT_S) == 0
    assert stopped["records_waiting"] is False
    assert await calls_in_duckdb(nc, tmp_path / "calls.duckdb") == {
        call_id: (1, record["record"]["reason"])
    }
    # the agent's state intervals, cut by the nodes from their views, came the same way
    states = CallStore(tmp_path / "calls.duckdb")
    try:
        rows = states.con.execute(
            "SELECT DISTINCT state FROM agent_state_intervals WHERE agent_id = 'a1'"
        ).fetchall()
    finally:
        states.close()
    assert "on_call" in {str(state) for (state,) in rows}  # node b: the adopted call
    await nc.close()


async def test_record_waits_out_jetstream_and_a_node_sigkill_then_arrives_once(
    sim: SimulatorThread, nats_server: NatsServer, tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    config = write_config(tmp_path / "n.toml", sim, tmp_path / "data", nats_server.url)
    node = NodeProcess(config, stderr=tmp_path / "node.log")
    nodes.append(node)
    node.wait_for(lambda e: e["event"] == "ready")
    nc = await nats.connect(nats_server.url)
    assert (await ask(nc, LogIn(agent_id="a1"))).refusal is None
    assert (await ask(nc, PlaceCall(agent_id="a1", customer_number="+33600000001"))).refusal is None
    call_id = node.wait_for(lambda e: e["event"] == "call" and e["step"] == "connected")["call_id"]
    await nc.close()

    nats_server.stop()  # JetStream down when the call ends
    sim.far_end_hangup(customer_channel_id(call_id), 16)
    record = node.wait_for(lambda e: e["event"] == "record" and
                           e["record"].get("call_id") == call_id and "outcome" in e["record"])
    assert record["record"]["outcome"] == "completed"
    node.kill()  # between the record and JetStream's ack: it is only in the outbox file
    assert any((tmp_path / "data" / f"node-{NODE}").glob("outbox-*.jsonl"))

    nats_server.start()  # back later, the node restarted
    node = NodeProcess(config, stderr=tmp_path / "node-2.log")
    nodes.append(node)
    node.wait_for(lambda e: e["event"] == "ready")
    node.proc.send_signal(signal.SIGTERM)
    stopped = node.wait_for(lambda e: e["event"] == "stopped")
    assert node.proc.wait(WAIT_S) == 0
    assert stopped["records_waiting"] is False  # everything acknowledged by JetStream

    # The restarted node's reconciler also closed the call (the bucket still had it live):
    # same record key, so the stream kept the first one, from the outbox.
    nc = await nats.connect(nats_server.url)
    assert await calls_in_duckdb(nc, tmp_path / "calls.duckdb") == {
        call_id: (1, record["record"]["reason"])
    }
    await nc.close()


def run_node(*args: str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "evscallpro.cli", "node", *args],
        capture_output=True, text=True, timeout=WAIT_S, check=False,
    )
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line]


def test_configuration_problems_exit_2_with_an_error_line(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "n.toml", sim, tmp_path / "data", "nats://127.0.0.1:1")
    code, lines = run_node("--config", str(config), "--node", "ghost")
    assert code == 2 and lines[-1]["event"] == "error" and "ghost" in lines[-1]["error"]
    code, lines = run_node("--config", str(config), "--node", NODE, "--bus-url", "http://x")
    assert code == 2 and "--bus-url" in lines[-1]["error"]
    no_bus = write_config(tmp_path / "m.toml", sim, tmp_path / "data")
    code, lines = run_node("--config", str(no_bus), "--node", NODE)
    assert code == 2 and "bus" in lines[-1]["error"]
    code, lines = run_node("--config", str(tmp_path / "missing.toml"), "--node", NODE)
    assert code == 2 and lines[-1]["event"] == "error"


async def test_sigterm_with_the_bus_away_keeps_the_records_for_the_next_start(
    sim: SimulatorThread, nats_server: NatsServer, tmp_path: Path, nodes: list[NodeProcess]
) -> None:
    config = write_config(tmp_path / "n.toml", sim, tmp_path / "data", nats_server.url)
    node = NodeProcess(config, stderr=tmp_path / "node.log")
    nodes.append(node)
    node.wait_for(lambda e: e["event"] == "ready")
    nc = await nats.connect(nats_server.url)
    assert (await ask(nc, LogIn(agent_id="a1"))).refusal is None
    assert (await ask(nc, PlaceCall(agent_id="a1", customer_number="+33600000001"))).refusal is None
    call_id = node.wait_for(lambda e: e["event"] == "call" and e["step"] == "connected")["call_id"]
    await nc.close()

    nats_server.stop()
    sim.far_end_hangup(customer_channel_id(call_id), 16)
    node.wait_for(lambda e: e["event"] == "record" and e["record"].get("call_id") == call_id
                  and "outcome" in e["record"])
    node.proc.send_signal(signal.SIGTERM)
    stopped = node.wait_for(lambda e: e["event"] == "stopped", timeout=60)
    assert node.proc.wait(WAIT_S) == 0  # a clean stop, even with the bus away
    assert stopped["records_waiting"] is True

    nats_server.start()
    node = NodeProcess(config, stderr=tmp_path / "node-2.log")
    nodes.append(node)
    node.wait_for(lambda e: e["event"] == "ready")
    node.proc.send_signal(signal.SIGTERM)
    assert node.wait_for(lambda e: e["event"] == "stopped")["records_waiting"] is False
    assert node.proc.wait(WAIT_S) == 0
    nc = await nats.connect(nats_server.url)
    found = await calls_in_duckdb(nc, tmp_path / "calls.duckdb")
    assert list(found) == [call_id] and found[call_id][0] == 1
    await nc.close()


def test_an_asterisk_that_does_not_answer_is_a_crash_not_a_configuration_error(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    class Nowhere:
        base_url, username, password = "http://127.0.0.1:1", "u", "p"

    config = write_config(tmp_path / "n.toml", Nowhere(), tmp_path / "data",  # type: ignore[arg-type]
                          nats_server.url)
    code, lines = run_node("--config", str(config), "--node", NODE)
    assert code not in (0, 2)  # serve restarts it with back-off
    assert not any(line["event"] == "ready" for line in lines)
