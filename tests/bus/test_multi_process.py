"""The product as several processes on loopback, and the loss of each kind of process.

A 3-server NATS cluster (routes on loopback ports, streams and buckets with 3 replicas),
two simulators as two Asterisk boxes, a node for each, two gateways, one analytics writer;
agents of both nodes at desks on both gateways, a supervisor's wallboard on each gateway.
Calls are placed on both nodes; then, with calls up, one NATS server is SIGKILLed, one
gateway is SIGKILLed (its browsers go to the other gateway with the same cookie, then it is
started again), one node is SIGKILLed and started again (it adopts its calls from its KV
bucket), and the writer is killed while calls end and started again later.

At the end: every call has exactly one record in DuckDB, no agent is stuck, no channel or
bridge is left in either simulator, no browser was ever signed out, and both gateways'
wallboards show the truth (every agent free, no call).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from argon2 import PasswordHasher
from support.desk_client import Desk
from support.processes import ProductProcess

from asterisk.sim.testing import SimulatorThread
from bus.server import NatsServer, free_port, start_cluster
from gateway.users import Role, UserDirectory

APP = "evs-multi"
NODES = {"n1": ("a1", "a2"), "n2": ("a3", "a4")}
AGENTS = [a for agents in NODES.values() for a in agents]
SUPERVISOR = "s1"
STEP_S = 30.0  # bound of each wait: a loaded 2-core CI machine runs 8 processes here


def password(user_id: str) -> str:
    return f"multi-{user_id}"


def mobile(index: int) -> str:
    return f"+336120000{index:02d}"


def write_config(folder: Path, bus_url: str, sims: dict[str, SimulatorThread]) -> Path:
    lines = [
        f'data_dir = "{folder / "data"}"',
        "[bus]", f'url = "{bus_url}"', "replicas = 3",
        "[gateway]", 'host = "127.0.0.1"',
        "[acceptance]", "mobile = false", "softphone = false",
        "[recording]", "enabled = false",
        "[prompts]", 'language = "en"',
        "[prompts.en]", 'customer_being_called = ["sound:beep"]',
    ]
    for node, sim in sims.items():
        lines += [
            "[[nodes]]", f'id = "{node}"',
            "[nodes.ari]", f'url = "{sim.base_url}"', f'user = "{sim.username}"',
            f'password = "{sim.password}"', f'app = "{APP}"',
        ]
    for index, agent in enumerate(AGENTS):
        node = next(n for n, agents in NODES.items() if agent in agents)
        lines += ["[[agents]]", f'id = "{agent}"', f'name = "Agent {agent}"',
                  f'node = "{node}"', 'workstation = "mobile"',
                  f'mobile_number = "{mobile(index)}"']
    lines += ["[[supervisors]]", f'id = "{SUPERVISOR}"', 'name = "Sup"',
              f'mobile_number = "{mobile(90)}"']
    path = folder / "evscallpro.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    users = UserDirectory([], folder / "data" / "users.json",
                          hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for index, agent in enumerate(AGENTS):
        users.add(agent, password(agent), Role.AGENT, f"Agent {agent}", mobile(index))
    users.add(SUPERVISOR, password(SUPERVISOR), Role.SUPERVISOR, "Sup", mobile(90))
    (folder / "data").mkdir(parents=True, exist_ok=True)
    users.save()
    return path


class Product:
    def __init__(self, folder: Path, config: Path) -> None:
        self.folder = folder
        self.ports = {"g1": free_port(), "g2": free_port()}
        common = ["--config", str(config)]
        self.analytics = ProductProcess("analytics", ["analytics", *common], folder / "logs")
        self.nodes = {
            node: ProductProcess(f"node-{node}", ["node", *common, "--node", node],
                                 folder / "logs")
            for node in NODES
        }
        self.gateways = {
            name: ProductProcess(f"gateway-{name}",
                                 ["gateway", *common, "--port", str(port)], folder / "logs")
            for name, port in self.ports.items()
        }

    def url(self, gateway: str) -> str:
        return f"http://127.0.0.1:{self.ports[gateway]}"

    def all(self) -> list[ProductProcess]:
        return [*self.gateways.values(), *self.nodes.values(), self.analytics]

    def start(self) -> None:
        self.analytics.start()
        for node in self.nodes.values():
            node.start()
        for gateway in self.gateways.values():
            gateway.start()

    def stop(self) -> None:
        for process in self.all():
            process.stop()

    def call_ids(self) -> set[str]:
        """Every call a node announced (any of its starts)."""
        return {e["call_id"] for node in self.nodes.values() for e in node.lines("call")}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[NatsServer]]:
    servers = start_cluster(tmp_path / "nats", size=3)
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def sims() -> Iterator[dict[str, SimulatorThread]]:
    started = {node: SimulatorThread(time_scale=20.0).start() for node in NODES}
    try:
        yield started
    finally:
        for sim in started.values():
            sim.stop()


def live_call_of(desk: Desk, agent: str) -> bool:
    _state, step = desk.rows.get(agent, ("", ""))
    return step == "connected"


def free(desk: Desk, agent: str) -> bool:
    state, step = desk.rows.get(agent, ("", ""))
    return state == "available" and step == ""


async def place(desk: Desk, number: str) -> None:
    await desk.wait(lambda d: d.state == "available", STEP_S, "available")
    await desk.send({"action": "place_call", "number": number, "contact_id": ""})


async def hang_up(desk: Desk, boards: list[Desk]) -> None:
    """Hang up the agent's current call (the desk's call panel holds its id)."""
    call_id = current_call(desk)
    await desk.send({"action": "hang_up", "call_id": call_id})
    for board in boards:
        await board.wait(lambda b: not live_call_of(b, desk.user_id), STEP_S,
                         f"showing {desk.user_id}'s call ended")


def current_call(desk: Desk) -> str:
    import re

    for frame in reversed(desk.frames):
        match = re.search(r'name="call_id" value="([^"]+)"', frame)
        if match and 'value="hang_up"' in frame:
            return match.group(1)
    raise AssertionError(f"{desk.user_id}: no call panel with a hang-up form")


async def scenario(folder: Path, cluster: list[NatsServer],
                   sims: dict[str, SimulatorThread]) -> None:
    bus_url = ",".join(server.url for server in cluster)
    product = Product(folder, write_config(folder, bus_url, sims))
    desks: dict[str, Desk] = {}
    boards: list[Desk] = []
    try:
        await asyncio.to_thread(product.start)
        # agents a1, a3 (one per node) on g1; a2, a4 on g2; a wallboard on each gateway
        for agent in AGENTS:
            gateway = "g1" if agent in ("a1", "a3") else "g2"
            desks[agent] = Desk(agent, password(agent), product.url(gateway))
        boards = [Desk(SUPERVISOR, password(SUPERVISOR), product.url(g)) for g in ("g1", "g2")]
        for desk in [*desks.values(), *boards]:
            await desk.log_in()
            desk.open()

        # -- every agent calls: calls up on both nodes, seen on both wallboards
        for index, desk in enumerate(desks.values()):
            await place(desk, f"+3314000{index:04d}")
        for board in boards:
            for agent in AGENTS:
                await board.wait(lambda b, a=agent: live_call_of(b, a), STEP_S,
                                 f"showing {agent}'s call connected")

        # -- one NATS server SIGKILLed: the others carry on (R3 streams keep a quorum)
        cluster[0].kill()
        await hang_up(desks["a1"], boards)
        await place(desks["a1"], "+33140009001")
        for board in boards:
            await board.wait(lambda b: live_call_of(b, "a1"), STEP_S, "a1's new call")

        # -- gateway g1 SIGKILLed: its browsers go to g2 with their cookies
        product.gateways["g1"].kill()
        for desk in [desks["a1"], desks["a3"], boards[0]]:
            desk.move_to(product.url("g2"))
        await hang_up(desks["a3"], boards)
        await asyncio.to_thread(product.gateways["g1"].start)
        for desk in [desks["a1"], desks["a3"], boards[0]]:
            desk.move_to(product.url("g1"))
        await place(desks["a3"], "+33140009003")
        for board in boards:
            await board.wait(lambda b: live_call_of(b, "a3"), STEP_S, "a3's new call")

        # -- node n1 SIGKILLed with its calls up, started again: it adopts them
        product.nodes["n1"].kill()
        await asyncio.to_thread(product.nodes["n1"].start)
        for board in boards:
            for agent in NODES["n1"]:
                await board.wait(lambda b, a=agent: live_call_of(b, a), STEP_S,
                                 f"showing {agent}'s adopted call")
        await hang_up(desks["a2"], boards)

        # -- the writer down while calls end, started again later
        product.analytics.kill()
        for agent in ("a1", "a3", "a4"):
            await hang_up(desks[agent], boards)
        await asyncio.to_thread(product.analytics.start)

        # -- the truth everywhere
        for desk in desks.values():
            await desk.wait(lambda d: d.state == "available", STEP_S, "available at the end")
        for board in boards:
            for agent in AGENTS:
                await board.wait(lambda b, a=agent: free(b, a), STEP_S, f"showing {agent} free")
        assert not any(d.signed_out for d in [*desks.values(), *boards])
        calls = product.call_ids()
        assert len(calls) == 6, calls  # one per agent, then a1's and a3's second calls
        await wait_records(product, bus_url, calls)
        for node, sim in sims.items():
            state = sim.state()
            assert len(state["channels"]) == 0, (node, state["channels"])
            assert len(state["bridges"]) == 0, (node, state["bridges"])
    finally:
        for desk in [*desks.values(), *boards]:
            await desk.close()
        await asyncio.to_thread(product.stop)


async def wait_records(product: Product, bus_url: str, calls: set[str]) -> None:
    """Ask the archive (the analytics process, over the bus) until it holds every call,
    then stop the writer and count the rows in the DuckDB file itself."""
    import datetime as dt

    import nats

    from bus import archive_protocol as proto

    nc = await nats.connect(bus_url.split(","), connect_timeout=2)
    stored: set[str] = set()
    try:
        deadline = asyncio.get_running_loop().time() + STEP_S * 2
        while True:
            stored = set()
            for agent in AGENTS:
                query = proto.CallsForAgent(agent_id=agent, day=dt.datetime.now(dt.UTC).date())
                with contextlib.suppress(Exception):  # the writer may still be starting
                    msg = await nc.request(proto.ARCHIVE_SUBJECT, proto.encode_query(query),
                                           timeout=5)
                    stored |= {item.call_id for item in proto.decode_answer(query, msg.data)}
            if stored >= calls or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    finally:
        await nc.close()
    assert stored >= calls, f"the archive lacks {calls - stored}"
    await asyncio.to_thread(product.analytics.stop)
    rows = count_rows(product.folder / "data" / "evscallpro.duckdb")
    assert set(rows) == calls, f"missing {calls - set(rows)}, extra {set(rows) - calls}"
    assert all(count == 1 for count in rows.values()), rows


def count_rows(db: Path) -> dict[str, int]:
    with contextlib.closing(duckdb.connect(str(db), read_only=True)) as con:
        found: list[tuple[Any, ...]] = con.execute(
            "SELECT call_id, count(*) FROM calls GROUP BY call_id"
        ).fetchall()
    return {str(call_id): int(count) for call_id, count in found}


def test_every_process_lost_once_and_every_call_ends_with_one_record(
    tmp_path: Path, cluster: list[NatsServer], sims: dict[str, SimulatorThread]
) -> None:
    asyncio.run(scenario(tmp_path, cluster, sims))
