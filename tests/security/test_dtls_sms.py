"""DTLS over SMS (mode 1) with tinydtls: the handshake and LwM2M read, write, execute
through the simulated SMSC for an S and an SQ device; a wrong PSK; a replayed record."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("DTLSSocket", reason="DTLS over SMS needs DTLSSocket (pip install DTLSSocket)")

from lwm2m_sms.bearer import InboundSms, LoopbackNetwork, LoopbackBearer  # noqa: E402
from lwm2m_sms.gateway import start_device, start_server  # noqa: E402
from lwm2m_sms.security.bearer import SecureBearer  # noqa: E402
from lwm2m_sms.security.dtls import looks_like_dtls  # noqa: E402
from lwm2m_sms.security.policy import PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode  # noqa: E402

from routing.conftest import SERVER, SmppRig  # noqa: E402
from waiting import until  # noqa: E402

PSK = PskKeys(b"dev-dtls", bytes(range(16)))


def dtls_peer(keys: PskKeys = PSK) -> PeerSecurity:
    return PeerSecurity(SmsSecurityMode.DTLS, keys)


async def _server(bearer):
    return await start_server(bearers=[bearer])


@pytest.mark.parametrize("binding", ["S", "SQ"])
async def test_handshake_read_write_execute_through_the_smsc(binding):
    smpp = await SmppRig().start()
    device = "+15550131"
    try:
        sb = SecureBearer(await smpp.bearer(SERVER, server=True), SecurityPolicy({device: dtls_peer()}))
        stack = await _server(sb)
        db = SecureBearer(await smpp.bearer(device), SecurityPolicy({SERVER: dtls_peer()}))
        kw = {"queue_window": 5.0} if binding == "SQ" else {}
        before = smpp.sms()
        dev = await start_device("dev-D", binding, server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=db, **kw)
        ch = db.channel(sb.local_address)
        assert ch.established and ch.handshakes == 1
        register_sms = smpp.sms() - before
        assert register_sms >= 6 + 2  # six handshake flights, then Register and 2.01
        before = smpp.sms()
        assert (await stack.server.read("dev-D", "/3/0/0")).value == "lwm2m-sms"
        assert smpp.sms() - before == 2  # the session is kept: one SMS each way
        await stack.server.write("dev-D", "/1/0/1", 300)
        assert (await stack.server.read("dev-D", "/1/0/1")).value == 300
        updates = dev.client.stats["updates"]
        await stack.server.execute("dev-D", "/1/0/8")
        await until(lambda: dev.client.stats["updates"] > updates)
        assert ch.handshakes == 1  # still the one session
        assert sb.security_stats.dropped_total == 0 and db.security_stats.dropped_total == 0
        assert sb.security_stats.protocol_messages == 3 == db.security_stats.protocol_messages  # flights
        await dev.close()
        await stack.close()
    finally:
        await smpp.close()


async def test_wrong_psk_fails_the_handshake_and_nothing_is_answered_in_clear():
    net = LoopbackNetwork()
    net.keep_log = True
    device = "+15550132"
    sb = SecureBearer(LoopbackBearer(net, SERVER), SecurityPolicy({device: dtls_peer()}))
    db = SecureBearer(LoopbackBearer(net, device),
                      SecurityPolicy({SERVER: dtls_peer(PskKeys(b"dev-dtls", bytes(16)))}), handshake_timeout=1)
    await sb.start()
    await db.start()
    stack = await _server(sb)
    with pytest.raises(Exception, match="DTLS handshake"):
        await _register_once(db)
    await net.drain()
    assert [r.endpoint for r in stack.server.registrations()] == []
    assert net.log and all(looks_like_dtls(s.user_data.data) for s in net.log)  # no CoAP in clear
    assert not db.channel(sb.local_address).established
    await stack.close()
    await sb.close()
    await db.close()


async def _register_once(bearer):
    import aiocoap
    from lwm2m_sms.coap import add_sms_transport

    ctx = aiocoap.Context()
    await add_sms_transport(ctx, bearer)
    try:
        msg = aiocoap.Message(code=aiocoap.POST, uri=f"coap+sms://{SERVER}/rd?ep=dev-W&b=S&lt=300",
                              payload=b"</3/0>")
        return await asyncio.wait_for(ctx.request(msg).response, 10)
    finally:
        await ctx.shutdown()


async def test_replayed_record_is_discarded():
    net = LoopbackNetwork()
    net.keep_log = True
    device = "+15550133"
    sb = SecureBearer(LoopbackBearer(net, SERVER), SecurityPolicy({device: dtls_peer()}))
    db = SecureBearer(LoopbackBearer(net, device), SecurityPolicy({SERVER: dtls_peer()}))
    got: list[bytes] = []

    async def handler(sms: InboundSms) -> None:
        got.append(sms.payload)

    sb.set_receiver(handler)
    db.set_receiver(handler)
    await sb.start()
    await db.start()
    await db.send(SERVER, b"\x40\x01\x00\x07")  # handshake, then one record
    await net.drain()
    assert got == [b"\x40\x01\x00\x07"]
    record = net.log[-1]
    assert record.user_data.data[0] == 23  # application data
    assert len(record.user_data.data) == 4 + 29  # 13 header + 8 nonce + 8 tag
    net.inject(record)
    await net.drain()
    assert got == [b"\x40\x01\x00\x07"]  # not handed up twice
    assert sb.security_stats.dropped == {"DTLS record refused": 1}
    await sb.close()
    await db.close()


@pytest.mark.parametrize("restarted", ["device", "server"])
async def test_a_restarted_peer_gets_a_new_session(restarted):
    """The side that restarted (a fresh DTLS context, its session lost) starts a new
    handshake with its first send; the other side's tinydtls accepts it over the old one."""
    net = LoopbackNetwork()
    server, device = "+15550000301", "+15550000302"
    got: list[bytes] = []

    async def handler(sms: InboundSms) -> None:
        got.append(sms.payload)

    def bearer(own, peer):
        b = SecureBearer(LoopbackBearer(net, own), SecurityPolicy({peer: dtls_peer()}), handshake_timeout=5)
        b.set_receiver(handler)
        return b

    sb, db = bearer(server, device), bearer(device, server)
    await sb.start()
    await db.start()
    await db.send(server, b"\x40\x01\x00\x01")
    await net.drain()
    old, other, peer = (db, sb, server) if restarted == "device" else (sb, db, device)
    await old.close()
    new = bearer(str(old.local_address), peer)
    await new.start()
    got.clear()
    await new.send(peer, b"\x40\x01\x00\x02")
    await net.drain()
    await other.send(str(new.local_address), b"\x40\x01\x00\x03")
    await net.drain()
    assert got == [b"\x40\x01\x00\x02", b"\x40\x01\x00\x03"]
    assert new.channel(other.local_address).handshakes == 1
    await new.close()
    await other.close()


async def test_flights_fit_one_sms_and_a_long_record_goes_concatenated():
    """With tinydtls's PSK limits (identity up to 32 octets) every handshake flight fits one
    SMS (the longest, ClientKeyExchange + ChangeCipherSpec + Finished, is 126 octets); an
    application record longer than 140 octets goes as concatenated SMS."""
    net = LoopbackNetwork()
    net.keep_log = True
    server, device = "+15550000401", "+15550000402"
    keys = PskKeys(b"d" * 32, bytes(range(16)))
    got: list[bytes] = []

    async def handler(sms: InboundSms) -> None:
        got.append(sms.payload)

    sb = SecureBearer(LoopbackBearer(net, server), SecurityPolicy({device: dtls_peer(keys)}))
    db = SecureBearer(LoopbackBearer(net, device), SecurityPolicy({server: dtls_peer(keys)}))
    for b in (sb, db):
        b.set_receiver(handler)
        await b.start()
    big = b"\x40\x02\x00\x09\xff" + bytes(200)
    await db.send(server, big)
    await net.drain()
    assert got == [big]
    handshake = [s for s in net.log if s.user_data.data[:1] != b"\x17" and s.user_data.udh is None]
    assert len(handshake) == 6 and max(len(s.user_data.data) for s in handshake) <= 140
    assert sum(1 for s in net.log if s.user_data.udh is not None) == 2  # 234 octets: two parts
    with pytest.raises(Exception, match="identity"):
        db.policy.set(server, dtls_peer(PskKeys(b"d" * 33, bytes(16))))
        await db.send(server, b"\x40\x01\x00\x0a")
    await sb.close()
    await db.close()
