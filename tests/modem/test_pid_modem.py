"""TP-PID / TP-DCS per message through the modem driver and the emulator on a real pty:
the driver's SMS-SUBMIT carries them, the emulator puts them on the network segment, and
the SMS-DELIVER the emulator hands its host carries them back."""

from __future__ import annotations

from lwm2m_sms.bearer import DCS_8BIT, DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD

from .conftest import MODEM


async def test_pid_and_class_2_both_ways(make_emulator, make_driver, peer, net):
    emu = await make_emulator()
    drv = await make_driver(emu.path)
    net.keep_log = True
    payload = bytes(range(200))  # two parts
    sub = await drv.send(peer.local_address, payload, pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    assert (await sub.outcome).ok
    (got,) = await peer.inbox.wait(1)
    assert (got.payload, got.pid, got.dcs, got.message_class) == (payload, 0x7F, 0xF6, 2)
    assert [(s.pid, s.dcs) for s in net.log] == [(0x7F, 0xF6)] * 2

    await peer.send(MODEM, b"\x02\x70\x00" + payload, pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    await peer.send(MODEM, b"\x40\x01\x00\x01")
    second, first = sorted(await drv.inbox.wait(2), key=lambda m: len(m.payload))
    assert (first.payload[:3], first.pid, first.dcs, first.message_class) == (b"\x02\x70\x00", 0x7F, 0xF6, 2)
    assert (second.pid, second.dcs) == (0, DCS_8BIT)
