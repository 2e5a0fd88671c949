"""What the telephony core runs with: `CoreConfig`, built from the project's settings file
(evscallpro/config_file.py) or directly by tests and tools (`evscallpro dial`)."""

from __future__ import annotations

import msgspec

from actors.orphan_sweep import DEFAULT_INTERVAL_S
from core.call_config import CallSettings, DialTemplates
from core.domain import WorkstationMode
from core.phone import DialingPolicy


class AgentDirectoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    agent_id: str
    display_name: str = ""
    softphone_endpoint: str = ""  # endpoint name, e.g. "agent-1001" (see DialTemplates.softphone)
    mobile_number: str = ""  # E.164
    workstation: WorkstationMode | None = None  # the workstation chosen at start, if any
    agent_leg_mode: str | None = None  # None: CallSettings.agent_leg_mode ([costs])


class SupervisorEntry(msgspec.Struct, frozen=True, kw_only=True):
    supervisor_id: str
    endpoint: str  # dial string of the supervisor's phone, e.g. "PJSIP/supervisor-2001"
    # The kind of phone `endpoint` is: a mobile gets "press 1" before it joins a call (as
    # an agent's does, per [acceptance]), so no voicemail is ever bridged into a call.
    workstation: WorkstationMode = WorkstationMode.SOFTPHONE
    mobile_number: str = ""  # E.164, when they have one: no agent may take it as theirs


class CoreConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the core needs to run (the full Settings file maps onto this)."""

    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "evscallpro"
    ari_password: str = "evscallpro"
    app: str = "evscallpro"
    templates: DialTemplates = DialTemplates()
    policy: DialingPolicy = DialingPolicy()
    call: CallSettings = CallSettings()
    agents: tuple[AgentDirectoryEntry, ...] = ()
    supervisors: tuple[SupervisorEntry, ...] = ()
    # Supervisors with a web login but no phone (ids): told why when they try to listen.
    supervisors_without_phone: tuple[str, ...] = ()
    wrap_up_max_s: float | None = None
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 10.0
    request_timeout_s: float = 10.0
    # How often leg channels of our app that no live call owns are looked for and hung up
    # (a StasisStart nobody owns also starts a sweep at once).
    orphan_sweep_s: float = DEFAULT_INTERVAL_S
    # The do-not-call list file (evscallpro/do_not_call.py); empty: no list.
    do_not_call_path: str = ""

    def numbers_in_use(self) -> dict[str, str]:
        """E.164 number -> the person (agent or supervisor) whose configured mobile it is:
        no one else may take it as theirs."""
        people = [(a.agent_id, a.mobile_number) for a in self.agents]
        people += [(s.supervisor_id, s.mobile_number) for s in self.supervisors]
        numbers: dict[str, str] = {}
        for person_id, raw in people:
            if raw:
                checked = self.policy.check_agent_mobile(raw)
                if isinstance(checked, str):
                    numbers.setdefault(checked, person_id)
        return numbers
