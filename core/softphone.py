"""The browser softphone as the core sees it (pure: no I/O).

Facts from a real Asterisk 22 (tests/fixtures/ari-traces/webrtc, W03 and W05):
- an originate to a softphone that is not registered answers 500 `Allocation failed` at
  once, with no event: the agent leg failed because the softphone is not registered;
- a browser closed mid-call sends no SIP at all: the channel stays Up, only the endpoint
  going offline (EndpointStateChange on an endpoint subscription) tells that the agent is
  gone, and the core must end the call itself.

`SoftphoneBook` maps endpoints to agents and says which live calls an endpoint going
offline must end. `named_record` gives those two endings their names in the call record
until the call machine (core/call.py) names them itself (see core/README.md).
"""

from __future__ import annotations

import msgspec

from core.domain import CallOutcome, CallStep, Party, WorkstationMode
from core.records import CallRecord
from core.views import CallView

OFFLINE_HANGUP_BY = "softphone_offline"  # HangupFromUi(by=...) sent when the browser is gone
REASON_OFFLINE = "softphone_offline"
REASON_NOT_REGISTERED = "softphone_not_registered"
_OVER = (CallStep.ENDED, CallStep.FAILED)


class SoftphoneBook:
    """Which agent uses which softphone endpoint, and the live softphone calls."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        """`endpoints`: agent id -> PJSIP endpoint name (e.g. `webrtc-4001`)."""
        self.endpoints = dict(endpoints)
        self.online: dict[str, bool] = {}
        self._live: dict[str, CallView] = {}  # call id -> its latest view

    def endpoint_names(self) -> list[str]:
        return sorted(set(self.endpoints.values()))

    def on_view(self, view: object) -> None:
        """Follow the softphone calls of the watched agents (CallViews; others ignored)."""
        if not isinstance(view, CallView) or view.agent_id not in self.endpoints:
            return
        if view.workstation == WorkstationMode.SOFTPHONE and view.ended_at is None and \
                view.step not in _OVER:
            self._live[view.call_id] = view
        else:
            self._live.pop(view.call_id, None)

    def endpoint_state(self, endpoint: str, state: str) -> list[str]:
        """Record an endpoint's state; the live calls its going offline must end."""
        was = self.online.get(endpoint)
        now = state == "online"
        self.online[endpoint] = now
        if now or was is False:
            return []
        return [call_id for call_id, view in self._live.items()
                if self.endpoints.get(view.agent_id) == endpoint]


def named_record(record: CallRecord) -> CallRecord:
    """The call record with the softphone endings named (W03: not registered; W05: gone)."""
    if record.workstation != WorkstationMode.SOFTPHONE:
        return record
    if record.reason == f"hangup_from_ui:{OFFLINE_HANGUP_BY}":
        return msgspec.structs.replace(
            record, outcome=CallOutcome.AGENT_SOFTPHONE_LOST, reason=REASON_OFFLINE,
            hung_up_first=Party.AGENT)
    if (record.outcome == CallOutcome.AGENT_UNREACHABLE and record.reason.startswith("http 500")
            and "Allocation failed" in record.reason):
        return msgspec.structs.replace(
            record, reason=f"{REASON_NOT_REGISTERED} ({record.reason})")
    return record
