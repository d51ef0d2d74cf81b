"""Full path over real loopback sockets and a real pty: ModemDriver -> pty -> modem emulator
-> SMPP bind -> simulated SMSC -> SMPP bearer (the server side), and back."""

from __future__ import annotations

import asyncio

from lwm2m_sms.bearer import DeliveryState
from smsc.config import SmscConfig
from smsc.link import SmppBearer, SmppLinkConfig
from smsc.server import SimulatedSmsc

from .conftest import MODEM, PEER, Inbox, config
from modems.driver import ModemDriver
from modems.emulator import ModemEmulator
from modems.emulator_core import EmulatorCore


async def test_driver_emulator_smsc_smpp_and_back(tmp_path):
    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    modem_link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="modem", address_range=MODEM), MODEM)
    server = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="server", address_range=PEER), PEER)
    server_inbox = Inbox()
    server.set_receiver(server_inbox)
    await modem_link.start()
    await server.start()
    emu = ModemEmulator(EmulatorCore(MODEM), modem_link, link_path=str(tmp_path / "ttyEMU"))
    await emu.start()
    drv = ModemDriver(config(emu.path), MODEM)
    inbox = Inbox()
    drv.set_receiver(inbox)
    try:
        await drv.start()
        payload = bytes(range(256)) + b"coap"  # two SMS
        sub = await drv.send(PEER, payload)
        assert (await asyncio.wait_for(sub.outcome, 20)).state is DeliveryState.SUBMITTED
        got = (await server_inbox.wait(1))[0]
        assert got.payload == payload and str(got.sender) == MODEM and got.segments == 2
        back = await server.send(MODEM, b"\x60\x45\x00\x01reply" * 30)
        await asyncio.wait_for(back.outcome, 20)
        got = (await inbox.wait(1))[0]
        assert got.payload == b"\x60\x45\x00\x01reply" * 30 and str(got.sender) == PEER
        # a status report travels back as SMPP receipt -> +CDS
        sub = await drv.send(PEER, b"report please", report=True)
        assert (await asyncio.wait_for(sub.outcome, 20)).state is DeliveryState.DELIVERED
    finally:
        await drv.close()
        await emu.close()
        await server.close()
        await modem_link.close()
        await smsc.close()
