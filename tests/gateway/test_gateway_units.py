"""Pure pieces of the gateway: sessions, throttle, action decoding, catalogs, contacts."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from core.domain import (
    AgentState,
    CallOutcome,
    CallStep,
    Party,
    SupervisionMode,
    SwitchResult,
    WorkstationMode,
)
from core.views import AgentView, CallView
from gateway.actions import BadAction, HangUp, SetWorkstation, decode_action
from gateway.contacts import Contact, ContactStore
from gateway.i18n import Catalog
from gateway.phones import InvalidNumber, display, normalize
from gateway.ratelimit import LoginThrottle
from gateway.render import TEMPLATE_DIR, AgentDesk, Renderer
from gateway.sessions import SessionStore
from gateway.settings import GatewaySettings
from gateway.users import Role


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_session_cookie_is_signed_and_revocable() -> None:
    clock = Clock()
    store = SessionStore(b"k" * 32, ttl_s=60, clock=clock)
    cookie = store.create("alice", Role.AGENT)
    assert store.lookup(cookie).user_id == "alice"  # type: ignore[union-attr]
    token, _, sig = cookie.partition(".")
    assert store.lookup(f"{token}.{sig[:-1]}0") is None or sig.endswith("0")
    assert store.lookup(token) is None
    assert store.lookup(SessionStore(b"x" * 32, 60).create("alice", Role.AGENT)) is None
    assert store.revoke(cookie)
    assert store.lookup(cookie) is None


def test_session_expires() -> None:
    clock = Clock()
    store = SessionStore(b"k" * 32, ttl_s=60, clock=clock)
    cookie = store.create("alice", Role.AGENT)
    clock.now += 59
    assert store.lookup(cookie) is not None
    clock.now += 2
    assert store.lookup(cookie) is None


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        SessionStore(b"short", 60)


def test_throttle_window_slides() -> None:
    clock = Clock()
    throttle = LoginThrottle(2, 5, 10, clock=clock)
    assert throttle.attempt("alice", "1.2.3.4")  # counted as failures (no success follows)
    assert throttle.attempt("alice", "1.2.3.4")
    assert not throttle.allowed("alice", "1.2.3.4")
    assert throttle.allowed("bob", "1.2.3.4")
    clock.now += 11
    assert throttle.allowed("alice", "1.2.3.4")


def test_decode_actions() -> None:
    assert decode_action('{"action":"hang_up","call_id":"c1","HEADERS":{"HX-Trigger":null}}') == HangUp(call_id="c1")
    assert decode_action('{"action":"set_workstation","mode":"mobile","mobile_number":"06"}') == SetWorkstation(
        mode=WorkstationMode.MOBILE, mobile_number="06")
    assert isinstance(decode_action("x" * 20000), BadAction)
    assert isinstance(decode_action(b"\xff\xfe"), BadAction)


def test_catalogs_cover_the_same_keys_and_every_template_key() -> None:
    catalog = Catalog()
    assert catalog.keys("fr") == catalog.keys("en")
    used: set[str] = set()
    for template in Path(TEMPLATE_DIR).rglob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_]+\.[a-z_.]*[a-z_])["'][,)]""", template.read_text()))
    assert used, "no t('...') calls found in templates"
    missing = {k for k in used if not catalog.has("en", k)}
    assert not missing
    settings = GatewaySettings()
    dynamic = [f"disposition.{d}" for d in settings.dispositions]
    dynamic += [f"pause.{r}" for r in settings.pause_reasons]
    dynamic += [f"outcome.{o}" for o in CallOutcome] + [f"outcome.completed.{p}" for p in Party]
    dynamic += [f"step.{s}" for s in CallStep if s != CallStep.AGENT_DIALING]
    dynamic += [f"step.agent_dialing.{w}" for w in WorkstationMode]
    dynamic += [f"{p}step.switching.{w}" for w in WorkstationMode for p in ("", "sup.")]
    dynamic += [f"switch.{k}.{w}" for w in WorkstationMode for k in ("to", "target", "requested")]
    dynamic += [f"switch.result.{r}" for r in SwitchResult]
    dynamic += [f"sup.you_{m}" for m in SupervisionMode] + [f"monitor.{m}" for m in SupervisionMode]
    dynamic += [f"sup.{m}" for m in SupervisionMode]
    assert not [k for k in dynamic if not catalog.has("fr", k)]


def test_words_for_steps_and_outcomes() -> None:
    renderer = Renderer(Catalog(), GatewaySettings())
    call = CallView(call_id="c", agent_id="a", step=CallStep.AGENT_DIALING, customer_number="+33145678901")
    assert renderer.step_label("fr", call) == "Votre mobile sonne"
    assert renderer.step_label("en", call) == "Your mobile is ringing"
    done = CallView(call_id="c", agent_id="a", step=CallStep.ENDED, customer_number="x",
                    outcome=CallOutcome.COMPLETED, ended_by=Party.CUSTOMER)
    assert renderer.outcome_label("en", done) == "The customer hung up"
    busy = CallView(call_id="c", agent_id="a", step=CallStep.FAILED, customer_number="x",
                    outcome=CallOutcome.CUSTOMER_BUSY)
    assert renderer.step_label("en", busy) == "Customer busy"


def test_fragments_escape_user_text() -> None:
    renderer = Renderer(Catalog(), GatewaySettings())
    html = renderer.notice("en", "err.bad_message", detail="<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_phone_numbers() -> None:
    assert normalize("01 45 67 89 01", "FR") == "+33145678901"
    assert normalize("+44 20 7946 0958", "FR") == "+442079460958"
    for bad in ("", "12", "hello", "+33 1", "0" * 40):
        with pytest.raises(InvalidNumber):
            normalize(bad, "FR")


def test_contacts_import_reports_rejected_rows(tmp_path: Path) -> None:
    store = ContactStore(tmp_path / "contacts.json")
    report = store.import_csv(
        "name;phone;company;campaign\n"
        "Claire Petit;01 45 67 89 01;Boulangerie;spring\n"
        ";01 45 67 89 02;No Name Ltd;\n"
        "Jean Bad;12345;;\n"
        "\n"
        "Marc Ok;+33 6 12 34 56 70;;\n",
        "FR",
    )
    assert report.accepted == 2
    assert [(r.line, r.reason.split(" ")[0]) for r in report.rejected] == [(3, "missing"), (4, "bad")]
    again = ContactStore(tmp_path / "contacts.json")  # persisted
    assert [c.name for c in again.search("")] == ["Claire Petit", "Marc Ok"]
    assert [c.name for c in again.search("boulang")] == ["Claire Petit"]
    assert [c.name for c in again.search("0612")] == ["Marc Ok"]


def test_contacts_import_needs_name_and_phone_columns(tmp_path: Path) -> None:
    report = ContactStore(tmp_path / "c.json").import_csv("who,what\nx,y\n", "FR")
    assert report.accepted == 0 and "header" in report.rejected[0].reason


def test_configured_codes_without_words_stay_readable() -> None:
    renderer = Renderer(Catalog(), GatewaySettings())
    assert renderer.code_label("fr", "disposition", "sale") == "Vente"
    assert renderer.code_label("fr", "disposition", "demo_booked") == "Demo booked"


def test_words_an_agent_reads_are_plain_french_and_english() -> None:
    renderer = Renderer(Catalog(), GatewaySettings())
    refused = CallView(call_id="c", agent_id="a", step=CallStep.FAILED, customer_number="x",
                       outcome=CallOutcome.AGENT_NOT_CONFIRMED)
    assert renderer.outcome_label("fr", refused) == "Appel non accepté (touche 1 non pressée)"
    assert renderer.outcome_label("en", refused) == "Call not accepted (1 was not pressed)"
    catalog = Catalog()
    # Engineering words ("telephony core") mean nothing to an agent.
    for lang, jargon in (("fr", ("cœur téléphonique", "non composé")), ("en", ("telephony core",))):
        for key in catalog.keys(lang):
            text = catalog.t(lang, key)
            assert not any(word in text for word in jargon), (lang, key, text)
    assert catalog.t("fr", "call.monitored", mode=catalog.t("fr", "monitor.listen")) == (
        "Un superviseur écoute cet appel.")


def test_contacts_sort_ignores_accents_and_case() -> None:
    store = ContactStore()
    for i, name in enumerate(["Émilie Roux", "Zoé Blanc", "david Noir", "Céline Morel", "Benoît Gris",
                              "Eric Vert", "Dominique Brun"]):
        store.add(Contact(contact_id=f"c{i}", name=name, phone=f"+3314567890{i}"))
    assert [c.name for c in store.search("")] == [
        "Benoît Gris", "Céline Morel", "david Noir", "Dominique Brun", "Émilie Roux", "Eric Vert",
        "Zoé Blanc"]
    assert [c.name for c in store.search("emilie")] == ["Émilie Roux"]
    assert [c.name for c in store.search("BENOIT")] == ["Benoît Gris"]


def test_numbers_shown_as_the_reader_dials_them_e164_kept_in_data() -> None:
    assert display("+33199005305", "fr") == "01 99 00 53 05"
    assert display("+262262123456", "fr") == "0262 12 34 56"  # overseas department
    assert display("+442079460958", "fr") == "+44 20 7946 0958"
    assert display("+33199005305", "en") == "+33 1 99 00 53 05"
    assert display("not a number", "fr") == "not a number"
    renderer = Renderer(Catalog(), GatewaySettings())
    contact = Contact(contact_id="c1", name="Claire Petit", phone="+33199005305")
    fr = renderer.contact_list("fr", [contact], 1)
    assert 'data-e164="+33199005305">01 99 00 53 05<' in fr
    assert ">+33 1 99 00 53 05<" in renderer.contact_list("en", [contact], 1)


def test_ended_calls_show_the_contact_name_next_to_the_number() -> None:
    contacts = ContactStore()
    contacts.add(Contact(contact_id="c1", name="Céline Morel", phone="+33199005305"))
    renderer = Renderer(Catalog(), GatewaySettings(), contacts=contacts)
    done = CallView(call_id="k1", agent_id="alice", step=CallStep.ENDED, contact_id="c1",
                    customer_number="+33199005305", outcome=CallOutcome.COMPLETED,
                    ended_by=Party.CUSTOMER, step_since=10.0, ended_at=10.0)
    unknown = msgspec.structs.replace(done, call_id="k2", contact_id=None,
                                      customer_number="+33145678901")
    waiting = AgentView(agent_id="alice", display_name="Alice", state=AgentState.WRAP_UP,
                        state_since=10.0, awaiting_disposition=done)
    html = renderer.agent_fragments(
        "fr", AgentDesk(view=waiting, last_call=done, history=[done, unknown]))
    panel = html.split('id="call-panel"')[1].split('id="wrapup"')[0]
    assert "Dernier appel" in panel and "Céline Morel" in panel
    wrapup = html.split('id="wrapup"')[1].split('id="history"')[0]
    assert "Céline Morel" in wrapup
    history = html.split('id="history"')[1]
    assert history.count("Céline Morel") == 1 and "01 45 67 89 01" in history
    live = AgentView(agent_id="alice", display_name="Alice", state=AgentState.ON_CALL,
                     state_since=10.0,
                     call=msgspec.structs.replace(done, step=CallStep.CONNECTED, outcome=None))
    assert "Céline Morel" in renderer.wallboard_row("fr", "sam", live, known=True)


def test_last_call_panel_labels_its_talk_time() -> None:
    renderer = Renderer(Catalog(), GatewaySettings())
    done = CallView(call_id="k1", agent_id="alice", step=CallStep.ENDED,
                    customer_number="+33199005305", outcome=CallOutcome.COMPLETED,
                    ended_by=Party.AGENT, connected_at=100.0, ended_at=165.0, step_since=165.0)
    idle = AgentView(agent_id="alice", display_name="Alice", state=AgentState.AVAILABLE,
                     state_since=165.0)
    html = renderer.agent_fragments("fr", AgentDesk(view=idle, last_call=done, history=[]))
    assert '<span class="talk-time">Durée 01:05</span>' in html
