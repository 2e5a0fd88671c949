"""The statistics page in headless Chromium, over records stored through the real writer.

Six calls and the agents' state intervals are written through the AnalyticsService (the
writer actor, its journal and DuckDB); every number the page must show is worked out by hand
below, from the definitions in analytics/dashboard.py, not by the code under test.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from argon2 import PasswordHasher
from browser_helpers import (
    HTMX_ERRORS,
    PASSWORDS,
    _is_page_error,
    assert_no_htmx_errors,
    log_in,
    shot,
)
from gateway_fakes import FakeCallCenter
from playwright.sync_api import Browser, BrowserContext, Page, expect

from actors.analytics_service import AnalyticsService
from actors.analytics_writer import FlushNow, WriterConfig
from analytics.intervals import AgentStateInterval
from core.agent_leg_session import AgentSessionRecord
from core.costs import LegCost
from core.domain import AgentState, CallOutcome, CallStep, LegRole, Party, WorkstationMode
from core.records import CallRecord, Disposition, LegRecord, StepTime
from core.views import CallView
from gateway.contacts import ContactStore
from gateway.server import GatewayThread
from gateway.settings import GatewaySettings
from gateway.users import Role, UserDirectory

pytestmark = pytest.mark.browser

# 2026-05-28, 08:00 UTC = 10:00 in Paris; the page's "today" is pinned to that day.
T0 = dt.datetime(2026, 5, 28, 8, 0, tzinfo=dt.UTC).timestamp()
NOW = dt.datetime(2026, 5, 28, 12, 0, tzinfo=dt.UTC)
FORMULA_COMMENT = "=HYPERLINK(\"http://evil\",\"x\")"


def _leg(role: LegRole, dialed: float, answered: float | None, ended: float,
         billable: float, cause: int = 16) -> LegRecord:
    return LegRecord(role=role, endpoint=f"PJSIP/{role}@trunk", channel_id=f"ch-{role}-{dialed}",
                     dialed_at=dialed, answered_at=answered, ended_at=ended,
                     hangup_cause=cause, billable_seconds=billable)


def _call(call_id: str, agent: str, mode: WorkstationMode, start: float, outcome: CallOutcome, *,
          setup: float | None, confirm: bool, talk: float | None, agent_billed: float,
          ended_after: float, hung_up: Party | None = None, agent_cause: int = 16,
          customer_dialed: bool = False, contact: str | None = None) -> CallRecord:
    steps = [StepTime(CallStep.REQUESTED, start), StepTime(CallStep.AGENT_DIALING, start + 0.1)]
    connected = None
    customer = None
    ended = start + ended_after
    if setup is not None:
        answered = start + setup
        steps.append(StepTime(CallStep.AGENT_ANSWERED, answered))
        if confirm:
            steps.append(StepTime(CallStep.AGENT_CONFIRMING, answered))
        if outcome is not CallOutcome.AGENT_NOT_CONFIRMED:
            steps.append(StepTime(CallStep.ANNOUNCING, answered + 1))
            steps.append(StepTime(CallStep.CUSTOMER_DIALING, answered + 2))
            customer_dialed = True
        if talk is not None:
            connected = ended - talk
            steps.append(StepTime(CallStep.CONNECTED, connected))
        agent_leg = _leg(LegRole.AGENT, start, answered, ended, agent_billed, agent_cause)
        if customer_dialed:
            customer = _leg(LegRole.CUSTOMER, answered + 2, connected, ended, talk or 0.0)
    else:
        agent_leg = _leg(LegRole.AGENT, start, None, ended, 0.0, 0)
    return CallRecord(
        call_id=call_id, agent_id=agent, contact_id=contact, customer_number="+33145678901",
        workstation=mode, agent_leg=agent_leg, customer_leg=customer, steps=tuple(steps),
        outcome=outcome, hung_up_first=hung_up, started_at=start, connected_at=connected,
        ended_at=ended,
    )


def dataset(claire: str, ines: str) -> tuple[list[CallRecord], list[Disposition],
                                               list[AgentStateInterval]]:
    m, s = WorkstationMode.MOBILE, WorkstationMode.SOFTPHONE
    calls = [
        # alice, mobile, asked to press 1
        _call("c1", "alice", m, T0, CallOutcome.COMPLETED, setup=4, confirm=True, talk=100,
              agent_billed=106, ended_after=110, hung_up=Party.CUSTOMER, contact=claire),
        _call("c2", "alice", m, T0 + 600, CallOutcome.COMPLETED, setup=6, confirm=True, talk=300,
              agent_billed=314, ended_after=320, hung_up=Party.AGENT, contact=claire),
        _call("c3", "alice", m, T0 + 1200, CallOutcome.AGENT_NOT_CONFIRMED, setup=5,
              confirm=True, talk=None, agent_billed=16, ended_after=21, hung_up=None),
        _call("c4", "alice", m, T0 + 1500, CallOutcome.REJECTED, setup=None, confirm=False,
              talk=None, agent_billed=0, ended_after=0),
        # bob, softphone, no press 1; c5 is lost by the agent's network (Q.850 38)
        _call("c5", "bob", s, T0 + 3600, CallOutcome.COMPLETED, setup=2, confirm=False, talk=60,
              agent_billed=70, ended_after=75, hung_up=Party.AGENT, agent_cause=38, contact=ines),
        _call("c6", "bob", s, T0 + 4200, CallOutcome.CUSTOMER_NO_ANSWER, setup=3, confirm=False,
              talk=None, agent_billed=24, ended_after=28),
    ]
    dispositions = [
        Disposition(call_id="c1", agent_id="alice", code="sale", comment=FORMULA_COMMENT),
        Disposition(call_id="c2", agent_id="alice", code="not_qualified"),
    ]

    def iv(agent: str, state: AgentState, lo: float, seconds: float,
           call: str | None = None, mode: WorkstationMode = m) -> AgentStateInterval:
        connected = {"c1": True, "c2": True, "c5": True, "c6": False}.get(call or "")
        return AgentStateInterval(agent_id=agent, state=state, started_at=T0 + lo,
                                  ended_at=T0 + lo + seconds, workstation=mode.value,
                                  call_id=call,
                                  call_connected=connected if state is AgentState.WRAP_UP else None)

    intervals = [
        iv("alice", AgentState.AVAILABLE, -540, 540),
        iv("alice", AgentState.ON_CALL, 0, 110, "c1"),
        iv("alice", AgentState.WRAP_UP, 110, 20, "c1"),
        iv("alice", AgentState.ON_CALL, 600, 310, "c2"),
        iv("alice", AgentState.WRAP_UP, 920, 40, "c2"),
        iv("bob", AgentState.AVAILABLE, 3000, 300, mode=s),
        iv("bob", AgentState.ON_CALL, 3600, 70, "c5", mode=s),
        iv("bob", AgentState.WRAP_UP, 3675, 10, "c5", mode=s),
        iv("bob", AgentState.ON_CALL, 4200, 30, "c6", mode=s),
        iv("bob", AgentState.WRAP_UP, 4230, 20, "c6", mode=s),  # not connected: not in AHT
    ]
    return calls, dispositions, intervals


# [costs]: the mobile leg 0.05 set up + 0.12 a minute; the softphone free
RATES = {"mobile": LegCost(per_minute=0.12, per_call=0.05), "softphone": LegCost()}
# alice's persistent mobile leg, 10 min before c1: called twice, 900 s answered, 2.00
SESSION = AgentSessionRecord(agent_id="alice", workstation=WorkstationMode.MOBILE,
                             endpoint="PJSIP/+33612345678@trunk", started_at=T0 - 600,
                             answered_at=T0 - 595, ended_at=T0 + 330, end_reason="agent_hung_up",
                             calls=0, legs=2, billable_seconds=900.0, cost=2.0)


@pytest.fixture
def stats_server(tmp_path: Path) -> Iterator[tuple[GatewayThread, FakeCallCenter]]:
    users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("alice", PASSWORDS["alice"], Role.AGENT, "Alice Martin", "+33612345678")
    users.add("bob", PASSWORDS["bob"], Role.AGENT, "Bob Durand", "+33698765432")
    users.add("sam", PASSWORDS["sam"], Role.SUPERVISOR, "Sam Leroy")
    contacts = ContactStore(tmp_path / "contacts.json")
    contacts.import_csv(
        "name,phone,company,campaign\n"
        "Claire Petit,01 45 67 89 01,Boulangerie Petit,spring\n"
        "Inès Moreau,04 78 12 34 56,Pharmacie Moreau,renewal\n", "FR")
    ids = {c.name: c.contact_id for c in contacts.search("")}
    analytics = AnalyticsService(WriterConfig(db_path=str(tmp_path / "calls.duckdb")))
    analytics.start()
    calls, dispositions, intervals = dataset(ids["Claire Petit"], ids["Inès Moreau"])
    for record in [*calls, *dispositions, *intervals, SESSION]:
        analytics.sink.write(record)
    analytics.reader.costs = RATES
    assert analytics.writer is not None
    analytics.writer.ask(FlushNow(), timeout=10)
    fake = FakeCallCenter()
    fake.add_agent("alice", "Alice Martin")
    fake.add_agent("bob", "Bob Durand")
    settings = GatewaySettings(port=0, data_dir=str(tmp_path),
                               session_secret="browser-test-secret-0123456789")
    thread = GatewayThread(fake, settings, users, contacts, archive=analytics.reader).start()
    thread.gateway.stats_pages.clock = lambda: NOW
    yield thread, fake
    thread.stop()
    fake.close()
    analytics.stop()


def _session(chromium: Browser, url: str, lang: str = "fr") -> tuple[BrowserContext, Page]:
    context = chromium.new_context(base_url=url, viewport={"width": 1366, "height": 768},
                                   locale="fr-FR", accept_downloads=True)
    context.set_default_timeout(10_000)
    if lang != "fr":
        context.add_cookies([{"name": "evs_lang", "value": lang, "url": url}])
    page = context.new_page()
    errors: list[str] = []  # what assert_no_htmx_errors checks: htmx errors, CSP violations
    HTMX_ERRORS[id(page)] = errors
    page.on("console", lambda msg: errors.append(msg.text) if _is_page_error(msg.text) else None)
    return context, page


def _text(page: Page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def test_supervisor_statistics_match_the_hand_computed_figures(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter]
) -> None:
    server, _ = stats_server
    context, page = _session(chromium, server.url)
    log_in(page, "sam")
    expect(page).to_have_url(f"{server.url}/supervisor")
    page.click("a[href='/stats']")
    expect(page.locator("h1")).to_contain_text("Statistiques")
    # calls 6; attempted 5 (c4 refused); connected 3 (c1, c2, c5): 3/5
    expect(page.locator("#kpi-calls")).to_have_text("6")
    expect(page.locator("#kpi-connected")).to_have_text("3")
    expect(page.locator("#kpi-connect-rate")).to_have_text("60.0 %")
    # talk [60, 100, 300]: p50 100 s; p90 at rank 1.8 = 100 + 0.8 * 200 = 260 s
    expect(page.locator("#kpi-talk-p50")).to_have_text("01:40")
    expect(page.locator("#kpi-talk-p90")).to_have_text("04:20")
    # AHT = (100 + 300 + 60 talk + 20 + 40 + 10 wrap-up) / 3 = 176.7 s (c6's wrap-up: no)
    expect(page.locator("#kpi-aht")).to_have_text("02:56")
    # agent answered after [4, 6, 5, 2, 3] s: median 4.0, p90 at rank 3.6 = 5.6
    assert _text(page, "#c2p-setup") == "4.0 s · p90 5.6 s"
    # asked to press 1: c1, c2, c3; accepted c1, c2
    assert _text(page, "#c2p-acceptance") == "66.7 % (2/3)"
    assert _text(page, "#c2p-voicemail") == "1"
    # agent legs 106 + 314 + 16 + 70 + 24 = 530 s; customer legs 100 + 300 + 60 = 460 s
    assert _text(page, "#c2p-agent-min") == "8.8 min"
    assert _text(page, "#c2p-customer-min") == "7.7 min"
    # mobile: c1, c2 connected, none lost; softphone: c5 connected and lost (cause 38)
    assert _text(page, "#c2p-drop-mobile") == "0.0 % (0/2)"
    assert _text(page, "#c2p-drop-softphone") == "100.0 % (1/1)"
    alice = page.locator("#stats-agents tr[data-agent=alice] td")
    # alice: 4 calls, 2 of 3 attempted connected, AHT (100+300+20+40)/2 = 230 s,
    # occupancy (420 on call + 60 wrap-up) / (540 + 420 + 60) = 47.1 %,
    # agent legs 106 + 314 + 16 = 436 s = 7.3 min, customer legs 400 s = 6.7 min
    expect(alice).to_have_text(["Alice Martin", "4", "2", "66.7 %", "03:50", "47.1 %",
                                "7.3 min", "6.7 min", "0"])
    bob = page.locator("#stats-agents tr[data-agent=bob] td")
    # bob: (100 on call + 30 wrap-up) / (300 + 100 + 30) = 30.2 %, agent legs 94 s, c5 lost
    expect(bob).to_have_text(["Bob Durand", "2", "1", "50.0 %", "01:10", "30.2 %",
                              "1.6 min", "1.0 min", "1"])
    # per local day, over the selected agents: one day, 530 s and 460 s
    expect(page.locator("#stats-billed-days tbody tr td")).to_have_text(
        ["2026-05-28", "8.8 min", "7.7 min"])
    # cost per mode: the six calls dialed their agent leg (530 s); answered on the mobile:
    # c1 0.05 + 0.12 * 106/60 = 0.262, c2 0.05 + 0.628 = 0.678, c3 0.05 + 0.032 = 0.082
    # (c4 never answered, the softphone free): 1.022; alice's session as recorded
    expect(page.locator("#stats-leg-costs tbody tr td")).to_have_text(
        ["Un appel agent par appel", "6", "8.8 min", "1.02",
         "Appel agent permanent (session)", "2", "15.0 min", "2.00"])
    expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
    shot(page, "20-statistics-fr")

    # filters: workstation mobile -> alice's 4 calls; campaign spring -> c1, c2
    page.select_option("#stats-workstation", "mobile")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("4")
    expect(page.locator("#kpi-connected")).to_have_text("2")
    page.select_option("#stats-workstation", "")
    page.select_option("#stats-campaign", "spring")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("2")
    page.select_option("#stats-campaign", "")
    page.select_option("#stats-agent", "bob")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("2")
    expect(page.locator("#kpi-connect-rate")).to_have_text("50.0 %")
    expect(page.locator("#stats-billed-days tbody tr td")).to_have_text(
        ["2026-05-28", "1.6 min", "1.0 min"])
    # yesterday: nothing
    page.select_option("#stats-agent", "")
    page.select_option("#stats-period", "yesterday")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("0")
    # last 7 days: the same figures, from the per-day rollup (the page's day is finished by
    # the real clock, analytics.rollup), then with the mobile workstation
    page.select_option("#stats-period", "7d")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("6")
    expect(page.locator("#kpi-talk-p50")).to_have_text("01:40")
    expect(page.locator("#kpi-talk-p90")).to_have_text("04:20")
    expect(page.locator("#kpi-aht")).to_have_text("02:56")
    assert _text(page, "#c2p-setup") == "4.0 s · p90 5.6 s"
    assert _text(page, "#c2p-acceptance") == "66.7 % (2/3)"
    assert _text(page, "#c2p-drop-softphone") == "100.0 % (1/1)"
    expect(alice).to_have_text(["Alice Martin", "4", "2", "66.7 %", "03:50", "47.1 %",
                                "7.3 min", "6.7 min", "0"])
    expect(bob).to_have_text(["Bob Durand", "2", "1", "50.0 %", "01:10", "30.2 %",
                              "1.6 min", "1.0 min", "1"])
    expect(page.locator("#stats-billed-days tbody tr td")).to_have_text(
        ["2026-05-28", "8.8 min", "7.7 min"])
    page.select_option("#stats-workstation", "mobile")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("4")
    expect(page.locator("#kpi-connected")).to_have_text("2")
    page.select_option("#stats-workstation", "")
    # a custom period typed backwards is refused in words, today shown
    page.goto("/stats?period=custom&from=2026-05-29&to=2026-05-20")
    expect(page.locator(".notice-error")).to_contain_text("Dates de la période personnalisée")
    expect(page.locator("#kpi-calls")).to_have_text("6")
    assert_no_htmx_errors(page)
    context.close()


def test_statistics_in_english_and_agent_sees_only_own(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter]
) -> None:
    server, _ = stats_server
    context, page = _session(chromium, server.url, "en")
    log_in(page, "sam")
    expect(page).to_have_url(f"{server.url}/supervisor")
    page.goto("/stats")
    expect(page.locator("h1")).to_contain_text("Statistics")
    expect(page.locator("#kpi-calls")).to_have_text("6")
    expect(page.locator("#stats-leg-costs tbody tr[data-mode=persistent] td").first).to_have_text(
        "Persistent agent leg (session)")
    expect(page.locator("body")).to_have_attribute("data-charts", "drawn")
    shot(page, "21-statistics-en")
    assert_no_htmx_errors(page)
    context.close()

    context, page = _session(chromium, server.url)
    log_in(page, "alice")
    expect(page).to_have_url(f"{server.url}/agent")
    page.goto("/stats?agent=bob")  # asking for someone else's numbers gets one's own
    expect(page.locator("#kpi-calls")).to_have_text("4")
    expect(page.locator("#stats-agent")).to_have_count(0)
    expect(page.locator("#stats-agents tbody tr")).to_have_count(1)
    context.close()


def test_exports_read_back(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter], tmp_path: Path
) -> None:
    server, _ = stats_server
    context, page = _session(chromium, server.url)
    log_in(page, "sam")
    expect(page).to_have_url(f"{server.url}/supervisor")
    page.goto("/stats")
    with page.expect_download() as csv_download:
        page.click("#export-csv")
    csv_path = tmp_path / "calls.csv"
    csv_download.value.save_as(csv_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert [r["call_id"] for r in rows] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    first = rows[0]
    assert first["disposition"] == "sale"
    assert first["disposition_comment"] == "'" + FORMULA_COMMENT  # neutralised
    assert first["customer_number"] == "'+33145678901"
    assert first["outcome"] == "completed"

    page.select_option("#stats-workstation", "softphone")
    page.click("#stats-apply")
    expect(page.locator("#kpi-calls")).to_have_text("2")
    with page.expect_download() as pq_download:
        page.click("#export-parquet")
    pq_path = tmp_path / "calls.parquet"
    pq_download.value.save_as(pq_path)
    con = duckdb.connect()
    got = con.execute(
        "SELECT call_id, customer_number, talk_seconds FROM read_parquet(?) ORDER BY call_id",
        [str(pq_path)],
    ).fetchall()
    assert got == [("c5", "+33145678901", 60.0), ("c6", "+33145678901", 0.0)]
    context.close()


def _place(fake: FakeCallCenter, agent: str, mode: WorkstationMode, step: CallStep) -> CallView:
    fake.set_workstation(agent, mode, "+33612345678" if mode is WorkstationMode.MOBILE else None)
    fake.log_in(agent)
    assert fake.place_call(agent, "+33145678901") is None
    return fake.advance(agent, step)


def test_wallboard_kpis_and_the_supervisors_words(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter]
) -> None:
    server, fake = stats_server
    _place(fake, "alice", WorkstationMode.MOBILE, CallStep.AGENT_DIALING)
    _place(fake, "bob", WorkstationMode.SOFTPHONE, CallStep.CONNECTED)
    for lang, ringing, name in (("fr", "Mobile de l'agent en sonnerie", "22-wallboard-fr"),
                                ("en", "Agent's mobile ringing", "23-wallboard-en")):
        context, page = _session(chromium, server.url, lang)
        log_in(page, "sam")
        expect(page).to_have_url(f"{server.url}/supervisor")
        # the day's figures: the same six calls as on the statistics page
        expect(page.locator("#wb-calls-today")).to_have_text("6")
        expect(page.locator("#wb-connected")).to_have_text("3")
        expect(page.locator("#wb-connect-rate")).to_have_text("60.0 %")
        expect(page.locator("#wb-aht")).to_have_text("02:56")
        expect(page.locator("#wb-longest-agent")).to_have_text("Bob Durand")
        expect(page.locator("#row-alice .call-step")).to_have_text(ringing)
        expect(page.locator("#total-on_call")).to_have_text("2")
        shot(page, name)
        assert_no_htmx_errors(page)
        context.close()


def test_wallboard_kpis_are_for_supervisors_only(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter]
) -> None:
    server, _ = stats_server
    context, page = _session(chromium, server.url)
    log_in(page, "alice")
    expect(page).to_have_url(f"{server.url}/agent")
    answer = page.request.get("/stats/wallboard")
    assert answer.status == 403
    context.close()


def test_an_export_too_big_for_the_page_is_refused_in_words(
    chromium: Browser, stats_server: tuple[GatewayThread, FakeCallCenter]
) -> None:
    server, _ = stats_server
    server.gateway.stats_pages.export_max_rows = 5  # the store holds 6 calls today
    context, page = _session(chromium, server.url)
    log_in(page, "sam")
    expect(page).to_have_url(f"{server.url}/supervisor")
    page.goto("/stats")
    page.click("#export-csv")
    expect(page.locator("#export-refused")).to_contain_text("Export refusé : 6 appels")
    expect(page.locator("#stats-period")).to_have_value("today")
    page.select_option("#stats-agent", "bob")  # 2 calls: allowed
    page.click("#stats-apply")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename.endswith(".csv")
    context.close()
