"""evscallpro.stack: parts start in order, a part that fails stops the ones already started
and is named in the error."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import msgspec
import pykka
import pytest

from asterisk.sim.testing import SimulatorThread
from core.settings import AgentSettings, AriSettings, GatewaySettings, Settings
from evscallpro.stack import Stack, StackError

pytestmark = pytest.mark.timeout(60)


def _settings(data_dir: Path, ari_url: str, port: int = 0) -> Settings:
    return Settings(
        ari=AriSettings(url=ari_url),
        agents=[AgentSettings(id="a1", name="Alice", softphone_endpoint="agent-1001")],
        data_dir=str(data_dir),
        gateway=GatewaySettings(port=port),
    )


def _free_port_closed() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_stack_starts_all_three_and_stops_in_reverse(
    sim: SimulatorThread, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evscallpro.stack")
    stack = Stack(_settings(tmp_path, sim.base_url), link_timeout_s=10).start()
    try:
        assert stack.analytics.writer is not None and stack.analytics.writer.is_alive()
        assert stack.call_center.started
        assert stack.url.startswith("http://127.0.0.1:")
        app = stack.call_center
        writer = stack.analytics.writer
    finally:
        stack.stop()
    assert not app.started
    assert not writer.is_alive()
    assert stack.gateway is None and stack.app is None
    assert (tmp_path / "evscallpro.duckdb").exists()
    said = [r.getMessage() for r in caplog.records if r.name == "evscallpro.stack"]
    started = [m for m in said if m.endswith(" started")]
    stopped = [m for m in said if m.endswith(" stopped")]
    assert started == ["analytics started", "core started", "gateway started"]
    assert stopped == ["gateway stopped", "core stopped", "analytics stopped"]


def test_core_that_cannot_reach_ari_is_named_and_analytics_is_stopped(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port_closed()}"
    stack = Stack(_settings(tmp_path, url), link_timeout_s=1.0)
    with pytest.raises(StackError) as info:
        stack.start()
    assert info.value.part == "core"
    assert "ARI" in str(info.value)
    assert stack.analytics.writer is None  # stopped again


def test_busy_web_port_is_named_and_the_core_is_stopped(
    sim: SimulatorThread, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        settings = _settings(tmp_path, sim.base_url, port=port)
        stack = Stack(settings, link_timeout_s=10)
        with pytest.raises(StackError) as info:
            stack.start()
    assert info.value.part == "gateway"
    assert "address already in use" in str(info.value)
    assert stack.app is None and stack.analytics.writer is None
    left = [ref.actor_class.__name__ for ref in pykka.ActorRegistry.get_all()]
    assert not [name for name in left if name in ("Switchboard", "AgentActor")], left


def test_gateway_overrides_reach_the_gateway(sim: SimulatorThread, tmp_path: Path) -> None:
    settings = msgspec.structs.replace(_settings(tmp_path, sim.base_url))
    scripts = {"Rappel": "Bonjour {contact}"}
    with Stack(settings, gateway_overrides={"campaign_scripts": scripts}) as stack:
        assert stack.gateway is not None
        assert stack.gateway.gateway.settings.campaign_scripts == scripts
        assert stack.gateway.gateway.settings.data_dir == str(tmp_path)
