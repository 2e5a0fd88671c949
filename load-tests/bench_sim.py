"""The ARI simulator as a process of its own for the benchmarks (so it never shares the
measured process's GIL): one start-up for every load-test script.

`start_simulator(config_text, folder)` writes the simulator's TOML into `folder`, starts
`python -m evscallpro.cli sim` on a free port and returns once the simulator answers
`GET /ari/asterisk/info` with the credentials of its own configuration (its first user).
Not a benchmark itself (`run_all.py` runs `*_bench.py` only).
"""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asterisk.sim.config import load_config  # noqa: E402
from core.call_config import CallSettings  # noqa: E402
from evscallpro.root import CoreConfig  # noqa: E402

START_TIMEOUT_S = 20.0


def core_config(sim: Simulator, call: CallSettings, **more: object) -> CoreConfig:
    """The settings of a core driving `sim` (its URL, credentials, the call's app)."""
    return CoreConfig(
        ari_url=sim.base_url,
        ari_user=sim.user,
        ari_password=sim.password,
        app=call.app,
        call=call,
        request_timeout_s=30.0,
        **more,  # type: ignore[arg-type]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Simulator:
    """A running simulator process: where it listens and with which credentials."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, user: str, password: str):
        self.proc = proc
        self.port = port
        self.user = user
        self.password = password

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout_s: float = 10.0) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout_s)


def start_simulator(
    config_text: str,
    folder: Path,
    *,
    time_scale: float | None = None,
    log: Path | None = None,
) -> Simulator:
    """Start the simulator with `config_text` (TOML) on a free port; wait until it answers."""
    config = folder / "sim.toml"
    config.write_text(config_text, encoding="utf-8")
    user, password = next(iter(load_config(config).users.items()))
    port = free_port()
    cmd = [
        sys.executable, "-m", "evscallpro.cli", "sim", "--host", "127.0.0.1",
        "--port", str(port), "--config", str(config), "--log-level", "WARNING",
        "--recordings-dir", str(folder / "rec"),
    ]  # fmt: skip
    if time_scale is not None:
        cmd += ["--time-scale", str(time_scale)]
    out = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    sim = Simulator(proc, port, user, password)
    try:
        wait_ready(sim)
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise
    return sim


def wait_ready(sim: Simulator, timeout_s: float = START_TIMEOUT_S) -> None:
    token = base64.b64encode(f"{sim.user}:{sim.password}".encode()).decode()
    request = urllib.request.Request(f"{sim.base_url}/ari/asterisk/info")
    request.add_header("Authorization", f"Basic {token}")
    deadline = time.monotonic() + timeout_s
    tick = threading.Event()
    while time.monotonic() < deadline:
        if sim.proc.poll() is not None:
            raise SystemExit(f"the simulator exited with status {sim.proc.returncode}")
        try:
            urllib.request.urlopen(request, timeout=1).read()
            return
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"the simulator refused the bench's credentials: {exc}") from exc
        except OSError:
            tick.wait(0.1)
    raise SystemExit(f"the simulator did not answer within {timeout_s:.0f} s")
