"""Inputs of the Connect-to-Phone call machine that do not come from Asterisk.

Besides these, `CallMachine.receive` accepts every ARI event of `core.ari_events`
(including `UnhandledEvent`, ignored), the REST outcomes `AriCommandSucceeded` /
`AriCommandFailed` of `core.ari_commands`, and `TimerFired` of `core.timers`.
"""

from __future__ import annotations

import msgspec

from core.ari_commands import AriCommandFailed, AriCommandSucceeded
from core.ari_events import AriEvent, UnhandledEvent
from core.timers import TimerFired


class CallStart(msgspec.Struct, frozen=True, tag="call_start"):
    """Place the call: the machine dials the agent leg (or rejects the request)."""


class HangupFromUi(msgspec.Struct, frozen=True, tag="hangup_from_ui"):
    """The hang-up button of the agent desktop, or a supervisor. `by` is the agent or
    supervisor id (kept in the record's reason detail)."""

    by: str


CallInput = (
    CallStart
    | HangupFromUi
    | TimerFired
    | AriCommandSucceeded
    | AriCommandFailed
    | AriEvent
    | UnhandledEvent
)
