"""A stand-in for `python -m evscallpro.cli` (node | gateway | analytics), speaking the
processes' contract (docs/scale.md) on stdout and on the bus, so serve's supervision is
tested before the real children exist: `fake_cli.py <command> --config F [--bus-url URL]
[--node ID] [--port P]`.

- every command: connects to the bus (--bus-url, else the settings file's [bus] url; none
  answering: exit 1), prints its ready
  line, stops on SIGTERM with a `stopped` line;
- node: answers LogIn and PlaceCall on its command subject (queue node_queue), prints a
  `call` line per placed call and keeps the call "live" (in its KV bucket
  live_calls_bucket(node) too); its stopped line lists them, unless FAKE_NODE_SILENT=1
  (then only the bucket says);
- gateway: its ready line has url = http://127.0.0.1:<port>/ (--port, else the settings
  file's [gateway] port).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tomllib

import msgspec
import nats

from bus.protocol import (
    LogIn,
    NodeReply,
    PlaceCall,
    command_decoder,
    command_subject,
    live_calls_bucket,
    node_queue,
)


def emit(event: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["node", "gateway", "analytics"])
    p.add_argument("--config", required=True)
    p.add_argument("--bus-url", default="")
    p.add_argument("--node", default="")
    p.add_argument("--port", type=int, default=None)
    args = p.parse_args()
    print(f"fake {args.command} {args.node} argv: {sys.argv[1:]}", file=sys.stderr, flush=True)
    bus_url = args.bus_url
    if not bus_url:  # as the real processes do: [bus] url of the settings file
        with open(args.config, "rb") as handle:
            bus_url = tomllib.load(handle).get("bus", {}).get("url", "")
    nc = await nats.connect(bus_url, connect_timeout=2, max_reconnect_attempts=0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    live: list[str] = []
    ready: dict[str, object] = {"event": "ready", "process": args.command, "argv": sys.argv[1:]}
    if args.command == "node":
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=live_calls_bucket(args.node))

        async def serve(msg: nats.aio.msg.Msg) -> None:
            command = command_decoder.decode(msg.data)
            if isinstance(command, PlaceCall):
                call_id = f"{args.node}-call-{len(live) + 1}"
                live.append(call_id)
                await kv.put(call_id, b"{}")
                emit({"event": "call", "call_id": call_id, "step": "customer_dialing"})
            elif not isinstance(command, LogIn):
                raise AssertionError(f"unexpected command {command}")
            await msg.respond(msgspec.json.encode(NodeReply()))

        await nc.subscribe(command_subject(args.node), queue=node_queue(args.node), cb=serve)
        ready["node"] = args.node
    if args.command == "gateway":
        port = args.port
        if port is None:
            with open(args.config, "rb") as handle:
                port = tomllib.load(handle).get("gateway", {}).get("port", 9)
        ready["url"] = f"http://127.0.0.1:{port}/"
    emit(ready)
    await stop.wait()
    await nc.drain()
    if args.command == "node" and os.environ.get("FAKE_NODE_SILENT") == "1":
        return 0
    emit({"event": "stopped", "live_calls_left_up": live})
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
