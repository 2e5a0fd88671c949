"""Contacts import (issue 10, item 13): a `;` file whose rows hold commas is read with `;`;
a field over 128 KiB is one rejected row, not a traceback; contacts imported while the
product runs are seen without a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until

from evscallpro.cli import main
from gateway.contacts import Contact, ContactStore
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import UserDirectory

# csv.Sniffer reads `,"Eco",` as a quoted field between commas and picks the comma.
SEMICOLONS_WITH_COMMAS = (
    "nom;téléphone;société;notes\n"
    "Claire Petit;01 45 67 89 01;Boulangerie Petit, Fils & Cie;rappeler lundi, après 14 h\n"
    "Jean Dupont;06 12 34 56 78;Garage, Dupont;options: Pro,\"Eco\",Max\n"
    "Marie Curie;+33 1 23 45 67 89;Labo, Paris 5e;voit le devis, puis signe\n"
)


def test_a_semicolon_file_whose_rows_hold_commas_is_read_with_semicolons(tmp_path: Path) -> None:
    store = ContactStore(tmp_path / "contacts.json")
    report = store.import_csv(SEMICOLONS_WITH_COMMAS, "FR")
    assert report.rejected == [] and report.accepted == 3
    claire = store.search("Claire")[0]
    assert claire.company == "Boulangerie Petit, Fils & Cie"
    assert claire.notes == "rappeler lundi, après 14 h"


@pytest.mark.parametrize("sep", [",", "\t"])
def test_commas_and_tabs_are_still_detected(tmp_path: Path, sep: str) -> None:
    text = f"name{sep}phone{sep}company\nAnn Lee{sep}+33612345678{sep}ACME\n"
    report = ContactStore(tmp_path / "c.json").import_csv(text, "FR")
    assert report.accepted == 1 and report.rejected == []


def test_a_field_over_128_kib_is_a_clear_row_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = "x" * (128 * 1024 + 1)
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "nom;téléphone;notes\n"
        "Claire Petit;01 45 67 89 01;ok\n"
        f"Jean Long;06 12 34 56 78;{big}\n"
        "Marie Curie;01 23 45 67 89;ok\n",
        encoding="utf-8",
    )
    assert main(["import-contacts", str(csv_file), "--data-dir", str(tmp_path / "data")]) == 0
    out, err = capsys.readouterr()
    assert "imported 2 contact(s)" in out and "rejected 1 row(s)" in out
    assert "line 3: unreadable row: a field is longer than 128 KiB" in err
    assert "Traceback" not in err
    names = [c.name for c in ContactStore.in_data_dir(tmp_path / "data").search("")]
    assert names == ["Claire Petit", "Marie Curie"]


@pytest.fixture
async def live(fake: FakeCallCenter, settings: GatewaySettings, users_template: list,
               tmp_path: Path) -> AsyncIterator[Gateway]:
    store = ContactStore(Path(settings.data_dir) / "contacts.json", reload_s=0.0)
    store.add(Contact(contact_id="c1", name="Claire Petit", phone="+33145678901"))
    gw = Gateway(fake, settings, UserDirectory(list(users_template)), store)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


async def test_contacts_imported_while_running_are_seen_without_restart(
    live: Gateway, settings: GatewaySettings, tmp_path: Path
) -> None:
    b = Browser(live.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("alice")
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"')
            csv_file = tmp_path / "new.csv"
            csv_file.write_text("nom;téléphone\nNadia Nouvelle;06 11 22 33 44\n", encoding="utf-8")
            # `evscallpro import-contacts` writes the same file (another process in real life)
            assert main(["import-contacts", str(csv_file), "--data-dir", settings.data_dir]) == 0
            await ws.send(json.dumps({"action": "search_contacts", "q": "Nadia"}))
            assert "Nadia Nouvelle" in await recv_until(ws, "Nadia Nouvelle")
            live.contacts.add(Contact(contact_id="c9", name="Zoé Ajout", phone="+33145678999"))
        kept = [c.name for c in ContactStore.in_data_dir(settings.data_dir).search("")]
        assert kept == ["Claire Petit", "Nadia Nouvelle", "Zoé Ajout"]  # no write lost
    finally:
        await b.close()
