"""Role x action x target matrix (issue 10, "Faults under load"): every WebSocket action
and every HTTP route, for an agent, a supervisor and an anonymous visitor, on their own
target and on another's. The expected answer of each cell is written in the tables below;
a cell that lets a request through to the core must name the signed-in user, never the
target a message claims (an `agent_id` field in the message is ignored)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until
from websockets.exceptions import InvalidStatus

from core.domain import CallOutcome, CallStep, WorkstationMode
from gateway.contacts import ContactStore
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import UserDirectory

OWN, OTHER = "own", "other"
OK, DENIED = "ok", "denied"
USER = {"agent": "alice", "supervisor": "sam"}


def arrange(fake: FakeCallCenter, *, ended: bool) -> dict[str, str]:
    """alice and bob each on a call (or, `ended`, each with a call awaiting a disposition);
    returns agent id -> that call id."""
    calls = {}
    for agent, number in (("alice", "+33612345678"), ("bob", "+33698765432")):
        fake.log_in(agent)
        fake.set_workstation(agent, WorkstationMode.MOBILE, number)
        assert fake.place_call(agent, "+33145678901") is None
        calls[agent] = fake.call_of(agent).call_id
        if ended:
            fake.fail(agent, CallOutcome.COMPLETED)
        else:  # connected: what a mid-call switch needs
            fake.advance(agent, CallStep.CONNECTED)
    fake.wait_idle()
    fake.requests.clear()
    return calls


# action -> (core request name, message fields given the target's call id, needs an ended call)
ACTIONS: dict[str, tuple[str, dict[str, str], bool]] = {
    "place_call": ("place_call", {"number": "+33145678901"}, False),
    "hang_up": ("hang_up", {"call_id": "{call}"}, False),
    "switch_call": ("switch_agent_leg", {"call_id": "{call}", "target": "softphone"}, False),
    "open_session": ("open_agent_session", {}, False),
    "close_session": ("close_agent_session", {}, False),
    "set_workstation": ("set_workstation", {"mode": "softphone"}, False),
    "set_available": ("set_available", {}, False),
    "log_in": ("log_in", {}, False),
    "pause": ("pause", {"reason": "break"}, False),
    "qualify": ("qualify", {"call_id": "{call}", "disposition": "sale"}, True),
    "search_contacts": ("", {"q": "Claire"}, False),
    "show_contact": ("", {"contact_id": "c1"}, False),
    "supervise": ("supervise", {"call_id": "{call}", "mode": "listen"}, False),
    "stop_supervision": ("stop_supervision", {"call_id": "{call}"}, False),
}

# (role, action) -> expected answer for (own target, other's target). For actions without a
# target the "other" message claims to be another agent (agent_id) and must act on the
# sender alone. A supervisor's "own" call is the one they watch: every call is another's.
EXPECTED: dict[tuple[str, str], tuple[str, str]] = {
    ("agent", "place_call"): (OK, OK),
    ("agent", "hang_up"): (OK, DENIED),
    ("agent", "switch_call"): (OK, DENIED),
    ("agent", "open_session"): (OK, OK),
    ("agent", "close_session"): (OK, OK),
    ("agent", "set_workstation"): (OK, OK),
    ("agent", "set_available"): (OK, OK),
    ("agent", "log_in"): (OK, OK),
    ("agent", "pause"): (OK, OK),
    ("agent", "qualify"): (OK, DENIED),
    ("agent", "search_contacts"): (OK, OK),
    ("agent", "show_contact"): (OK, OK),
    ("agent", "supervise"): (DENIED, DENIED),
    ("agent", "stop_supervision"): (DENIED, DENIED),
    **{("supervisor", a): (DENIED, DENIED) for a in (
        "place_call", "hang_up", "switch_call", "open_session", "close_session",
        "set_workstation", "set_available", "log_in", "pause",
        "qualify", "search_contacts", "show_contact")},
    ("supervisor", "supervise"): (OK, OK),
    ("supervisor", "stop_supervision"): (OK, OK),
}
CELLS = [(role, action, target) for (role, action) in EXPECTED for target in (OWN, OTHER)]


def test_the_matrix_covers_every_action() -> None:
    from gateway.actions import Action

    tags = {t.__struct_config__.tag for t in Action.__args__}  # type: ignore[attr-defined]
    assert tags == set(ACTIONS)
    assert {a for _, a in EXPECTED} == set(ACTIONS)


@pytest.fixture
async def started(fake: FakeCallCenter, settings: GatewaySettings, users_template: list,
                  contacts: ContactStore, request: pytest.FixtureRequest) -> AsyncIterator[Gateway]:
    ended = request.param
    fake.calls = arrange(fake, ended=ended)  # type: ignore[attr-defined]
    gw = Gateway(fake, settings, UserDirectory(list(users_template)), contacts)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw
    await gw.stop()


def _cells(ended: bool) -> list[Any]:
    return [
        pytest.param(role, action, target, ended, id=f"{role}-{action}-{target}")
        for role, action, target in CELLS if ACTIONS[action][2] == ended
    ]


@pytest.mark.parametrize(("role", "action", "target", "started"),
                         [*_cells(False), *_cells(True)], indirect=["started"])
async def test_websocket_action_matrix(started: Gateway, fake: FakeCallCenter, role: str,
                                       action: str, target: str) -> None:
    me = USER[role]
    calls: dict[str, str] = fake.calls  # type: ignore[attr-defined]
    target_agent = "alice" if target == OWN and role == "agent" else "bob"
    core_name, fields, _ = ACTIONS[action]
    message = {k: v.replace("{call}", calls[target_agent]) for k, v in fields.items()}
    if target == OTHER:
        message["agent_id"] = "bob"  # a forged claim: must change nothing
    if role == "supervisor" and action == "stop_supervision":
        assert fake.supervise("sam", calls[target_agent], "listen") is None  # type: ignore[arg-type]
        fake.wait_idle()
        fake.requests.clear()
    if role == "agent" and action == "place_call":
        fake.set_available("alice")  # the core takes a call request only from a free agent
    b = Browser(started.base_url)  # type: ignore[attr-defined]
    try:
        assert (await b.login(me)).status == 200
        fake.wait_idle()
        fake.requests.clear()
        async with b.socket() as ws:
            await recv_until(ws, 'id="agent-status"' if role == "agent" else 'id="wallboard"')
            await ws.send(json.dumps({"action": action, **message}))
            frame = await recv_until(ws, 'id="notice"')
        expected = EXPECTED[(role, action)][0 if target == OWN else 1]
        sent = [args for name, args in fake.requests if name == core_name]
        if expected == OK:
            assert "notice-error" not in frame, frame
            if core_name:
                assert sent and all(args[0] == me for args in sent), fake.requests
        else:
            assert "notice-error" in frame, frame
            assert not sent, fake.requests
        assert not [args for _, args in fake.requests if args and args[0] == "bob"]
    finally:
        await b.close()


async def test_anonymous_visitors_get_no_websocket(browser: Browser) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with browser.socket():
            pass
    assert refused.value.response.status_code == 401


# -- HTTP routes ------------------------------------------------------------------------

# (method, path) -> expected (status, Location or None) for anonymous, agent, supervisor
ROUTES: dict[tuple[str, str], dict[str, tuple[int, str | None]]] = {
    ("GET", "/"): {"anonymous": (303, "/login"), "agent": (303, "/agent"),
                   "supervisor": (303, "/supervisor")},
    ("GET", "/login"): {"anonymous": (200, None), "agent": (303, "/agent"),
                        "supervisor": (303, "/supervisor")},
    ("GET", "/agent"): {"anonymous": (303, "/login"), "agent": (200, None),
                        "supervisor": (303, "/supervisor")},
    ("GET", "/supervisor"): {"anonymous": (303, "/login"), "agent": (403, None),
                             "supervisor": (200, None)},
    ("GET", "/recordings"): {"anonymous": (303, "/login"), "agent": (403, None),
                             "supervisor": (200, None)},
    ("GET", "/recordings/someone-else.wav"): {"anonymous": (303, "/login"), "agent": (403, None),
                                              "supervisor": (404, None)},
    ("GET", "/session"): {"anonymous": (401, None), "agent": (200, None),
                          "supervisor": (200, None)},
    ("GET", "/healthz"): {r: (200, None) for r in ("anonymous", "agent", "supervisor")},
    ("GET", "/metrics"): {r: (200, None) for r in ("anonymous", "agent", "supervisor")},
    ("GET", "/static/app.js"): {r: (200, None) for r in ("anonymous", "agent", "supervisor")},
    ("GET", "/static/.hidden"): {r: (404, None) for r in
                                              ("anonymous", "agent", "supervisor")},
    ("GET", "/vendor/htmx.min.js"): {r: (200, None) for r in ("anonymous", "agent", "supervisor")},
    ("GET", "/lang/en"): {r: (303, "/") for r in ("anonymous", "agent", "supervisor")},
    ("GET", "/nowhere"): {"anonymous": (303, "/login"), "agent": (404, None),
                          "supervisor": (404, None)},
    ("GET", "/recordings?agent=bob&date=2026-05-29&q=x"): {
        "anonymous": (303, "/login"), "agent": (403, None), "supervisor": (200, None)},
    ("POST", "/agent"): {r: (405, None) for r in ("anonymous", "agent", "supervisor")},
    ("POST", "/login"): {r: (400, None) for r in ("anonymous", "agent", "supervisor")},  # no credentials
    ("POST", "/logout"): {r: (303, "/login") for r in ("anonymous", "agent", "supervisor")},
}


@pytest.mark.parametrize("role", ["anonymous", "agent", "supervisor"])
@pytest.mark.parametrize(("method", "path"), list(ROUTES))
async def test_http_route_matrix(gateway: Gateway, role: str, method: str, path: str) -> None:
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        if role != "anonymous":
            assert (await b.login(USER[role])).status == 200
        resp = await (b.get(path) if method == "GET" else b.post(path))
        status, location = ROUTES[(method, path)][role]
        assert resp.status == status, await resp.text()
        if location is not None:
            assert resp.headers["Location"] == location
    finally:
        await b.close()


async def test_recordings_of_other_agents_are_for_supervisors_only(
    gateway: Gateway, settings: GatewaySettings
) -> None:
    folder = Path(settings.data_dir) / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "call-bob-1.wav").write_bytes(b"RIFF0000WAVE")
    agent, sup = Browser(gateway.base_url), Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await agent.login("alice")
        await sup.login("sam")
        assert (await agent.get("/recordings/call-bob-1.wav")).status == 403
        assert (await sup.get("/recordings/call-bob-1.wav")).status == 200
    finally:
        await agent.close()
        await sup.close()
