"""Fan-out of agent and call views from the actor threads to the browsers.

Actor threads call `publish()`; it only schedules `_apply` on the gateway's asyncio loop
(`call_soon_threadsafe`), so every piece of hub state is touched by the loop thread alone
and needs no lock. Each browser connection owns a `HubClient` outbox that keeps the latest
value per element key: a slow browser gets the newest state, never a growing queue.
Agents are told only about themselves; supervisors get the whole wallboard on connect, then
the rows that changed and the totals, batched.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable

import msgspec

from core.call_outcomes import FINAL_STEPS
from core.domain import AgentState
from core.views import AgentView, CallView

log = logging.getLogger(__name__)

AGENT_KEY = "agent"
WALLBOARD_KEY = "wallboard"  # the whole wallboard (on connect)
ROW_KEY_PREFIX = "row:"  # one agent's wallboard row
TOTALS_KEY = "totals"
HTML_KEY_PREFIX = "html:"
HISTORY_LIMIT = 500


class HubClient:
    """One browser connection's outbox, used from the loop thread only."""

    def __init__(self, user_id: str, *, wallboard: bool, batch_s: float = 0.0) -> None:
        self.user_id = user_id
        self.wallboard = wallboard
        self.batch_s = batch_s
        self._pending: dict[str, object] = {}
        self._wake = asyncio.Event()
        self._last_batch_at = float("-inf")  # loop time of the last batch (wallboards)
        self.known_rows: set[str] = set()  # wallboard rows this browser has (sender-owned)

    def offer(self, key: str, payload: object = None) -> None:
        """Replace whatever was pending under `key` (coalescing) and wake the sender."""
        self._pending[key] = payload
        self._wake.set()

    @property
    def pending_keys(self) -> list[str]:
        return list(self._pending)

    def clear(self) -> None:
        """Forget what is pending (its browser is known to be up to date)."""
        self._pending.clear()

    def take_board_changes(self) -> list[str]:
        """Remove and return the pending wallboard rows and totals (handed to a group)."""
        keys = [k for k in self._pending if k.startswith(ROW_KEY_PREFIX) or k == TOTALS_KEY]
        for key in keys:
            del self._pending[key]
        return keys

    async def next_batch(self) -> dict[str, object]:
        """The pending elements, at most one batch per `batch_s`: a change after a quiet
        spell goes out at once; changes arriving within `batch_s` of the last batch wait
        for the end of that window and leave together (one wallboard frame)."""
        await self._wake.wait()
        if self.batch_s > 0:
            loop = asyncio.get_running_loop()
            wait = self._last_batch_at + self.batch_s - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._last_batch_at = loop.time()
        self._wake.clear()
        batch, self._pending = self._pending, {}
        return batch


class Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._agents: dict[str, AgentView] = {}
        self._last_call: dict[str, CallView] = {}
        self._history: dict[str, dict[str, CallView]] = {}
        self._started: dict[str, float] = {}  # call id -> when it was first seen (its start)
        self._clients: set[HubClient] = set()
        self._wallboards: set[HubClient] = set()  # supervisors' connections
        self._desks: dict[str, set[HubClient]] = {}  # agent id -> that agent's connections
        self._group_outboxes: set[HubClient] = set()  # one per wallboard group (broadcast)
        self._totals: dict[str, int] | None = None  # computed once per change, on demand
        self._monitoring: frozenset[str] | None = None  # supervisors on a call, on demand
        self.version = 0  # +1 per applied view: the wallboard's version

    # -- any thread -------------------------------------------------------------------

    def publish(self, view: AgentView | CallView) -> None:
        """The CallCenter listener: safe to call from any thread, never blocks."""
        try:
            self._loop.call_soon_threadsafe(self._apply, view)
        except RuntimeError:  # loop closed: the gateway is shutting down
            log.debug("hub: dropped a view published after shutdown")

    # -- loop thread --------------------------------------------------------------------

    def seed(self, views: Iterable[AgentView]) -> None:
        """The core's snapshot at start; a view already published since is newer: kept."""
        for view in views:
            if view.agent_id not in self._agents:
                self._apply(view)

    def attach(self, client: HubClient) -> None:
        """Register a connection and queue the full current state for it."""
        self._clients.add(client)
        if client.wallboard:
            self._wallboards.add(client)
        else:
            self._desks.setdefault(client.user_id, set()).add(client)
        client.offer(WALLBOARD_KEY if client.wallboard else AGENT_KEY)

    def attach_group(self, outbox: HubClient) -> None:
        """A wallboard group's outbox: offered every change like a board, not a client."""
        self._group_outboxes.add(outbox)

    def detach_group(self, outbox: HubClient) -> None:
        self._group_outboxes.discard(outbox)

    def share(self, client: HubClient) -> None:
        """A supervisor now fed by their group's frames: their own outbox gets no rows."""
        self._wallboards.discard(client)

    def unshare(self, client: HubClient) -> None:
        """Back to their own outbox (they monitor a call, or their socket fell behind)."""
        if client in self._clients and client.wallboard:
            self._wallboards.add(client)

    def detach(self, client: HubClient) -> None:
        self._clients.discard(client)
        self._wallboards.discard(client)
        desks = self._desks.get(client.user_id)
        if desks is not None:
            desks.discard(client)
            if not desks:
                del self._desks[client.user_id]

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def _apply(self, view: AgentView | CallView) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("hub: %s %s %s", type(view).__name__, getattr(view, "agent_id", "?"),
                      getattr(view, "state", None) or getattr(view, "step", None))
        self._totals = None
        self._monitoring = None
        self.version += 1
        try:
            if isinstance(view, AgentView):
                agent_id = self._apply_agent(view)
            else:
                agent_id = self._apply_call(view)
        except Exception:  # a bad view must not kill the loop's callback
            log.exception("hub: could not apply %r", view)
            return
        row_key = f"{ROW_KEY_PREFIX}{agent_id}"
        for boards in (self._wallboards, self._group_outboxes):
            for client in boards:
                client.offer(row_key)
                client.offer(TOTALS_KEY)
        for client in self._desks.get(agent_id, ()):
            client.offer(AGENT_KEY)

    def _apply_agent(self, view: AgentView) -> str:
        for call in (view.call, view.awaiting_disposition):
            if call is not None:
                self._remember_call(call)
        if view.call is not None and view.call.step in FINAL_STEPS:
            # The core may show an ended call on the agent a moment before wrap-up: it is
            # history (last call), not a call in progress for the wallboard or supervision.
            view = msgspec.structs.replace(view, call=None)
        self._agents[view.agent_id] = view
        return view.agent_id

    def _apply_call(self, call: CallView) -> str:
        self._remember_call(call)
        agent = self._agents.get(call.agent_id)
        pending = agent.awaiting_disposition if agent is not None else None
        if pending is not None and pending.call_id == call.call_id:
            return call.agent_id  # a late view of a call the agent already finished
        if agent is not None and (agent.call is None or agent.call.call_id == call.call_id):
            live = None if call.step in FINAL_STEPS else call
            if agent.call != live:
                self._agents[call.agent_id] = msgspec.structs.replace(agent, call=live)
        return call.agent_id

    def _remember_call(self, call: CallView) -> None:
        if call.call_id not in self._started:
            if len(self._started) > 4 * HISTORY_LIMIT * max(1, len(self._history)):
                del self._started[next(iter(self._started))]
            self._started[call.call_id] = call.step_since
        previous = self._last_call.get(call.agent_id)
        if previous is None or previous.call_id == call.call_id or call.step_since >= previous.step_since:
            self._last_call[call.agent_id] = call
        if call.step in FINAL_STEPS:
            calls = self._history.setdefault(call.agent_id, {})
            calls[call.call_id] = call
            if len(calls) > HISTORY_LIMIT:
                del calls[next(iter(calls))]

    # -- queries (loop thread) ---------------------------------------------------------

    def agent(self, agent_id: str) -> AgentView | None:
        return self._agents.get(agent_id)

    def agents(self) -> list[AgentView]:
        return sorted(self._agents.values(), key=lambda a: a.display_name.lower())

    def last_call(self, agent_id: str) -> CallView | None:
        return self._last_call.get(agent_id)

    def live_call(self, call_id: str) -> CallView | None:
        for agent in self._agents.values():
            if agent.call is not None and agent.call.call_id == call_id:
                return agent.call
        return None

    def started_at(self, call_id: str) -> float | None:
        """When the call was first seen (its request): the time the desk shows for it."""
        return self._started.get(call_id)

    def touch_agent(self, agent_id: str) -> None:
        """Redraw the agent's desk (something beside the core's views changed)."""
        for client in self._desks.get(agent_id, ()):
            client.offer(AGENT_KEY)

    def history_today(self, agent_id: str, today: dt.date | None = None,
                      zone: dt.tzinfo | None = None) -> list[CallView]:
        day = today or dt.datetime.now(zone).date()
        calls = [
            c
            for c in self._history.get(agent_id, {}).values()
            if dt.datetime.fromtimestamp(c.ended_at or c.step_since, zone).date() == day
        ]
        return sorted(calls, key=lambda c: c.ended_at or c.step_since, reverse=True)

    def all_history(self) -> list[CallView]:
        return [c for calls in self._history.values() for c in calls.values()]

    def totals(self) -> dict[str, int]:
        """Agents per state and calls in progress; counted once per change (every
        supervisor's batch asks), a fresh dict for each caller."""
        if self._totals is None:
            states = [a.state for a in self._agents.values()]
            self._totals = {
                "available": states.count(AgentState.AVAILABLE),
                "on_call": states.count(AgentState.ON_CALL),
                "wrap_up": states.count(AgentState.WRAP_UP),
                "paused": states.count(AgentState.PAUSED),
                "calls": sum(1 for a in self._agents.values() if a.call is not None),
            }
        return dict(self._totals)

    def monitoring(self) -> frozenset[str]:
        """The supervisors who listen, whisper or barge on some call (computed once per
        change): their wallboard differs from everyone else's."""
        if self._monitoring is None:
            self._monitoring = frozenset(
                who for a in self._agents.values() if a.call is not None
                for who, _ in a.call.monitored_by
            )
        return self._monitoring

    def notify(self, client: HubClient, element_id: str, html: str) -> None:
        """Queue a rendered fragment (an error, search results) for one connection; a newer
        fragment for the same element replaces one not yet sent."""
        client.offer(f"{HTML_KEY_PREFIX}{element_id}", html)
