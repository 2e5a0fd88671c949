"""Whether the core can place calls right now: the ARI link and our Stasis application.

The ARI link (actors/ari_link.py) announces what happens to its events socket; the
composition root keeps the latest `TelephonyHealth` for `/healthz`, and the call registry
keeps its own copy, told, to end at once the calls it cannot place (outcome
`telephony_unavailable`, never blaming the agent).

  connecting    before the first events socket opened          -> unavailable
  up            events socket open                             -> available
  down          socket closed; the link reconnects with back-off -> unavailable
  app_replaced  another process took our Stasis app over (ApplicationReplaced);
                the link stopped for good: an operator must act  -> unavailable
"""

from __future__ import annotations

from enum import StrEnum

import msgspec


class TelephonyState(StrEnum):
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    APP_REPLACED = "app_replaced"


class TelephonyHealth(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot, safe to read from any thread (immutable)."""

    state: TelephonyState = TelephonyState.CONNECTING
    app: str = ""
    since: float = 0.0  # time.time() of the last change
    reason: str = ""  # English, for operators (healthz body, logs, call records)

    @property
    def ok(self) -> bool:
        return self.state == TelephonyState.UP

    # An app taken over stays so: the link stopped for good (an operator must act).
    def link_up(self, at: float) -> TelephonyHealth:
        if self.state == TelephonyState.APP_REPLACED:
            return self
        return msgspec.structs.replace(self, state=TelephonyState.UP, since=at, reason="")

    def link_down(self, reason: str, at: float) -> TelephonyHealth:
        if self.state == TelephonyState.APP_REPLACED:
            return self
        return msgspec.structs.replace(self, state=TelephonyState.DOWN, since=at, reason=reason)

    def app_replaced(self, app: str, at: float) -> TelephonyHealth:
        return TelephonyHealth(
            state=TelephonyState.APP_REPLACED, app=app, since=at, reason="ApplicationReplaced"
        )

    def why_unavailable(self) -> str:
        """One line saying why calls cannot be placed ("" when they can)."""
        match self.state:
            case TelephonyState.UP:
                return ""
            case TelephonyState.CONNECTING:
                return "the ARI events socket is not open yet" + _detail(self.reason)
            case TelephonyState.DOWN:
                return "the ARI link is down" + _detail(self.reason)
            case TelephonyState.APP_REPLACED:
                return (
                    f"the Stasis application {self.app!r} was taken over by another events "
                    "socket (ApplicationReplaced): stop the other program using this app "
                    "name, then restart the core"
                )


def _detail(reason: str) -> str:
    return f" ({reason})" if reason else ""
