"""What an agent leg costs (the call center pays the agent's mobile over GSM; a softphone
costs the trunk or nothing): per minute of the answered leg and per leg set up.

Pure. `[costs]` in the settings (core.settings.CostSettings); the call's record gives each
agent leg its cost when a call switched (core/call_switch.py: `AgentLegRecord.cost`), and
core/agent_leg_mode.py compares a leg per call with a persistent one on these costs.
"""

from __future__ import annotations

import msgspec

from core.domain import WorkstationMode


class LegCost(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    per_minute: float = 0.0  # billed per second of the answered leg, at this rate per minute
    per_call: float = 0.0  # each leg set up (answered), e.g. a call set-up charge

    def problem(self) -> str:
        if self.per_minute < 0 or self.per_call < 0:
            return "costs cannot be negative"
        return ""


def leg_cost(cost: LegCost, answered: bool, billable_seconds: float) -> float:
    """The cost of one leg: nothing if never answered (not billed), else its set-up plus
    its answered seconds at the per-minute rate; rounded to 1/10000 of the currency."""
    if not answered:
        return 0.0
    return round(cost.per_call + cost.per_minute * max(0.0, billable_seconds) / 60.0, 4)


def cost_of(
    costs: dict[str, LegCost], workstation: WorkstationMode, answered: bool, seconds: float
) -> float | None:
    """The cost of a leg on `workstation`, or None when no costs are configured."""
    cost = costs.get(str(workstation))
    return None if cost is None else leg_cost(cost, answered, seconds)
