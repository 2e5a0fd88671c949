"""Recovery end to end: the events WebSocket dropped mid-call, the simulator restarted
mid-call, the core SIGKILLed and restarted mid-call (the call is adopted), SIGTERM leaving
calls up, and another process taking our app name."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import WAIT_S, Core, ViewLog, core_config, wait_channels

from actors.call_journal import CallJournal
from actors.messages import AriAppReplaced
from actors.recovery import ReconcileReport
from actors.sinks import MemoryRecordSink
from analytics.reader import AnalyticsReader
from asterisk.sim.testing import SimulatorThread
from bus.protocol import HangUp
from core.domain import AgentState, CallOutcome, CallStep, Party
from core.ids import agent_channel_id, customer_channel_id
from core.views import AgentView
from evscallpro.node_client import NodeClient
from evscallpro.root import CallCenterApp
from evscallpro.settings_file import BusSettings

pytestmark = pytest.mark.slow

LOCAL = "Local/{}@sim-phones"


class Reports:
    def __init__(self) -> None:
        self.items: queue.Queue[ReconcileReport] = queue.Queue()

    def __call__(self, report: ReconcileReport) -> None:
        self.items.put(report)

    def next(self, timeout: float = WAIT_S) -> ReconcileReport:
        return self.items.get(timeout=timeout)


def legs_in_sim(sim: SimulatorThread, call_id: str) -> set[str]:
    return {
        c["id"]
        for c in sim.state()["channels"]
        if c["id"] in (agent_channel_id(call_id), customer_channel_id(call_id))
    }


def test_websocket_dropped_mid_call_call_survives_and_events_resume(
    core: Core, sim: SimulatorThread
) -> None:
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    link = core.app.link
    assert link is not None and link.generation == 1
    reconnected = threading.Event()
    core.app.link_up.clear()
    assert sim.drop_websockets() == 1
    assert core.app.link_up.wait(WAIT_S), "the link did not reconnect"
    reconnected.set()
    assert link.generation == 2
    assert legs_in_sim(sim, req.call_id) == {
        agent_channel_id(req.call_id),
        customer_channel_id(req.call_id),
    }
    # Events flow again: the agent hangs up, the core ends the call.
    sim.far_end_hangup(agent_channel_id(req.call_id), 16)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.AGENT


def test_customer_hangs_up_while_socket_is_down_reconcile_ends_the_call(
    make_core: Callable[..., Core], sim: SimulatorThread
) -> None:
    core = make_core()
    req = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    assert core.views.wait_step(req.call_id, CallStep.CONNECTED) is not None
    sim.refuse_websockets(1.0)  # a gap the core cannot bridge by reconnecting at once
    core.app.link_up.clear()
    sim.drop_websockets()
    sim.far_end_hangup(customer_channel_id(req.call_id), 16)  # never delivered to the core
    assert core.app.link_up.wait(WAIT_S)
    record = core.record(req.call_id)
    assert record.outcome == CallOutcome.COMPLETED
    assert record.hung_up_first == Party.CUSTOMER
    assert legs_in_sim(sim, req.call_id) == set()  # the agent leg was hung up by the core


def test_simulator_restarted_mid_call_records_are_written(core: Core, sim: SimulatorThread) -> None:
    first = core.call(LOCAL.format("answer"), LOCAL.format("answer"))
    second = core.call(LOCAL.format("answer"), LOCAL.format("noanswer"))
    assert core.views.wait_step(first.call_id, CallStep.CONNECTED) is not None
    assert core.views.wait_step(second.call_id, CallStep.CUSTOMER_DIALING) is not None
    sim.restart()  # every channel and bridge vanishes, no events
    a = core.record(first.call_id)
    b = core.record(second.call_id)
    # the new startup time says Asterisk restarted (tests/e2e/test_unseen_ends_e2e.py)
    assert a.outcome == CallOutcome.TELEPHONY_RESTARTED and a.connected_at is not None
    assert b.outcome == CallOutcome.TELEPHONY_RESTARTED and b.connected_at is None
    assert core.app.live.wait_until(lambda live: not live.calls, WAIT_S), core.app.live_call_ids()


# ---------------------------------------------------------------- the core as a process
def write_config(tmp: Path, sim: SimulatorThread) -> Path:
    """The project's settings file (core.settings), pointing at the simulator."""
    config = tmp / "evscallpro.toml"
    config.write_text(
        f"""
data_dir = "{tmp}"

[ari]
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
customer_ring_s = 300  # sim seconds: 15 s of wall time at 20x

[gateway]
port = 0  # any free port: parallel runs never collide

[[agents]]
id = "a1"
name = "Alice"
mobile_number = "+33600000001"
workstation = "mobile"
""",
        encoding="utf-8",
    )
    return config


class ServeProcess:
    """`evscallpro serve` in a subprocess; its stdout JSON lines arrive on a queue."""

    def __init__(self, config: Path, *extra: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evscallpro.cli", "serve", "--config", str(config), *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []  # every line wait_for went past
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip():
                self.lines.put(json.loads(line))

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S
    ) -> dict[str, Any]:
        while True:
            line = self.lines.get(timeout=timeout)
            self.seen.append(line)
            if predicate(line):
                return line

    def seen_or_wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S
    ) -> dict[str, Any]:
        """The first line so far that matches, else the next one (for lines whose order
        between processes is not given)."""
        earlier = next((line for line in self.seen if predicate(line)), None)
        return earlier if earlier is not None else self.wait_for(predicate, timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def serve_proc() -> Iterator[list[ServeProcess]]:
    procs: list[ServeProcess] = []
    yield procs
    for p in procs:
        p.kill()


def start_connected_call(
    sim: SimulatorThread, config: Path, procs: list[ServeProcess]
) -> tuple[ServeProcess, str]:
    serve = ServeProcess(config, "--call", "a1:+33600000001")
    procs.append(serve)
    serve.wait_for(lambda e: e["event"] == "ready")
    placed = serve.wait_for(lambda e: e["event"] == "place_call")
    assert placed["refusal"] is None
    connected = serve.wait_for(lambda e: e["event"] == "call" and e["step"] == "connected")
    return serve, connected["call_id"]


def restarted_core(
    sim: SimulatorThread, tmp: Path, views: ViewLog | None = None
) -> tuple[CallCenterApp, MemoryRecordSink, Reports]:
    sink = MemoryRecordSink()
    reports = Reports()
    app = CallCenterApp(
        core_config(sim),
        sink=sink,
        journal=CallJournal(tmp / "live-calls.jsonl"),
        on_reconciled=reports,
    )
    if views is not None:
        app.subscribe(views)
    app.start(wait_for_link_s=WAIT_S)
    return app, sink, reports


def test_core_sigkilled_mid_call_is_adopted_and_the_agent_can_hang_up(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, sim)
    serve, call_id = start_connected_call(sim, config, serve_proc)
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(10)
    assert legs_in_sim(sim, call_id) == {agent_channel_id(call_id), customer_channel_id(call_id)}

    views = ViewLog()
    app, sink, reports = restarted_core(sim, tmp_path, views)
    try:
        report = reports.next()
        assert report.adopted == (call_id,)
        assert call_id in app.live_call_ids()
        on_call = views.wait_for(
            lambda v: isinstance(v, AgentView) and v.state == AgentState.ON_CALL
        )
        assert on_call is not None and on_call.call is not None
        assert on_call.call.call_id == call_id  # the agent desktop shows the adopted call
        assert app.hang_up("a1", call_id) is None  # the agent's button, on the new core
        record = sink.wait_for(lambda r: r.call_id == call_id, WAIT_S)
        assert record is not None
        assert record.outcome == CallOutcome.COMPLETED and record.recovered
        assert record.hung_up_first == Party.UI
        assert record.customer_number == "+33600000001"
        assert record.connected_at is not None  # from the journal
        assert legs_in_sim(sim, call_id) == set()
        assert CallJournal(tmp_path / "live-calls.jsonl").live_calls() == {}
    finally:
        app.stop()


def record_of(serve: ServeProcess, call_id: str) -> dict[str, Any]:
    """The call record of `call_id` from serve's stdout (dispositions are records too)."""
    return serve.seen_or_wait_for(
        lambda e: e["event"] == "record"
        and e["record"].get("call_id") == call_id
        and "outcome" in e["record"]
    )["record"]


def test_call_that_ended_while_the_core_was_dead_gets_its_record(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    """serve killed (its node with it), the call ends meanwhile; serve started again: the
    node knows the call from its live calls (the KV bucket, kept by the local nats-server's
    store in data_dir) and records it."""
    config = write_config(tmp_path, sim)
    serve, call_id = start_connected_call(sim, config, serve_proc)
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(10)
    sim.far_end_hangup(customer_channel_id(call_id), 16)
    sim.far_end_hangup(agent_channel_id(call_id), 16)

    restarted = ServeProcess(config)
    serve_proc.append(restarted)
    report = restarted.wait_for(lambda e: e["event"] == "reconciled")
    assert report["closed_while_away"] == [call_id]
    record = record_of(restarted, call_id)
    assert record["recovered"]
    assert record["outcome"] == "completed"
    assert record["reason"] == "ended_while_core_away"


def test_sigterm_stops_cleanly_and_leaves_the_call_up(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, sim)
    serve, call_id = start_connected_call(sim, config, serve_proc)
    serve.proc.send_signal(signal.SIGTERM)
    stopped = serve.wait_for(lambda e: e["event"] == "stopped")
    assert serve.proc.wait(10) == 0
    assert stopped["live_calls_left_up"] == [call_id]
    assert legs_in_sim(sim, call_id) == {agent_channel_id(call_id), customer_channel_id(call_id)}


def test_serve_runs_the_whole_stack_core_analytics_and_gateway(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, sim)
    serve = ServeProcess(config, "--port", "0", "--call", "a1:+33600000008")  # hangs up after 5 s
    serve_proc.append(serve)
    ready = serve.wait_for(lambda e: e["event"] == "ready")
    url = ready["url"]
    with urllib.request.urlopen(f"{url}/healthz", timeout=WAIT_S) as answer:
        assert json.loads(answer.read())["status"] == "ok"
    with urllib.request.urlopen(f"{url}/login", timeout=WAIT_S) as answer:
        assert b'id="login-form"' in answer.read()
    with urllib.request.urlopen(f"{url}/metrics", timeout=WAIT_S) as answer:
        assert b"evscallpro_" in answer.read()
    record = serve.wait_for(lambda e: e["event"] == "record")["record"]
    assert record["outcome"] == "completed"
    serve.proc.send_signal(signal.SIGTERM)
    assert serve.wait_for(lambda e: e["event"] == "stopped")["live_calls_left_up"] == []
    assert serve.proc.wait(10) == 0
    reader = AnalyticsReader(tmp_path / "evscallpro.duckdb")  # flushed by the stack's stop
    try:
        assert [
            r.call_id for r in reader.calls_for_agent("a1", dt.datetime.now(dt.UTC).date())
        ] == [record["call_id"]]
    finally:
        reader.close()


def test_application_replaced_stops_the_old_link(make_core: Callable[..., Core]) -> None:
    notices: queue.Queue[Any] = queue.Queue()
    first = make_core()
    first.app._external_notice = notices.put  # observe the first core's link
    make_core()  # a second process opening a socket under the same app name
    while True:
        notice = notices.get(timeout=WAIT_S)
        if isinstance(notice, AriAppReplaced):
            break
    link = first.app.link
    assert link is not None and link.replaced


def test_core_killed_while_customer_rings_the_new_core_follows_the_call_to_its_end(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, sim)
    serve = ServeProcess(config, "--call", "a1:+33600000003")  # the customer never answers
    serve_proc.append(serve)
    ringing = serve.wait_for(lambda e: e["event"] == "call" and e["step"] == "customer_dialing")
    call_id = ringing["call_id"]
    assert wait_channels(sim, {agent_channel_id(call_id), customer_channel_id(call_id)})
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(10)

    restarted = ServeProcess(config)
    serve_proc.append(restarted)
    bus = restarted.wait_for(lambda e: e["event"] == "bus")["url"]  # the local nats-server
    report = restarted.wait_for(lambda e: e["event"] == "reconciled")
    assert report["adopted"] == [call_id]
    restarted.wait_for(lambda e: e["event"] == "process_ready" and e["process"] == "node")
    # The customer still rings under the new node (15 s of wall time in all: no need to
    # wait for the gateway); the agent gives up from the desktop.
    assert legs_in_sim(sim, call_id) == {agent_channel_id(call_id), customer_channel_id(call_id)}
    with NodeClient(BusSettings(), [bus]) as client:
        assert client.ask("main", HangUp("a1", call_id)).refusal is None
    record = record_of(restarted, call_id)
    assert record["recovered"]
    assert record["outcome"] == "cancelled", record["reason"]
    assert record["connected_at"] is None
    assert legs_in_sim(sim, call_id) == set()


def test_serve_refuses_a_bad_config_with_the_key_named(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[timeouts]\ncustomer_ring_s = "soon"\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "evscallpro.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    error = json.loads(proc.stdout.splitlines()[0])
    assert error["event"] == "error" and "customer_ring_s" in error["error"]


def test_adoption_without_journal_rebuilds_the_call_from_channel_variables(
    sim: SimulatorThread, tmp_path: Path, serve_proc: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, sim)
    serve, call_id = start_connected_call(sim, config, serve_proc)
    os.kill(serve.proc.pid, signal.SIGKILL)
    serve.proc.wait(10)
    # The live calls are lost too: the core below starts on an empty journal (and the node's
    # KV bucket, in data_dir/nats, is not read by an in-process core).
    (tmp_path / "live-calls.jsonl").unlink(missing_ok=True)

    app, sink, reports = restarted_core(sim, tmp_path)
    try:
        assert reports.next().adopted == (call_id,)
        sim.far_end_hangup(customer_channel_id(call_id), 16)
        record = sink.wait_for(lambda r: r.call_id == call_id, WAIT_S)
        assert record is not None and record.recovered
        assert record.outcome == CallOutcome.COMPLETED
        assert record.hung_up_first == Party.CUSTOMER
        # What only the EVS_* channel variables could tell the new core:
        assert record.agent_id == "a1"
        assert record.customer_number == "+33600000001"
        assert record.workstation == "mobile"
    finally:
        app.stop()
