"""``lwm2m-sms bench api --devices N``: reads of /3/0/0 from N S-binding devices by SMS
through the simulated SMSC, made through the HTTP API, beside the same reads made through
the Python API (``Lwm2mServer.read``) in the same run; prints reads/s and p50/p99 latency
of each and their ratio.

What runs where: the LwM2M server, its HTTP API, the N simulated devices (all on one SMPP
bind, multiplexed by MSISDN) and the HTTP client (aiohttp, keep-alive connections over
loopback TCP, ``--concurrency`` requests in flight) share one process and one event loop;
the SMSC too, unless ``--smsc-process`` gives it the other core. The direct reads keep the
same number in flight. Each read is one SMS to the device and one back; the HTTP path
adds the request parsing, the operation record, JSON both ways and the client's own work,
all on the same loop, so the ratio is an upper bound of what the HTTP layer costs here.
Rounds alternate (direct, HTTP, direct, HTTP...) so both see the same warm state.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import time
from typing import Any, Awaitable, Callable

SERVER_MSISDN = "+15550000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=1000, help="S devices (default 1000)")
    parser.add_argument("--concurrency", type=int, default=64, help="reads in flight at once (default 64)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of one read per device on each path, alternating (default 2)")
    parser.add_argument("--smsc-process", action="store_true",
                        help="run the SMSC as its own process (uses a second core)")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _round(endpoints: list[str], concurrency: int, read: Callable[[str], Awaitable[bool]]) -> tuple[float, list[float], int]:
    """One read per endpoint, ``concurrency`` in flight: (seconds, latencies, failures)."""
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures = 0

    async def one(ep: str) -> None:
        nonlocal failures
        async with limit:
            t = time.perf_counter()
            ok = await read(ep)
            if ok:
                latencies.append(time.perf_counter() - t)
            else:
                failures += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(ep) for ep in endpoints))
    return time.perf_counter() - t0, latencies, failures


async def run(args: argparse.Namespace) -> int:
    import aiohttp

    from ..coap import SmsSettings
    from ..gateway import smpp_bearer, start_device, start_server
    from ..http import HttpApi, HttpSettings
    from ..multiplex import SegmentMux
    from .bench_smpp import start_smsc
    from .table import format_table

    n = args.devices
    smsc, port = await start_smsc(args)
    closers: list[Callable[[], Awaitable[Any]]] = []
    devices: list[Any] = []
    stack = api = None
    token = secrets.token_urlsafe(24)
    failures = {"register": 0, "direct": 0, "http": 0}
    try:
        settings = SmsSettings(ack_timeout=60.0)

        async def link(system_id: str, address_range: str, msisdn: "str | None") -> Any:
            b = await smpp_bearer(port, system_id, address_range, msisdn, window=64)
            closers.append(b.close)
            return b

        stack = await start_server(bearers=[await link("server", SERVER_MSISDN, SERVER_MSISDN)], sms_settings=settings)
        # The bench is the API's only client: no rate limit, room for every operation.
        api = HttpApi(stack, HttpSettings(port=0, token=token, rate=1e9, burst=10**9,
                                          max_operations=max(1000, args.concurrency * 2)))
        await api.start()
        mux = SegmentMux(await link("fleet", r"^\+?1557.*", None))
        print(f"api: {n} S devices on one SMPP bind, SMSC {'process' if args.smsc_process else 'in-process'}; "
              f"server, HTTP API, devices and HTTP client in one process; {args.concurrency} reads in flight",
              flush=True)
        limit = asyncio.Semaphore(args.concurrency)

        async def register(i: int) -> None:
            async with limit:
                bearer = mux.channel(f"+1557{i:07d}")
                await bearer.start()
                try:
                    devices.append(await start_device(
                        f"api-{i}", "S", server_uri="coap://127.0.0.1:9", server_msisdn=SERVER_MSISDN,
                        bearer=bearer, udp=False, sms_settings=settings))
                except Exception as exc:  # counted; the bench goes on
                    failures["register"] += 1
                    if failures["register"] <= 3:
                        print(f"  register api-{i} failed: {exc!r}", flush=True)

        t0 = time.perf_counter()
        await asyncio.gather(*(register(i) for i in range(n)))
        print(f"  registered {len(devices)} in {time.perf_counter() - t0:.1f} s", flush=True)
        endpoints = [d.client.endpoint for d in devices]
        server = stack.server

        async def direct(ep: str) -> bool:
            try:
                return bool(await server.read(ep, "/3/0/0") == "lwm2m-sms")
            except Exception as exc:
                failures["direct"] += 1
                if failures["direct"] <= 3:
                    print(f"  direct read {ep} failed: {exc!r}", flush=True)
                return False

        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(api.url, connector=connector,
                                         headers={"Authorization": f"Bearer {token}"}) as http:
            async def over_http(ep: str) -> bool:
                try:
                    async with http.get(f"/api/devices/{ep}/data/3/0/0") as r:
                        body = await r.json()
                    return r.status == 200 and body["value"] == "lwm2m-sms"
                except Exception as exc:
                    failures["http"] += 1
                    if failures["http"] <= 3:
                        print(f"  HTTP read {ep} failed: {exc!r}", flush=True)
                    return False

            sms0 = stack.sms[0].stats().total.sms_sent
            totals = {"direct": [0.0, [], 0], "http": [0.0, [], 0]}
            for r in range(args.rounds):
                for name, read in (("direct", direct), ("http", over_http)):
                    seconds, lat, failed = await _round(endpoints, args.concurrency, read)
                    totals[name][0] += seconds
                    totals[name][1] += lat
                    totals[name][2] += failed
                    print(f"  round {r + 1} {name}: {len(lat)} reads in {seconds:.1f} s", flush=True)
            sms_sent = stack.sms[0].stats().total.sms_sent - sms0

        rates = {}
        rows = []
        for name, label in (("direct", "Python API (Lwm2mServer.read)"), ("http", "HTTP API (GET .../data/3/0/0)")):
            seconds, lat, failed = totals[name]
            rates[name] = len(lat) / seconds if seconds else 0.0
            rows.append((label, f"{len(lat)}", f"{failed}", f"{seconds:.1f}", f"{rates[name]:,.0f}",
                         f"{_pct(lat, 0.5) * 1000:.0f}", f"{_pct(lat, 0.99) * 1000:.0f}",
                         f"{statistics.fmean(lat) * 1000:.0f}" if lat else "-"))
        print(format_table(("reads of /3/0/0 by SMS", "done", "failed", "s", "reads/s", "p50 ms", "p99 ms", "mean ms"),
                           rows))
        print(f"SMS sent by the server during the reads: {sms_sent} (one per read); failures: {failures}")
    finally:
        for dev in devices:
            await dev.context.shutdown()
        if api is not None:
            await api.close()
        if stack is not None:
            await stack.close()
        for close in reversed(closers):
            await close()
        if args.smsc_process:
            smsc.terminate()
            await smsc.wait()
        else:
            await smsc.close()
    ratio = rates["http"] / rates["direct"] if rates.get("direct") else 0.0
    print(f"api: {rates['http']:,.0f} reads/s over HTTP, {rates['direct']:,.0f} reads/s direct, ratio {ratio:.2f}")
    return 0 if not any(failures.values()) else 1
