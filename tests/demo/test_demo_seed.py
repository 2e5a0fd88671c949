"""The demo's seed files agree with each other, and seeding is idempotent."""

from __future__ import annotations

import json
import stat
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from argon2 import PasswordHasher

from asterisk.sim.config import load_config
from asterisk.sim.phones import PhoneBook
from core.domain import WorkstationMode
from core.settings import phone_endpoint
from evscallpro.demo import DemoError, run_settings, scaled_timeouts
from evscallpro.demo_seed import (
    DEMO_DIR,
    PHONES_FILE,
    DemoSeedError,
    SeedReport,
    load_campaign_scripts,
    load_demo_settings,
    seed_data_dir,
)
from evscallpro.settings_file import Settings
from gateway.contacts import ContactStore
from gateway.users import UserDirectory

# Cheap argon2 parameters: the cost is a product setting, what matters here is the flow.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def _seeded(
    tmp_path: Path, demo_dir: Path = DEMO_DIR, hasher: PasswordHasher = CHEAP
) -> tuple[Settings, SeedReport]:
    settings = msgspec.structs.replace(load_demo_settings(demo_dir), data_dir=str(tmp_path))
    return settings, seed_data_dir(settings, demo_dir, hasher=hasher)


def test_every_contact_has_its_own_simulated_phone(tmp_path: Path) -> None:
    _seeded(tmp_path)
    contacts = ContactStore.in_data_dir(tmp_path).search("", limit=100)
    assert len(contacts) == 50
    book = PhoneBook(load_config(DEMO_DIR / PHONES_FILE))
    profiles = Counter(book.profile_name_for(f"PJSIP/{c.phone}@carrier") for c in contacts)
    assert "client-au-hasard" not in profiles  # no contact falls through to the catch-all
    # a realistic mix: mostly answering, some busy, absent, voicemail, wrong numbers
    assert profiles["client-repond"] >= 25
    for profile in ("client-occupe", "client-absent", "client-messagerie", "numero-inexistant"):
        assert profiles[profile] >= 1, profile


def test_team_phones_behave_as_the_demo_says() -> None:
    settings = load_demo_settings()
    book = PhoneBook(load_config(DEMO_DIR / PHONES_FILE))
    agents = {a.id: a for a in settings.agents}
    assert [a.workstation for a in settings.agents].count(WorkstationMode.MOBILE) == 1
    mobile = {a: book.profile_name_for(f"PJSIP/{agents[a].mobile_number}@carrier")
              for a in agents if agents[a].mobile_number}
    assert mobile == {
        "agent1": "agent-mobile",
        "agent2": "agent-mobile",
        "agent3": "agent-mobile-voicemail",
        "agent4": "agent-mobile",  # the browser softphone's agent moves calls to it
    }
    config = load_config(DEMO_DIR / PHONES_FILE)
    for person in [*settings.agents, *settings.supervisors]:
        endpoint = phone_endpoint(settings, person)
        assert endpoint, person.id
        if person.softphone_endpoint:  # the simulator must know the endpoint (else HTTP 500)
            assert person.softphone_endpoint in config.pjsip_endpoints
            simulated = config.pjsip_endpoints[person.softphone_endpoint]
            if person.softphone_password:  # a browser softphone: it registers with this secret
                assert simulated.webrtc and simulated.password == person.softphone_password
            else:
                assert book.profile_name_for(f"PJSIP/{person.softphone_endpoint}") == "softphone"
    browser = [a.id for a in settings.agents if a.softphone_password]
    assert browser == ["agent4"] and settings.softphone.ws_url


def test_campaign_scripts_cover_every_campaign_of_the_contacts(tmp_path: Path) -> None:
    _seeded(tmp_path)
    scripts = load_campaign_scripts()
    campaigns = {c.campaign for c in ContactStore.in_data_dir(tmp_path).search("", limit=100)}
    assert campaigns == set(scripts)
    for script in scripts.values():
        assert "{contact}" in script and "{agent}" in script


def test_seeding_twice_gives_the_same_state_and_keeps_the_hashes(tmp_path: Path) -> None:
    _, first = _seeded(tmp_path)
    users_before = (tmp_path / "users.json").read_text()
    contacts_before = json.loads((tmp_path / "contacts.json").read_text())
    _, second = _seeded(tmp_path)
    assert first == second
    assert (tmp_path / "users.json").read_text() == users_before  # no re-hash
    assert json.loads((tmp_path / "contacts.json").read_text()) == contacts_before
    mode = stat.S_IMODE((tmp_path / "users.json").stat().st_mode)
    assert mode == 0o600


def test_users_file_holds_argon2_hashes_that_verify(tmp_path: Path) -> None:
    _, report = _seeded(tmp_path, hasher=PasswordHasher())  # the real cost, once
    text = (tmp_path / "users.json").read_text()
    users = UserDirectory.load(tmp_path / "users.json")
    for cred in report.credentials:
        assert cred.password not in text  # never in clear
        assert users.verify(cred.user_id, cred.password) is not None
        assert users.get(cred.user_id).password_hash.startswith("$argon2")  # type: ignore[union-attr]
    assert users.verify("agent1", "demo-agent2") is None


def test_a_damaged_users_file_is_rewritten(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text("{not json")
    _, report = _seeded(tmp_path)
    users = UserDirectory.load(tmp_path / "users.json")
    assert all(users.verify(c.user_id, c.password) for c in report.credentials)


def test_reset_forgets_the_history_but_keeps_the_seed(tmp_path: Path) -> None:
    settings, _ = _seeded(tmp_path)
    (tmp_path / "calls.jsonl").write_text("{}\n")
    (tmp_path / "recordings" / "old.wav").write_bytes(b"RIFF")
    seed_data_dir(settings, reset=False, hasher=CHEAP)
    assert (tmp_path / "calls.jsonl").exists()
    seed_data_dir(settings, reset=True, hasher=CHEAP)
    assert not (tmp_path / "calls.jsonl").exists()
    assert not (tmp_path / "recordings" / "old.wav").exists()
    assert ContactStore.in_data_dir(tmp_path).count() == 50


def test_a_bad_contact_row_is_a_clear_error(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    demo_dir.mkdir()
    for name in ("evscallpro-demo.toml", "sim-phones.toml", "campaigns.toml"):
        (demo_dir / name).write_text((DEMO_DIR / name).read_text())
    (demo_dir / "contacts.csv").write_text("nom;téléphone\nJean Bon;12\n")
    with pytest.raises(DemoSeedError, match="line 2"):
        _seeded(tmp_path / "data", demo_dir)


def test_time_scale_divides_the_core_timers_not_the_ring_timeouts() -> None:
    timeouts = load_demo_settings().timeouts
    fast = scaled_timeouts(timeouts, 10.0)
    assert fast.agent_ring_s == timeouts.agent_ring_s  # the simulator scales those itself
    assert fast.customer_ring_s == timeouts.customer_ring_s
    assert fast.acceptance_s == pytest.approx(timeouts.acceptance_s / 10)
    assert fast.acceptance_wait_s == 1.0  # 0.6 s clamped to the allowed minimum
    assert scaled_timeouts(timeouts, 1.0) == timeouts


def test_run_settings_refuses_a_bad_port() -> None:
    with pytest.raises(DemoError, match=r"gateway\.port"):
        run_settings(
            load_demo_settings(),
            ari_url="http://127.0.0.1:8088",
            data_dir="x",
            host=None,
            port=70000,
            time_scale=1.0,
        )


def test_a_demo_restart_keeps_contacts_imported_meanwhile(tmp_path: Path) -> None:
    _seeded(tmp_path)
    imported = tmp_path / "mine.csv"
    imported.write_text("nom;téléphone\nXavier Importé;01 99 88 77 66\n", encoding="utf-8")
    report = ContactStore.in_data_dir(tmp_path).import_csv(imported.read_text("utf-8"), "FR")
    assert report.accepted == 1
    _seeded(tmp_path)  # the demo starts again
    store = ContactStore.in_data_dir(tmp_path)
    assert [c.name for c in store.search("Xavier")] == ["Xavier Importé"]
    assert store.count() == 51
