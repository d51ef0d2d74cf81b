"""TP-PID / TP-DCS per message over SMPP: submit_sm protocol_id and data_coding, passed
through the simulated SMSC into deliver_sm, over loopback sockets."""

from __future__ import annotations

import pytest

from lwm2m_sms.bearer import DCS_8BIT, DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD
from lwm2m_sms.errors import EncodeError

from waiting import Inbox

A, B = "+15550001", "+15550002"


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
async def test_pid_and_class_2_pass_the_smsc(smsc, make_link, concat):
    a = await make_link(smsc, A, concat=concat)
    b = await make_link(smsc, B, concat=concat)
    inbox = Inbox()
    b.set_receiver(inbox)
    long = bytes(range(256)) * 2
    await a.send(B, b"\x02\x70\x00packet", pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    await a.send(B, long, pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    await a.send(B, b"\x40\x01\x00\x01")
    got = sorted(await inbox.wait(3), key=lambda m: len(m.payload))
    assert [(m.payload, m.pid, m.dcs) for m in got] == [
        (b"\x40\x01\x00\x01", 0, DCS_8BIT),
        (b"\x02\x70\x00packet", 0x7F, 0xF6),
        (long, 0x7F, 0xF6),
    ]
    assert got[2].message_class == 2


async def test_data_sm_cannot_carry_a_pid(smsc, make_link):
    a = await make_link(smsc, A, submit_with="data_sm")
    with pytest.raises(EncodeError, match="protocol_id"):
        await a.send(B, b"x", pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    assert len(a.outbox) == 0


async def test_a_secured_packet_left_in_the_outbox_goes_as_class_2_after_a_restart(make_link, tmp_path):
    """The outbox keeps TP-PID and TP-DCS: a SIM data download accepted while the SMSC was
    away, and resent by the next run, still arrives as PID 0x7F, class 2 (a mode 2 peer
    drops anything else)."""
    from smsc.server import SimulatedSmsc, SmscConfig

    async with SimulatedSmsc(SmscConfig(open=True)) as probe:
        await probe.start("127.0.0.1", 0)
        port = probe.port
    store = str(tmp_path / "outbox.db")
    a = await make_link(port, A, store=store)
    await a.send(B, b"\x02\x70\x00packet", pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    await a.send(B, b"\x40\x01\x00\x01")
    await a.close()  # the SMSC never answered: both stay in the outbox file
    a2 = await make_link(port, A, store=store)
    async with SimulatedSmsc(SmscConfig(open=True, retry_min=0.05)) as smsc:
        await smsc.start("127.0.0.1", port)
        inbox = Inbox()
        b = await make_link(smsc, B, start=False)
        b.set_receiver(inbox)
        await b.start()
        got = sorted(await inbox.wait(2), key=lambda m: m.payload)
        assert [(m.payload, m.pid, m.dcs) for m in got] == [
            (b"\x02\x70\x00packet", 0x7F, 0xF6),
            (b"\x40\x01\x00\x01", 0, DCS_8BIT),
        ]
        assert len(a2.outbox) == 0
