"""What a browser may ask over the WebSocket: one frozen Struct per action.

The htmx ws extension sends the form values as JSON plus a `HEADERS` object; the `action`
field (set with hx-vals or a hidden input) selects the Struct. Unknown fields such as
HEADERS are ignored; a missing or unknown action, a wrong type or an empty required value
is a `BadAction` with a readable reason, never an exception.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from core.domain import SupervisionMode, WorkstationMode

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]


class _Action(msgspec.Struct, frozen=True, tag_field="action", kw_only=True):
    pass


class PlaceCall(_Action, frozen=True, tag="place_call"):
    number: Annotated[str, msgspec.Meta(max_length=200)]  # "" is refused in words
    contact_id: str = ""
    callback_id: str = ""  # called from the agenda: that callback is done


class HangUp(_Action, frozen=True, tag="hang_up"):
    call_id: NonEmpty


class SwitchCall(_Action, frozen=True, tag="switch_call"):
    """Move the connected call to the other workstation ("Move the call to my mobile")."""

    call_id: NonEmpty
    target: WorkstationMode


class OpenSession(_Action, frozen=True, tag="open_session"):
    """Keep my mobile on the line between calls (the persistent agent leg)."""


class CloseSession(_Action, frozen=True, tag="close_session"):
    """Hang up my persistent mobile leg."""


class SetWorkstation(_Action, frozen=True, tag="set_workstation"):
    mode: WorkstationMode
    mobile_number: str = ""


class SetAvailable(_Action, frozen=True, tag="set_available"):
    pass


class LogIn(_Action, frozen=True, tag="log_in"):
    """Back on shift after the core saw the agent offline (e.g. the core restarted)."""


class Pause(_Action, frozen=True, tag="pause"):
    reason: NonEmpty


class Qualify(_Action, frozen=True, tag="qualify"):
    call_id: NonEmpty
    disposition: NonEmpty
    comment: Text = ""
    callback_at: str = ""  # HTML datetime-local value, "" when none


class SearchContacts(_Action, frozen=True, tag="search_contacts"):
    q: Annotated[str, msgspec.Meta(max_length=100)] = ""


class ShowContact(_Action, frozen=True, tag="show_contact"):
    contact_id: NonEmpty


class Supervise(_Action, frozen=True, tag="supervise"):
    call_id: NonEmpty
    mode: SupervisionMode


class StopSupervision(_Action, frozen=True, tag="stop_supervision"):
    call_id: NonEmpty


Action = (
    PlaceCall
    | HangUp
    | SwitchCall
    | OpenSession
    | CloseSession
    | SetWorkstation
    | SetAvailable
    | LogIn
    | Pause
    | Qualify
    | SearchContacts
    | ShowContact
    | Supervise
    | StopSupervision
)

AGENT_ACTIONS: frozenset[type[_Action]] = frozenset(
    {
        PlaceCall,
        HangUp,
        SwitchCall,
        OpenSession,
        CloseSession,
        SetWorkstation,
        SetAvailable,
        LogIn,
        Pause,
        Qualify,
        SearchContacts,
        ShowContact,
    }
)
SUPERVISOR_ACTIONS: frozenset[type[_Action]] = frozenset({Supervise, StopSupervision})


class BadAction(msgspec.Struct, frozen=True):
    reason: str


_DECODER = msgspec.json.Decoder(Action)
MAX_MESSAGE_BYTES = 16 * 1024


def decode_action(raw: str | bytes) -> Action | BadAction:
    if len(raw) > MAX_MESSAGE_BYTES:
        return BadAction("message too large")
    try:
        return _DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        return BadAction(f"invalid message: {exc}")
    except msgspec.DecodeError as exc:
        return BadAction(f"malformed message: {exc}")
