"""The telephony core as a gateway sees it when the core runs in node processes: the
`gateway.ports.CallCenter` port over the bus (bus/protocol.py).

Requests: an agent's request goes to the agent's node (`Settings.node_of_agent`), a
supervision to the node whose latest call view holds the call. Each is a NATS request on
`command_subject(node)` that waits `request_timeout_s` at most: a node that does not answer
(down, restarting, no responder) gives `Refusal("node_unavailable", ...)`, translated in
the ui/ catalogs like every refusal code.

Views: every node's `ViewChange`s (`view_subject(node)`) are applied in order, per view, by
(incarnation, seq): an older change never replaces a newer one. A `GetSnapshot` of a node
is asked at start, after a reconnection to the bus, when the node's incarnation changes (it
restarted) and when a view's sequence has a gap (a change was missed); a snapshot's views
also count only where newer. Listeners (the gateway's hub) get each view applied, from the
bus thread.

Health: each node's `NodeHealth` (each `HEALTH_INTERVAL_S`); a configured node not heard
from for `HEALTH_STALE_S` is missing. `telephony_health()` is UP only when every node is up
and heard; `node_health()` gives the per-node detail /healthz shows.

Every blocking method runs its bus work on the `BusThread`'s loop and waits with a bound;
none may be called from that loop (listeners must not call back into it).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from bus import gateway_metrics as metrics
from bus.bus_thread import BusThread
from bus.protocol import (
    HEALTH_STALE_S,
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
    SetAvailable,
    SetWorkstation,
    Snapshot,
    StopSupervision,
    Supervise,
    SwitchAgentLeg,
    ViewChange,
    command_encoder,
    command_subject,
    health_decoder,
    health_subject,
    reply_decoder,
    view_decoder,
    view_subject,
)
from core.domain import Refusal, SupervisionMode, WorkstationMode
from core.telephony import TelephonyHealth, TelephonyState
from core.views import AgentView, CallView
from evscallpro.settings_file import Settings
from gateway.ports import ViewListener

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0
NO_RESPONDERS_RETRY_S = 1.0  # a node reconnecting is subscribed again within milliseconds
ENDED_CALL_KEPT_S = 300.0  # an ended call's view stays this long (a late change stays stale)

View = AgentView | CallView
Key = tuple[str, str]  # ("agent", agent id) or ("call", call id)


def _key(view: View) -> Key:
    return ("call", view.call_id) if isinstance(view, CallView) else ("agent", view.agent_id)


class NodeViews:
    """One node's views as last applied, with their (incarnation, seq). Loop thread only."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.incarnation = 0  # 0: nothing heard yet
        self.views: dict[Key, tuple[int, int, View]] = {}  # key -> (incarnation, seq, view)
        self.snapshot_pending = False
        self.snapshot_missed = False  # the last snapshot asked got no answer: ask again
        self.snapshot_again = ""  # asked (and why) while one was in flight: ask once more
        self.health: NodeHealth | None = None
        self.heard_at: float | None = None  # time.monotonic() of the last message

    def newer(self, key: Key, incarnation: int, seq: int) -> bool:
        held = self.views.get(key)
        return held is None or (incarnation, seq) > (held[0], held[1])

    def agents(self) -> list[AgentView]:
        return [v for (kind, _), (_, _, v) in self.views.items()
                if kind == "agent" and isinstance(v, AgentView)]

    def holds_call(self, call_id: str) -> bool:
        held = self.views.get(("call", call_id))
        if held is not None:
            return True
        return any(a.call is not None and a.call.call_id == call_id for a in self.agents())

    def prune_ended(self, now: float) -> None:
        for key, (_, _, view) in list(self.views.items()):
            if (isinstance(view, CallView) and view.ended_at is not None
                    and now - view.ended_at > ENDED_CALL_KEPT_S):
                del self.views[key]


class RemoteCallCenter:
    """`gateway.ports.CallCenter` over NATS, for `evscallpro gateway`."""

    def __init__(
        self,
        settings: Settings,
        bus: BusThread,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        stale_s: float = HEALTH_STALE_S,
        no_responders_retry_s: float = NO_RESPONDERS_RETRY_S,
    ) -> None:
        self.settings = settings
        self.no_responders_retry_s = no_responders_retry_s
        self.bus = bus
        self.request_timeout_s = request_timeout_s
        self.stale_s = stale_s
        self.nodes = {node: NodeViews(node) for node in settings.node_ids()}
        self._listeners: list[ViewListener] = []
        self._listeners_lock = threading.Lock()
        self._subscriptions: list[Any] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.snapshots_asked = 0  # GetSnapshot requests sent (tests, metrics)
        self._started_at = time.monotonic()
        metrics.create_node_series(list(self.nodes))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, timeout_s: float = 10.0) -> RemoteCallCenter:
        """Subscribe to every node's views and health, then ask each a snapshot (a node
        that does not answer yet is asked again when it is first heard)."""
        self._started_at = time.monotonic()
        self.bus.run(self._subscribe(), timeout_s)
        self.bus.on_reconnected(self._resync_after_reconnect)
        self.bus.run(self._resync("start"), timeout_s + self.request_timeout_s)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        async def unsubscribe() -> None:
            for task in list(self._tasks):
                task.cancel()
            for sub in self._subscriptions:
                try:
                    await sub.unsubscribe()
                except Exception as exc:  # connection already closed
                    log.debug("unsubscribe: %s", exc)
            self._subscriptions.clear()

        try:
            self.bus.run(unsubscribe(), timeout_s)
        except Exception as exc:
            log.warning("stopping the remote call center: %s", exc)

    async def _subscribe(self) -> None:
        nc = self.bus.nc
        for node in self.nodes:
            self._subscriptions.append(await nc.subscribe(view_subject(node), cb=self._on_view))
            self._subscriptions.append(await nc.subscribe(health_subject(node), cb=self._on_health))
        await nc.flush()

    async def _resync(self, reason: str) -> None:
        """A snapshot of every node (start, reconnection, snapshot()), concurrently."""
        await asyncio.gather(*(self._ask_snapshot(node, reason) for node in self.nodes))

    async def _resync_after_reconnect(self) -> None:
        await self._resync("reconnect")

    # -- views ----------------------------------------------------------------------------
    async def _on_view(self, msg: Msg) -> None:
        received = time.time()
        try:
            change = view_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("undecodable view on %s: %s", msg.subject, exc)
            return
        state = self.nodes.get(change.node)
        if state is None:
            return
        state.heard_at = time.monotonic()
        if change.published_at > 0 and received >= change.published_at:  # skew: not observed
            metrics.VIEW_HOP.labels(change.node).observe(received - change.published_at)
        self.apply_change(state, change)

    def apply_change(self, state: NodeViews, change: ViewChange) -> None:
        view: View | None = change.agent if change.agent is not None else change.call
        if view is None:
            return
        if change.incarnation < state.incarnation:
            return  # from a process of the node that is gone
        resync = ""  # why a snapshot is needed, if it is
        if change.incarnation > state.incarnation:
            if state.incarnation != 0 or not state.snapshot_pending:
                resync = "incarnation"
            state.incarnation = change.incarnation
        key = _key(view)
        held = state.views.get(key)
        if held is not None and held[0] == change.incarnation and change.seq > held[1] + 1:
            resync = "gap"  # a change of this view was missed
        elif held is None and change.seq > 1 and not state.snapshot_pending:
            resync = "gap"  # a view first heard past its first change
        if state.snapshot_missed and not state.snapshot_pending:
            resync = resync or "missed"
        if state.newer(key, change.incarnation, change.seq):
            state.views[key] = (change.incarnation, change.seq, view)
            self._deliver(view)
        if resync:
            self._spawn(self._ask_snapshot(state.node, resync))

    def apply_snapshot(self, state: NodeViews, snapshot: Snapshot) -> None:
        if snapshot.incarnation < state.incarnation:
            return  # answered by a process that has been replaced since
        # A new process of the node: the calls of the old one that it does not list are
        # gone (their end was never published).
        listed = {c.view.call_id for c in snapshot.calls}
        for key, (incarnation, _, _) in list(state.views.items()):
            if key[0] == "call" and key[1] not in listed and incarnation < snapshot.incarnation:
                del state.views[key]
        state.incarnation = snapshot.incarnation
        entries: list[tuple[int, View]] = [(a.seq, a.view) for a in snapshot.agents]
        entries += [(c.seq, c.view) for c in snapshot.calls]
        for seq, view in entries:
            key = _key(view)
            if state.newer(key, snapshot.incarnation, seq):
                state.views[key] = (snapshot.incarnation, seq, view)
                self._deliver(view)

    async def _ask_snapshot(self, node: str, reason: str) -> Snapshot | None:
        """Ask `node` its snapshot and apply it. One at a time per node: asked while one is
        in flight (that one may predate what made us ask: a restart, a gap), it is asked
        again once the one in flight is answered."""
        state = self.nodes[node]
        if state.snapshot_pending:
            state.snapshot_again = state.snapshot_again or reason
            return None
        state.snapshot_pending = True
        snapshot: Snapshot | None = None
        try:
            while reason:
                self.snapshots_asked += 1
                metrics.SNAPSHOTS.labels(node, reason).inc()
                reply = await self._request(node, GetSnapshot())
                reason, state.snapshot_again = state.snapshot_again, ""
                if isinstance(reply, Refusal) or reply.snapshot is None:
                    log.info("no snapshot from node %s: %s", node, reply)
                    state.snapshot_missed = True  # asked again when the node is next heard
                    return None
                state.snapshot_missed = False
                state.heard_at = time.monotonic()
                snapshot = reply.snapshot
                self.apply_snapshot(state, snapshot)
            return snapshot
        finally:
            state.snapshot_pending = False

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _deliver(self, view: View) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(view)
            except Exception:
                log.exception("a view listener failed")

    def subscribe(self, listener: ViewListener) -> Callable[[], None]:
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def snapshot(self) -> list[AgentView]:
        """Every node's agents: a fresh snapshot of each node that answers, the views held
        for those that do not."""
        try:
            self.bus.run(self._resync("request"), self.request_timeout_s + 1.0)
        except TimeoutError:
            log.warning("snapshot: a node did not answer; its last views are used")
        return self.bus.run(self._agents(), self.request_timeout_s)

    async def _agents(self) -> list[AgentView]:
        return [agent for state in self.nodes.values() for agent in state.agents()]

    # -- health ---------------------------------------------------------------------------
    async def _on_health(self, msg: Msg) -> None:
        try:
            health = health_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            log.warning("undecodable health on %s: %s", msg.subject, exc)
            return
        state = self.nodes.get(health.node)
        if state is None:
            return
        state.health = health
        state.heard_at = time.monotonic()
        now = time.time()
        if now >= health.at:
            metrics.HEALTH_HOP.labels(health.node).observe(now - health.at)
        state.prune_ended(now)
        if state.snapshot_pending:
            return
        if health.incarnation > state.incarnation:  # a restarted node (or first heard)
            self._spawn(self._ask_snapshot(health.node, "incarnation"))
        elif state.snapshot_missed:
            self._spawn(self._ask_snapshot(health.node, "missed"))

    def node_health(self) -> list[dict[str, Any]]:
        """Per node, for /healthz: ARI link up, Stasis app held, heard on the bus (reads
        values the bus thread replaces whole: never blocks)."""
        now = time.monotonic()
        out: list[dict[str, Any]] = []
        for node, state in self.nodes.items():
            health, heard_at = state.health, state.heard_at
            heard = heard_at is not None and now - heard_at <= self.stale_s
            telephony = health.telephony_state if health is not None else ""
            detail: dict[str, Any] = {
                "node": node,
                "on_bus": heard,
                "heard_s_ago": round(now - heard_at, 1) if heard_at is not None else None,
                "ari_link_up": telephony == TelephonyState.UP,
                "stasis_app_held": telephony == TelephonyState.UP,
                "telephony": telephony or "unknown",
                "app": health.app if health is not None else "",
                "ok": heard and telephony == TelephonyState.UP,
            }
            problem = self._node_problem(node, health, heard, heard_at, now)
            if problem:
                detail["reason"] = problem
            out.append(detail)
        return out

    def missing_nodes(self) -> list[str]:
        return [d["node"] for d in self.node_health() if not d["on_bus"]]

    def _node_problem(self, node: str, health: NodeHealth | None, heard: bool,
                      heard_at: float | None, now: float) -> str:
        if not heard:
            if heard_at is None:
                return f"node {node}: not heard on the bus (missing)"
            return f"node {node}: not heard on the bus for {now - heard_at:.0f} s (missing)"
        if health is None:
            return f"node {node}: no health report yet"
        if health.telephony_state == TelephonyState.UP:
            return ""
        try:
            state = TelephonyState(health.telephony_state)
        except ValueError:
            state = TelephonyState.DOWN
        why = TelephonyHealth(state=state, app=health.app, reason=health.reason).why_unavailable()
        return f"node {node}: {why or health.telephony_state}"

    def telephony_health(self) -> TelephonyHealth:
        """UP when every configured node is up and heard within `stale_s`; else DOWN with
        the nodes that are missing or down named in the reason. Never blocks."""
        details = self.node_health()
        problems = [d["reason"] for d in details if not d["ok"] and d.get("reason")]
        if not problems:
            return TelephonyHealth(state=TelephonyState.UP)
        replaced = [d for d in details if d["telephony"] == TelephonyState.APP_REPLACED]
        if len(details) == 1 and replaced:
            return TelephonyHealth(state=TelephonyState.APP_REPLACED, app=replaced[0]["app"],
                                   reason="ApplicationReplaced")
        return TelephonyHealth(state=TelephonyState.DOWN, reason="; ".join(problems))

    # -- requests -------------------------------------------------------------------------
    async def _request(self, node: str, command: NodeCommand) -> NodeReply | Refusal:
        """One command, answered within `request_timeout_s`. "No responders" (nobody
        subscribed: the node is reconnecting to another server of the cluster, or its
        interest has not crossed the routes yet) is tried again for no_responders_retry_s:
        nobody received the command, so sending it again is safe."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.request_timeout_s
        retry_until = loop.time() + min(self.no_responders_retry_s, self.request_timeout_s)
        delay = 0.02
        while True:
            try:
                msg = await self.bus.nc.request(
                    command_subject(node), command_encoder.encode(command),
                    timeout=max(0.01, deadline - loop.time()),
                )
                break
            except NoRespondersError as exc:
                if loop.time() + delay > retry_until:
                    return self._unavailable(node, type(exc).__name__)
                metrics.NO_RESPONDERS_RETRIES.labels(node).inc()
                await asyncio.sleep(delay)  # back-off before asking again: nobody got it
                delay = min(delay * 2, 0.2)
            except (NatsTimeout, TimeoutError) as exc:
                return self._unavailable(node, type(exc).__name__)
            except Exception as exc:  # connection closed or draining
                return self._unavailable(node, f"{type(exc).__name__}: {exc}")
        try:
            return reply_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            return Refusal("internal_error", f"node {node} answered something unreadable: {exc}")

    def _unavailable(self, node: str, why: str) -> Refusal:
        return Refusal(
            "node_unavailable",
            f"node {node} did not answer within {self.request_timeout_s:g} s ({why})",
        )

    def _send(self, node: str, command: NodeCommand) -> Refusal | None:
        try:
            reply = self.bus.run(self._request(node, command), self.request_timeout_s + 1.0)
        except TimeoutError:
            reply = self._unavailable(node, "no answer")
        except RuntimeError as exc:  # the bus thread is stopped
            reply = self._unavailable(node, str(exc))
        refusal = reply if isinstance(reply, Refusal) else reply.refusal
        result = "ok" if refusal is None else (
            "unavailable" if refusal.code == "node_unavailable" else "refused")
        metrics.NODE_REQUESTS.labels(node, result).inc()
        return refusal

    def _to_agent_node(self, agent_id: str, command: NodeCommand) -> Refusal | None:
        node = self.settings.node_of_agent(agent_id)
        if not node:
            return Refusal("unknown_agent", f"no agent {agent_id!r}")
        return self._send(node, command)

    def node_of_call(self, call_id: str) -> str:
        """The node whose latest views hold this call ("" if none)."""
        async def find() -> str:
            return next((n for n, s in self.nodes.items() if s.holds_call(call_id)), "")

        return self.bus.run(find(), self.request_timeout_s)

    def _to_call_node(self, call_id: str, command: NodeCommand) -> Refusal | None:
        try:
            node = self.node_of_call(call_id)
        except (TimeoutError, RuntimeError) as exc:
            return Refusal("internal_error", f"the bus thread did not answer: {exc}")
        if not node:
            return Refusal("unknown_call", f"no node holds call {call_id!r}")
        return self._send(node, command)

    def place_call(
        self, agent_id: str, customer_number: str, contact_id: str | None = None
    ) -> Refusal | None:
        return self._to_agent_node(agent_id, PlaceCall(agent_id, customer_number, contact_id))

    def hang_up(self, agent_id: str, call_id: str) -> Refusal | None:
        return self._to_agent_node(agent_id, HangUp(agent_id, call_id))

    def switch_agent_leg(
        self, agent_id: str, call_id: str, target: WorkstationMode
    ) -> Refusal | None:
        return self._to_agent_node(agent_id, SwitchAgentLeg(agent_id, call_id, target))

    def open_agent_session(
        self, agent_id: str, workstation: WorkstationMode = WorkstationMode.MOBILE
    ) -> Refusal | None:
        return self._to_agent_node(agent_id, OpenAgentSession(agent_id, workstation))

    def close_agent_session(self, agent_id: str) -> Refusal | None:
        return self._to_agent_node(agent_id, CloseAgentSession(agent_id))

    def set_workstation(
        self, agent_id: str, mode: WorkstationMode, mobile_number: str | None = None
    ) -> Refusal | None:
        return self._to_agent_node(agent_id, SetWorkstation(agent_id, mode, mobile_number))

    def log_in(self, agent_id: str) -> Refusal | None:
        return self._to_agent_node(agent_id, LogIn(agent_id))

    def log_out(self, agent_id: str) -> Refusal | None:
        return self._to_agent_node(agent_id, LogOut(agent_id))

    def set_available(self, agent_id: str) -> Refusal | None:
        return self._to_agent_node(agent_id, SetAvailable(agent_id))

    def pause(self, agent_id: str, reason: str) -> Refusal | None:
        return self._to_agent_node(agent_id, Pause(agent_id, reason))

    def qualify(
        self,
        agent_id: str,
        call_id: str,
        disposition: str,
        comment: str = "",
        callback_at: str | None = None,
    ) -> Refusal | None:
        return self._to_agent_node(
            agent_id, Qualify(agent_id, call_id, disposition, comment, callback_at)
        )

    def supervise(self, supervisor_id: str, call_id: str, mode: SupervisionMode) -> Refusal | None:
        return self._to_call_node(call_id, Supervise(supervisor_id, call_id, mode))

    def stop_supervision(self, supervisor_id: str, call_id: str) -> Refusal | None:
        return self._to_call_node(call_id, StopSupervision(supervisor_id, call_id))
