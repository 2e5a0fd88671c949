"""Composition of the simulator: engine + aiohttp app + admin API, started and stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path

from aiohttp import web

from asterisk.sim.config import SimConfig
from asterisk.sim.engine import Engine
from asterisk.sim.events_ws import WsSink, make_events_handler
from asterisk.sim.faults import Faults, add_admin_routes
from asterisk.sim.rest import (
    ENGINE_KEY,
    FAULTS_KEY,
    add_ari_routes,
    auth_middleware,
    error_middleware,
)
from asterisk.sim.sip_ws import WebrtcEndpoints, add_webrtc_routes

log = logging.getLogger(__name__)


class SimServer:
    def __init__(self, config: SimConfig, recordings_dir: str | Path | None = None) -> None:
        self.config = config
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        folder = recordings_dir or config.recordings_dir
        if folder is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="evscallpro-sim-rec-")
            folder = self._tmp.name
        self.recordings_dir = Path(folder)
        self.engine = Engine(config, self.recordings_dir)
        self.webrtc = WebrtcEndpoints(self.engine)  # SIP over WebSocket at /ws
        self.faults = Faults()
        self.sockets: dict[web.WebSocketResponse, WsSink] = {}
        self.app = self._build_app()
        self._runner: web.AppRunner | None = None
        self.host = config.host
        self.port = config.port

    def _build_app(self) -> web.Application:
        app = web.Application(
            middlewares=[error_middleware, auth_middleware(self.config.users)],
            client_max_size=1024 * 1024,
        )
        app[ENGINE_KEY] = self.engine
        app[FAULTS_KEY] = self.faults
        add_admin_routes(app, self)
        add_webrtc_routes(app, self.webrtc)
        add_ari_routes(app, make_events_handler(self))
        return app

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        self.host = host or self.config.host
        wanted = self.config.port if port is None else port
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None,
                                     shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, wanted)
        await site.start()
        addresses = self._runner.addresses  # the real port when asked for port 0
        self.port = int(addresses[0][1]) if addresses else wanted
        log.info("ARI simulator listening on %s/ari", self.base_url)

    async def drop_websockets(self) -> int:
        sockets = list(self.sockets)
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close(code=1001, message=b"dropped by simulator fault")
        return len(sockets)

    async def restart(self, hang_up_first: bool = False) -> None:
        """Asterisk restarts: every channel and bridge vanishes, the events sockets drop and
        `GET /asterisk/info` gives a new `status.startup_time`. `hang_up_first`: as with
        `core restart now`, each channel is hung up first and those events are sent before
        the sockets drop; else as a crash (kill -9): not one event."""
        if hang_up_first:
            self.engine.shutdown_hangups()
            await self._events_sent(timeout_s=2.0)
        await self.webrtc.close_connections()
        self.engine.restart()
        await self.drop_websockets()

    async def _events_sent(self, timeout_s: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while any(getattr(sink, "pending", 0) for sink in self.engine.registry.sinks):
            if asyncio.get_running_loop().time() > deadline:
                return
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        await self.drop_websockets()
        await self.webrtc.aclose()
        await self.engine.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
