"""One node's core on the bus: commands in, sequenced views and health out (bus/protocol.py).

    gateway ── NodeCommand on evs.cmd.<node> (queue node-<node>) ──► NodeService ──► core
            ◄── NodeReply (refusal, or the snapshot asked) ─────────
    core (actor threads) ── view ──► NodeService (its loop) ── ViewChange ──► evs.view.<node>
    NodeService ── NodeHealth every HEALTH_INTERVAL_S ──► evs.health.<node>
    any ── request evs.ping.node-<node> ──► b"pong" (liveness)

The core's request methods block (each asks an actor and waits for its answer): they run in
a thread pool of the service, never on the loop, and each command is a task of its own, so a
slow answer does not hold the next command back (the in-process gateway calls them the same
way, from several threads).

Views come from the actors' threads. Each one is handed to the loop with a `HandOver`
(FIFO: the views of one actor keep their order; the views of one wake-up share one
`call_soon_threadsafe`), where it gets its sequence number (per
view: an agent, a call; counted from 1 in this incarnation), updates the service's table of
the latest view of each agent and each live call, and is queued for publishing, all in one
step on the loop. `GetSnapshot` answers from that table, on the loop too, so the snapshot
holds exactly the views numbered up to each seq it carries: a change published after it has
a higher seq, and a gateway applying "(incarnation, seq) newer than held" applies it. A
call's entry leaves the table with its ENDED view (a view may still follow it, e.g. the
call's row updated: its counter is kept for the last ENDED_CALLS_KEPT ended calls).

The agents publish their view when their actor starts; `seed_agents()` (after the core
started) numbers, for any agent the table lacks, the view the core answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from actors.loop import HandOver
from bus.protocol import (
    HEALTH_INTERVAL_S,
    PREFIX,
    CloseAgentSession,
    GetSnapshot,
    HangUp,
    LogIn,
    LogOut,
    NodeCommand,
    NodeHealth,
    NodeReply,
    OpenAgentSession,
    Pause,
    PlaceCall,
    Qualify,
    SequencedAgent,
    SequencedCall,
    SetAvailable,
    SetWorkstation,
    Snapshot,
    StopSupervision,
    Supervise,
    SwitchAgentLeg,
    ViewChange,
    command_decoder,
    command_subject,
    health_subject,
    node_queue,
    view_subject,
)
from core.domain import CallStep, Refusal
from core.views import AgentView, CallView
from gateway.ports import CallCenter

log = logging.getLogger(__name__)

ENDED_CALLS_KEPT = 10_000  # the seq of so many ended calls is kept, for a view after ENDED
COMMAND_THREADS = 32  # concurrent blocking requests into the core (each waits <= 5 s)


# What the service needs of a core is the UI's port, whole: evscallpro.root.CallCenterApp is one.
NodeCore = CallCenter


def ping_subject(node: str) -> str:
    """The node process's liveness request (`evs.ping.<process-id>`, process id node-<id>)."""
    return f"{PREFIX}.ping.node-{node}"


def carry_out(core: NodeCore, command: NodeCommand) -> Refusal | None:
    """Blocking: the core's answer to one command (not GetSnapshot, answered on the loop)."""
    match command:
        case PlaceCall():
            return core.place_call(command.agent_id, command.customer_number, command.contact_id)
        case HangUp():
            return core.hang_up(command.agent_id, command.call_id)
        case SetWorkstation():
            return core.set_workstation(command.agent_id, command.mode, command.mobile_number)
        case LogIn():
            return core.log_in(command.agent_id)
        case LogOut():
            return core.log_out(command.agent_id)
        case SetAvailable():
            return core.set_available(command.agent_id)
        case Pause():
            return core.pause(command.agent_id, command.reason)
        case Qualify():
            return core.qualify(
                command.agent_id,
                command.call_id,
                command.disposition,
                command.comment,
                command.callback_at,
            )
        case Supervise():
            return core.supervise(command.supervisor_id, command.call_id, command.mode)
        case StopSupervision():
            return core.stop_supervision(command.supervisor_id, command.call_id)
        case SwitchAgentLeg():
            return core.switch_agent_leg(command.agent_id, command.call_id, command.target)
        case OpenAgentSession():
            return core.open_agent_session(command.agent_id, command.workstation)
        case CloseAgentSession():
            return core.close_agent_session(command.agent_id)
    return Refusal("bad_command", f"{type(command).__name__} is not a node command")


class NodeService:
    """Serves one core on the bus. Create it on the loop that runs `nc`; `attach(core)`
    before the core starts (its first views count), `start()`, and `stop()` at the end."""

    def __init__(
        self,
        nc: NATS,
        node: str,
        core: NodeCore,
        *,
        agent_ids: Iterable[str] = (),
        incarnation: int | None = None,
        metrics_url: str = "",
        health_interval_s: float = HEALTH_INTERVAL_S,
    ) -> None:
        self.nc = nc
        self.node = node
        self.core = core
        self.agent_ids = list(agent_ids)
        self.incarnation = incarnation if incarnation is not None else time.time_ns()
        self.metrics_url = metrics_url
        self.health_interval_s = health_interval_s
        self.loop = asyncio.get_running_loop()
        self._views_in = HandOver(lambda: self.loop)
        self._encoder = msgspec.json.Encoder()
        self._seqs: dict[tuple[str, str], int] = {}
        self._agents: dict[str, SequencedAgent] = {}
        self._calls: dict[str, SequencedCall] = {}
        self._ended: OrderedDict[str, int] = OrderedDict()  # ended call -> its last seq
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._threads = ThreadPoolExecutor(COMMAND_THREADS, thread_name_prefix=f"node-{node}")
        self._tasks: set[asyncio.Task[None]] = set()
        self._sub: Subscription | None = None
        self._ping: Subscription | None = None
        self._publisher: asyncio.Task[None] | None = None
        self._health: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.published = 0

    # ------------------------------------------------------------------ lifecycle
    def attach(self) -> None:
        """Subscribe to the core's views (before it starts: the agents' first views)."""
        self._unsubscribe = self.core.subscribe(self.on_view)
        if self._publisher is None:
            self._publisher = self.loop.create_task(self._publish_views())

    async def start(self) -> None:
        """Answer commands and send the heartbeat (after the core started)."""
        if self._publisher is None:
            self._publisher = self.loop.create_task(self._publish_views())
        self._sub = await self.nc.subscribe(
            command_subject(self.node), queue=node_queue(self.node), cb=self._on_command
        )
        self._ping = await self.nc.subscribe(ping_subject(self.node), cb=self._on_ping)
        self._health = self.loop.create_task(self._heartbeat())
        await self.publish_health()
        await self.nc.flush()  # the server holds the subscriptions when start() returns

    async def stop(self) -> None:
        """Stop answering; the views queued so far are handed to the connection."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for sub in (self._sub, self._ping):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._sub = self._ping = None
        for task in (self._health, *self._tasks):
            if task is not None:
                task.cancel()
        if self._publisher is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outgoing.join(), 5.0)
            self._publisher.cancel()
            self._publisher = None
        self._threads.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ views
    def on_view(self, view: object) -> None:
        """Any thread (the core's actors): to the loop, in the order they come."""
        if isinstance(view, AgentView | CallView):
            with contextlib.suppress(RuntimeError):  # the loop closed: the process is ending
                self._views_in.post(self._sequence, view)

    def _sequence(self, view: AgentView | CallView) -> None:
        """On the loop: number the view, keep it as its latest, queue its change."""
        if isinstance(view, AgentView):
            key = ("agent", view.agent_id)
            seq = self._seqs.get(key, 0) + 1
            self._seqs[key] = seq
            self._agents[view.agent_id] = SequencedAgent(seq=seq, view=view)
            change = ViewChange(node=self.node, incarnation=self.incarnation, seq=seq, agent=view,
                                published_at=time.time())
        else:
            key = ("call", view.call_id)
            seq = self._seqs.get(key, self._ended.pop(view.call_id, 0)) + 1
            if view.step == CallStep.ENDED:  # later views of it (if any) still count on
                self._seqs.pop(key, None)
                self._calls.pop(view.call_id, None)
                self._ended[view.call_id] = seq
                if len(self._ended) > ENDED_CALLS_KEPT:
                    self._ended.popitem(last=False)
            else:
                self._seqs[key] = seq
                self._calls[view.call_id] = SequencedCall(seq=seq, view=view)
            change = ViewChange(node=self.node, incarnation=self.incarnation, seq=seq, call=view,
                                published_at=time.time())
        self._outgoing.put_nowait(self._encoder.encode(change))

    async def _publish_views(self) -> None:
        subject = view_subject(self.node)
        while True:
            payload = await self._outgoing.get()
            try:
                await self.nc.publish(subject, payload)
                self.published += 1
            except Exception as exc:  # connection closed for good: the process is ending
                log.warning("view not published: %s", exc)
            finally:
                self._outgoing.task_done()

    def snapshot(self) -> Snapshot:
        """On the loop: the latest view of every agent and live call, with its seq."""
        return Snapshot(
            node=self.node,
            incarnation=self.incarnation,
            agents=list(self._agents.values()),
            calls=list(self._calls.values()),
        )

    async def seed_agents(self) -> None:
        """Number the core's view of any agent that has not published one yet."""
        views = await self.loop.run_in_executor(self._threads, self.core.snapshot)
        for view in views:  # on the loop, after every view published before the answer
            if view.agent_id not in self._agents:
                self._sequence(view)

    # ------------------------------------------------------------------ commands
    async def _on_command(self, msg: Msg) -> None:
        task = self.loop.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            command = command_decoder.decode(msg.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            reply = NodeReply(refusal=Refusal("bad_command", f"not a node command: {exc}"))
        else:
            reply = await self.answer(command)
        if msg.reply:
            with contextlib.suppress(Exception):  # the asker gave up, or the bus is down
                await msg.respond(self._encoder.encode(reply))

    async def answer(self, command: NodeCommand) -> NodeReply:
        if isinstance(command, GetSnapshot):
            return NodeReply(snapshot=self.snapshot())
        try:
            refusal = await self.loop.run_in_executor(
                self._threads, carry_out, self.core, command
            )
        except Exception as exc:
            log.exception("%s failed", type(command).__name__)
            refusal = Refusal("internal_error", f"{type(exc).__name__}: {exc}")
        return NodeReply(refusal=refusal)

    # ------------------------------------------------------------------ health
    async def _on_ping(self, msg: Msg) -> None:
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(b"pong")

    def health(self) -> NodeHealth:
        telephony = self.core.telephony_health()
        return NodeHealth(
            node=self.node,
            incarnation=self.incarnation,
            at=time.time(),
            telephony_state=str(telephony.state.value),
            app=telephony.app,
            reason=telephony.reason,
            agents=self.agent_ids,
            metrics_url=self.metrics_url,
        )

    async def publish_health(self) -> None:
        with contextlib.suppress(Exception):  # disconnected: nats-py buffers or refuses
            await self.nc.publish(health_subject(self.node), self._encoder.encode(self.health()))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)  # the heartbeat's period
            await self.publish_health()
