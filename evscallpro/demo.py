"""`evscallpro demo`: the whole product, seeded, against the embedded ARI simulator.

Starts the simulator (demo/sim-phones.toml: agents' mobiles and softphones, fifty customers
who answer, talk, hang up, are busy, do not answer or have voicemail) on 127.0.0.1:8088, or
a free port if that one is taken, then the product as `serve` runs it (evscallpro.demo_nodes:
a local nats-server, the analytics writer, a node per simulator, the web gateway, as
supervised processes) with the demo settings (four agents, one supervisor), fifty contacts
and two campaign scripts. Prints the URL, the demo credentials and one status line, runs
until Ctrl-C / SIGTERM, then stops everything in reverse order. `--nodes N` runs N
simulators as N Asterisk boxes, a node each, the agents spread over them.

`--time-scale N` runs the simulated phones N times faster (rings, talk, prompts, and the
ring timeouts the core sends) and divides the core's own timers (acceptance, wrap-up) by N,
kept within the ranges the settings allow.

`Demo` below is the same demo composed in one process (evscallpro.stack.Stack): the tests
that drive the core directly (its views, its records) use it.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import math
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import msgspec

from actors.sinks import CallRecordSink
from asterisk.sim.config import ConfigError
from asterisk.sim.testing import SimulatorThread
from core.settings import TimeoutSettings
from evscallpro.demo_autopilot import Autopilot
from evscallpro.demo_seed import (
    DEMO_DIR,
    PHONES_FILE,
    DemoSeedError,
    SeedReport,
    load_campaign_scripts,
    load_demo_settings,
    seed_data_dir,
)
from evscallpro.settings_file import Settings, validate
from evscallpro.stack import Stack
from gateway.contacts import ContactStore

log = logging.getLogger(__name__)

DEFAULT_ARI_PORT = 8088
DEFAULT_DATA_DIR = "./data/demo"
AUTOPILOT_AGENTS = ("agent2", "agent3")  # agent1 (mobile) and the supervisor are for you


class DemoError(RuntimeError):
    pass


# ---------------------------------------------------------------------- the simulator
def start_simulator(
    config_path: Path, time_scale: float, port: int, recordings_dir: Path
) -> SimulatorThread:
    """The ARI simulator on its own thread, on `port` when it is free, else on any port."""
    try:
        return SimulatorThread(
            config_path, time_scale=time_scale, recordings_dir=recordings_dir, port=port
        ).start()
    except ConfigError as exc:
        raise DemoError(str(exc)) from exc
    except (RuntimeError, TimeoutError) as exc:
        cause = exc.__cause__ or exc
        raise DemoError(f"the ARI simulator did not start: {cause}") from exc


# ---------------------------------------------------------------------- settings
def scaled_timeouts(timeouts: TimeoutSettings, time_scale: float) -> TimeoutSettings:
    """The core's own timers (acceptance, wrap-up) divided by the time scale, clamped to
    what core.settings accepts. Ring timeouts stay: they travel to the simulator in the
    originate / dial requests, and the simulator scales them itself."""
    if time_scale <= 1.0:
        return timeouts

    def scale(value: float, low: float) -> float:
        return max(low, value / time_scale)

    return msgspec.structs.replace(
        timeouts,
        acceptance_s=scale(timeouts.acceptance_s, 1.0),
        acceptance_wait_s=scale(timeouts.acceptance_wait_s, 1.0),
        wrap_up_max_s=(
            None if timeouts.wrap_up_max_s is None else scale(timeouts.wrap_up_max_s, 1.0)
        ),
    )


def run_settings(
    base: Settings,
    *,
    ari_url: str,
    data_dir: str,
    host: str | None,
    port: int | None,
    time_scale: float,
) -> Settings:
    """The demo settings with this run's simulator address, data dir, address and pace."""
    settings = msgspec.structs.replace(
        base,
        ari=msgspec.structs.replace(base.ari, url=ari_url),
        data_dir=data_dir,
        gateway=msgspec.structs.replace(
            base.gateway,
            host=base.gateway.host if host is None else host,
            port=base.gateway.port if port is None else port,
        ),
        timeouts=scaled_timeouts(base.timeouts, time_scale),
        softphone=(
            msgspec.structs.replace(base.softphone, ws_url=sip_ws_url(ari_url))
            if base.softphone.ws_url
            else base.softphone
        ),
    )
    errors = validate(settings)
    if errors:
        raise DemoError("invalid demo settings: " + "; ".join(errors))
    return settings


def sip_ws_url(ari_url: str) -> str:
    """The simulator's SIP-over-WebSocket address (asterisk/sim/sip_ws.py serves /ws)."""
    return (
        ari_url.replace("https://", "wss://", 1).replace("http://", "ws://", 1).rstrip("/") + "/ws"
    )


# ---------------------------------------------------------------------- the demo
class Demo:
    """Seed, simulator, stack (one process): started in that order, stopped in reverse."""

    def __init__(
        self,
        *,
        data_dir: str = DEFAULT_DATA_DIR,
        host: str | None = None,
        port: int | None = None,
        ari_port: int = DEFAULT_ARI_PORT,
        time_scale: float = 1.0,
        demo_dir: Path = DEMO_DIR,
        reset: bool = False,
        link_timeout_s: float = 15.0,
        flush_interval_s: float = 1.0,
        extra_sinks: Sequence[CallRecordSink] = (),
        autopilot: bool = False,
    ) -> None:
        """`extra_sinks` also receive every call record (tests)."""
        if not (math.isfinite(time_scale) and time_scale > 0):
            raise DemoError(f"--time-scale must be a number > 0, not {time_scale}")
        self.data_dir = data_dir
        self.host = host
        self.port = port
        self.ari_port = ari_port
        self.time_scale = time_scale
        self.demo_dir = demo_dir
        self.reset = reset
        self._link_timeout_s = link_timeout_s
        self._flush_interval_s = flush_interval_s
        self._extra_sinks = list(extra_sinks)
        self._autopilot_wanted = autopilot
        self.autopilot: Autopilot | None = None
        self.seed: SeedReport | None = None
        self.simulator: SimulatorThread | None = None
        self.stack: Stack | None = None
        self.settings: Settings | None = None

    @property
    def url(self) -> str:
        if self.stack is None:
            raise RuntimeError("the demo is not running")
        return self.stack.url

    def start(self) -> Demo:
        base = load_demo_settings(self.demo_dir)
        seeded = msgspec.structs.replace(base, data_dir=self.data_dir)
        self.seed = seed_data_dir(seeded, self.demo_dir, reset=self.reset)
        scripts = load_campaign_scripts(self.demo_dir)
        data = Path(self.data_dir)
        self.simulator = start_simulator(
            self.demo_dir / PHONES_FILE, self.time_scale, self.ari_port, data / "recordings"
        )
        try:
            self.settings = run_settings(
                base,
                ari_url=self.simulator.base_url,
                data_dir=self.data_dir,
                host=self.host,
                port=self.port,
                time_scale=self.time_scale,
            )
            self.stack = Stack(
                self.settings,
                gateway_overrides={
                    "campaign_scripts": scripts,
                    "recordings_dir": str(data / "recordings"),
                },
                link_timeout_s=self._link_timeout_s,
                flush_interval_s=self._flush_interval_s,
                extra_sinks=self._extra_sinks,
            ).start()
            if self._autopilot_wanted:
                contacts = ContactStore.in_data_dir(self.data_dir).search("", limit=10_000)
                self.autopilot = Autopilot(
                    self.stack.call_center, AUTOPILOT_AGENTS, contacts, self.time_scale
                ).start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.autopilot is not None:
            self.autopilot.stop()
            self.autopilot = None
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None

    def banner(self) -> str:
        assert self.seed is not None and self.settings is not None
        autopilot = self.autopilot.agent_ids if self.autopilot is not None else None
        return "\n".join(banner_lines(self.url, self.seed, self.settings.gateway.host, autopilot))

    def status_line(self) -> str:
        assert self.seed is not None and self.settings is not None
        assert self.simulator is not None
        return status_text([self.simulator.base_url], self.time_scale, self.settings, self.seed)


def banner_lines(
    url: str, seed: SeedReport, host: str, autopilot: Sequence[str] | None
) -> list[str]:
    """What the console shows at start: the address, the demo credentials, the autopilot."""
    lines = [
        "",
        "EVSCallPro demo",
        f"  Open      {url}/login",
        "  Sign in as (demo passwords, printed here only):",
    ]
    for cred in seed.credentials:
        lines.append(
            f"    {cred.user_id:<11} {cred.password:<18} {cred.role.value:<10} {cred.display_name}"
        )
    if autopilot:
        lines.append(f"  Autopilot: {', '.join(autopilot)} work on their own.")
    if not _is_loopback(host):
        lines.append(f"  WARNING: listening on {host}: these passwords are public.")
    lines.append("")
    return lines


def status_text(
    simulator_urls: Sequence[str], time_scale: float, settings: Settings, seed: SeedReport
) -> str:
    nodes = len(simulator_urls)
    core = "core up" if nodes == 1 else f"{nodes} nodes up"
    return (
        f"ready: ARI simulator {' and '.join(simulator_urls)} (time x{time_scale:g}), "
        f"{core} ({len(settings.agents)} agents, {len(settings.supervisors)} supervisor), "
        f"{seed.contacts} contacts, data in {settings.data_dir} — Ctrl-C to stop"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------- command line
def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the seeded demo (simulator + core + analytics + web UI)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default=None, help="web address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="web port (default 8080, 0: free)")
    p.add_argument(
        "--ari-port",
        type=int,
        default=DEFAULT_ARI_PORT,
        help="simulator port (default 8088; a free one if busy)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per wall second (default 1.0: real time)",
    )
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="default ./data/demo")
    p.add_argument("--demo-dir", default=str(DEMO_DIR), help="the seed files (demo/)")
    p.add_argument("--reset", action="store_true", help="forget the call history first")
    p.add_argument(
        "--autopilot",
        action="store_true",
        help=f"{' and '.join(AUTOPILOT_AGENTS)} log in and call contacts on their own",
    )
    p.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="simulated Asterisk boxes, each with its node process (default 1)",
    )
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The demo as the product runs: simulators, then serve's processes (demo_nodes)."""
    from evscallpro.demo_nodes import NodesDemo
    from evscallpro.serve import ServeError

    out = out or sys.stdout
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    try:
        demo = NodesDemo(
            nodes=args.nodes,
            data_dir=args.data_dir,
            host=args.host,
            port=args.port,
            ari_port=args.ari_port,
            time_scale=args.time_scale,
            demo_dir=Path(args.demo_dir),
            reset=args.reset,
            autopilot=args.autopilot,
            emit=_log_process_line,
        )
    except DemoError as exc:
        print(f"evscallpro demo: {exc}", file=sys.stderr)
        return 2

    def on_signal(*_: object) -> None:
        stop.set()
        demo.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        demo.start()
    except (DemoError, DemoSeedError, ServeError) as exc:
        print(f"evscallpro demo: {exc}", file=sys.stderr)
        return 2
    try:
        if not stop.is_set():
            print(demo.banner(), file=out, flush=True)
            print(demo.status_line(), file=out, flush=True)
        demo.wait(stop)
        print("stopping…", file=out, flush=True)
    finally:
        demo.stop()
    if demo.error:
        print(f"evscallpro demo: {demo.error}", file=sys.stderr)
        return 2
    print("stopped", file=out, flush=True)
    return 0


_WARN_EVENTS = ("process_exit", "process_error", "error", "config_problem")


def _log_process_line(event: dict[str, Any]) -> None:
    """The processes' JSON lines: restarts and errors as warnings, the rest with --verbose."""
    level = logging.WARNING if event.get("event") in _WARN_EVENTS else logging.INFO
    log.log(level, "%s", json.dumps(event))
