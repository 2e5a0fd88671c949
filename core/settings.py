"""The core's configuration schema (msgspec Structs) and its validation. Pure: no I/O.

`CoreSettings` is what the telephony core runs with: [ari], [[agents]], [[supervisors]],
[dial], [timeouts], [acceptance], [prompts], [recording], [hold], [policy], [recovery].
The project's settings file adds what is not the core's (`data_dir`, `[gateway]`) and is read
by `evscallpro.settings_file` (TOML, environment variables), which converts with
`convert_settings` and checks with `validate`. Every error names the bad key, e.g.
"agents[1].mobile_number: '+33 6 12' is not a valid phone number".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlparse

import msgspec

from core.call_config import (
    CallPrompts,
    CallSettings,
    CustomerDialMethod,
    CustomerDialTiming,
    DialTemplates,
    HoldAudio,
)
from core.costs import LegCost
from core.domain import WorkstationMode
from core.phone import DialingPolicy, NumberProblem, normalize

LANGUAGES = ("fr", "en")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PLACEHOLDERS = re.compile(r"{([^{}]*)}")


LEG_MODES = ("per_call", "persistent", "automatic")


class _Section(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class AriSettings(_Section, frozen=True):
    url: str = "http://127.0.0.1:8088"
    user: str = "evscallpro"
    password: str = "evscallpro"
    app: str = "evscallpro"


class AgentSettings(_Section, frozen=True):
    id: str
    name: str = ""
    workstation: WorkstationMode | None = None
    mobile_number: str | None = None
    softphone_endpoint: str | None = None
    # The SIP password of `softphone_endpoint` (pjsip.conf's auth): given to this agent's
    # browser softphone only (gateway GET /softphone). None: no softphone in the browser.
    softphone_password: str | None = None
    password_hash: str | None = None  # argon2 hash for the web login; None: no password
    # The node (one Asterisk box, `[[nodes]]`) whose core serves this agent; "" = the first
    # node. An agent's calls go through its node's Asterisk. Supervisors ignore it: they
    # supervise the calls of every node, from the node that holds the call.
    node: str = ""
    # This agent's agent-leg mode ("per_call", "persistent", "automatic"); None: the
    # `[costs] agent_leg_mode` of every agent (core/agent_leg_mode.py).
    agent_leg_mode: str | None = None


class SupervisorSettings(AgentSettings, frozen=True):
    """A supervisor's own phone is called like an agent's (Connect-to-Phone agent leg)."""


class DialSettings(_Section, frozen=True):
    trunk: str = "trunk"
    mobile: str = "PJSIP/{number}@{trunk}"
    softphone: str = "PJSIP/{endpoint}"
    customer: str = "PJSIP/{number}@{trunk}"
    caller_id_to_customer: str = ""
    caller_id_to_agent: str = ""
    customer_dial_method: CustomerDialMethod = CustomerDialMethod.ORIGINATE
    customer_dial_timing: CustomerDialTiming = CustomerDialTiming.AT_CONFIRMATION

    def templates(self) -> DialTemplates:
        return DialTemplates(
            trunk=self.trunk, mobile=self.mobile, softphone=self.softphone, customer=self.customer
        )


class TimeoutSettings(_Section, frozen=True):
    agent_ring_s: int = 22  # below typical carrier voicemail pick-up (~25 s)
    customer_ring_s: int = 30
    acceptance_s: float = 20.0
    acceptance_wait_s: float = 6.0
    wrap_up_max_s: float | None = None


class AcceptanceSettings(_Section, frozen=True):
    """ "Press 1 to take the call" on the agent leg, per workstation."""

    mobile: bool = True
    softphone: bool = False


class PromptSettings(_Section, frozen=True):
    language: str = "fr"
    fr: CallPrompts = CallPrompts()
    en: CallPrompts = CallPrompts()


class RecordingSettings(_Section, frozen=True):
    enabled: bool = True
    format: str = "wav"


class HoldSettings(_Section, frozen=True):
    audio: HoldAudio = HoldAudio.MOH
    moh_class: str = "default"


class RecoverySettings(_Section, frozen=True):
    """How the core cleans up after itself: the orphan-channel sweep and the live-calls
    journal's compaction (actors/orphan_sweep.py, actors/call_journal.py)."""

    orphan_sweep_s: float = 60.0
    journal_compact_after_lines: int = 10_000
    journal_compact_above_bytes: int = 8 * 1024 * 1024


class CostSettings(_Section, frozen=True):
    """What an agent leg costs, per workstation (core/costs.py); `enabled = false` (the
    default): no costs in the records."""

    enabled: bool = False
    currency: str = "EUR"
    # The mobile agent leg: per_call (default), persistent, or automatic (on these costs).
    agent_leg_mode: str = "per_call"
    mobile: LegCost = LegCost()
    softphone: LegCost = LegCost()

    def by_workstation(self) -> dict[str, LegCost]:
        if not self.enabled:
            return {}
        return {str(WorkstationMode.MOBILE): self.mobile,
                str(WorkstationMode.SOFTPHONE): self.softphone}


class CoreSettings(_Section, frozen=True):
    ari: AriSettings = AriSettings()
    agents: list[AgentSettings] = []
    supervisors: list[SupervisorSettings] = []
    dial: DialSettings = DialSettings()
    timeouts: TimeoutSettings = TimeoutSettings()
    acceptance: AcceptanceSettings = AcceptanceSettings()
    prompts: PromptSettings = PromptSettings()
    recording: RecordingSettings = RecordingSettings()
    hold: HoldSettings = HoldSettings()
    policy: DialingPolicy = DialingPolicy()
    recovery: RecoverySettings = RecoverySettings()
    costs: CostSettings = CostSettings()


class SettingsError(Exception):
    """The configuration cannot be used; `errors` lists every problem, each naming its key."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(errors))
        self.errors = errors


# ---------------------------------------------------------------------- conversion
S = TypeVar("S", bound=msgspec.Struct)


def convert_settings(raw: Mapping[str, Any], schema: type[S]) -> S | list[str]:
    """Pure: `raw` (parsed TOML) as a `schema` Struct, or the conversion error naming its key.
    Semantic checks come after, from `validate`."""
    try:
        return msgspec.convert(dict(raw), schema, str_keys=True)
    except msgspec.ValidationError as exc:
        return [explain(exc)]


def explain(exc: msgspec.ValidationError) -> str:
    """msgspec says "Expected `int`, got `str` - at `$.timeouts.agent_ring_s`"; lead with the key."""
    text = str(exc)
    match = re.search(r" - at `\$\.?([^`]*)`$", text)
    if match:
        key, message = match.group(1), text[: match.start()]
        unknown = re.match(r"Object contains unknown field `([^`]+)`", message)
        if unknown:
            return f"{key + '.' if key else ''}{unknown.group(1)}: unknown key"
        return f"{key or '(top level)'}: {message}"
    unknown = re.match(r"Object contains unknown field `([^`]+)`", text)
    if unknown:
        return f"{unknown.group(1)}: unknown key"
    return text


# ---------------------------------------------------------------------- validation
def validate(settings: CoreSettings) -> list[str]:
    """Semantic checks msgspec's types cannot express. Empty list: usable."""
    errors: list[str] = []
    errors += _check_ari(settings.ari)
    errors += _check_policy(settings.policy)
    if not _check_policy(settings.policy):  # people's numbers are checked against it
        errors += _check_people(settings)
    errors += _check_templates(settings.dial)
    if settings.costs.agent_leg_mode not in LEG_MODES:
        errors.append(f"costs.agent_leg_mode: {settings.costs.agent_leg_mode!r} is not one of "
                      "per_call, persistent, automatic")
    for index, agent in enumerate(settings.agents):
        if agent.agent_leg_mode is not None and agent.agent_leg_mode not in LEG_MODES:
            errors.append(f"agents[{index}].agent_leg_mode: {agent.agent_leg_mode!r} is not one "
                          "of per_call, persistent, automatic")
    for name in ("mobile", "softphone"):
        problem = getattr(settings.costs, name).problem()
        if problem:
            errors.append(f"costs.{name}: {problem}")
    t = settings.timeouts
    for key, value, low, high in (
        ("agent_ring_s", t.agent_ring_s, 5, 120),
        ("customer_ring_s", t.customer_ring_s, 5, 300),
        ("acceptance_s", t.acceptance_s, 1, 120),
        ("acceptance_wait_s", t.acceptance_wait_s, 1, 60),
    ):
        if not low <= value <= high:
            errors.append(f"timeouts.{key}: {value} is outside {low}..{high} seconds")
    if t.wrap_up_max_s is not None and t.wrap_up_max_s <= 0:
        errors.append(f"timeouts.wrap_up_max_s: {t.wrap_up_max_s} must be positive")
    if settings.prompts.language not in LANGUAGES:
        errors.append(
            f"prompts.language: {settings.prompts.language!r} is not one of {', '.join(LANGUAGES)}"
        )
    for language in LANGUAGES:
        prompts: CallPrompts = getattr(settings.prompts, language)
        for field in prompts.__struct_fields__:
            for media in getattr(prompts, field):
                if ":" not in media:
                    errors.append(
                        f"prompts.{language}.{field}: {media!r} is not a media URI (sound:...)"
                    )
    if not re.fullmatch(r"[a-z0-9]{2,8}", settings.recording.format):
        errors.append(f"recording.format: {settings.recording.format!r} is not a file format")
    errors += _check_recovery(settings.recovery)
    return errors


def _check_recovery(recovery: RecoverySettings) -> list[str]:
    errors = []
    if not 1 <= recovery.orphan_sweep_s <= 3600:
        errors.append(
            f"recovery.orphan_sweep_s: {recovery.orphan_sweep_s:g} is outside 1..3600 seconds"
        )
    if recovery.journal_compact_after_lines < 100:
        errors.append(
            f"recovery.journal_compact_after_lines: {recovery.journal_compact_after_lines}"
            " must be at least 100"
        )
    if recovery.journal_compact_above_bytes < 65536:
        errors.append(
            f"recovery.journal_compact_above_bytes: {recovery.journal_compact_above_bytes}"
            " must be at least 65536"
        )
    return errors


def _check_ari(ari: AriSettings) -> list[str]:
    errors = []
    url = urlparse(ari.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        errors.append(f"ari.url: {ari.url!r} is not an http(s) URL")
    if not ari.user:
        errors.append("ari.user: must not be empty")
    if not ari.password:
        errors.append("ari.password: must not be empty (or set it in the environment)")
    if not _ID.match(ari.app):
        errors.append(f"ari.app: {ari.app!r} is not a valid Stasis application name")
    return errors


def _check_people(settings: CoreSettings) -> list[str]:
    """Each person once, each with a phone the core may dial: a supervisor listens from
    their own phone, and an agent's mobile passes the agents' dialing policy (toll fraud:
    it is dialed first on every call). No two people share a number."""
    errors: list[str] = []
    ids: set[str] = set()
    numbers: dict[str, str] = {}  # E.164 -> the key of its first owner
    for section, people in (("agents", settings.agents), ("supervisors", settings.supervisors)):
        for index, person in enumerate(people):
            key = f"{section}[{index}]"
            number = _agent_mobile(settings.policy, person)  # once: parsing is the cost
            errors += _check_person(key, person, number, ids)
            if isinstance(number, str):
                if number in numbers:
                    errors.append(
                        f"{key}.mobile_number: {number} is already the number of "
                        f"{numbers[number]}; each person needs their own"
                    )
                numbers.setdefault(number, f"{key} ({person.id})")
            if section == "supervisors" and not (person.mobile_number or person.softphone_endpoint):
                errors.append(
                    f"{key}: supervisor {person.id!r} has no phone: set softphone_endpoint "
                    "(workstation = \"softphone\") or mobile_number; a supervisor listens, "
                    "whispers and barges from their own phone"
                )
    return errors


def _agent_mobile(policy: DialingPolicy, person: AgentSettings) -> str | NumberProblem | None:
    if person.mobile_number is None:
        return None
    return policy.check_agent_mobile(person.mobile_number)


def _check_person(
    key: str, person: AgentSettings, checked: str | NumberProblem | None, seen: set[str]
) -> list[str]:
    errors = []
    if not _ID.match(person.id):
        errors.append(f"{key}.id: {person.id!r} is not a valid id (letters, digits, _ . -)")
    elif person.id in seen:
        errors.append(f"{key}.id: {person.id!r} is used twice")
    seen.add(person.id)
    if isinstance(checked, NumberProblem):
        if checked.code == "invalid_number":
            errors.append(
                f"{key}.mobile_number: {person.mobile_number!r} is not a valid phone number"
            )
        else:
            errors.append(
                f"{key}.mobile_number: {person.mobile_number!r} is not allowed: {checked.detail}"
            )
    if person.workstation == WorkstationMode.MOBILE and not person.mobile_number:
        errors.append(f"{key}.mobile_number: required when workstation is 'mobile'")
    if person.workstation == WorkstationMode.SOFTPHONE and not person.softphone_endpoint:
        errors.append(f"{key}.softphone_endpoint: required when workstation is 'softphone'")
    if person.softphone_password is not None and not person.softphone_endpoint:
        errors.append(f"{key}.softphone_password: set without softphone_endpoint")
    if person.password_hash is not None and not person.password_hash.startswith("$argon2"):
        errors.append(f"{key}.password_hash: not an argon2 hash (starts with $argon2)")
    return errors


def _check_templates(dial: DialSettings) -> list[str]:
    errors = []
    allowed = {
        "mobile": {"number", "trunk"},
        "softphone": {"endpoint", "trunk"},
        "customer": {"number", "trunk"},
    }
    for name, names in allowed.items():
        template: str = getattr(dial, name)
        used = set(_PLACEHOLDERS.findall(template))
        unknown = used - names
        if unknown:
            errors.append(
                f"dial.{name}: unknown placeholder {{{sorted(unknown)[0]}}} in {template!r} "
                f"(allowed: {', '.join('{' + n + '}' for n in sorted(names))})"
            )
        elif "/" not in template:
            errors.append(f"dial.{name}: {template!r} is not a dial string (TECH/resource)")
        elif name != "softphone" and "number" not in used:
            errors.append(f"dial.{name}: {template!r} never uses {{number}}")
    if not dial.trunk:
        errors.append("dial.trunk: must not be empty")
    return errors


def _check_policy(policy: DialingPolicy) -> list[str]:
    import phonenumbers

    errors = []
    supported = phonenumbers.SUPPORTED_REGIONS
    if policy.default_region.upper() not in supported:
        errors.append(f"policy.default_region: {policy.default_region!r} is not a region code")
    for index, region in enumerate(policy.allowed_regions):
        if region.upper() not in supported:
            errors.append(f"policy.allowed_regions[{index}]: {region!r} is not a region code")
    for key in ("allowed_prefixes", "agent_mobile_prefixes"):
        for index, prefix in enumerate(getattr(policy, key)):
            if not re.fullmatch(r"\+[0-9]{1,14}", prefix):
                errors.append(f"policy.{key}[{index}]: {prefix!r} is not an E.164 prefix")
    return errors


# ---------------------------------------------------------------------- projections
def call_settings(settings: CoreSettings, workstation: WorkstationMode | None = None) -> CallSettings:
    """The slice of the configuration a call needs. Without `workstation`, acceptance is given
    per workstation (`acceptance_by_workstation`), so one CallSettings serves every call."""
    t = settings.timeouts
    language = settings.prompts.language
    by_workstation = {
        str(WorkstationMode.MOBILE): settings.acceptance.mobile,
        str(WorkstationMode.SOFTPHONE): settings.acceptance.softphone,
    }
    acceptance = by_workstation[str(workstation)] if workstation is not None else False
    return CallSettings(
        app=settings.ari.app,
        language=language,
        prompts=getattr(settings.prompts, language, CallPrompts()),
        caller_id_to_agent=settings.dial.caller_id_to_agent,
        caller_id_to_customer=settings.dial.caller_id_to_customer,
        agent_ring_timeout_s=t.agent_ring_s,
        customer_ring_timeout_s=t.customer_ring_s,
        acceptance=acceptance,
        acceptance_by_workstation={} if workstation is not None else by_workstation,
        acceptance_timeout_s=t.acceptance_s,
        acceptance_wait_s=t.acceptance_wait_s,
        hold_audio=settings.hold.audio,
        moh_class=settings.hold.moh_class,
        customer_dial_method=settings.dial.customer_dial_method,
        customer_dial_timing=settings.dial.customer_dial_timing,
        recording=settings.recording.enabled,
        recording_format=settings.recording.format,
        agent_leg_costs=settings.costs.by_workstation(),
        agent_leg_mode=settings.costs.agent_leg_mode,
    )


def phone_endpoint(settings: CoreSettings, person: AgentSettings) -> str:
    """The dial string of an agent's or supervisor's own phone ("" when none is usable):
    the softphone template for a softphone workstation, else the mobile template."""
    templates = settings.dial.templates()
    if person.workstation == WorkstationMode.SOFTPHONE or (
        person.workstation is None and person.softphone_endpoint and not person.mobile_number
    ):
        if not person.softphone_endpoint:
            return ""
        return templates.render(templates.softphone, endpoint=person.softphone_endpoint)
    if not person.mobile_number:
        return ""
    number = normalize(person.mobile_number, settings.policy.default_region)
    if isinstance(number, NumberProblem):
        return ""
    return templates.render(templates.mobile, number=number)


def find_agent(settings: CoreSettings, agent_id: str) -> AgentSettings | None:
    return next((a for a in settings.agents if a.id == agent_id), None)


def find_supervisor(settings: CoreSettings, supervisor_id: str) -> SupervisorSettings | None:
    return next((s for s in settings.supervisors if s.id == supervisor_id), None)
