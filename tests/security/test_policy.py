"""The security policy: per-peer modes from /0/x/6..8 or a JSON file; SMS not protected as
configured dropped silently and counted; NoSec only where configured."""

from __future__ import annotations

import json

import pytest

from lwm2m_sms.bearer import InboundSms, LoopbackNetwork, LoopbackBearer
from lwm2m_sms.security.bearer import NotConfigured, SecureBearer
from lwm2m_sms.security.policy import (
    NOSEC, OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityConfigError, SecurityPolicy, SmsSecurityMode,
)
from lwm2m_sms.security.secured_packet import Keyset
from lwm2m_sms.sms.address import parse_msisdn

A, B = "+15550000101", "+15550000102"
PACKET = PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(16), kid=bytes(range(16)))))
COAP_GET = bytes.fromhex("40010001b133")


def test_resources_round_trip_every_mode():
    for sec in (PACKET, PeerSecurity(SmsSecurityMode.DTLS, PskKeys(b"id", b"k" * 16)),
                PeerSecurity(SmsSecurityMode.OSCORE, OscoreKeys(b"\x01", b"", b"s" * 16))):
        assert PeerSecurity.from_resources(int(sec.mode), sec.keys.key_parameters(), sec.keys.secret()) == sec
    assert PeerSecurity.from_resources(3, b"", b"") == NOSEC
    with pytest.raises(SecurityConfigError):
        PeerSecurity.from_resources(2, b"\x00", b"")  # /0/x/7 too short
    with pytest.raises(SecurityConfigError):
        PeerSecurity.from_resources(4, b"", b"")  # reserved
    with pytest.raises(SecurityConfigError):
        PeerSecurity.from_resources(1, b"", b"")  # DTLS without identity and PSK


def test_policy_from_json(tmp_path):
    path = tmp_path / "security.json"
    path.write_text(json.dumps({"default": "refuse", "allow_nosec": [B], "devices": {
        A: {"mode": "packet", "params": PACKET.keys.key_parameters().hex(), "secret": PACKET.keys.secret().hex()},
        B: {"mode": "dtls", "identity": "dev-b", "psk": "00" * 16}}}))
    policy = SecurityPolicy.load(path)
    assert policy.for_peer(parse_msisdn(A)) == PACKET
    assert policy.for_peer(parse_msisdn("+15550009999")) is None
    assert policy.nosec_allowed(parse_msisdn(B)) and not policy.nosec_allowed(parse_msisdn(A))
    path.write_text('{"devices": {"+1555": {"mode": "bogus"}}}')
    with pytest.raises(SecurityConfigError, match="bogus"):
        SecurityPolicy.load(path)


async def _bearer(policy):
    net = LoopbackNetwork()
    b = SecureBearer(LoopbackBearer(net, A), policy)
    got = []

    async def handler(sms):
        got.append(sms.payload)

    b.set_receiver(handler)
    await b.start()
    return b, got


async def test_nosec_from_a_secured_peer_dropped_unless_allowed():
    b, got = await _bearer(SecurityPolicy({B: PACKET}))
    await b._on_inbound(InboundSms(parse_msisdn(B), COAP_GET))
    assert got == [] and b.security_stats.dropped == {"not a secured packet": 1}
    b.policy.allow_nosec.add(parse_msisdn(B))  # e.g. the /1/x/8 trigger beside secured UDP
    await b._on_inbound(InboundSms(parse_msisdn(B), COAP_GET))
    assert got == [COAP_GET] and b.security_stats.nosec_passed == 1
    await b.close()


async def test_unconfigured_peer_refused_both_ways():
    b, got = await _bearer(SecurityPolicy({B: PACKET}, default=None))
    await b._on_inbound(InboundSms(parse_msisdn("+15550000199"), COAP_GET))
    assert got == [] and b.security_stats.dropped == {"peer not configured": 1}
    with pytest.raises(NotConfigured):
        await b.send("+15550000199", COAP_GET)
    await b.close()


async def test_nosec_peer_passes_in_clear():
    b, got = await _bearer(SecurityPolicy())
    await b._on_inbound(InboundSms(parse_msisdn(B), COAP_GET))
    assert got == [COAP_GET]
    await b.close()


async def test_trigger_only_peer_passes_the_trigger_and_its_answer_only():
    """LwM2M 1.0.2 7.2: NoSec SMS for the /1/x/8 trigger beside a secured UDP channel."""
    net = LoopbackNetwork()
    server = SecureBearer(LoopbackBearer(net, A), SecurityPolicy(trigger_only=[B]))
    device = SecureBearer(LoopbackBearer(net, B), SecurityPolicy(trigger_only=[A]))
    got = {A: [], B: []}
    for b in (server, device):
        async def handler(sms, me=str(b.local_address)):
            got[me].append(sms.payload)
        b.set_receiver(handler)
        await b.start()
    trigger = bytes.fromhex("42020007abcd") + b"\xb11\x010\x018"  # CON POST /1/0/8, token abcd
    answer = bytes.fromhex("62440007abcd")  # ACK 2.04, same token
    await server.send(B, trigger)
    await net.drain()
    assert got[B] == [trigger]
    await device.send(A, answer)
    await net.drain()
    assert got[A] == [answer]
    with pytest.raises(Exception, match="trigger"):
        await server.send(B, COAP_GET)  # a read in clear: refused
    await device._on_inbound(InboundSms(parse_msisdn(A), COAP_GET))
    await server._on_inbound(InboundSms(parse_msisdn(B), answer))  # its trigger was answered already
    assert got[B] == [trigger] and got[A] == [answer]
    assert device.security_stats.dropped == {"NoSec beyond the trigger": 1}
    assert server.security_stats.dropped == {"NoSec beyond the trigger": 1}
    await server.close()
    await device.close()
