"""``lwm2m-sms bench coap``: GET over UDP loopback vs the SMS transport on the loopback bearer.

Both runs use the same aiocoap ``Site`` and send one GET at a time (aiocoap allows one
outstanding CON per peer anyway), so the difference is what the SMS transport adds on top of
aiocoap: addresses by MSISDN, encoding into SMS payloads, the bearer's segmentation and
reassembly and the loopback network's delivery tasks. The last line is the cost ratio, time
per SMS request over time per UDP request (target <= 2.0). No network delay is simulated:
this measures CPU cost, not SMS latency.
"""

from __future__ import annotations

import argparse
import statistics
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=2000, help="GETs per transport (default 2000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed GETs first (default 100)")


async def _measure(ctx, uri: str, n: int, warmup: int) -> tuple[float, list[float]]:
    from aiocoap import GET, Message

    for _ in range(warmup):
        await ctx.request(Message(code=GET, uri=uri)).response
    latencies = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        response = await ctx.request(Message(code=GET, uri=uri)).response
        latencies.append(time.perf_counter() - t0)
        if not response.code.is_successful():
            raise RuntimeError(f"GET {uri}: {response.code}")
    return time.perf_counter() - start, latencies


def _site():
    import aiocoap.resource as resource
    from aiocoap import CONTENT, Message

    class Value(resource.Resource):
        async def render_get(self, request):
            return Message(code=CONTENT, payload=b"22.5")

    site = resource.Site()
    site.add_resource(["3303", "0", "5700"], Value())
    return site


async def _udp(n: int, warmup: int) -> tuple[float, list[float]]:
    import aiocoap

    from ..lwm2m.udp import local_port

    server = await aiocoap.Context.create_server_context(
        _site(), bind=("127.0.0.1", 0), transports=["udp6"]
    )
    client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        port = local_port(server)
        return await _measure(client, f"coap://127.0.0.1:{port}/3303/0/5700", n, warmup)
    finally:
        await client.shutdown()
        await server.shutdown()


async def _sms(n: int, warmup: int) -> tuple[float, list[float], int]:
    import aiocoap

    from ..lwm2m.udp import local_port

    from ..bearer import loopback_pair
    from ..coap import add_sms_transport

    phone, gateway, net = loopback_pair("+15550000001", "+15550000002")
    await phone.start()
    await gateway.start()
    server = aiocoap.Context(serversite=_site(), loggername="coap-server")
    client = aiocoap.Context(loggername="coap-client")
    await add_sms_transport(server, gateway)
    await add_sms_transport(client, phone)
    try:
        elapsed, latencies = await _measure(
            client, "coap+sms://+15550000002/3303/0/5700", n, warmup
        )
        return elapsed, latencies, net.sms_carried
    finally:
        await client.shutdown()
        await server.shutdown()
        await phone.close()
        await gateway.close()


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def run(args: argparse.Namespace) -> int:
    n, warmup = args.requests, args.warmup
    udp_time, udp_lat = await _udp(n, warmup)
    sms_time, sms_lat, carried = await _sms(n, warmup)
    rows = [("udp loopback", n, udp_time, udp_lat), ("sms loopback", n, sms_time, sms_lat)]
    print(f"{'transport':<14} {'requests':>8} {'req/s':>9} {'median ms':>10} {'p99 ms':>8}")
    for name, count, elapsed, lat in rows:
        print(
            f"{name:<14} {count:>8} {count / elapsed:>9.0f} "
            f"{statistics.median(lat) * 1e3:>10.3f} {_p99(lat) * 1e3:>8.3f}"
        )
    print(f"SMS carried: {carried} for {n + warmup} GETs ({carried / (n + warmup):.1f} per GET)")
    print(f"coap: sms/udp cost ratio {sms_time / udp_time:.2f}")
    return 0
