"""``lwm2m-sms bench secure``: what each SMS security mode costs in SMS.

One LwM2M server and one S-binding device, each on its own SMPP bind of the simulated SMSC
(real loopback TCP sockets, all in this one process), for NoSec, DTLS (tinydtls, PSK,
AES-128-CCM-8), secured packets (TS 102 225, AES-128 CBC + CMAC, counter) and OSCORE
(aiocoap, AES-CCM-16-64-128). Per mode:

* SMS per handshake: the SMS the device's Register costs beyond NoSec's two (the DTLS
  handshake; the other modes have none);
* SMS per read of /3/0 (the whole Device object, TLV), averaged over ``--reads`` reads
  with the session kept;
* octets per SMS used: payload octets the bearers sent over SMS sent, during the reads;
* reads/s through the simulated SMSC, one read at a time (CPU and loopback, no network
  delay: the real rate is bound by the SMSC's latency, seconds per SMS).

SMS are counted at the simulated SMSC (submit_sm it accepted). Last line:
``secure: dtls N SMS/handshake, read x.xx SMS (nosec y.yy), oscore read z.zz SMS``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from .secured import MODES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reads", type=int, default=50, metavar="N", help="reads of /3/0 per mode (default 50)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, default {','.join(MODES)}")


async def _one(mode: str, reads: int, workdir: Path) -> dict[str, Any]:
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    from ..gateway import smpp_bearer
    from .secured import demo_security, secured_device, secured_server

    server_msisdn, device_msisdn = "+15550000", "+15550101"
    smsc = SimulatedSmsc(SmscConfig(open=True))  # any system_id binds: a bench on loopback
    await smsc.start("127.0.0.1", 0)
    links = []
    try:
        links.append(await smpp_bearer(smsc.port, "server", server_msisdn, server_msisdn))
        links.append(await smpp_bearer(smsc.port, "device", device_msisdn, device_msisdn))
        sec = demo_security(mode, device_msisdn)
        stack, _, release = await secured_server(links[0], {device_msisdn: sec}, workdir)
        before = smsc.stats.submitted
        device, _, hook = await secured_device("bench-sec", "S", links[1], sec, server_msisdn, stack.udp_uri, workdir)
        register_sms = smsc.stats.submitted - before
        octets0 = sum(l.stats.bytes_sent for l in links)
        sms0 = sum(l.stats.sms_sent for l in links)
        before = smsc.stats.submitted
        t0 = time.perf_counter()
        for _ in range(reads):
            await stack.server.read("bench-sec", "/3/0")
        elapsed = time.perf_counter() - t0
        read_sms = (smsc.stats.submitted - before) / reads
        octets = (sum(l.stats.bytes_sent for l in links) - octets0) / max(1, sum(l.stats.sms_sent for l in links) - sms0)
        await device.close()
        hook.release()
        await stack.close()
        if release is not None:
            release()
        return {"mode": mode, "handshake": register_sms - 2, "read": read_sms, "octets": octets,
                "rate": reads / elapsed}
    finally:
        for link in reversed(links):
            await link.close()
        await smsc.close()


async def run(args: argparse.Namespace) -> int:
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"lwm2m-sms bench secure: unknown mode(s) {', '.join(sorted(unknown))}; one of {', '.join(MODES)}")
    results = {}
    with tempfile.TemporaryDirectory(prefix="lwm2m-sms-bench-secure-") as tmp:
        for mode in modes:
            results[mode] = r = await _one(mode, args.reads, Path(tmp) / mode)
            print(f"{mode:7} SMS/handshake {r['handshake']:3d}  SMS/read of /3/0 {r['read']:5.2f}  "
                  f"octets/SMS {r['octets']:6.1f}  reads/s {r['rate']:7.1f}")
    def read(mode: str) -> str:
        return f"{results[mode]['read']:.2f}" if mode in results else "n/a"
    dtls_hs = results["dtls"]["handshake"] if "dtls" in results else "n/a"
    print(f"secure: dtls {dtls_hs} SMS/handshake, read {read('dtls')} SMS (nosec {read('nosec')}), "
          f"oscore read {read('oscore')} SMS")
    return 0
