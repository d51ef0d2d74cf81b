"""``lwm2m-sms bench coap``: what CoAP over SMS through SMPP costs next to CoAP over UDP.

Two set-ups answer the same GET from the same aiocoap ``Site``:

- ``udp``: aiocoap's own UDP transport over the kernel's loopback (real sockets).
- ``coap+sms``: the SMS transport on an SMPP link (:class:`smsc.link.SmppBearer`) to the
  simulated SMSC over real TCP loopback sockets. Server and clients each have their own
  SMPP bind; every request and every response is a TPDU in a submit_sm, routed by the SMSC
  by MSISDN and handed out as a deliver_sm, with the SMPP responses on the way.

Each set-up runs sequentially (one client, one GET at a time) and then with 16 requests in
flight (16 clients, each its own UDP socket or its own MSISDN on the clients' bind: aiocoap
keeps one CON outstanding per peer, NSTART 1). Server, clients and, unless
``--smsc-process`` is given, the SMSC share this process and its event loop, for both
set-ups alike. No radio or SMSC delay is simulated: the figures are the CPU and loopback
cost of the software path, not SMS latency in a network (seconds). The last line gives the
ratio time per request over SMS / time per request over UDP, sequential and concurrent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

CONCURRENCY = 16
SERVER_MSISDN = "+15550000002"
CLIENT_RANGE = r"^\+?155500001.*"  # the clients' bind serves +155500001xx


def client_msisdn(i: int) -> str:
    return f"+155500001{i:02d}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=2000, help="GETs per run (default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed GETs first (default 100)")
    parser.add_argument("--smsc-process", action="store_true",
                        help="run the simulated SMSC as its own process (uses a second core)")


@dataclass
class Run:
    transport: str
    in_flight: int
    requests: int
    elapsed: float
    latencies: list[float]

    @property
    def per_request(self) -> float:
        return self.elapsed / self.requests


def _site() -> Any:
    import aiocoap.resource as resource
    from aiocoap import CONTENT, Message

    class Value(resource.Resource):  # type: ignore[misc]  # aiocoap ships no types
        async def render_get(self, request: Any) -> Any:
            return Message(code=CONTENT, payload=b"22.5")

    site = resource.Site()
    site.add_resource(["3303", "0", "5700"], Value())
    return site


async def _get(ctx: Any, uri: str) -> None:
    from aiocoap import GET, Message

    response = await ctx.request(Message(code=GET, uri=uri)).response
    if not response.code.is_successful():
        raise RuntimeError(f"GET {uri}: {response.code}")


async def _measure(name: str, clients: list[tuple[Any, str]], n: int, warmup: int) -> Run:
    """``n`` GETs spread over ``clients`` (context, URI), each client one at a time."""
    for ctx, uri in clients:
        for _ in range(max(1, warmup // len(clients))):
            await _get(ctx, uri)
    latencies: list[float] = []
    per_client = [n // len(clients) + (i < n % len(clients)) for i in range(len(clients))]

    async def one_client(ctx: Any, uri: str, count: int) -> None:
        for _ in range(count):
            t0 = time.perf_counter()
            await _get(ctx, uri)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(one_client(ctx, uri, k) for (ctx, uri), k in zip(clients, per_client)))
    return Run(name, len(clients), n, time.perf_counter() - start, latencies)


async def _udp(n: int, warmup: int) -> list[Run]:
    import aiocoap

    from ..lwm2m.udp import local_port

    server = await aiocoap.Context.create_server_context(_site(), bind=("127.0.0.1", 0), transports=["udp6"])
    uri = f"coap://127.0.0.1:{local_port(server)}/3303/0/5700"
    clients = [await aiocoap.Context.create_client_context(transports=["udp6"]) for _ in range(CONCURRENCY)]
    try:
        return [
            await _measure("udp", [(clients[0], uri)], n, warmup),
            await _measure("udp", [(c, uri) for c in clients], n, warmup),
        ]
    finally:
        for c in clients:
            await c.shutdown()
        await server.shutdown()


async def _sms(n: int, warmup: int, port: int) -> list[Run]:
    import aiocoap

    from ..coap import add_sms_transport
    from ..gateway import smpp_bearer
    from ..multiplex import SegmentMux

    closers: list[Callable[[], Awaitable[Any]]] = []
    try:
        server_link = await smpp_bearer(port, "bench-server", SERVER_MSISDN, SERVER_MSISDN)
        closers.append(server_link.close)
        clients_link = await smpp_bearer(port, "bench-clients", CLIENT_RANGE)
        closers.append(clients_link.close)
        server = aiocoap.Context(serversite=_site(), loggername="coap-server")
        closers.append(server.shutdown)
        await add_sms_transport(server, server_link)
        mux = SegmentMux(clients_link)
        clients = []
        for i in range(CONCURRENCY):
            bearer = mux.channel(client_msisdn(i))
            await bearer.start()
            closers.append(bearer.close)
            ctx = aiocoap.Context(loggername=f"coap-client-{i}")
            closers.append(ctx.shutdown)
            await add_sms_transport(ctx, bearer)
            clients.append(ctx)
        uri = f"coap+sms://{SERVER_MSISDN}/3303/0/5700"
        return [
            await _measure("coap+sms", [(clients[0], uri)], n, warmup),
            await _measure("coap+sms", [(c, uri) for c in clients], n, warmup),
        ]
    finally:
        for close in reversed(closers):
            await close()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(args: argparse.Namespace) -> int:
    from .bench_smpp import start_smsc, stop_smsc

    n, warmup = args.requests, args.warmup
    where = "its own process" if args.smsc_process else "this process"
    print("coap: GET /3303/0/5700, 4-octet payload, piggybacked 2.05 responses")
    print("  udp:      aiocoap UDP transport, client and server contexts in this process, "
          "kernel loopback sockets")
    print(f"  coap+sms: SMS transport -> SMPP link (TCP loopback, one bind for the server, one for "
          f"the clients) -> simulated SMSC in {where} -> SMPP link; 2 SMS per GET")
    print(f"  sequential: 1 client; in flight: {CONCURRENCY} clients (own socket or own MSISDN), "
          "one GET each at a time", flush=True)
    udp = await _udp(n, warmup)
    smsc, port = await start_smsc(args)
    try:
        sms = await _sms(n, warmup, port)
        delivered = _delivered(smsc, args.smsc_process)
    finally:
        await stop_smsc(smsc, args.smsc_process)
    print(f"{'transport':<10} {'in flight':>9} {'requests':>8} {'req/s':>8} {'median ms':>10} {'p99 ms':>8}")
    for r in (udp[0], sms[0], udp[1], sms[1]):
        print(f"{r.transport:<10} {r.in_flight:>9} {r.requests:>8} {r.requests / r.elapsed:>8.0f} "
              f"{statistics.median(r.latencies) * 1e3:>10.3f} {_p99(r.latencies) * 1e3:>8.3f}")
    if delivered is not None:
        print(f"SMSC delivered {delivered} SMS (deliver_sm) for {sum(r.requests for r in sms)} timed "
              "GETs and the warm-up")
    sequential = sms[0].per_request / udp[0].per_request
    concurrent = sms[1].per_request / udp[1].per_request
    print(f"coap: time per request coap+sms (SMPP, simulated SMSC) / udp: sequential {sequential:.2f}, "
          f"{CONCURRENCY} in flight {concurrent:.2f}")
    return 0


def _delivered(smsc: Any, separate: bool) -> int | None:
    if separate:
        return None  # the child's counters are not reachable from here
    return int(smsc.stats.delivered)
