"""An agent's own agent-leg mode (`agents[].agent_leg_mode`) wins over `[costs]`'s."""

from __future__ import annotations

from core.agent_leg_mode import AgentLegMode
from evscallpro.agents import leg_mode_of
from evscallpro.config_file import core_config_from_settings
from evscallpro.settings_file import Settings, parse_settings

RAW = {
    "costs": {"agent_leg_mode": "per_call"},
    "agents": [
        {"id": "a1", "mobile_number": "+33612345678", "agent_leg_mode": "persistent"},
        {"id": "a2", "mobile_number": "+33612345679"},
        {"id": "a3", "mobile_number": "+33612345670", "agent_leg_mode": "automatic"},
    ],
}


def test_each_agent_gets_their_own_mode_or_the_call_centers() -> None:
    settings = parse_settings(RAW)
    assert isinstance(settings, Settings), settings
    config = core_config_from_settings(settings)
    modes = {e.agent_id: leg_mode_of(e, config.call.agent_leg_mode) for e in config.agents}
    assert modes == {"a1": AgentLegMode.PERSISTENT, "a2": AgentLegMode.PER_CALL,
                     "a3": AgentLegMode.AUTOMATIC}


def test_an_unknown_mode_is_refused_with_the_agents_key() -> None:
    raw = {**RAW, "agents": [{"id": "a1", "mobile_number": "+33612345678",
                              "agent_leg_mode": "sometimes"}]}
    errors = parse_settings(raw)
    assert isinstance(errors, list)
    assert any(e.startswith("agents[0].agent_leg_mode: 'sometimes' is not one of")
               for e in errors), errors
