"""``lwm2m-sms bench api --devices N``: reads of /3/0/0 from N S-binding devices by SMS
through the simulated SMSC, made through the HTTP API, beside the same reads made through
the Python API (``Lwm2mServer.read``) in the same run; prints reads/s and p50/p99 latency
of each and their ratio.

What runs where: the LwM2M server, its HTTP API and the N simulated devices (all on one
SMPP bind, multiplexed by MSISDN) share one process and one event loop; the SMSC too,
unless ``--smsc-process`` gives it a process of its own. The HTTP client (aiohttp,
keep-alive connections over loopback TCP, ``--concurrency`` requests in flight) runs in a
process of its own, as an operator's tool would, and times its own requests; with
``--client-in-process`` it shares the server's loop instead (then its own work counts
against the HTTP figure too). The direct reads keep the same number in flight from the
server's process. Each read is one SMS to the device and one back; the HTTP path adds the
request parsing, the operation record and JSON both ways. Rounds alternate (direct, HTTP,
direct, HTTP...) so both see the same warm state.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

SERVER_MSISDN = "+15550000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=1000, help="S devices (default 1000)")
    parser.add_argument("--concurrency", type=int, default=64, help="reads in flight at once (default 64)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of one read per device on each path, alternating (default 2)")
    parser.add_argument("--smsc-process", action="store_true",
                        help="run the SMSC as its own process (uses a second core)")
    parser.add_argument("--client-in-process", action="store_true",
                        help="run the HTTP client in the server's process and loop (default: its own process)")


@dataclass
class _Totals:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failed: int = 0

    def add(self, seconds: float, latencies: list[float], failed: int) -> None:
        self.seconds += seconds
        self.latencies += latencies
        self.failed += failed


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


async def _http_round(http: Any, endpoints: list[str], concurrency: int) -> tuple[float, list[float], int]:
    async def read(ep: str) -> bool:
        try:
            async with http.get(f"/api/devices/{ep}/data/3/0/0") as r:
                body = await r.json()
            return bool(r.status == 200 and body["value"] == "lwm2m-sms")
        except Exception:
            return False

    return await _round(endpoints, concurrency, read)


async def client_process_main(url: str, token: str, concurrency: int) -> None:
    """The HTTP client as its own process: a line of endpoints on stdin runs one round,
    whose (seconds, latencies, failures) go to stdout as a JSON line."""
    import aiohttp

    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(url, connector=aiohttp.TCPConnector(limit=concurrency),
                                     headers={"Authorization": f"Bearer {token}"}) as http:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            result = await _http_round(http, json.loads(line), concurrency)
            print(json.dumps(result), flush=True)


class _ClientProcess:
    def __init__(self, proc: Any) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, url: str, token: str, concurrency: int) -> "_ClientProcess":
        code = ("import asyncio, sys; from lwm2m_sms.cli.bench_api import client_process_main; "
                "asyncio.run(client_process_main(sys.argv[1], sys.argv[2], int(sys.argv[3])))")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, url, token, str(concurrency),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        return cls(proc)

    async def round(self, endpoints: list[str]) -> tuple[float, list[float], int]:
        self.proc.stdin.write((json.dumps(endpoints) + "\n").encode())
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the HTTP client process ended")
        seconds, latencies, failed = json.loads(line)
        return float(seconds), [float(x) for x in latencies], int(failed)

    async def close(self) -> None:
        self.proc.stdin.close()
        await self.proc.wait()


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
    rates: dict[str, float] = {}
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
              f"server, HTTP API and devices in one process, HTTP client "
              f"{'in it too' if args.client_in_process else 'in its own'}; {args.concurrency} reads in flight",
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
                result = await server.read(ep, "/3/0/0")
                return bool(getattr(result, "value", result) == "lwm2m-sms")  # a typed result, or the value
            except Exception as exc:
                failures["direct"] += 1
                if failures["direct"] <= 3:
                    print(f"  direct read {ep} failed: {exc!r}", flush=True)
                return False

        client = None if args.client_in_process else await _ClientProcess.start(api.url, token, args.concurrency)
        http = aiohttp.ClientSession(api.url, connector=aiohttp.TCPConnector(limit=args.concurrency),
                                     headers={"Authorization": f"Bearer {token}"})
        try:
            async def http_round() -> tuple[float, list[float], int]:
                if client is not None:
                    return await client.round(endpoints)
                return await _http_round(http, endpoints, args.concurrency)

            sms0 = stack.sms[0].stats().total.sms_sent
            totals = {"direct": _Totals(), "http": _Totals()}
            for r in range(args.rounds):
                for name in ("direct", "http"):
                    if name == "direct":
                        seconds, lat, failed = await _round(endpoints, args.concurrency, direct)
                    else:
                        seconds, lat, failed = await http_round()
                        failures["http"] += failed
                    totals[name].add(seconds, lat, failed)
                    print(f"  round {r + 1} {name}: {len(lat)} reads in {seconds:.1f} s", flush=True)
            sms_sent = stack.sms[0].stats().total.sms_sent - sms0
        finally:
            await http.close()
            if client is not None:
                await client.close()

        rows = []
        for name, label in (("direct", "Python API (Lwm2mServer.read)"), ("http", "HTTP API (GET .../data/3/0/0)")):
            t = totals[name]
            seconds, lat, failed = t.seconds, t.latencies, t.failed
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
    if not rates:
        return 1
    ratio = rates["http"] / rates["direct"] if rates["direct"] else 0.0
    print(f"api: {rates['http']:,.0f} reads/s over HTTP, {rates['direct']:,.0f} reads/s direct, ratio {ratio:.2f}")
    return 0 if not any(failures.values()) else 1
