"""evscallpro.serve's processes: the children's command lines, and a whole supervised start
with stand-in children (tests/bus/fake_cli.py) on a local nats-server: the bus URL passed to
each, the nodes started one per [[nodes]], `--call` sent as NodeCommands to the agent's node,
the live calls left up gathered at the stop (from the nodes' lines, else their KV bucket),
and the nats-server stopped last."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bus.server import NatsServer
from evscallpro import toml_write
from evscallpro.serve import Processes, child_specs, place_call
from evscallpro.settings_file import Settings, parse_settings

pytestmark = pytest.mark.timeout(90)

FAKE_CLI = (sys.executable, str(Path(__file__).with_name("fake_cli.py")))
WAIT_S = 30.0


def two_nodes(data_dir: Path, bus_url: str = "") -> Settings:
    settings = parse_settings(
        {
            "data_dir": str(data_dir),
            "bus": {"url": bus_url},
            "nodes": [
                {"id": "n1", "ari": {"url": "http://127.0.0.1:8088"}},
                {"id": "n2", "ari": {"url": "http://127.0.0.1:8089"}},
            ],
            "agents": [
                {"id": "a1", "mobile_number": "+33600000001", "workstation": "mobile"},
                {
                    "id": "a2",
                    "mobile_number": "+33600000002",
                    "workstation": "mobile",
                    "node": "n2",
                },
            ],
        },
        env={},
    )
    assert isinstance(settings, Settings), settings
    return settings


class Lines:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._cond:
            self.seen.append(event)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        with self._cond:
            assert self._cond.wait_for(lambda: any(predicate(e) for e in self.seen), WAIT_S), (
                self.seen
            )
            return next(e for e in self.seen if predicate(e))


def test_children_command_lines_in_start_order(tmp_path: Path) -> None:
    config = tmp_path / "evscallpro.toml"
    specs = child_specs(config, two_nodes(tmp_path), "nats://127.0.0.1:4999", gateway_port=0)
    assert [(s.name, s.process, s.node) for s in specs] == [
        ("analytics", "analytics", ""),
        ("node-n1", "node", "n1"),
        ("node-n2", "node", "n2"),
        ("gateway", "gateway", ""),
    ]
    common = ["--config", str(config), "--bus-url", "nats://127.0.0.1:4999"]
    assert list(specs[0].argv) == [sys.executable, "-m", "evscallpro.cli", "analytics", *common]
    assert list(specs[2].argv[3:]) == ["node", *common, "--node", "n2"]
    assert list(specs[3].argv[3:]) == ["gateway", *common, "--port", "0"]
    # [bus] url set: the children read it from the settings file, serve adds nothing
    joined = child_specs(config, two_nodes(tmp_path, "nats://bus:4222"), None)
    assert "--bus-url" not in joined[1].argv and "--port" not in joined[-1].argv


@pytest.mark.parametrize("silent_nodes", [False, True], ids=["nodes_say", "kv_says"])
def test_serve_processes_on_a_local_bus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_nodes: bool
) -> None:
    if silent_nodes:
        monkeypatch.setenv("FAKE_NODE_SILENT", "1")
    settings = two_nodes(tmp_path / "data")
    lines = Lines()
    processes = Processes(
        tmp_path / "evscallpro.toml", settings, lines, gateway_port=8123, program=FAKE_CLI
    )
    processes.start()
    try:
        nats = processes.nats
        assert nats is not None and nats.process is not None
        assert nats.store_dir == tmp_path / "data" / "nats"
        assert processes.bus_servers == [nats.url]
        assert processes.url == "http://127.0.0.1:8123/"
        node_argv = processes.ready_lines["node-n2"]["argv"]
        assert node_argv[-4:] == ["--bus-url", nats.url, "--node", "n2"]
        assert (tmp_path / "data" / "logs" / "node-n2.log").exists()

        place_call(settings, processes.bus_servers, "a2:+33600000009", lines)
        placed = lines.wait_for(lambda e: e["event"] == "place_call")
        assert placed == {"event": "place_call", "agent_id": "a2", "refusal": None}
        call = lines.wait_for(lambda e: e["event"] == "call")
        assert call["node"] == "n2" and call["call_id"] == "n2-call-1"

        place_call(settings, processes.bus_servers, "nobody:+33600000009", lines)
        refused = lines.wait_for(lambda e: e["event"] == "place_call" and e["agent_id"] == "nobody")
        assert refused["refusal"]["code"] == "unknown_agent"
    finally:
        live = processes.stop()
    assert live == ["n2-call-1"]
    assert processes.nats is None and nats.process is None  # the nats-server stopped last
    stopped = [e["process"] for e in lines.seen if e["event"] == "process_stopped"]
    assert stopped == (
        ["gateway", "analytics"] if silent_nodes else ["gateway", "node", "node", "analytics"]
    )
    assert json.dumps(lines.seen)  # every line is JSON for serve's stdout


def test_serve_with_a_bus_url_starts_no_nats_server(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    settings = two_nodes(tmp_path / "data", bus_url=nats_server.url)
    config = tmp_path / "evscallpro.toml"
    config.write_text(
        toml_write.dumps({"bus": {"url": nats_server.url}, "gateway": {"port": 8125}}),
        encoding="utf-8",
    )
    lines = Lines()
    processes = Processes(config, settings, lines, program=FAKE_CLI)
    processes.start()
    try:
        assert processes.nats is None
        assert processes.bus_servers == [nats_server.url]
        assert processes.url == "http://127.0.0.1:8125/"  # the settings file's port
        assert "--bus-url" not in processes.ready_lines["node-n1"]["argv"]
        place_call(settings, processes.bus_servers, "a1:+33600000009", lines)
        assert lines.wait_for(lambda e: e["event"] == "call")["node"] == "n1"
    finally:
        live = processes.stop()
    assert live == ["n1-call-1"]
    assert not (tmp_path / "data" / "nats").exists()
    assert nats_server.healthy()  # not ours to stop
