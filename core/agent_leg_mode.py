"""Per call or persistent agent leg, chosen on cost (issue 11; design, not wired yet).

`per_call`: the agent's phone is called for each call (today's Connect-to-Phone): each call
pays a leg set-up and the minutes the leg is up (the agent's "press 1" and the customer
ringing, then the talk). `persistent` (core/agent_leg_session.py): one leg for the session,
up between calls too: it pays every minute of the session and one set-up per leg.
`automatic` picks the cheaper one from the agent's observed call rate (`CallRate`) and
[costs] (core/costs.py), with a margin so it does not flap around the break-even point.

Per hour, with r calls per hour, s minutes the leg is up before each customer answers,
t minutes of talk, c per minute and k per set-up:
  per call    r * (k + c * (s + t))
  persistent  60 * c + k / session_hours        (the leg is up the whole hour)
Persistent wins when the idle minutes it pays, c * (60 - r * (s + t)), cost less than the
set-ups and the minutes before each answer it saves, r * (k + c * s).
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum

import msgspec

from core.costs import LegCost


class AgentLegMode(StrEnum):
    PER_CALL = "per_call"
    PERSISTENT = "persistent"
    AUTOMATIC = "automatic"


class HourlyCosts(msgspec.Struct, frozen=True):
    per_call: float
    persistent: float


def hourly_costs(
    cost: LegCost,
    calls_per_hour: float,
    setup_minutes: float,
    talk_minutes: float,
    session_hours: float = 8.0,
) -> HourlyCosts:
    """What one agent's leg costs per hour in each mode (see the module's formulas)."""
    rate = max(0.0, calls_per_hour)
    busy = min(60.0, rate * (setup_minutes + talk_minutes))  # the leg is up at most 60 min
    per_call = rate * cost.per_call + cost.per_minute * busy
    persistent = 60.0 * cost.per_minute + cost.per_call / max(session_hours, 1e-6)
    return HourlyCosts(per_call=round(per_call, 4), persistent=round(persistent, 4))


def choose_mode(
    configured: AgentLegMode,
    cost: LegCost | None,
    calls_per_hour: float | None,
    setup_minutes: float,
    talk_minutes: float,
    current: AgentLegMode = AgentLegMode.PER_CALL,
    margin: float = 0.1,
) -> AgentLegMode:
    """The mode to use: the configured one, or for `automatic` the cheaper one; the other
    mode must be cheaper by `margin` (a share) to change from `current`. Without costs or
    a call rate yet, `automatic` stays where it is (per call at first)."""
    if configured != AgentLegMode.AUTOMATIC:
        return configured
    if cost is None or calls_per_hour is None:
        return current if current != AgentLegMode.AUTOMATIC else AgentLegMode.PER_CALL
    costs = hourly_costs(cost, calls_per_hour, setup_minutes, talk_minutes)
    if current == AgentLegMode.PERSISTENT:
        return AgentLegMode.PER_CALL if costs.per_call < costs.persistent * (1 - margin) \
            else AgentLegMode.PERSISTENT
    return AgentLegMode.PERSISTENT if costs.persistent < costs.per_call * (1 - margin) \
        else AgentLegMode.PER_CALL


class CallRate:
    """An agent's observed call rate: calls started in the last `window_s` seconds."""

    def __init__(self, window_s: float = 3600.0, min_calls: int = 3) -> None:
        self.window_s = window_s
        self.min_calls = min_calls
        self._starts: deque[float] = deque()
        self._first: float | None = None

    def call_started(self, at: float) -> None:
        if self._first is None:
            self._first = at
        self._starts.append(at)
        self._forget(at)

    def per_hour(self, at: float) -> float | None:
        """Calls per hour over the window (or since the first call, if shorter); None
        until `min_calls` calls were seen."""
        self._forget(at)
        if self._first is None or len(self._starts) < self.min_calls:
            return None
        span = min(self.window_s, max(at - self._first, 60.0))
        return len(self._starts) * 3600.0 / span

    def _forget(self, at: float) -> None:
        while self._starts and self._starts[0] < at - self.window_s:
            self._starts.popleft()


class LegModePolicy:
    """`automatic` for one agent: folds the agent's calls (starts, and from each record the
    minutes the agent leg was up before the customer answered and the talk) and says which
    mode the next calls should use. Pure; the AgentActor asks `decide(at)` after each call."""

    def __init__(
        self,
        configured: AgentLegMode,
        cost: LegCost | None,
        rate: CallRate | None = None,
        margin: float = 0.1,
    ) -> None:
        self.configured = configured
        self.cost = cost
        self.rate = rate or CallRate()
        self.margin = margin
        self.current: AgentLegMode = (
            AgentLegMode.PER_CALL if configured == AgentLegMode.AUTOMATIC else configured
        )
        self._setup: deque[float] = deque(maxlen=50)  # minutes, per call
        self._talk: deque[float] = deque(maxlen=50)

    def call_started(self, at: float) -> None:
        self.rate.call_started(at)

    def call_ended(self, record: object) -> None:
        """Learn from a CallRecord: agent leg answered -> customer answered, and the talk."""
        agent = getattr(record, "agent_leg", None)
        connected = getattr(record, "connected_at", None)
        customer = getattr(record, "customer_leg", None)
        answered = getattr(agent, "answered_at", None)
        if answered is not None and connected is not None and connected >= answered:
            self._setup.append((connected - answered) / 60.0)
        talk = getattr(customer, "billable_seconds", None)
        if connected is not None and isinstance(talk, int | float):
            self._talk.append(max(0.0, float(talk)) / 60.0)

    def decide(self, at: float) -> AgentLegMode:
        setup = sum(self._setup) / len(self._setup) if self._setup else 0.5
        talk = sum(self._talk) / len(self._talk) if self._talk else 2.0
        self.current = choose_mode(
            self.configured, self.cost, self.rate.per_hour(at), setup, talk, self.current,
            self.margin,
        )
        return self.current
