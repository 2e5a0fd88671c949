"""Property-based fuzzing of the UI WebSocket messages (issue 10, "Faults under load"):
whatever a browser sends (bytes, broken JSON, unknown actions, wrong types, huge or odd
values, forged fields), no exception escapes, the answer is a notice, a bad input is
answered with an error notice that says why, and nothing the core is asked names anyone
but the sender."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain import WorkstationMode
from gateway.actions import BadAction, decode_action
from gateway.contacts import Contact, ContactStore
from gateway.dispatch import Dispatcher
from gateway.hub import Hub
from gateway.i18n import Catalog
from gateway.render import Renderer
from gateway.settings import GatewaySettings
from gateway.users import Role, User, UserDirectory

TAGS = ["place_call", "hang_up", "set_workstation", "set_available", "log_in", "pause",
        "qualify", "search_contacts", "show_contact", "supervise", "stop_supervision"]
FIELDS = ["number", "contact_id", "call_id", "mode", "mobile_number", "reason", "disposition",
          "comment", "callback_at", "q", "agent_id", "HEADERS"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=60), st.sampled_from(["", " ", "call-1", "call-2", "c1", "mobile",
                                           "softphone", "listen", "barge", "sale", "break",
                                           "+33612345678", "06 12 34 56 78", "2026-13-45T25:61",
                                           "=HYPERLINK(\"x\")", "<script>", "x" * 3000]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)
messages = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    st.builds(lambda action, body: json.dumps({"action": action, **body}),
              st.one_of(st.sampled_from(TAGS), values),
              st.dictionaries(st.sampled_from(FIELDS), values, max_size=6)),
    st.builds(json.dumps, values),
)


class Errors(logging.Handler):
    """Counts log records that carry a traceback (an exception that reached a handler)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class Bench:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.core = FakeCallCenter()
        for agent in ("alice", "bob"):
            self.core.add_agent(agent, agent.title())
            self.core.log_in(agent)
            self.core.set_workstation(agent, WorkstationMode.MOBILE, "+33612345678")
            assert self.core.place_call(agent, "+33145678901") is None  # call-1, call-2
        self.core.wait_idle()
        self.core.requests.clear()
        gw_settings = GatewaySettings(data_dir=str(tmp), session_secret="x" * 32)
        contacts = ContactStore(tmp / "contacts.json")
        contacts.add(Contact(contact_id="c1", name="Claire Petit", phone="+33145678901"))
        users = UserDirectory(hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
        self.agent = users.add("alice", "pw", Role.AGENT, "Alice", "+33612345678")
        self.supervisor = users.add("sam", "pw", Role.SUPERVISOR, "Sam")
        self.hub = Hub(self.loop)
        self.hub.seed(self.core.snapshot())
        renderer = Renderer(Catalog(default="fr"), gw_settings, contacts=contacts)
        self.dispatcher = Dispatcher(self.core, self.hub, contacts, users, renderer, gw_settings)

    def handle(self, user: User, lang: str, raw: str | bytes) -> list[tuple[str, str]]:
        return self.loop.run_until_complete(
            asyncio.wait_for(self.dispatcher.handle(user, lang, raw), 10))

    def close(self) -> None:
        self.core.close()
        self.loop.close()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    b = Bench(tmp_path_factory.mktemp("fuzz"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def errors() -> Iterator[Errors]:
    handler = Errors()
    logging.getLogger("gateway").addHandler(handler)
    yield handler
    logging.getLogger("gateway").removeHandler(handler)


@settings(max_examples=80, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(raw=messages, role=st.sampled_from(["agent", "supervisor"]), lang=st.sampled_from(["fr", "en"]))
def test_no_message_escapes_or_goes_unanswered(bench: Bench, errors: Errors, raw: Any, role: str,
                                               lang: str) -> None:
    user = bench.agent if role == "agent" else bench.supervisor
    before = len(bench.core.requests)
    fragments = bench.handle(user, lang, raw)
    assert fragments and fragments[0][0] == "notice"  # always an answer in #notice
    notice = fragments[0][1]
    decoded = decode_action(raw)
    if isinstance(decoded, BadAction):
        assert "notice-error" in notice  # said clearly, in words
        assert ("Le serveur n&#39;a pas compris" if lang == "fr" else "could not understand") in notice
        assert len(bench.core.requests) == before  # and nothing was done
    assert "internal error" not in notice  # no exception reached the catch-all
    assert not errors.records, errors.records[0].getMessage()
    for _, args in bench.core.requests[before:]:  # the core hears of the sender only
        assert args[0] == user.user_id


@settings(max_examples=150, deadline=None, database=None)
@given(raw=messages)
def test_decoding_never_raises(raw: Any) -> None:
    result = decode_action(raw)
    if isinstance(result, BadAction):
        assert result.reason


# -- the same, through a live socket of the running gateway --------------------------------

@pytest.fixture
async def agent_browser(gateway: Any) -> AsyncIterator[Browser]:
    b = Browser(gateway.base_url)
    assert (await b.login("alice")).status == 200
    yield b
    await b.close()


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(raw=messages)
async def test_a_live_socket_answers_every_message_and_stays_open(agent_browser: Browser,
                                                                  raw: Any) -> None:
    async with agent_browser.socket() as ws:
        await recv_until(ws, 'id="agent-status"')
        await ws.send(raw)
        frame = await recv_until(ws, 'id="notice"')
        assert "internal error" not in frame
        if isinstance(decode_action(raw), BadAction):
            assert "notice-error" in frame
        await ws.send(json.dumps({"action": "search_contacts", "q": "Claire"}))
        await recv_until(ws, "Claire Petit")  # the socket still works after it
