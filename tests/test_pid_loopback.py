"""Per-message TP-PID / TP-DCS on the loopback bearer (the modem and SMPP bearers have
theirs in tests/modem/test_pid_modem.py and tests/smsc/test_smpp_pid.py)."""

from __future__ import annotations

import pytest

from lwm2m_sms.bearer import DCS_8BIT, DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD, loopback_pair
from lwm2m_sms.errors import EncodeError
from lwm2m_sms.sms.tpdu import DCS_GSM7

from waiting import Inbox


async def test_loopback_round_trips_pid_and_class_2():
    a, b, net = loopback_pair()
    inbox = Inbox()
    b.set_receiver(inbox)
    await a.start()
    await b.start()
    net.keep_log = True
    payload = bytes(range(256)) * 2  # several parts: each carries the coding
    await a.send(b.local_address, payload, pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    await a.send(b.local_address, b"\x40\x01\x00\x01")
    got = await inbox.wait(2)
    assert (got[0].payload, got[0].pid, got[0].dcs, got[0].message_class) == (payload, 0x7F, 0xF6, 2)
    assert (got[1].pid, got[1].dcs, got[1].message_class) == (0, DCS_8BIT, None)
    assert [(s.pid, s.dcs) for s in net.log] == [(0x7F, 0xF6)] * 4 + [(0, DCS_8BIT)]
    await a.close()
    await b.close()


@pytest.mark.parametrize("pid, dcs", [(256, DCS_8BIT), (-1, DCS_8BIT), (0, DCS_GSM7), (0, 0xF0), (0, 0x100)])
async def test_a_coding_that_is_not_8_bit_data_is_refused(pid, dcs):
    a, b, net = loopback_pair()
    await a.start()
    with pytest.raises(EncodeError):
        await a.send(b.local_address, b"x", pid=pid, dcs=dcs)
    assert net.sms_carried == 0
    await a.close()
