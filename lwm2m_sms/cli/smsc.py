"""``lwm2m-sms smsc``: run the simulated SMSC (an SMPP 3.4 server) until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .options import hostport, stop_event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", type=hostport, default=("127.0.0.1", 2775), metavar="HOST:PORT",
                        help="address to listen on (default 127.0.0.1:2775; port 0 picks one)")
    parser.add_argument("--config", metavar="FILE", help="TOML config: accounts, limits, store, impairments")
    parser.add_argument("--store", metavar="FILE", help="SQLite store of accepted messages (overrides the config)")
    parser.add_argument("--open", action="store_true",
                        help="open mode for demos: any system_id binds, no password, for any number")
    parser.add_argument("--stats", action="store_true", help="print a stats line every second")


async def run(args: argparse.Namespace) -> int:
    from smsc.config import load_config
    from smsc.server import SimulatedSmsc

    try:
        config = load_config(args.config)
    except (OSError, ValueError) as exc:
        print(f"smsc: bad config {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.store:
        config.store = args.store
    if args.open:
        config.open = True
    server = SimulatedSmsc(config)
    host, port = args.listen
    try:
        await server.start(host, port)
    except OSError as exc:
        print(f"smsc: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    if config.open:
        access = "OPEN mode: any system_id binds without a password, for any number (demos only)"
    elif config.accounts:
        access = f"{len(config.accounts)} account(s)"
    else:
        access = "no accounts: every bind is refused (give --config with [[accounts]], or --open)"
    print(f"smsc listening on {server.host}:{server.port}, {access}", flush=True)
    stop = stop_event()
    try:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            if args.stats:
                server.refresh_stats()
                print(f"smsc: {server.stats.line()}", flush=True)
    finally:
        await server.close()
    return 0
