"""`evscallpro sim`: run the ARI simulator alone (demo, manual tests, load benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from asterisk.sim.config import ConfigError, load_config
from asterisk.sim.server import SimServer


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "sim",
        help="run the Asterisk ARI simulator",
        description="Speak Asterisk 22's ARI (REST + events WebSocket) with simulated phones.",
    )
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8088)")
    parser.add_argument("--config", default=None, help="TOML file overriding default.toml")
    parser.add_argument("--time-scale", type=float, default=None, dest="time_scale",
                        help="simulated seconds per wall second (default 1.0)")
    parser.add_argument("--recordings-dir", default=None, dest="recordings_dir",
                        help="folder for stored recordings (default ./data/recordings)")
    parser.add_argument("--log-level", default="INFO", dest="log_level")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, host=args.host, port=args.port,
                             time_scale=args.time_scale)
    except ConfigError as exc:
        print(f"evscallpro sim: {exc}", file=sys.stderr)
        return 2
    folder = args.recordings_dir or config.recordings_dir or "data/recordings"
    try:
        asyncio.run(_serve(SimServer(config, folder)))
    except OSError as exc:
        print(f"evscallpro sim: cannot listen on {config.host}:{config.port}: {exc}",
              file=sys.stderr)
        return 1
    return 0


async def _serve(server: SimServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await server.start()
    user = next(iter(server.config.users))
    print(f"ARI simulator on {server.base_url}/ari (user {user}, time scale "
          f"{server.config.time_scale}); admin API under {server.base_url}/_sim", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
