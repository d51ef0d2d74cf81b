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
