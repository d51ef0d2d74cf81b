"""``lwm2m-sms bench clients``: many simulated LwM2M devices in one process against one
server core: registration rate and memory per device.

``--transport udp``: each device has a context with a UDP socket of its own and registers
over loopback. ``--transport none``: contexts without any transport, to show what the
LwM2M client itself costs (an SMS device adds its SMS transport and bearer to this).
Memory is the growth of the process's resident set (VmRSS) over the run divided by the
number of devices, server-side registrations included.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=1000, metavar="N", help="devices (default 1000)")
    parser.add_argument("--transport", choices=["udp", "none"], default="udp", help="default udp")
    parser.add_argument("--batch", type=int, default=100, metavar="N",
                        help="devices registering at the same time (default 100)")


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def run(args: argparse.Namespace) -> int:
    import aiocoap

    from ..lwm2m.client import Lwm2mClient
    from ..lwm2m.server import Lwm2mServer
    from ..lwm2m.udp import udp_context

    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    uri = f"coap://127.0.0.1:{server.port}"
    gc.collect()
    before = _rss_kib()
    clients = []
    started = time.perf_counter()
    for i in range(args.count):
        ctx = await udp_context() if args.transport == "udp" else aiocoap.Context(serversite=None)
        clients.append(Lwm2mClient(ctx, f"bench-{i:06d}", server=uri))
    created = time.perf_counter() - started
    failed = 0
    reg_time = 0.0
    if args.transport == "udp":
        t0 = time.perf_counter()
        for i in range(0, len(clients), args.batch):
            results = await asyncio.gather(*(c.start() for c in clients[i:i + args.batch]), return_exceptions=True)
            failed += sum(isinstance(r, BaseException) for r in results)
        reg_time = time.perf_counter() - t0
    gc.collect()
    per_client = (_rss_kib() - before) / max(1, args.count)
    registered = len(server.registrations())
    print(f"created {args.count} devices in {created:.2f} s")
    if args.transport == "udp":
        print(f"registered {registered} ({failed} failed) in {reg_time:.2f} s: {registered / reg_time:.0f} Register/s")
    for c in clients:
        await c.stop(deregister=False)
    await asyncio.gather(*(c.context.shutdown() for c in clients), return_exceptions=True)
    await server.close()
    print(f"clients: {args.count} devices ({args.transport}), {registered} registered, "
          f"{per_client:.1f} KiB RSS per device")
    return 1 if failed else 0
