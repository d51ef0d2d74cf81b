"""``lwm2m-sms server``: the LwM2M server core (and optionally the bootstrap server) on UDP,
printing registrations as they come and go."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time


def _hostport(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--udp", type=_hostport, default=("127.0.0.1", 5683), metavar="HOST:PORT",
                        help="UDP address of the server (default 127.0.0.1:5683)")
    parser.add_argument("--db", metavar="PATH", help="SQLite file for registrations (default: in memory)")
    parser.add_argument("--bootstrap-config", metavar="JSON",
                        help="also serve /bs on the same socket, with this bootstrap information")
    parser.add_argument("--grace", type=float, default=93.0, metavar="S",
                        help="seconds past a lifetime before a registration expires (default 93)")
    parser.add_argument("--lwm2m-version", action="append", default=None, metavar="V",
                        help="LwM2M version accepted on Register (repeatable; default 1.0)")


def _line(event: str, reg) -> str:
    sms = reg.sms.lwm2m_digits if reg.sms else "-"
    objects = ",".join(l.target for l in reg.objects)
    return (f"{time.strftime('%H:%M:%S')} {event:<12} ep={reg.endpoint} b={reg.binding} lt={reg.lifetime} "
            f"sms={sms} from {reg.remote_uri} /rd/{reg.location} {objects}")


async def run(args: argparse.Namespace) -> int:

    from ..lwm2m.bootstrap import BootstrapConfig, BootstrapServer
    from ..lwm2m.exceptions import ConfigError
    from ..lwm2m.server import Lwm2mServer, ServerHooks
    from ..lwm2m.store import MemoryRegistrationStore, SqliteRegistrationStore
    from ..lwm2m.udp import udp_context

    class Printer(ServerHooks):
        def on_registered(self, reg):
            print(_line("registered", reg), flush=True)

        def on_updated(self, reg):
            print(_line("updated", reg), flush=True)

        def on_deregistered(self, reg):
            print(_line("deregistered", reg), flush=True)

        def on_expired(self, reg):
            print(_line("expired", reg), flush=True)

    store = SqliteRegistrationStore(args.db) if args.db else MemoryRegistrationStore()
    server = Lwm2mServer(store, grace=args.grace, accepted_versions=args.lwm2m_version or ("1.0",))
    server.add_hooks(Printer())
    site = server.site
    bootstrap = None
    if args.bootstrap_config:
        try:
            bootstrap = BootstrapServer(BootstrapConfig.load(args.bootstrap_config))
        except (ConfigError, OSError) as exc:
            print(f"lwm2m-sms server: {args.bootstrap_config}: {exc}", file=sys.stderr)
            return 2
        bootstrap.mount(site)
    try:
        context = await udp_context(args.udp, site, loggername="coap-server")
    except OSError as exc:
        print(f"lwm2m-sms server: cannot bind {args.udp[0]}:{args.udp[1]}: {exc}", file=sys.stderr)
        return 1
    server.start(context)
    if bootstrap is not None:
        bootstrap.start(context)
    print(f"LwM2M server on coap://{args.udp[0]}:{server.port}"
          + (" (bootstrap server on /bs)" if bootstrap else "")
          + (f", registrations in {args.db}" if args.db else ""), flush=True)
    for reg in server.registrations():
        print(_line("stored", reg), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"stopping: {len(server.registrations())} registration(s)", flush=True)
    await server.close()
    return 0
