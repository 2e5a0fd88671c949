"""Presence: an agent with no browser connected for a while leaves "available".

The gateway counts each agent's open desk connections. When the last one closes (or, at
start, for an agent the core sees signed in with no browser at all), a timer of
`presence_timeout_s` starts; a connection coming back cancels it. When it fires, the agent
is paused with reason "disconnected" (`presence_action = "pause"`) or signed out
(`"offline"`). Both are ordinary core requests: during a call or its wrap-up the core keeps
them for when the call ends (core/agent.py), so a lost browser never cuts a call.

Loop thread only; the core request runs in a worker thread like every other.

With several gateways (docs/gateway-process.md), a browser may be connected to another one: `elsewhere`
(bus.desk_presence.SharedPresence) says so, and the countdown starts again instead of acting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from core.domain import AgentState
from gateway.ports import CallCenter, Refusal

log = logging.getLogger(__name__)

DISCONNECTED = "disconnected"  # the pause reason (catalog: pause.disconnected)


class PresenceWatch:
    def __init__(
        self,
        core: CallCenter,
        timeout_s: float,
        action: str,
        state_of: Callable[[str], AgentState | None],
        elsewhere: Callable[[str], bool] | None = None,
    ) -> None:
        self._core = core
        self._elsewhere = elsewhere
        self.deferred = 0  # countdowns started again: a browser is on another gateway
        self.timeout_s = timeout_s
        self.action = action
        self._state_of = state_of
        self._connections: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def connected(self, agent_id: str) -> None:
        self._connections[agent_id] = self._connections.get(agent_id, 0) + 1
        timer = self._timers.pop(agent_id, None)
        if timer is not None:
            timer.cancel()

    def disconnected(self, agent_id: str) -> None:
        left = self._connections.get(agent_id, 0) - 1
        if left > 0:
            self._connections[agent_id] = left
            return
        self._connections.pop(agent_id, None)
        self.watch(agent_id)

    def watch(self, agent_id: str) -> None:
        """Start the countdown for an agent with no browser (idempotent)."""
        if self.timeout_s <= 0 or agent_id in self._timers or self._connections.get(agent_id):
            return
        loop = asyncio.get_running_loop()
        self._timers[agent_id] = loop.call_later(self.timeout_s, self._expired, agent_id)

    def connected_agents(self) -> list[str]:
        """The agents with a desk connected to this gateway (any thread: a copy)."""
        return list(self._connections)

    def pending(self, agent_id: str) -> bool:
        """A countdown runs for this agent."""
        return agent_id in self._timers

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    def _expired(self, agent_id: str) -> None:
        self._timers.pop(agent_id, None)
        if self._connections.get(agent_id):
            return
        if self._elsewhere is not None and self._elsewhere(agent_id):
            self.deferred += 1
            self.watch(agent_id)  # connected to another gateway: look again later
            return
        state = self._state_of(agent_id)
        if state is None or state == AgentState.OFFLINE:
            return
        if self.action == "pause" and state == AgentState.PAUSED:
            return  # already away from the phone: the agent's own reason is kept
        task = asyncio.create_task(self._apply(agent_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _apply(self, agent_id: str) -> None:
        refusal: Refusal | None
        if self.action == "offline":
            refusal = await asyncio.to_thread(self._core.log_out, agent_id)
        else:
            refusal = await asyncio.to_thread(self._core.pause, agent_id, DISCONNECTED)
        if refusal is None:
            log.info("agent %s has had no browser for %.0f s: %s", agent_id, self.timeout_s,
                     "signed out" if self.action == "offline" else "paused (disconnected)")
        else:
            log.warning("presence: core refused to %s %s: %s", self.action, agent_id, refusal)
