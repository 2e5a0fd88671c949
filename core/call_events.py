"""What the call machine tells the rest of the core (besides ARI and timer commands)."""

from __future__ import annotations

import msgspec

from core.domain import CallStep
from core.records import CallRecord


class CallStepChanged(msgspec.Struct, frozen=True, tag="call_step_changed"):
    call_id: str
    step: CallStep
    at: float
    reason: str = ""


class CallEnded(msgspec.Struct, frozen=True, tag="call_ended"):
    """Emitted exactly once per call, last."""

    record: CallRecord


CallEvent = CallStepChanged | CallEnded
