"""`evscallpro demo --nodes N`: the settings its processes read (one [[nodes]] entry per
simulator, the agents spread over them), written as TOML and read back; the demo's start
with stand-in processes (tests/bus/fake_cli.py); and, once the node, gateway and analytics
commands exist, `demo --nodes 2 --autopilot` as a user runs it, calls on both nodes down to
DuckDB."""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
import signal
import subprocess
import sys
import threading
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from core.domain import WorkstationMode
from core.settings import AgentSettings
from evscallpro import toml_write
from evscallpro.demo_nodes import NodesDemo, demo_nodes_settings, spread_agents
from evscallpro.demo_seed import (
    DEMO_DIR,
    SETTINGS_FILE,
    load_campaign_scripts,
    load_demo_settings,
)
from evscallpro.settings_file import load_settings, read_toml

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
FAKE_CLI = (sys.executable, str(REPO / "tests" / "bus" / "fake_cli.py"))
SIMS = ["http://127.0.0.1:18088", "http://127.0.0.1:18089"]


def _two_nodes(tmp_path: Path, time_scale: float = 10.0) -> dict[str, Any]:
    return demo_nodes_settings(
        read_toml(DEMO_DIR / SETTINGS_FILE),
        load_demo_settings(),
        ari_urls=SIMS,
        data_dir=str(tmp_path / "data"),
        host=None,
        port=0,
        time_scale=time_scale,
        campaign_scripts=load_campaign_scripts(),
    )


def test_two_nodes_settings_one_per_simulator_agents_spread(tmp_path: Path) -> None:
    path = tmp_path / "demo-run.toml"
    path.write_text(toml_write.dumps(_two_nodes(tmp_path)), encoding="utf-8")
    settings = load_settings(path, env={})
    assert [(n.id, n.ari.url) for n in settings.nodes] == [("n1", SIMS[0]), ("n2", SIMS[1])]
    assert {n.ari.user for n in settings.nodes} == {"evscallpro"}
    assert {a.id: settings.node_of_agent(a.id) for a in settings.agents} == {
        "agent1": "n1",
        "agent2": "n2",  # the two autopilot agents work on different boxes
        "agent3": "n1",
        "agent4": "n1",  # browser softphone: on the simulator [softphone] ws_url points at
    }
    assert settings.softphone.ws_url == "ws://127.0.0.1:18088/ws"
    assert [a.id for a in settings.for_node("n2").agents] == ["agent2"]
    assert settings.for_node("n2").ari.url == SIMS[1]
    assert settings.data_dir == str((tmp_path / "data").resolve())
    assert settings.gateway.port == 0
    assert settings.gateway.campaign_scripts == load_campaign_scripts()
    assert settings.timeouts.wrap_up_max_s == 9.0  # 90 s at x10
    assert settings.timeouts.agent_ring_s == 22  # ring timeouts travel to the simulator
    assert settings.bus.url == ""  # serve starts the local nats-server


def test_one_node_keeps_every_agent_on_it() -> None:
    agents = [AgentSettings(id=f"a{i}", workstation=WorkstationMode.MOBILE) for i in range(3)]
    assert spread_agents(agents, ["n1"]) == {"a0": "n1", "a1": "n1", "a2": "n1"}
    three = spread_agents(agents, ["n1", "n2", "n3"])
    assert list(three.values()) == ["n1", "n2", "n3"]


def test_toml_writer_round_trips_the_demo_settings(tmp_path: Path) -> None:
    data = _two_nodes(tmp_path)
    data["odd key"] = 'quote " backslash \\ newline \n é'
    data["none"] = None
    back = tomllib.loads(toml_write.dumps(data))
    del data["none"]
    assert back == data


def test_demo_with_two_nodes_starts_their_processes(tmp_path: Path) -> None:
    lines: list[dict[str, Any]] = []
    demo = NodesDemo(
        nodes=2,
        data_dir=str(tmp_path / "data"),
        port=8124,
        ari_port=0,
        time_scale=10.0,
        emit=lines.append,
        program=FAKE_CLI,
    )
    try:
        demo.start()
        assert demo.url == "http://127.0.0.1:8124"  # the (stand-in) gateway's ready line
        assert len(demo.simulators) == 2
        n1, n2 = (sim.base_url for sim in demo.simulators)
        assert n1 != n2
        banner = demo.banner()
        assert "Open      http://127.0.0.1:8124/login" in banner
        assert f"n1  {n1}  agent1, agent3, agent4" in banner
        assert f"n2  {n2}  agent2" in banner
        assert demo.status_line().startswith(
            f"ready: ARI simulator {n1} and {n2} (time x10), 2 nodes up"
        )
        written = load_settings(demo.settings_path, env={})
        assert [n.ari.url for n in written.nodes] == [n1, n2]
        ready = [e for e in lines if e["event"] == "process_ready"]
        assert [(e["process"], e.get("node")) for e in ready] == [
            ("analytics", None),
            ("node", "n1"),
            ("node", "n2"),
            ("gateway", None),
        ]
        assert ready[0]["argv"][:3] == ["analytics", "--config", str(demo.settings_path)]
    finally:
        demo.stop()
    assert demo.simulators == [] and demo.processes is None


# ---------------------------------------------------------------- after the lead's merge
@pytest.mark.slow
def test_demo_two_nodes_as_a_user_runs_it(tmp_path: Path) -> None:
    """Runs only for real once `evscallpro node`, `gateway` and `analytics` exist."""
    data = tmp_path / "data"
    command = [
        sys.executable, "-m", "evscallpro.cli", "demo", "--nodes", "2", "--autopilot",
        "--port", "0", "--ari-port", "0", "--time-scale", "20", "--data-dir", str(data),
        "--verbose",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()

    def pump(stream: Any, into: queue.Queue[str]) -> None:
        for line in stream:
            into.put(line)
        into.put("<eof>")

    for stream, into in ((process.stdout, out), (process.stderr, err)):
        threading.Thread(target=pump, args=(stream, into), daemon=True).start()

    def read_until(lines: queue.Queue[str], pattern: str) -> re.Match[str]:
        while True:
            line = lines.get(timeout=60)
            assert line != "<eof>", f"the demo ended (exit {process.wait(10)})"
            match = re.search(pattern, line)
            if match:
                return match

    try:
        url = read_until(out, r"Open\s+(http://127\.0\.0\.1:\d+)/login").group(1)
        read_until(out, r"^\s+n2\s+http://127\.0\.0\.1:\d+\s+agent2")
        read_until(out, r"^ready: ARI simulator .* and .*2 nodes up")
        with urllib.request.urlopen(url + "/login", timeout=10) as resp:
            assert resp.status == 200
        nodes_with_records: set[str] = set()
        while nodes_with_records != {"n1", "n2"}:  # the autopilot's agents, one per node
            event = json.loads(read_until(err, r"evscallpro\.demo: (\{.*\})\s*$").group(1))
            if event["event"] == "record" and "outcome" in event["record"]:
                nodes_with_records.add(event["node"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    from analytics.reader import AnalyticsReader

    reader = AnalyticsReader(data / "evscallpro.duckdb")
    try:
        today = dt.datetime.now(dt.UTC).date()
        assert reader.calls_for_agent("agent2", today)  # node n2's calls reached DuckDB
        assert reader.calls_for_agent("agent3", today)  # node n1's
    finally:
        reader.close()
