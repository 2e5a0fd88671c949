"""History and recordings from the call archive (analytics' reader shape), through the gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from gateway_fakes import FakeCallCenter
from gateway_helpers import Browser, recv_until

from analytics.stats import CallHistoryItem, RecordingItem
from gateway.contacts import ContactStore
from gateway.server import Gateway
from gateway.settings import GatewaySettings
from gateway.users import UserDirectory

NOW = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class FakeArchive:
    """Answers like analytics.reader.AnalyticsReader, from fixed rows."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    def calls_for_agent(self, agent_id: str, day: dt.date, limit: int = 500,
                        tz: str | None = None) -> list[CallHistoryItem]:
        self.asked.append(("calls_for_agent", (agent_id, day)))
        if agent_id != "alice":
            return []
        return [CallHistoryItem(
            call_id="old-1", started_at=NOW - dt.timedelta(minutes=30),
            ended_at=NOW - dt.timedelta(minutes=28), customer_number="+33145678901",
            contact_id=None, outcome="completed", reason="", talk_seconds=95.0,
            hung_up_first="customer", disposition="sale", recording_name="old-1",
        )]

    def recordings(self, **filters: Any) -> list[RecordingItem]:
        self.asked.append(("recordings", filters))
        rows = [
            RecordingItem(call_id="old-1", agent_id="alice", recording_name="old-1",
                          started_at=NOW - dt.timedelta(minutes=30), talk_seconds=95.0,
                          outcome="completed", customer_number="+33145678901", disposition="sale"),
            RecordingItem(call_id="old-2", agent_id="bob", recording_name="old-2",
                          started_at=NOW - dt.timedelta(minutes=20), talk_seconds=12.0,
                          outcome="completed", customer_number="+33698765432", disposition=None),
        ]
        return [r for r in rows if filters.get("agent_id") in (None, r.agent_id)]


@pytest.fixture
async def archived_gateway(fake: FakeCallCenter, settings: GatewaySettings, users_template: list,
                           contacts: ContactStore) -> AsyncIterator[tuple[Gateway, FakeArchive]]:
    archive = FakeArchive()
    gw = Gateway(fake, settings, UserDirectory(list(users_template)), contacts, archive)
    port = await gw.start()
    gw.base_url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    yield gw, archive
    await gw.stop()


async def test_history_merges_the_archive_and_live_calls(
    archived_gateway: tuple[Gateway, FakeArchive], fake: FakeCallCenter
) -> None:
    gateway, archive = archived_gateway
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("alice")
        async with b.socket() as ws:
            frame = await recv_until(ws, 'id="history"')
            # the archived call, with the agent's disposition rather than the hang-up words
            assert "Vente" in frame and "01:35" in frame and "Le client a raccroché" not in frame
            fake.set_workstation("alice", "mobile", "+33612345678")  # type: ignore[arg-type]
            assert fake.place_call("alice", "+33698765432") is None
            fake.customer_hangs_up("alice")
            frame = await recv_until(ws, 'id="wrapup-form"')
            history = frame.split('id="history"')[1]
            assert history.count("<tr") == 3  # header + live call + archived call
            assert history.index("06 98 76 54 32") < history.index("01 45 67 89 01")
        # "today" in the configured zone (Europe/Paris for fr), not the server's
        paris = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
        assert archive.asked[0] == ("calls_for_agent", ("alice", paris))
    finally:
        await b.close()


async def test_recordings_come_from_the_archive(
    archived_gateway: tuple[Gateway, FakeArchive], settings: GatewaySettings
) -> None:
    gateway, archive = archived_gateway
    folder = settings.resolved_recordings_dir()
    folder.mkdir(parents=True)
    (folder / "old-1.wav").write_bytes(b"RIFF-fake")
    b = Browser(gateway.base_url)  # type: ignore[attr-defined]
    try:
        await b.login("sam")
        page = await (await b.get("/recordings")).text()
        assert 'src="/recordings/old-1.wav"' in page and "Vente" in page
        # Agents by name, in the table and the filter; the id stays the filter's value.
        assert '<td data-agent="alice">Alice Martin</td>' in page
        assert '<option value="alice" >Alice Martin</option>' in page
        # archived, file gone; described by its number, never by a raw call id
        assert "06 98 76 54 32" in page and "fichier introuvable" in page and ">old-2<" not in page
        page = await (await b.get(f"/recordings?agent=alice&date={NOW.date().isoformat()}")).text()
        assert "06 98 76 54 32" not in page and "old-1" in page
        asked = archive.asked[-1][1]
        # the day in Europe/Paris, as naive UTC bounds (the archive's timestamps)
        paris_midnight = dt.datetime.combine(NOW.date(), dt.time(), ZoneInfo("Europe/Paris"))
        assert asked["agent_id"] == "alice"
        assert asked["start"] == paris_midnight.astimezone(dt.UTC).replace(tzinfo=None)
        assert (await (await b.get("/recordings/old-1.wav")).read()) == b"RIFF-fake"
    finally:
        await b.close()


def test_a_real_analytics_reader_fits_the_archive_port(tmp_path: Path) -> None:
    from analytics.reader import AnalyticsReader
    from gateway.archive import CallArchive

    reader: CallArchive = AnalyticsReader(tmp_path / "calls.duckdb")
    assert list(reader.calls_for_agent("alice", dt.date.today())) == []
    assert list(reader.recordings(agent_id="alice")) == []
