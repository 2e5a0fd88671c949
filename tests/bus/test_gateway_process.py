"""`evscallpro gateway` on a real nats-server with fake nodes: /healthz per node (503 when a
configured node is missing), sessions kept across a gateway restart and shared by two
gateways, logout reaching both, statistics unavailable without an analytics process, and the
subcommand's stdout / exit-code / SIGTERM contract."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_node import PASSWORDS, WAIT_S, FakeNode, agent, two_node_settings, wait_until
from websockets.sync.client import connect

from bus.protocol import Pause
from bus.server import NatsServer
from core.domain import AgentState
from evscallpro.gateway_process import GatewayProcess
from evscallpro.settings_file import Settings
from gateway.sessions import COOKIE_NAME

REPO = Path(__file__).resolve().parents[2]


def get(url: str, cookie: str = "", origin: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if cookie:
        request.add_header("Cookie", f"{COOKIE_NAME}={cookie}")
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post(url: str, origin: str, cookie: str = "", auth: tuple[str, str] | None = None
         ) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url, method="POST", data=b"")
    request.add_header("Origin", origin)
    if cookie:
        request.add_header("Cookie", f"{COOKIE_NAME}={cookie}")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=WAIT_S) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def log_in(gateway: GatewayProcess, user: str) -> str:
    status, headers = post(gateway.url + "/login", gateway.url, auth=(user, PASSWORDS[user]))
    assert status == 200, (status, headers)
    cookie = headers["Set-Cookie"].split(";")[0]
    name, _, value = cookie.partition("=")
    assert name == COOKIE_NAME and value
    return value


def signed_in(gateway: GatewayProcess, cookie: str) -> bool:
    status, _ = get(gateway.url + "/session", cookie)
    return status == 200


@pytest.fixture
def nodes(nats_server: NatsServer) -> Iterator[dict[str, FakeNode]]:
    started = {n: FakeNode(nats_server.url, n).start() for n in ("n1", "n2")}
    try:
        yield started
    finally:
        for node in started.values():
            node.stop()


@pytest.fixture
def settings(nats_server: NatsServer, tmp_path: Path) -> Settings:
    return two_node_settings(tmp_path, nats_server.url)


class Gateways:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: list[GatewayProcess] = []

    def start(self) -> GatewayProcess:
        process = GatewayProcess(self.settings, port=0, request_timeout_s=1.0).start()
        self.running.append(process)
        return process

    def stop(self, process: GatewayProcess) -> None:
        process.stop()
        self.running.remove(process)


@pytest.fixture
def gateways(settings: Settings) -> Iterator[Gateways]:
    handle = Gateways(settings)
    try:
        yield handle
    finally:
        for process in handle.running:
            process.stop()


def test_healthz_reports_each_node_and_503_while_one_is_missing(
    gateways: Gateways, nodes: dict[str, FakeNode]
) -> None:
    nodes["n2"].stop()  # configured, never heard
    gateway = gateways.start()
    seen: list[tuple[int, dict]] = []

    def n1_reported() -> bool:
        nodes["n1"].publish_health("up")  # each second, as a node does
        status, body = get(gateway.url + "/healthz")
        seen.append((status, json.loads(body)))
        return any(n["node"] == "n1" and n["ari_link_up"] for n in seen[-1][1]["nodes"])

    wait_until(n1_reported)
    status, health = seen[-1]
    assert status == 503 and health["status"] == "unavailable"
    by_node = {n["node"]: n for n in health["nodes"]}
    assert by_node["n1"]["on_bus"] and by_node["n1"]["ari_link_up"]
    assert by_node["n1"]["stasis_app_held"] and by_node["n1"]["ok"]
    assert not by_node["n2"]["on_bus"] and not by_node["n2"]["ok"]
    assert "n2" in health["reason"] and "n1" not in health["reason"]

    replacement = FakeNode(gateways.settings.bus.url, "n2").start()
    try:
        def all_up() -> bool:
            nodes["n1"].publish_health("up")
            replacement.publish_health("up")
            return get(gateway.url + "/healthz")[0] == 200

        wait_until(all_up)
        health = json.loads(get(gateway.url + "/healthz")[1])
        assert health["status"] == "ok" and all(n["ok"] for n in health["nodes"])
    finally:
        replacement.stop()


def test_a_gateway_restart_signs_nobody_out_and_two_gateways_share_a_logout(
    gateways: Gateways, nodes: dict[str, FakeNode]
) -> None:
    first = gateways.start()
    cookie = log_in(first, "alice")
    assert signed_in(first, cookie)
    second = gateways.start()
    wait_until(lambda: signed_in(second, cookie))  # known on the other gateway too
    gateways.stop(first)
    restarted = gateways.start()
    assert signed_in(restarted, cookie)  # loaded from the bucket before it listened
    status, _ = post(second.url + "/logout", second.url, cookie=cookie)
    assert status in (302, 303)
    wait_until(lambda: not signed_in(restarted, cookie))
    assert not signed_in(second, cookie)


def test_statistics_without_an_analytics_process_say_so_not_a_500(
    gateways: Gateways, nodes: dict[str, FakeNode]
) -> None:
    gateway = gateways.start()
    cookie = log_in(gateway, "sup")
    status, body = get(gateway.url + "/stats", cookie)
    assert status == 503
    assert "Statistiques indisponibles" in body.decode()  # French by default
    status, body = get(gateway.url + "/stats/export.csv", cookie)
    assert status == 503 and "Statistiques indisponibles" in body.decode()


def test_the_desk_says_when_the_days_history_is_unavailable(
    gateways: Gateways, nodes: dict[str, FakeNode]
) -> None:
    nodes["n1"].set_agent(agent("alice", AgentState.AVAILABLE), seq=1)
    gateway = gateways.start()
    cookie = log_in(gateway, "alice")
    ws_url = gateway.url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, origin=gateway.url,  # type: ignore[arg-type]
                 additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}) as desk:
        frames = []
        while not any('id="history-unavailable"' in f for f in frames):
            frames.append(str(desk.recv(timeout=WAIT_S)))
    assert "L&#39;historique du jour est indisponible" in frames[-1] or (
        "L'historique du jour est indisponible" in frames[-1])


def test_a_node_down_gives_the_agent_a_translated_refusal(
    gateways: Gateways, nodes: dict[str, FakeNode]
) -> None:
    nodes["n1"].set_agent(agent("alice", AgentState.PAUSED), seq=1)
    gateway = gateways.start()
    cookie = log_in(gateway, "alice")
    nodes["n1"].stop()  # alice's node goes away
    ws_url = gateway.url.replace("http://", "ws://") + "/ws"
    with connect(ws_url, origin=gateway.url,  # type: ignore[arg-type]
                 additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}) as desk:
        desk.send(json.dumps({"action": "set_available"}))
        frames: list[str] = []
        text = "le serveur téléphonique de votre poste ne répond pas"  # refusal.node_unavailable
        while not any(text in f for f in frames):  # recv fails the test past WAIT_S
            frames.append(str(desk.recv(timeout=WAIT_S)))
    assert 'id="notice"' in frames[-1]


def write_config(settings: Settings, tmp_path: Path, bus: bool = False) -> Path:
    users = {a.id: a.password_hash for a in settings.agents}
    text = f'''
data_dir = "{tmp_path}"
{f'[bus]{chr(10)}url = "{settings.bus.url}"' if bus else ""}
[gateway]
port = 0
presence_timeout_s = 0
[[nodes]]
id = "n1"
ari = {{ url = "http://127.0.0.1:1", user = "u", password = "p" }}
[[agents]]
id = "alice"
name = "Alice"
node = "n1"
workstation = "mobile"
mobile_number = "+33600000001"
password_hash = "{users["alice"]}"
'''
    path = tmp_path / "evscallpro.toml"
    path.write_text(text)
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "evscallpro.cli", "gateway", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_the_subcommand_prints_ready_serves_labelled_metrics_and_stops_on_sigterm(
    settings: Settings, tmp_path: Path, nodes: dict[str, FakeNode]
) -> None:
    config = write_config(settings, tmp_path)
    child = subprocess.Popen(
        command("--config", str(config), "--bus-url", settings.bus.url, "--port", "0"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment(), cwd=REPO,
    )
    try:
        assert child.stdout is not None
        ready = json.loads(child.stdout.readline())
        assert ready["event"] == "ready" and ready["process"] == "gateway", ready
        assert ready["nodes"] == ["n1"]
        status, body = get(ready["metrics_url"])
        assert status == 200 and 'process="gateway"' in body.decode()
        hop = 'evscallpro_gateway_bus_hop_seconds_count{node="gateway",process="gateway",'
        assert hop + 'target_node="n1"}' in body.decode()
        child.send_signal(signal.SIGTERM)
        assert child.wait(WAIT_S) == 0
        assert json.loads(child.stdout.readline())["event"] == "stopped"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(WAIT_S)


def test_a_configuration_problem_is_an_error_line_and_exit_2(
    settings: Settings, tmp_path: Path
) -> None:
    config = write_config(settings, tmp_path)  # no [bus] url, and no --bus-url
    done = subprocess.run(command("--config", str(config)), capture_output=True, text=True,
                          env=environment(), cwd=REPO, timeout=60)
    assert done.returncode == 2
    error = json.loads(done.stdout.splitlines()[0])
    assert error["event"] == "error" and "NATS" in error["error"]


def test_an_agent_connected_to_another_gateway_is_not_paused_for_absence(
    nats_server: NatsServer, tmp_path: Path, nodes: dict[str, FakeNode]
) -> None:
    nodes["n1"].set_agent(agent("alice", AgentState.AVAILABLE), seq=1)
    handle = Gateways(two_node_settings(tmp_path, nats_server.url, presence_timeout_s=1))
    try:
        desk_gateway = handle.start()
        cookie = log_in(desk_gateway, "alice")
        ws_url = desk_gateway.url.replace("http://", "ws://") + "/ws"
        with connect(ws_url, origin=desk_gateway.url,  # type: ignore[arg-type]
                     additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}):
            other = handle.start()  # alice is signed in, with no browser on this one
            assert other.thread is not None
            watch = other.thread.gateway.presence
            assert watch is not None
            wait_until(lambda: watch.deferred >= 2)  # its countdown ran out twice, deferred
            assert not any(isinstance(c, Pause) for c in nodes["n1"].commands)
        # now no gateway has alice's desk: one of them pauses her
        wait_until(lambda: Pause("alice", "disconnected") in nodes["n1"].commands)
    finally:
        for process in handle.running:
            process.stop()
