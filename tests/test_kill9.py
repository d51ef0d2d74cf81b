"""kill -9 between the acknowledgement of part 1 and the arrival of part 2 of a 3-part SMS,
on the modem path (driver on the pty emulator, +CMT/+CNMA) and the SMPP path (deliver_sm /
deliver_sm_resp from the simulated SMSC): after the restart the message is whole and handed
up once. The receiving gateway runs in its own process (tests/receiver_process.py) with a
durable part store in an SQLite file; the network side runs here."""

from __future__ import annotations

import asyncio
import os
import sys


from child_process import ChildProcess
from lwm2m_sms.bearer import DeliveryState, LoopbackBearer, LoopbackNetwork, SmsSegment
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import split

GATEWAY = "+15550001111"
DEVICE = "+15550002222"
SCRIPT = os.path.join(os.path.dirname(__file__), "receiver_process.py")
PAYLOAD = bytes(range(256)) + b"\x5a" * 100  # 356 octets: 3 parts


def receiver(*args: str) -> ChildProcess:
    """The gateway process: started, killed with SIGKILL, started again on the same files."""
    return ChildProcess([sys.executable, SCRIPT, *args], ready="ready", timeout=30)


def received(out: str) -> list[bytes]:
    if not os.path.exists(out):
        return []
    with open(out) as f:
        return [bytes.fromhex(line) for line in f.read().split()]


async def test_kill9_between_parts_on_the_modem_path(tmp_path):
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore

    net = LoopbackNetwork()
    link, device = LoopbackBearer(net, GATEWAY), LoopbackBearer(net, DEVICE)
    await link.start()
    await device.start()
    emu = ModemEmulator(EmulatorCore(GATEWAY), link, link_path=str(tmp_path / "ttyEMU"))
    await emu.start()
    out, db = str(tmp_path / "received"), str(tmp_path / "gateway.db")
    gw = receiver("--modem", emu.path, "--msisdn", GATEWAY, "--db", db, "--out", out)
    parts = split(PAYLOAD, 0x42)
    try:
        await gw.start()
        await device.send_segment(SmsSegment(parse_msisdn(DEVICE), parse_msisdn(GATEWAY), parts[0]))
        await net.drain()  # returns once the emulator saw +CNMA for part 1
        assert emu.core.store == {} and emu.core.stats["received"] == 1  # acknowledged, not on the SIM
        await gw.kill9()
        await gw.start()
        for part in parts[1:]:
            await device.send_segment(SmsSegment(parse_msisdn(DEVICE), parse_msisdn(GATEWAY), part))
        await net.drain()  # part 3 acknowledged: handed up before its +CNMA
        assert received(out) == [PAYLOAD]
        assert emu.core.store == {}
    finally:
        await gw.stop()
        await emu.close()
        await link.close()
        await device.close()


async def test_kill9_between_parts_on_the_smpp_path(tmp_path):
    from smsc.config import SmscConfig
    from smsc.link import SmppBearer, SmppLinkConfig
    from smsc.server import SimulatedSmsc

    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.5))
    await smsc.start("127.0.0.1", 0)
    device = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="device", address_range=DEVICE,
                                       reconnect_min=0.05, reconnect_max=0.5), DEVICE)
    await device.start()
    await device.wait_bound(10)
    out, db = str(tmp_path / "received"), str(tmp_path / "gateway.db")
    gw = receiver("--smpp", str(smsc.port), "--msisdn", GATEWAY, "--db", db, "--out", out)
    parts = split(PAYLOAD, 0x43)

    async def send(part) -> None:
        sub = await device.send_segment(SmsSegment(parse_msisdn(DEVICE), parse_msisdn(GATEWAY), part), report=True)
        # DELIVRD comes after the gateway's deliver_sm_resp ESME_ROK
        assert (await asyncio.wait_for(sub.outcome, 20)).state is DeliveryState.DELIVERED

    try:
        await gw.start()
        await send(parts[0])
        await gw.kill9()
        await gw.start()
        await send(parts[1])
        await send(parts[2])
        assert received(out) == [PAYLOAD]
    finally:
        await gw.stop()
        await device.close()
        await smsc.close()


async def test_without_the_kill_the_same_sequence_needs_no_store(tmp_path):
    """Control: the part really was only in the part store (the SIM and the SMSC no longer
    had it): a restart without the file loses part 1 and the message never completes."""
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore

    net = LoopbackNetwork()
    link, device = LoopbackBearer(net, GATEWAY), LoopbackBearer(net, DEVICE)
    await link.start()
    await device.start()
    emu = ModemEmulator(EmulatorCore(GATEWAY), link, link_path=str(tmp_path / "ttyEMU"))
    await emu.start()
    out = str(tmp_path / "received")
    parts = split(PAYLOAD, 0x44)
    first = receiver("--modem", emu.path, "--msisdn", GATEWAY, "--db", str(tmp_path / "a.db"), "--out", out)
    second = receiver("--modem", emu.path, "--msisdn", GATEWAY, "--db", str(tmp_path / "b.db"), "--out", out)
    try:
        await first.start()
        await device.send_segment(SmsSegment(parse_msisdn(DEVICE), parse_msisdn(GATEWAY), parts[0]))
        await net.drain()
        await first.kill9()
        await second.start()
        for part in parts[1:]:
            await device.send_segment(SmsSegment(parse_msisdn(DEVICE), parse_msisdn(GATEWAY), part))
        await net.drain()
        assert received(out) == []
    finally:
        await second.stop()
        await emu.close()
        await link.close()
        await device.close()
