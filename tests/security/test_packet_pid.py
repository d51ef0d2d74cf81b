"""Mode 2 and the SMS that carries it: a secured packet travels as a class 2 SMS with
TP-PID 0x7F (SIM data download, TS 31.115); one that arrives otherwise is dropped and
counted, however good its cryptography."""

from __future__ import annotations

import asyncio

from lwm2m_sms.bearer import DCS_8BIT_CLASS2, PID_SIM_DATA_DOWNLOAD, loopback_pair
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import PacketKeys, PeerSecurity, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset

from waiting import Inbox

A, B = "+15550000001", "+15550000002"
PACKET = PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32)))))
COAP = b"\x40\x01\x12\x34\xb1x"


async def test_packets_go_as_sim_data_download_and_others_are_dropped():
    a, b, net = loopback_pair(A, B)
    net.keep_log = True
    sa, sb = SecureBearer(a, SecurityPolicy({B: PACKET})), SecureBearer(b, SecurityPolicy({A: PACKET}))
    inbox = Inbox()
    sb.set_receiver(inbox)
    await sa.start()
    await sb.start()

    await sa.send(B, COAP)
    (got,) = await inbox.wait(1)
    assert got.payload == COAP and (got.pid, got.message_class) == (0x7F, 2)
    assert [(s.pid, s.dcs) for s in net.log] == [(PID_SIM_DATA_DOWNLOAD, DCS_8BIT_CLASS2)]

    # A well-formed packet under the right keys, but in a plain 8-bit SMS (TP-PID 0,
    # DCS 0x04: what a UICC would never be handed): dropped silently, counted.
    ch = sa.channel(b.local_address)
    assert ch is not None
    await a.send(B, await ch.seal(COAP))
    await net.drain()
    assert sb.security_stats.dropped == {"not SIM data download": 1} and sb.security_stats.opened == 1
    # class 2 without PID 0x7F, PID 0x7F without class 2: the same
    await a.send(B, await ch.seal(COAP), dcs=DCS_8BIT_CLASS2)
    await a.send(B, await ch.seal(COAP), pid=PID_SIM_DATA_DOWNLOAD)
    await net.drain()
    assert sb.security_stats.dropped == {"not SIM data download": 3}
    # the next one as it should come is opened (its counter is higher than the refused ones')
    await a.send(B, await ch.seal(COAP), pid=PID_SIM_DATA_DOWNLOAD, dcs=DCS_8BIT_CLASS2)
    assert (await inbox.wait(2))[1].payload == COAP
    assert sb.security_stats.opened == 2 and len(inbox.items) == 2
    await asyncio.gather(sa.close(), sb.close())
