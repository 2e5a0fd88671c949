"""Browser tests: the gateway in a background thread, headless Debian Chromium via Playwright.

The gateway's test double and helpers live in tests/gateway; that folder is put on
sys.path here so both suites share one double.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gateway"))

from argon2 import PasswordHasher
from browser_helpers import PASSWORDS
from gateway_fakes import FakeCallCenter

from gateway.contacts import ContactStore
from gateway.server import GatewayThread
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory


@pytest.fixture
def fake() -> Iterator[FakeCallCenter]:
    core = FakeCallCenter()
    core.add_agent("alice", "Alice Martin")
    core.add_agent("bob", "Bob Durand")
    yield core
    core.close()


@pytest.fixture
def server(fake: FakeCallCenter, tmp_path: Path) -> Iterator[GatewayThread]:
    users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("alice", PASSWORDS["alice"], Role.AGENT, "Alice Martin", "+33612345678")
    users.add("bob", PASSWORDS["bob"], Role.AGENT, "Bob Durand", "+33698765432")
    users.add("sam", PASSWORDS["sam"], Role.SUPERVISOR, "Sam Leroy")
    contacts = ContactStore(tmp_path / "contacts.json")
    report = contacts.import_csv(
        "name,phone,company,campaign,notes\n"
        "Claire Petit,01 45 67 89 01,Boulangerie Petit,spring,Cliente depuis 2019\n"
        "Hugo Bernard,06 11 22 33 44,Garage Bernard,spring,\n"
        "Inès Moreau,04 78 12 34 56,Pharmacie Moreau,renewal,Préfère être appelée le matin\n",
        "FR",
    )
    assert report.accepted == 3, report
    settings = GatewaySettings(
        port=0, data_dir=str(tmp_path), session_secret="browser-test-secret-0123456789",
        wallboard_batch_s=0.03,
        campaign_scripts={
            "spring": "Bonjour {contact}, je suis {agent} d'EVS. Je vous appelle au sujet de notre offre de printemps : "
                      "10 % de remise sur votre prochaine commande.\n1. Présenter l'offre\n2. Proposer un rendez-vous",
        },
    )
    thread = GatewayThread(fake, settings, users, contacts).start()
    yield thread
    thread.stop()

