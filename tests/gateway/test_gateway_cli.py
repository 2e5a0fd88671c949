"""`evscallpro import-contacts` and `evscallpro add-user`."""

from __future__ import annotations

from pathlib import Path

import pytest

from evscallpro.cli import main
from gateway.contacts import ContactStore
from gateway.users import Role, UserDirectory


def test_import_contacts_reports_rejected_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "contacts.csv"
    csv.write_text(
        "nom;téléphone;société;campagne\n"
        "Claire Petit;01 45 67 89 01;Boulangerie;spring\n"
        ";01 45 67 89 02;Sans Nom;\n"
        "Jean Faux;12;;\n",
        encoding="utf-8",
    )
    assert main(["import-contacts", str(csv), "--data-dir", str(tmp_path / "data")]) == 0
    out, err = capsys.readouterr()
    assert "imported 1 contact(s)" in out and "rejected 2 row(s)" in out
    assert "line 3: missing name" in err
    assert "line 4: bad phone number '12'" in err
    store = ContactStore.in_data_dir(tmp_path / "data")
    assert [(c.name, c.phone, c.campaign) for c in store.search("")] == [
        ("Claire Petit", "+33145678901", "spring")
    ]


def test_import_contacts_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import-contacts", str(tmp_path / "missing.csv"), "--data-dir", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_add_user_hashes_the_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVSCALLPRO_PASSWORD", "s3cret-pw")
    argv = ["add-user", "alice", "--role", "agent", "--name", "Alice Martin",
            "--mobile", "06 12 34 56 78", "--data-dir", str(tmp_path)]
    assert main(argv) == 0
    raw = (tmp_path / "users.json").read_text()
    assert "s3cret-pw" not in raw and "$argon2" in raw
    assert (tmp_path / "users.json").stat().st_mode & 0o077 == 0
    users = UserDirectory.load(tmp_path / "users.json")
    user = users.verify("alice", "s3cret-pw")
    assert user is not None and user.role == Role.AGENT and user.mobile_number == "+33612345678"
    assert users.verify("alice", "wrong") is None
    assert main([*argv[:-4], "--mobile", "12", "--data-dir", str(tmp_path)]) == 2


def test_add_user_supervisor_needs_a_phone_in_the_settings_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("EVSCALLPRO_PASSWORD", "s3cret-pw")
    users_file = tmp_path / "users.json"
    argv = ["add-user", "sam", "--role", "supervisor", "--data-dir", str(tmp_path)]
    assert main(argv) == 2  # no settings file: nothing says which phone sam listens from
    assert "--role supervisor needs --config" in capsys.readouterr().err
    config = tmp_path / "settings.toml"
    config.write_text('[[agents]]\nid = "alice"\n', encoding="utf-8")
    assert main([*argv, "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "supervisor 'sam' has no phone" in err and "[[supervisors]]" in err
    assert 'id = "sam"' in err and "softphone_endpoint" in err
    assert not users_file.exists()  # nothing half-done

    config.write_text(
        '[[supervisors]]\nid = "sam"\nworkstation = "softphone"\n'
        'softphone_endpoint = "supervisor-2001"\n',
        encoding="utf-8",
    )
    assert main([*argv, "--config", str(config)]) == 0
    user = UserDirectory.load(users_file).verify("sam", "s3cret-pw")
    assert user is not None and user.role == Role.SUPERVISOR
