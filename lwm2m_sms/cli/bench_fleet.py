"""``lwm2m-sms bench fleet --devices N``: N S-binding devices register by SMS through the
simulated SMSC (the whole fleet on one SMPP bind, multiplexed by MSISDN) and the server
reads /3/0 from each, by SMS. Prints wall time, operations/s, peak RSS and SMS counts.

The server and the devices run in this process (they share the event loop, as a test rig
does); with ``--smsc-process`` the SMSC runs as a child process on the other core.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from typing import Any

SERVER_MSISDN = "+15550000"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=10_000, help="devices in the fleet (default 10000)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="operations in flight at once (default 64)")
    parser.add_argument("--smsc-process", action="store_true",
                        help="run the SMSC as its own process (uses a second core)")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_peak_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def run(args: argparse.Namespace) -> int:
    from ..coap import SmsSettings
    from ..multiplex import SegmentMux
    from .bench_smpp import start_smsc
    from .table import format_table
    from ..gateway import smpp_bearer, start_device, start_server

    n = args.devices
    smsc, port = await start_smsc(args)
    closers = []

    async def link(system_id: str, address_range: str, msisdn: str | None) -> Any:
        b = await smpp_bearer(port, system_id, address_range, msisdn, window=64)
        closers.append(b.close)
        return b

    devices: list = []
    stack = None
    try:
        settings = SmsSettings(ack_timeout=60.0)
        server_link = await link("server", SERVER_MSISDN, SERVER_MSISDN)
        stack = await start_server(bearers=[server_link], sms_settings=settings)
        mux = SegmentMux(await link("fleet", r"^\+?1556.*", None))
        limit = asyncio.Semaphore(args.concurrency)
        rss0 = _rss_mb()
        print(f"fleet: {n} S devices on one SMPP bind, SMSC {'process' if args.smsc_process else 'in-process'}, "
              f"{args.concurrency} operations in flight", flush=True)

        failures = {"register": 0, "read": 0}
        t0 = time.perf_counter()

        def progress(what: str, done: int, started: float) -> None:
            if done % max(1, n // 5) == 0 or done == n:
                rate = done / max(time.perf_counter() - started, 1e-9)
                print(f"  {what}: {done}/{n} ({rate:,.0f}/s, RSS {_rss_mb():.0f} MB)", flush=True)

        async def register(i: int) -> None:
            async with limit:
                bearer = mux.channel(f"+1556{i:07d}")
                await bearer.start()
                try:
                    dev = await start_device(f"fleet-{i}", "S", server_uri="coap://127.0.0.1:9",
                                             server_msisdn=SERVER_MSISDN, bearer=bearer, udp=False,
                                             sms_settings=settings)
                    devices.append(dev)
                except Exception as exc:  # counted and reported; the bench goes on
                    failures["register"] += 1
                    if failures["register"] <= 3:
                        print(f"  register fleet-{i} failed: {exc!r}", flush=True)
                progress("registered", len(devices) + failures["register"], t0)

        await asyncio.gather(*(register(i) for i in range(n)))
        t_reg = time.perf_counter() - t0
        sms_after_register = stack.sms[0].stats().total

        reads = 0
        t1 = time.perf_counter()

        async def read(dev) -> None:
            nonlocal reads
            async with limit:
                try:
                    value = (await stack.server.read(dev.client.endpoint, "/3/0")).value
                    assert isinstance(value, dict) and value.get(0) == "lwm2m-sms"
                    reads += 1
                except Exception as exc:
                    failures["read"] += 1
                    if failures["read"] <= 3:
                        print(f"  read {dev.client.endpoint} failed: {exc!r}", flush=True)
                progress("read /3/0", reads + failures["read"], t1)

        await asyncio.gather(*(read(d) for d in devices))
        t_read = time.perf_counter() - t1
        wall = time.perf_counter() - t0
        total = stack.sms[0].stats().total
        peak = _rss_mb()
        child = _child_peak_mb(smsc.pid) if args.smsc_process else None

        ops = len(devices) + reads
        rows = [
            ("register by SMS", f"{len(devices)}", f"{t_reg:.1f}", f"{len(devices) / t_reg:,.0f}",
             f"{sms_after_register.sms_received}", f"{sms_after_register.sms_sent}"),
            ("read /3/0 by SMS", f"{reads}", f"{t_read:.1f}", f"{reads / t_read:,.0f}",
             f"{total.sms_received - sms_after_register.sms_received}",
             f"{total.sms_sent - sms_after_register.sms_sent}"),
        ]
        print(format_table(("operation", "done", "s", "ops/s", "SMS to server", "SMS from server"), rows))
        print(f"failures: {failures}; RSS at start {rss0:.0f} MB, peak {peak:.0f} MB"
              + (f"; SMSC process peak {child:.0f} MB" if child is not None else " (SMSC included)"))

    finally:
        for dev in devices:
            await dev.context.shutdown()
        if stack is not None:
            await stack.close()
        for close in reversed(closers):
            await close()
        if args.smsc_process:
            smsc.terminate()
            await smsc.wait()
        else:
            await smsc.close()
    print(f"fleet: {len(devices)} devices, {wall:.1f} s, {ops / wall:,.0f} ops/s, peak RSS {peak:.0f} MB")
    return 0 if not any(failures.values()) else 1
