"""The [recovery] section of the settings file reaches the running core."""

from __future__ import annotations

from evscallpro.config_file import core_config_from_settings
from evscallpro.settings_file import Settings, parse_settings


def test_recovery_section_reaches_the_core_config() -> None:
    settings = parse_settings({"recovery": {"orphan_sweep_s": 15}}, {})
    assert isinstance(settings, Settings), settings
    assert core_config_from_settings(settings).orphan_sweep_s == 15


def test_recovery_defaults_match_the_actors_defaults() -> None:
    """One default, whichever way the core is started (settings file or CoreConfig())."""
    from actors.call_journal import DEFAULT_COMPACT_ABOVE_BYTES, DEFAULT_COMPACT_AFTER_LINES
    from actors.orphan_sweep import DEFAULT_INTERVAL_S

    recovery = Settings().recovery
    assert recovery.orphan_sweep_s == DEFAULT_INTERVAL_S
    assert recovery.journal_compact_after_lines == DEFAULT_COMPACT_AFTER_LINES
    assert recovery.journal_compact_above_bytes == DEFAULT_COMPACT_ABOVE_BYTES
