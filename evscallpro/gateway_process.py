"""`evscallpro gateway --config F [--bus-url URL] [--port P]`: the web gateway as its own
process on the bus (docs/gateway-process.md). Stateless: run any number of them behind a
load balancer.

It serves what the one-process Stack's gateway serves (pages, /ws, /healthz, /metrics), with
what Stack gave it in-process now reached over NATS:
- the telephony core: bus.remote_call_center.RemoteCallCenter (each agent's requests to the
  agent's node, supervisions to the node holding the call, every node's views in order);
- the call archive and statistics: bus.remote_archive.RemoteArchive (the analytics process);
- web sessions: bus.session_kv.KvSessions (JetStream KV: a restart signs nobody out, every
  gateway knows every session, a logout or password change reaches them all);
- recordings: each node's Asterisk through its own ARI (evscallpro.node_recordings);
- desk presence: the agents whose desk is open on some gateway (bus.desk_presence), so that
  a gateway does not pause an agent whose browser is connected to another one.
Users, contacts, callbacks and do-not-call stay files in `data_dir` (gateways on one machine
share it; the session-signing key is `[gateway] session_secret` or data_dir/session-secret,
the same for every gateway).

stdout: JSON lines: `{"event": "ready", "process": "gateway", "url", "metrics_url",
"nodes"}` once listening; `{"event": "error", "error": ...}` then exit 2 for a configuration
problem (a supervisor does not restart it). A bus that cannot be reached exits 1 (a crash: a
supervisor restarts it). SIGTERM / SIGINT: browsers are told to reconnect (1012), the process
stops cleanly, exit 0. /metrics carry `process="gateway"`, `node="gateway"`. Logs: stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import Any

import msgspec

from bus.bus_thread import BusThread
from bus.desk_presence import SharedPresence
from bus.remote_archive import RemoteArchive
from bus.remote_call_center import RemoteCallCenter
from bus.session_kv import KvSessions
from evscallpro.node_recordings import NodeRecordings
from evscallpro.process_metrics import LabelledRegistry
from evscallpro.settings_file import Settings, SettingsError, load_settings
from gateway.contacts import ContactStore
from gateway.project import user_directory
from gateway.recordings import AriRecordings, RecordingSource
from gateway.server import GatewayThread
from gateway.sessions import SessionStore

log = logging.getLogger("evscallpro.gateway_process")

METRIC_LABELS = {"process": "gateway", "node": "gateway"}


class GatewayProcess:
    """The gateway's parts over the bus, started in order and stopped in reverse (the
    subcommand runs one; tests run several in one process)."""

    def __init__(self, settings: Settings, port: int | None = None,
                 request_timeout_s: float | None = None) -> None:
        self.settings = settings
        self.port = port
        self.request_timeout_s = request_timeout_s
        self.bus: BusThread | None = None
        self.call_center: RemoteCallCenter | None = None
        self.sessions: KvSessions | None = None
        self.thread: GatewayThread | None = None
        self.presence: SharedPresence | None = None
        self.stage = ""  # the part being started: bus, nodes, sessions, web

    @property
    def url(self) -> str:
        if self.thread is None:
            raise RuntimeError("the gateway is not running")
        return self.thread.url

    def start(self) -> GatewayProcess:
        """Connect to the bus, follow the nodes, load the sessions, then listen. Raises
        (having stopped what started) if a part does not start."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        settings = self.settings
        self.stage = "bus"
        self.bus = BusThread(settings.bus, "gateway").start()
        options: dict[str, Any] = {}
        if self.request_timeout_s is not None:
            options["request_timeout_s"] = self.request_timeout_s
        self.stage = "nodes"
        self.call_center = RemoteCallCenter(settings, self.bus, **options).start()
        overrides: dict[str, Any] = {} if self.port is None else {"port": self.port}
        gw_settings = settings.gateway_settings(**overrides)
        self.stage = "sessions"
        self.sessions = KvSessions(
            self.bus, gw_settings.session_ttl_s, replicas=settings.bus.replicas
        ).start()
        users = user_directory(settings, gw_settings)
        contacts = ContactStore.in_data_dir(gw_settings.data_dir)
        thread = GatewayThread(
            self.call_center, gw_settings, users, contacts, archive=RemoteArchive(self.bus)
        )
        gateway = thread.gateway
        gateway.sessions = SessionStore(
            gw_settings.secret_bytes(), gw_settings.session_ttl_s, backend=self.sessions
        )
        gateway.recordings = node_recordings(settings)
        gateway.metrics_registry = LabelledRegistry(METRIC_LABELS)
        self.presence = SharedPresence(
            self.bus, lambda: gateway.presence.connected_agents() if gateway.presence else []
        ).start()
        gateway.presence_elsewhere = self.presence.elsewhere
        self.stage = "web"
        thread.start()
        self.thread = thread
        self.stage = "running"

    def stop(self) -> None:
        """Gateway (browsers told to reconnect), then the bus parts; each even if an
        earlier one failed."""
        for name, stop in (
            ("gateway", self.thread.stop if self.thread else None),
            ("desk presence", self.presence.stop if self.presence else None),
            ("sessions", self.sessions.stop if self.sessions else None),
            ("call center", self.call_center.stop if self.call_center else None),
            ("bus", self.bus.stop if self.bus else None),
        ):
            if stop is None:
                continue
            try:
                stop()
            except Exception:
                log.exception("stopping the %s failed", name)
        self.thread = None
        self.presence = None
        self.sessions = None
        self.call_center = None
        self.bus = None


def node_recordings(settings: Settings) -> RecordingSource:
    """Each node's Asterisk recordings through its ARI (one node: that one directly)."""
    sources: dict[str, RecordingSource] = {
        node.id: AriRecordings(node.ari.url, node.ari.user, node.ari.password)
        for node in settings.node_list()
    }
    if len(sources) == 1:
        return next(iter(sources.values()))
    return NodeRecordings(sources)


# -- the subcommand ---------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gateway", help="run one web gateway on the bus (docs/gateway-process.md)")
    p.add_argument("--config", required=True, help="project TOML settings file")
    p.add_argument("--bus-url", default=None, help="NATS server(s), instead of [bus] url")
    p.add_argument("--port", type=int, default=None,
                   help="web port, instead of [gateway] port (0: any free port)")
    p.add_argument("--verbose", "-v", action="store_true")
    p.set_defaults(handler=run)


_EMIT_LOCK = threading.Lock()


def _emit(event: dict[str, Any]) -> None:
    line = json.dumps(event) + "\n"
    with _EMIT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


def configured(args: argparse.Namespace) -> Settings | str:
    """The settings with the command line's overrides, or what is wrong with them."""
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        return str(exc)
    if args.bus_url is not None:
        settings = msgspec.structs.replace(
            settings, bus=msgspec.structs.replace(settings.bus, url=args.bus_url)
        )
    if not settings.bus.servers():
        return "no NATS server: set [bus] url, or --bus-url (evscallpro serve passes it)"
    if args.port is not None and not 0 <= args.port <= 65535:
        return f"--port: {args.port} is not a TCP port"
    return settings


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = configured(args)
    if isinstance(settings, str):
        _emit({"event": "error", "process": "gateway", "error": settings})
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    process = GatewayProcess(settings, port=args.port)
    try:
        process.start()
    except Exception as exc:
        if process.stage == "web":  # the web port is taken, or not ours to bind
            cause = exc.__cause__ or exc
            _emit({"event": "error", "process": "gateway", "error": f"cannot listen: {cause}"})
            return 2
        # the bus unreachable, a bucket not created...: a crash, to be restarted
        log.error("the gateway did not start (%s): %s", process.stage, exc)
        return 1
    _emit({
        "event": "ready",
        "process": "gateway",
        "url": process.url,
        "metrics_url": process.url + "/metrics",
        "nodes": settings.node_ids(),
    })
    stop.wait()
    process.stop()
    _emit({"event": "stopped", "process": "gateway"})
    return 0
