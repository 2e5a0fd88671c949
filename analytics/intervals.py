"""Agent state intervals, cut from the stream of AgentView snapshots.

The actors publish a complete AgentView on every change; occupancy needs how long each agent
spent in each state. `AgentIntervalTracker` keeps the open interval of every agent and closes
it when a snapshot shows a new state (or a new pause reason, or a new call). Pure: no I/O, no
clock — the caller passes the time when it closes everything at shutdown.

OFFLINE is not recorded: an interval ends when the agent logs out and the next one starts at
log-in. Intervals still open when the process dies are lost (the views are not journaled);
the next snapshot after a restart opens a fresh one.
"""

from __future__ import annotations

import logging

import msgspec

from core.domain import AgentState
from core.views import AgentView

log = logging.getLogger(__name__)


class AgentStateInterval(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    state: AgentState
    started_at: float  # epoch seconds, inclusive
    ended_at: float  # epoch seconds, exclusive
    pause_reason: str | None = None
    workstation: str | None = None
    call_id: str | None = None
    # wrap-up only: whether the call it follows was connected (the statistics page's average
    # handle time counts the wrap-up of connected calls; None: unknown / not a wrap-up)
    call_connected: bool | None = None

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


class _Open(msgspec.Struct, frozen=True):
    state: AgentState
    since: float
    pause_reason: str | None
    workstation: str | None
    call_id: str | None
    call_connected: bool | None = None


def _open_from(view: AgentView) -> _Open:
    return _Open(
        state=view.state,
        since=view.state_since,
        pause_reason=view.pause_reason if view.state is AgentState.PAUSED else None,
        workstation=view.workstation.value if view.workstation is not None else None,
        call_id=_call_of(view),
        call_connected=_connected(view),
    )


def _connected(view: AgentView) -> bool | None:
    if view.state is not AgentState.WRAP_UP:
        return None
    call = view.awaiting_disposition or view.call
    return call.connected_at is not None if call is not None else None


def _call_of(view: AgentView) -> str | None:
    if view.state is AgentState.ON_CALL and view.call is not None:
        return view.call.call_id
    if view.state is AgentState.WRAP_UP:
        call = view.awaiting_disposition or view.call
        return call.call_id if call is not None else None
    return None


class AgentIntervalTracker:
    """Feed AgentViews with `observe`; it returns the intervals each one closes."""

    def __init__(self) -> None:
        self._open: dict[str, _Open] = {}

    @property
    def open_agents(self) -> int:
        return len(self._open)

    def observe(self, view: AgentView) -> list[AgentStateInterval]:
        current = _open_from(view)
        previous = self._open.get(view.agent_id)
        if previous is not None and _same_interval(previous, current):
            if previous.call_id is None and current.call_id is not None:
                self._open[view.agent_id] = current  # the call id showed up late
            return []
        closed: list[AgentStateInterval] = []
        if previous is not None:
            end = max(current.since, previous.since)
            if current.since < previous.since:
                log.warning(
                    "agent %s: snapshot goes back in time (%s < %s); closing at %s",
                    view.agent_id,
                    current.since,
                    previous.since,
                    end,
                )
            closed.append(_close(view.agent_id, previous, end))
        if current.state is AgentState.OFFLINE:
            self._open.pop(view.agent_id, None)
        else:
            self._open[view.agent_id] = current
        return [c for c in closed if c.ended_at > c.started_at]

    def close_all(self, at: float) -> list[AgentStateInterval]:
        """Close every open interval at `at` (shutdown); the tracker is empty afterwards."""
        closed = [_close(agent, o, max(at, o.since)) for agent, o in self._open.items()]
        self._open.clear()
        return [c for c in closed if c.ended_at > c.started_at]


def _same_interval(a: _Open, b: _Open) -> bool:
    return a.state is b.state and a.since == b.since and a.pause_reason == b.pause_reason


def _close(agent_id: str, interval: _Open, end: float) -> AgentStateInterval:
    return AgentStateInterval(
        agent_id=agent_id,
        state=interval.state,
        started_at=interval.since,
        ended_at=end,
        pause_reason=interval.pause_reason,
        workstation=interval.workstation,
        call_id=interval.call_id,
        call_connected=interval.call_connected,
    )
