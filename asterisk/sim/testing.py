"""Run the ARI simulator inside tests. This API is a contract: keep it stable.

Async (pytest-asyncio)::

    from asterisk.sim.testing import running_simulator

    async with running_simulator(config=None, time_scale=20.0) as sim:
        client = await aioari.connect(sim.base_url, sim.username, sim.password)
        ...
        await sim.drop_websockets()          # close every events WebSocket now
        sim.refuse_websockets(2.0)           # WS upgrades answer 503 for 2 wall seconds
        await sim.restart()                  # all channels/bridges vanish, no events
        await sim.restart(hang_up_first=True)  # as `core restart now`: hang-up events first
        sim.delay_events(200)                # deliver every event 200 ms late (0: off)
        sim.fail_next("originate", 1, 500, "Allocation failed")  # or "POST /channels"
        sim.far_end_hangup(channel_id, 16)   # the phone hangs up now
        sim.press_digit(channel_id, "1")     # the phone presses 1 now
        sim.state()                          # live channels, bridges, apps, counters

Threaded (actor tests; the server runs on its own loop thread)::

    sim = SimulatorThread(time_scale=20.0).start()
    try: ... sim.drop_websockets(); sim.restart(); sim.far_end_hangup(cid) ...
    finally: sim.stop()

Browser softphones (`webrtc = true` endpoints, e.g. `webrtc-1001` / `webrtc-1001-secret` in
default.toml) register over SIP on WebSocket at `base_url` + `/ws` (ws://);
`asterisk.sim.sip_test_phone.TestSoftphone` plays the browser in Python, and
`GET /_sim/webrtc` reports registrations, calls and media counters (README "Browser
softphones").

`SimulatorThread(port=8088)` asks for a port and takes a free one when it is busy (the
demo embeds the simulator this way). Both expose `.base_url` (http://127.0.0.1:PORT), `.ari_url`
(base_url + "/ari"), `.username`, `.password`, `.app_default` ("evscallpro"),
`.recordings_dir`, `.engine` and `.server`. `config` is None (packaged defaults), a
`SimConfig`, or a path to a TOML file; `time_scale` divides every simulated duration.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from asterisk.sim.config import SimConfig, load_config
from asterisk.sim.engine import Engine
from asterisk.sim.server import SimServer

log = logging.getLogger(__name__)
T = TypeVar("T")
APP_DEFAULT = "evscallpro"


def _resolve_config(config: SimConfig | str | Path | None, time_scale: float) -> SimConfig:
    if isinstance(config, SimConfig):
        return msgspec.structs.replace(config, time_scale=time_scale, port=0,
                                       host="127.0.0.1")
    return load_config(config, time_scale=time_scale, port=0, host="127.0.0.1")


class _HandleBase:
    server: SimServer

    @property
    def engine(self) -> Engine:
        return self.server.engine

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ari_url(self) -> str:
        return self.base_url + "/ari"

    @property
    def username(self) -> str:
        return next(iter(self.server.config.users))

    @property
    def password(self) -> str:
        return self.server.config.users[self.username]

    @property
    def app_default(self) -> str:
        return APP_DEFAULT

    @property
    def recordings_dir(self) -> Path:
        return self.server.recordings_dir


class SimHandle(_HandleBase):
    """In-loop handle given by `running_simulator`."""

    def __init__(self, server: SimServer) -> None:
        self.server = server

    async def drop_websockets(self) -> int:
        return await self.server.drop_websockets()

    def refuse_websockets(self, seconds: float) -> None:
        self.server.faults.refuse_websockets(seconds)

    async def restart(self, hang_up_first: bool = False) -> None:
        await self.server.restart(hang_up_first)

    def delay_events(self, ms: float) -> None:
        self.server.faults.delay_events(ms)

    def fail_next(self, operation: str, count: int = 1, status: int = 500,
                  message: str = "Internal Server Error") -> None:
        self.server.faults.fail_next(operation, count, status, message)

    def far_end_hangup(self, channel_id: str, cause: int = 16) -> None:
        self.engine.far_end_hangup(channel_id, cause)

    def press_digit(self, channel_id: str, digit: str) -> None:
        self.engine.press_digit(channel_id, digit)

    def state(self) -> dict[str, Any]:
        return self.engine.state()


@asynccontextmanager
async def running_simulator(
    config: SimConfig | str | Path | None = None,
    time_scale: float = 20.0,
    recordings_dir: str | Path | None = None,
) -> AsyncIterator[SimHandle]:
    server = SimServer(_resolve_config(config, time_scale), recordings_dir)
    await server.start(port=0)
    try:
        yield SimHandle(server)
    finally:
        await server.stop()


class SimulatorThread(_HandleBase):
    """The simulator on its own event-loop thread; every helper blocks until done."""

    def __init__(self, config: SimConfig | str | Path | None = None, time_scale: float = 20.0,
                 recordings_dir: str | Path | None = None, timeout_s: float = 10.0,
                 port: int = 0) -> None:
        self._config = _resolve_config(config, time_scale)
        self._port = port
        self._recordings_dir = recordings_dir
        self._timeout = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> SimulatorThread:
        self._thread = threading.Thread(target=self._main, name="ari-simulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(self._timeout):
            raise TimeoutError("ARI simulator did not start in time")
        if self._error is not None:
            raise RuntimeError("ARI simulator failed to start") from self._error
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.server.stop())
            loop.close()

    async def _listen(self) -> None:
        self.server = SimServer(self._config, self._recordings_dir)
        try:
            await self.server.start(port=self._port)
        except OSError:
            if self._port == 0:
                raise
            log.warning("port %s is busy: the simulator takes a free port", self._port)
            self.server = SimServer(self._config, self._recordings_dir)
            await self.server.start(port=0)

    @property
    def config(self) -> SimConfig:
        return self._config

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self._timeout)

    def call(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the simulator loop and return its result."""

        async def wrapper() -> Any:
            return fn(*args)

        return self._run(wrapper())

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout)

    def drop_websockets(self) -> int:
        return self._run(self.server.drop_websockets())

    def refuse_websockets(self, seconds: float) -> None:
        self.call(self.server.faults.refuse_websockets, seconds)

    def restart(self, hang_up_first: bool = False) -> None:
        """Asterisk restarts (new startup_time); `hang_up_first`: as `core restart now`."""
        self._run(self.server.restart(hang_up_first))

    def delay_events(self, ms: float) -> None:
        self.call(self.server.faults.delay_events, ms)

    def fail_next(self, operation: str, count: int = 1, status: int = 500,
                  message: str = "Internal Server Error") -> None:
        self.call(self.server.faults.fail_next, operation, count, status, message)

    def far_end_hangup(self, channel_id: str, cause: int = 16) -> None:
        self.call(self.engine.far_end_hangup, channel_id, cause)

    def press_digit(self, channel_id: str, digit: str) -> None:
        self.call(self.engine.press_digit, channel_id, digit)

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call(self.engine.state)
        return result

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
