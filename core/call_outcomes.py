"""How a call's end is named: the outcome of each failure, and the final step of each
outcome. The one home of these rules (the call machine, the agent machine, the gateway and
analytics read them here).
"""

from __future__ import annotations

from core.domain import CallOutcome, CallStep
from core.leg import FailureKind

FINAL_STEPS = frozenset({CallStep.ENDED, CallStep.FAILED, CallStep.REJECTED})

SUCCESS_OUTCOMES = frozenset({CallOutcome.COMPLETED, CallOutcome.CANCELLED})

AGENT_OUTCOMES: dict[FailureKind, CallOutcome] = {
    FailureKind.BUSY: CallOutcome.AGENT_BUSY,
    FailureKind.NO_ANSWER: CallOutcome.AGENT_NO_ANSWER,
}
CUSTOMER_OUTCOMES: dict[FailureKind, CallOutcome] = {
    FailureKind.BUSY: CallOutcome.CUSTOMER_BUSY,
    FailureKind.NO_ANSWER: CallOutcome.CUSTOMER_NO_ANSWER,
    FailureKind.CONGESTION: CallOutcome.CUSTOMER_CONGESTION,
    FailureKind.INVALID_NUMBER: CallOutcome.CUSTOMER_INVALID_NUMBER,
    FailureKind.REJECTED: CallOutcome.CUSTOMER_REJECTED,
    FailureKind.UNREACHABLE: CallOutcome.CUSTOMER_CONGESTION,
}


def final_step_for(outcome: CallOutcome) -> CallStep:
    """ended (completed, cancelled), rejected, or failed (every other outcome)."""
    if outcome == CallOutcome.REJECTED:
        return CallStep.REJECTED
    if outcome in SUCCESS_OUTCOMES:
        return CallStep.ENDED
    return CallStep.FAILED


def outcome_for_http_error(status: int) -> CallOutcome | None:
    """An originate refused by Asterisk: the endpoint is wrong or cannot be allocated
    (agent unreachable), or the core itself is at fault (no answer, auth, id clash)."""
    if status in (0, 401, 403, 404, 409):
        return CallOutcome.INTERNAL_ERROR
    return None
