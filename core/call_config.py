"""Per-call configuration and the request that creates a Connect-to-Phone call.

`CallSettings` is the slice of `core.settings.CoreSettings` a call machine needs (build it with
`core.settings.call_settings`); `CallRequest` says who calls whom, with the dial strings
already rendered from the templates and the customer number already normalized to E.164
(or empty for a call to a raw dial string: `evscallpro dial --customer-endpoint`).
"""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec

from core.costs import LegCost
from core.domain import WorkstationMode

E164 = re.compile(r"^\+[1-9]\d{5,14}$")


class HoldAudio(StrEnum):
    """What the agent hears while the customer rings."""

    MOH = "moh"
    RINGING = "ringing"


class CustomerDialMethod(StrEnum):
    ORIGINATE = "originate"  # POST /channels: StasisStart only on answer
    CREATE_DIAL = "create_dial"  # POST /channels/create then /dial: early media possible


class CustomerDialTiming(StrEnum):
    """When the customer is dialed, relative to the "customer is being called" prompt."""

    # The moment the agent is confirmed (answered, or pressed 1 where acceptance is on): the
    # customer rings while the agent hears the prompt, then the hold audio.
    AT_CONFIRMATION = "at_confirmation"
    # Announce, then dial: the customer is dialed once the prompt has ended.
    AFTER_ANNOUNCEMENT = "after_announcement"


class CallPrompts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Media URIs played to the agent, in one language. Each prompt is a sequence of media
    played one after another (ARI `media=a,b`). The defaults are all in Asterisk's CORE sound
    set in English and French (Debian's asterisk-core-sounds-{en,fr}-*; the extra set is
    often not installed), which `evscallpro serve` checks at start (evscallpro/asterisk_check.py)."""

    customer_being_called: tuple[str, ...] = ("sound:pls-hold-while-try",)
    press_1_to_accept: tuple[str, ...] = ("sound:vm-press", "sound:digits/1")
    customer_busy: tuple[str, ...] = ("sound:vm-isunavail",)
    customer_no_answer: tuple[str, ...] = ("sound:vm-nobodyavail",)
    customer_invalid_number: tuple[str, ...] = ("sound:ss-noservice",)
    customer_unreachable: tuple[str, ...] = (
        "sound:all-circuits-busy-now",
        "sound:please-try-call-later",
    )
    # Played to the CUSTOMER when the agent leg is switched mid-call, before the hold music
    # (empty: the hold music at once).
    agent_switching: tuple[str, ...] = ("sound:pls-hold-while-try",)


class CallSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Per-call behaviour. `acceptance_for(workstation)` says whether "press 1" applies."""

    app: str = "evscallpro"
    language: str = "fr"  # "fr" or "en": the language of the prompts below
    prompts: CallPrompts = CallPrompts()
    caller_id_to_agent: str = ""  # what the agent's phone shows, e.g. '"EVS" <+33100000000>'
    caller_id_to_customer: str = ""  # what the customer's phone shows
    agent_ring_timeout_s: int = 22  # below typical carrier voicemail pick-up
    customer_ring_timeout_s: int = 30
    acceptance: bool = False  # "press 1 to take the call" on the agent leg
    # Per workstation ("mobile" / "softphone"), overriding `acceptance` when present, so one
    # CallSettings serves both workstations.
    acceptance_by_workstation: dict[str, bool] = {}
    acceptance_timeout_s: float = 20.0  # from the agent's answer, prompt included
    acceptance_wait_s: float = 6.0  # after the prompt finished
    hold_audio: HoldAudio = HoldAudio.MOH
    moh_class: str = "default"
    customer_dial_method: CustomerDialMethod = CustomerDialMethod.ORIGINATE
    customer_dial_timing: CustomerDialTiming = CustomerDialTiming.AT_CONFIRMATION
    recording: bool = True
    recording_format: str = "wav"
    # Guards for events that should come but may be lost (seconds).
    stasis_guard_s: float = 5.0  # added to ring timeouts before the machine gives up itself
    prompt_guard_s: float = 20.0  # longest a prompt may play before the machine moves on
    bridge_guard_s: float = 5.0  # from customer answer to both legs bridged
    ending_guard_s: float = 10.0  # from hang-up requests to ChannelDestroyed of every leg
    # What an agent leg costs per workstation (core/costs.py; empty: costs not configured).
    agent_leg_costs: dict[str, LegCost] = {}
    # The agent leg of agents on the mobile: "per_call", "persistent" (a session opened at
    # the first call) or "automatic" (chosen on the agent's call rate and these costs):
    # core/agent_leg_mode.py, core/agent_leg_session.py.
    agent_leg_mode: str = "per_call"

    def acceptance_for(self, workstation: WorkstationMode) -> bool:
        return self.acceptance_by_workstation.get(str(workstation), self.acceptance)


class CallRequest(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    agent_id: str
    agent_endpoint: str  # e.g. "PJSIP/+33612345678@trunk" or "PJSIP/agent-1001"
    # E.164, already validated by core.phone; "" when the customer endpoint was given as a
    # raw dial string with no number (`evscallpro dial --customer-endpoint`).
    customer_number: str
    customer_endpoint: str  # e.g. "PJSIP/+33198765432@trunk"
    workstation: WorkstationMode = WorkstationMode.MOBILE
    contact_id: str | None = None
    requested_at: float = 0.0
    # The channel of the agent's persistent leg, lent by the agent's session for this call
    # (core/agent_leg_session.py): up and confirmed, not dialed; given back at the end.
    lent_agent_leg: str = ""

    def problem(self) -> str:
        """Why the call cannot be placed ("no_workstation", "invalid_number"), "" if it can:
        an endpoint for each party, and a customer number that is E.164 when there is one."""
        if not self.agent_endpoint:
            return "no_workstation"
        if not self.customer_endpoint:
            return "invalid_number"
        if self.customer_number and not E164.match(self.customer_number):
            return "invalid_number"
        return ""


class DialTemplates(msgspec.Struct, frozen=True, kw_only=True):
    """How an endpoint is written for Asterisk. Placeholders: {number} (E.164), {trunk},
    {endpoint} (the agent's softphone endpoint name)."""

    trunk: str = "trunk"
    mobile: str = "PJSIP/{number}@{trunk}"
    softphone: str = "PJSIP/{endpoint}"
    customer: str = "PJSIP/{number}@{trunk}"

    def render(self, template: str, *, number: str = "", endpoint: str = "") -> str:
        """The dial string, or "" when the template names an unknown placeholder."""
        try:
            return template.format_map(
                {"number": number, "trunk": self.trunk, "endpoint": endpoint}
            )
        except (KeyError, IndexError, ValueError, AttributeError):
            return ""
