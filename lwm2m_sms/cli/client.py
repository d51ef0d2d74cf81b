"""``lwm2m-sms client``: simulated LwM2M devices over UDP (one socket each)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ep", required=True, metavar="NAME",
                        help="endpoint name (with --count N: NAME-0001 ... NAME-N)")
    parser.add_argument("--server", metavar="URI", help="LwM2M server, e.g. coap://127.0.0.1:5683")
    parser.add_argument("--bootstrap", metavar="URI", help="bootstrap server; bootstraps first")
    parser.add_argument("--binding", default="U", choices=["U", "UQ", "S", "SQ", "US", "UQS"],
                        help="binding sent on Register (default U)")
    parser.add_argument("--lifetime", type=int, default=300, metavar="S", help="registration lifetime (default 300)")
    parser.add_argument("--sms", metavar="MSISDN", help="the device's own number, sent as sms= (with --count: the first)")
    parser.add_argument("--server-sms", metavar="MSISDN", help="the server's SMS number (/0/x/9)")
    parser.add_argument("--queue-window", type=float, default=93.0, metavar="S",
                        help="queue mode: seconds online after each message (default 93)")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="number of devices (default 1)")
    parser.add_argument("--duration", type=float, metavar="S", help="de-register and exit after S seconds")


async def run(args: argparse.Namespace) -> int:
    from ..lwm2m.client import Lwm2mClient, udp_context
    from ..lwm2m.exceptions import ConfigError
    from ..sms.address import parse_msisdn

    if not args.server and not args.bootstrap:
        print("lwm2m-sms client: give --server, --bootstrap or both", file=sys.stderr)
        return 2
    first_sms = parse_msisdn(args.sms) if args.sms else None
    clients = []
    try:
        for i in range(args.count):
            ep = args.ep if args.count == 1 else f"{args.ep}-{i + 1:04d}"
            sms = None
            if first_sms is not None:
                sms = f"+{int(first_sms.value) + i}"
            client = Lwm2mClient(
                await udp_context(), ep, server=args.server, bootstrap=args.bootstrap, binding=args.binding,
                lifetime=args.lifetime, sms=sms, server_sms=args.server_sms, queue_window=args.queue_window,
            )
            clients.append(client)
        results = await asyncio.gather(*(c.start() for c in clients), return_exceptions=True)
    except ConfigError as exc:
        print(f"lwm2m-sms client: {exc}", file=sys.stderr)
        return 2
    failed = [(c.endpoint, r) for c, r in zip(clients, results) if isinstance(r, BaseException)]
    for ep, error in failed[:10]:
        print(f"{ep}: registration failed: {error}", file=sys.stderr)
    print(f"{len(clients) - len(failed)} of {len(clients)} device(s) registered", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), args.duration)
    except asyncio.TimeoutError:
        pass
    await asyncio.gather(*(c.stop() for c in clients), return_exceptions=True)
    await asyncio.gather(*(c.context.shutdown() for c in clients), return_exceptions=True)
    print(f"{len(clients)} device(s) de-registered", flush=True)
    return 1 if failed else 0
