"""The seeded demo, started in-process as `evscallpro demo` runs it (simulator at 10x, free
ports, a temporary data dir): pages, logins, contacts, health and metrics, and real calls
from the demo agents against the simulated phones down to DuckDB."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors.messages import FlushNow
from actors.sinks import MemoryRecordSink
from core.domain import AgentState, CallOutcome, CallStep, SupervisionMode, WorkstationMode
from core.records import CallRecord
from core.views import AgentView, CallView
from evscallpro.demo import Demo
from evscallpro.demo_seed import demo_password

pytestmark = pytest.mark.timeout(90)

TIME_SCALE = 10.0
WAIT_S = 20.0
# demo/sim-phones.toml: Martine Dubois answers after 2-9 s and talks 25 s to 2.5 min.
ANSWERING_CUSTOMER = "+33199005305"


class Views:
    """Every view the core publishes; tests wait on a predicate, never sleep."""

    def __init__(self) -> None:
        self.seen: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, view: Any) -> None:
        with self._cond:
            self.seen.append(view)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = WAIT_S) -> Any:
        with self._cond:
            self._cond.wait_for(lambda: any(predicate(v) for v in self.seen), timeout)
            return next((v for v in self.seen if predicate(v)), None)


class RunningDemo:
    def __init__(self, demo: Demo, records: MemoryRecordSink, views: Views) -> None:
        self.demo = demo
        self.records = records
        self.views = views
        assert demo.stack is not None
        self.stack = demo.stack

    def http(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        request = urllib.request.Request(self.demo.url + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()

    def login(self, user: str, password: str) -> tuple[int, str]:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        status, headers, _ = self.http(
            "/login",
            method="POST",
            headers={"Authorization": f"Basic {token}", "Origin": self.demo.url},
        )
        return status, headers.get("Set-Cookie", "")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    data_dir = tmp_path_factory.mktemp("demo-data")
    records = MemoryRecordSink()
    demo = Demo(
        data_dir=str(data_dir),
        port=0,
        ari_port=0,
        time_scale=TIME_SCALE,
        flush_interval_s=0.05,
        extra_sinks=[records],
    ).start()
    views = Views()
    demo.stack.call_center.subscribe(views)  # type: ignore[union-attr]
    try:
        yield RunningDemo(demo, records, views)
    finally:
        demo.stop()


def test_login_page_answers(running: RunningDemo) -> None:
    status, _, body = running.http("/login")
    assert status == 200
    assert "<form" in body


def test_every_demo_user_logs_in_with_the_printed_credentials(running: RunningDemo) -> None:
    assert running.demo.seed is not None
    banner = running.demo.banner()
    for cred in running.demo.seed.credentials:
        assert f"{cred.user_id:<11} {cred.password}" in banner  # what the console shows
        status, cookie = running.login(cred.user_id, cred.password)
        assert status == 200, cred.user_id
        assert cookie.startswith("evs_session="), cookie
    users = {c.user_id for c in running.demo.seed.credentials}
    assert users == {"agent1", "agent2", "agent3", "agent4", "supervisor"}


def test_a_wrong_password_gets_no_session(running: RunningDemo) -> None:
    status, cookie = running.login("agent2", "not-the-demo-password")
    assert status != 200
    assert not cookie.split(";")[0].split("=", 1)[-1]


def test_the_agent_desktop_opens_after_login(running: RunningDemo) -> None:
    status, cookie = running.login("agent2", demo_password("agent2"))
    assert status == 200
    status, _, body = running.http("/agent", headers={"Cookie": cookie.split(";")[0]})
    assert status == 200
    assert "Julien Moreau" in body


def test_fifty_contacts_with_campaign_scripts(running: RunningDemo) -> None:
    gateway = running.stack.gateway
    assert gateway is not None
    contacts = gateway.gateway.contacts
    assert contacts.count() == 50
    everyone = contacts.search("", limit=100)
    scripts = gateway.gateway.settings.campaign_scripts
    assert {c.campaign for c in everyone} == set(scripts) and len(scripts) == 2
    assert all(c.phone.startswith("+33") for c in everyone)
    card = gateway.gateway.renderer.contact_card("fr", everyone[0], "Camille Lefèvre")
    assert everyone[0].name in card and "Camille Lefèvre" in card
    assert "{contact}" not in card and "{agent}" not in card


def test_healthz_and_metrics_answer(running: RunningDemo) -> None:
    status, _, body = running.http("/healthz")
    assert status == 200 and body.strip().startswith("{")
    status, _, body = running.http("/metrics")
    assert status == 200
    assert "evscallpro_" in body


def _record_of(running: RunningDemo, call_id: str) -> CallRecord | None:
    found: CallRecord | None = running.records.wait_for(
        lambda r: isinstance(r, CallRecord) and r.call_id == call_id, WAIT_S
    )
    return found


def _call_id_of(running: RunningDemo, agent_id: str, seen_before: int) -> str:
    view = running.views.wait_for(
        lambda v: (
            isinstance(v, CallView)
            and v.agent_id == agent_id
            and running.views.seen.index(v) >= seen_before
        )
    )
    assert view is not None, f"no call view for {agent_id}"
    return str(view.call_id)


def test_mobile_agent_call_connects_and_reaches_duckdb(
    running: RunningDemo, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="core.call")
    assert running.demo.simulator is not None
    # The demo's prompts are core sounds: the "please hold" announcement plays in French.
    assert running.demo.simulator.engine.sound_seconds("pls-hold-while-try", "fr") > 0
    app = running.stack.call_center
    assert app.log_in("agent1") is None
    before = len(running.views.seen)
    assert app.place_call("agent1", ANSWERING_CUSTOMER) is None
    call_id = _call_id_of(running, "agent1", before)
    connected = running.views.wait_for(
        lambda v: isinstance(v, CallView) and v.call_id == call_id and v.step == CallStep.CONNECTED
    )
    assert connected is not None, [v for v in running.views.seen if isinstance(v, CallView)]
    assert connected.workstation == WorkstationMode.MOBILE
    # the supervisor's softphone answers: live listening shows on the call
    assert app.supervise("supervisor", call_id, SupervisionMode.LISTEN) is None
    monitored = running.views.wait_for(
        lambda v: (
            isinstance(v, CallView)
            and v.call_id == call_id
            and ("supervisor", SupervisionMode.LISTEN) in v.monitored_by
        )
    )
    assert monitored is not None, "the supervisor never started listening"
    assert app.hang_up("agent1", call_id) is None
    record = _record_of(running, call_id)
    assert record is not None
    assert record.outcome == CallOutcome.COMPLETED, record
    assert record.customer_number == ANSWERING_CUSTOMER
    failed_prompts = [
        r.getMessage()
        for r in caplog.records
        if r.name == "core.call" and "playback" in r.getMessage()
    ]
    assert failed_prompts == []
    assert record.recording_name, record
    assert running.demo.settings is not None
    recordings = Path(running.demo.settings.data_dir) / "recordings"
    assert (recordings / f"{record.recording_name}.wav").is_file(), sorted(recordings.iterdir())
    writer = running.stack.analytics.writer
    assert writer is not None
    writer.ask(FlushNow(), timeout=10)
    today = dt.datetime.now(dt.UTC).date()
    stored = running.stack.analytics.reader.calls_for_agent("agent1", today)
    assert call_id in [row.call_id for row in stored]
    row = next(r for r in stored if r.call_id == call_id)
    assert row.outcome == "completed"


def test_voicemail_agent_call_ends_agent_not_confirmed(running: RunningDemo) -> None:
    app = running.stack.call_center
    assert app.log_in("agent3") is None
    assert app.set_workstation("agent3", WorkstationMode.MOBILE) is None
    before = len(running.views.seen)
    assert app.place_call("agent3", ANSWERING_CUSTOMER) is None
    call_id = _call_id_of(running, "agent3", before)
    record = _record_of(running, call_id)
    assert record is not None
    assert record.outcome == CallOutcome.AGENT_NOT_CONFIRMED, record
    assert record.customer_leg is None or record.customer_leg.answered_at is None

    # No customer conversation: nothing to qualify, agent3 is available again at once.
    def agent3(v: Any, state: AgentState, after: int) -> bool:
        return (
            isinstance(v, AgentView)
            and v.agent_id == "agent3"
            and v.state == state
            and running.views.seen.index(v) >= after
        )

    on_call = running.views.wait_for(lambda v: agent3(v, AgentState.ON_CALL, before))
    assert on_call is not None
    back = running.views.wait_for(
        lambda v: agent3(v, AgentState.AVAILABLE, running.views.seen.index(on_call))
    )
    assert back is not None and back.awaiting_disposition is None, back


def test_recordings_land_in_the_demo_data_dir(running: RunningDemo) -> None:
    assert running.demo.settings is not None
    recordings = Path(running.demo.settings.data_dir) / "recordings"
    assert recordings.is_dir()
    assert running.stack.gateway is not None
    assert running.stack.gateway.gateway.settings.resolved_recordings_dir() == recordings
