"""``lwm2m-sms bench modem``: binary SMS through ModemDriver -> pty -> modem emulator ->
SMPP -> simulated SMSC -> SMPP bearer (out), and the reverse (in). Prints SMS/s both ways;
the last line reads ``modem: N SMS/s out, N SMS/s in``. No pass/fail on time.

``--network loopback`` replaces the SMSC with the in-memory loopback network, to separate
the driver and emulator cost from the SMPP path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from typing import Any, Awaitable, Callable

MODEM = "+15550001111"
PEER = "+15550002222"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=1000, help="SMS each way (default 1000)")
    parser.add_argument("--size", type=int, default=100, help="payload octets per SMS (<= 140: one segment)")
    parser.add_argument("--network", choices=("smsc", "loopback"), default="smsc")
    parser.add_argument("--no-cmt", action="store_true", help="emulate a modem without +CMT: store, +CMTI, +CMGR, +CMGD")


async def run(args: argparse.Namespace) -> int:
    from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
    from modems.driver import ModemConfig, ModemDriver
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore, Quirks

    from lwm2m_sms.bearer import Bearer, InboundSms, SegmentLink

    n, size = args.messages, min(args.size, 140)
    closers: list[Callable[[], Awaitable[Any]]] = []
    modem_link: SegmentLink
    peer: Bearer
    if args.network == "smsc":
        from smsc.config import SmscConfig
        from smsc.link import SmppBearer, SmppLinkConfig
        from smsc.server import SimulatedSmsc

        # fast retries, should the SMSC meet a full SIM (+CMS 322 pushes back on it): the
        # bench measures the driver, not the back-off
        smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.5))
        await smsc.start("127.0.0.1", 0)
        modem_link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="modem", address_range=MODEM), MODEM)
        peer = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="peer", address_range=PEER), PEER)
        closers.append(smsc.close)
    else:
        net = LoopbackNetwork()
        modem_link, peer = LoopbackBearer(net, MODEM), LoopbackBearer(net, PEER)
    got_out = asyncio.Event()
    got_in = asyncio.Event()
    counts = {"out": 0, "in": 0}

    async def peer_rx(sms: InboundSms) -> None:
        counts["out"] += 1
        if counts["out"] >= n:
            got_out.set()

    async def drv_rx(sms: InboundSms) -> None:
        counts["in"] += 1
        if counts["in"] >= n:
            got_in.set()

    peer.set_receiver(peer_rx)
    await modem_link.start()
    await peer.start()
    closers[:0] = [peer.close, modem_link.close]
    tmp = tempfile.mkdtemp(prefix="bench-modem-")
    # the SIM holds every message of the run: a real one holds 20 to 50, but this measures
    # the driver and the emulator, not the SMSC's retry back-off on a full SIM
    emu = ModemEmulator(EmulatorCore(MODEM, sim_capacity=max(255, n), quirks=Quirks(supports_cmt=not args.no_cmt)), modem_link, link_path=os.path.join(tmp, "ttyEMU"))
    await emu.start()
    drv = ModemDriver(ModemConfig(emu.path, registration_timeout=10), MODEM)
    drv.set_receiver(drv_rx)
    await drv.start()
    closers[:0] = [drv.close, emu.close]
    try:
        payload = bytes(range(size))
        t0 = time.perf_counter()
        subs = [await drv.send(PEER, payload) for _ in range(n)]
        await asyncio.gather(*(s.outcome for s in subs))
        t_submitted = time.perf_counter() - t0
        await asyncio.wait_for(got_out.wait(), 120)
        t_out = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(n):
            await peer.send(MODEM, payload)
        await asyncio.wait_for(got_in.wait(), 120)
        t_in = time.perf_counter() - t0
    finally:
        for close in closers:
            await close()
        os.rmdir(tmp)
    via = "simulated SMSC (SMPP)" if args.network == "smsc" else "loopback network"
    print(f"network: {via}; {n} SMS of {size} octets each way; driver profile {drv.profile.name}, "
          f"{'+CMT/+CNMA' if drv.use_cmt else '+CMTI/+CMGR/+CMGD'}")
    print(f"out: {n} SMS submitted by +CMGS in {t_submitted:.2f} s, all at the peer in {t_out:.2f} s")
    print(f"in:  {n} SMS from the peer handed up by the driver in {t_in:.2f} s")
    print(f"modem: {n / t_out:.0f} SMS/s out, {n / t_in:.0f} SMS/s in")
    return 0
