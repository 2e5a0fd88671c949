"""The project's configuration file (evscallpro.settings_file, core.settings: [ari], [dial],
[timeouts], [[agents]], [[supervisors]], data_dir...) projected onto what the telephony core
runs with (`CoreConfig`).

`load_core_config` never raises anything but `ConfigFileError`, whose message lists every
problem with its key (from core.settings' validation).
"""

from __future__ import annotations

from pathlib import Path

from core.domain import WorkstationMode
from core.settings import (
    AgentSettings,
    SettingsError,
    call_settings,
    phone_endpoint,
)
from evscallpro.do_not_call import list_path
from evscallpro.root import AgentDirectoryEntry, CoreConfig, SupervisorEntry
from evscallpro.settings_file import Settings, load_settings


class ConfigFileError(ValueError):
    pass


def core_config_from_settings(settings: Settings) -> CoreConfig:
    agents = tuple(
        AgentDirectoryEntry(
            agent_id=agent.id,
            display_name=agent.name,
            softphone_endpoint=agent.softphone_endpoint or "",
            mobile_number=agent.mobile_number or "",
            workstation=agent.workstation,
            agent_leg_mode=agent.agent_leg_mode,
        )
        for agent in settings.agents
    )
    supervisors = tuple(
        SupervisorEntry(
            supervisor_id=sup.id,
            endpoint=phone_endpoint(settings, sup),
            workstation=phone_kind(sup),
            mobile_number=sup.mobile_number or "",
        )
        for sup in settings.supervisors
        if phone_endpoint(settings, sup)
    )
    return CoreConfig(
        ari_url=settings.ari.url,
        ari_user=settings.ari.user,
        ari_password=settings.ari.password,
        app=settings.ari.app,
        templates=settings.dial.templates(),
        policy=settings.policy,
        call=call_settings(settings),
        agents=agents,
        supervisors=supervisors,
        wrap_up_max_s=settings.timeouts.wrap_up_max_s,
        orphan_sweep_s=settings.recovery.orphan_sweep_s,
        do_not_call_path=str(list_path(settings.data_dir)),
    )


def phone_kind(person: AgentSettings) -> WorkstationMode:
    """Which of their phones `phone_endpoint` dials: the softphone or the mobile."""
    if person.workstation is not None:
        return person.workstation
    if person.softphone_endpoint and not person.mobile_number:
        return WorkstationMode.SOFTPHONE
    return WorkstationMode.MOBILE


def load_core_config(path: str | Path) -> tuple[CoreConfig, Settings]:
    try:
        settings = load_settings(path)
    except SettingsError as exc:
        raise ConfigFileError(str(exc)) from exc
    return core_config_from_settings(settings), settings
