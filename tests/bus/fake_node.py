"""A node process as a gateway sees it on the bus, written with nats-py in the test: it
answers NodeCommands (recording them), and publishes ViewChanges and NodeHealth when told.
Plus the settings of a two-node project and a listener that waits for views."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from nats.aio.msg import Msg

from bus.bus_thread import BusThread
from bus.protocol import (
    GetSnapshot,
    NodeCommand,
    NodeHealth,
    NodeReply,
    SequencedAgent,
    SequencedCall,
    Snapshot,
    ViewChange,
    command_decoder,
    command_encoder,
    command_subject,
    health_subject,
    node_queue,
    view_subject,
)
from core.domain import AgentState, CallStep, Refusal
from core.views import AgentView, CallView
from evscallpro.settings_file import BusSettings, Settings, parse_settings

WAIT_S = 10.0
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "sup": "sup-pw-3"}
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # fast tests
_HASHES = {user: _CHEAP.hash(password) for user, password in PASSWORDS.items()}


def two_node_settings(tmp_path: Path, url: str, **gateway: Any) -> Settings:
    result = parse_settings({
        "data_dir": str(tmp_path),
        "bus": {"url": url},
        "gateway": {"port": 0, "presence_timeout_s": 0, **gateway},
        "nodes": [
            {"id": "n1", "ari": {"url": "http://127.0.0.1:1", "user": "u", "password": "p"}},
            {"id": "n2", "ari": {"url": "http://127.0.0.1:2", "user": "u", "password": "p"}},
        ],
        "agents": [
            {"id": "alice", "name": "Alice", "node": "n1", "workstation": "mobile",
             "mobile_number": "+33600000001", "password_hash": _HASHES["alice"]},
            {"id": "bob", "name": "Bob", "node": "n2", "workstation": "mobile",
             "mobile_number": "+33600000002", "password_hash": _HASHES["bob"]},
        ],
        "supervisors": [{"id": "sup", "name": "Sam", "mobile_number": "+33600000009",
                         "password_hash": _HASHES["sup"]}],
    })
    assert isinstance(result, Settings), result
    return result


def agent(agent_id: str, state: AgentState = AgentState.AVAILABLE,
          call: CallView | None = None, since: float = 1.0) -> AgentView:
    return AgentView(agent_id=agent_id, display_name=agent_id.title(), state=state,
                     state_since=since, call=call)


def call(call_id: str, agent_id: str, step: CallStep = CallStep.CONNECTED) -> CallView:
    return CallView(call_id=call_id, agent_id=agent_id, step=step,
                    customer_number="+33611111111", step_since=1.0)


class FakeNode:
    def __init__(self, url: str, node: str, incarnation: int = 1) -> None:
        self.node = node
        self.incarnation = incarnation
        self.bus = BusThread(BusSettings(url=url), f"fake node {node}")
        self.commands: list[NodeCommand] = []
        self.agents: dict[str, tuple[int, AgentView]] = {}
        self.calls: dict[str, tuple[int, CallView]] = {}
        self.answer: Callable[[NodeCommand], NodeReply | None] = lambda _: NodeReply()
        self.silent = False  # receives commands but never answers (a hung node)
        self.hold_snapshots = False  # snapshots taken when asked, answered on release()
        self.held: list[tuple[Msg, Snapshot]] = []
        self.received = threading.Event()
        self._sub: Any = None

    def start(self) -> FakeNode:
        self.bus.start()

        async def subscribe() -> None:
            self._sub = await self.bus.nc.subscribe(
                command_subject(self.node), queue=node_queue(self.node), cb=self._on_command)
            await self.bus.nc.flush()

        self.bus.run(subscribe(), WAIT_S)
        return self

    def stop(self) -> None:
        self.bus.stop()

    async def _on_command(self, msg: Msg) -> None:
        command = command_decoder.decode(msg.data)
        self.commands.append(command)
        self.received.set()
        if self.silent:
            return
        if isinstance(command, GetSnapshot) and self.hold_snapshots:
            self.held.append((msg, self.snapshot()))
            return
        if isinstance(command, GetSnapshot):
            reply: NodeReply | None = NodeReply(snapshot=self.snapshot())
        else:
            reply = self.answer(command)
        if reply is not None:
            await msg.respond(command_encoder.encode(reply))

    def snapshot(self) -> Snapshot:
        return Snapshot(
            node=self.node, incarnation=self.incarnation,
            agents=[SequencedAgent(seq, view) for seq, view in self.agents.values()],
            calls=[SequencedCall(seq, view) for seq, view in self.calls.values()
                   if view.ended_at is None],
        )

    def release(self) -> None:
        """Answer the snapshots held, as they were when asked; answer the next ones at once."""
        self.hold_snapshots = False

        async def answer() -> None:
            held, self.held = self.held, []
            for msg, snapshot in held:
                await msg.respond(command_encoder.encode(NodeReply(snapshot=snapshot)))

        self.bus.run(answer(), WAIT_S)

    def snapshots_served(self) -> int:
        return sum(isinstance(c, GetSnapshot) for c in self.commands)

    def set_agent(self, view: AgentView, seq: int) -> None:
        """Hold `view` at `seq` (what the next snapshot lists), without publishing."""
        self.agents[view.agent_id] = (seq, view)

    def publish_agent(self, view: AgentView, seq: int, incarnation: int | None = None,
                      hold: bool = True) -> None:
        if hold:
            self.set_agent(view, seq)
        self._publish(view_subject(self.node), command_encoder.encode(ViewChange(
            node=self.node, incarnation=incarnation or self.incarnation, seq=seq, agent=view)))

    def publish_call(self, view: CallView, seq: int, published_at: float = 0.0) -> None:
        self.calls[view.call_id] = (seq, view)
        self._publish(view_subject(self.node), command_encoder.encode(ViewChange(
            node=self.node, incarnation=self.incarnation, seq=seq, call=view,
            published_at=published_at)))

    def publish_health(self, state: str = "up", reason: str = "") -> None:
        self._publish(health_subject(self.node), command_encoder.encode(NodeHealth(
            node=self.node, incarnation=self.incarnation, at=time.time(),
            telephony_state=state, app="evscallpro", reason=reason)))

    def _publish(self, subject: str, payload: bytes) -> None:
        async def publish() -> None:
            await self.bus.nc.publish(subject, payload)
            await self.bus.nc.flush()

        self.bus.run(publish(), WAIT_S)


class Views:
    """A CallCenter listener that records views and waits for one (bounded)."""

    def __init__(self) -> None:
        self.seen: list[AgentView | CallView] = []
        self._cond = threading.Condition()

    def __call__(self, view: AgentView | CallView) -> None:
        with self._cond:
            self.seen.append(view)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[AgentView | CallView], bool],
                 timeout: float = WAIT_S) -> AgentView | CallView:
        found: list[AgentView | CallView] = []

        def match() -> bool:
            found[:] = [v for v in self.seen if predicate(v)]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout):
                raise AssertionError(f"no such view within {timeout} s; seen {self.seen!r}")
        return found[-1]


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll `condition` on a bounded deadline (state another thread changes)."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        event.wait(0.02)


def refusal(code: str, detail: str = "") -> NodeReply:
    return NodeReply(refusal=Refusal(code, detail))
