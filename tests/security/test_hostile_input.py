"""Whatever a peer sends, the security layer raises nothing, hands nothing up that was not
protected as configured, answers nothing in clear, and its drop counters stay a fixed few
keys (they must not grow with what senders invent)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from lwm2m_sms.bearer import InboundSms, LoopbackBearer, LoopbackNetwork
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.coap_peek import peek
from lwm2m_sms.security.dtls import looks_like_dtls
from lwm2m_sms.security.oscore_check import is_oscore_or_empty, oscore_kid, oscore_option
from lwm2m_sms.security.policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import COMMAND_UDH, RESPONSE_UDH, Keyset
from lwm2m_sms.sms.address import parse_msisdn

PEER = "+15550000777"
MODES = {
    "packet": PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(16), kid=bytes(range(16))))),
    "oscore": PeerSecurity(SmsSecurityMode.OSCORE, OscoreKeys(b"", b"\x07", bytes(16))),
    "dtls": PeerSecurity(SmsSecurityMode.DTLS, PskKeys(b"id", bytes(16))),
}
REASONS = {"not a secured packet", "malformed secured packet", "rc cc ds failed", "tar unknown",
           "ciphering error", "undefined security error", "insufficient security level", "cntr low",
           "not OSCORE-protected", "OSCORE kid of another peer", "not DTLS", "DTLS record refused",
           "not SIM data download"}

payloads = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=200).map(lambda b: COMMAND_UDH + b),
    st.binary(max_size=200).map(lambda b: RESPONSE_UDH + b),
    st.binary(max_size=200).map(lambda b: b"\x17\xfe\xfd" + b),  # DTLS application data header
    st.binary(max_size=100).map(lambda b: b"\x52\x02\x00\x01\x92\x09" + b),  # CoAP with an OSCORE option
)


@pytest.mark.parametrize("mode", list(MODES))
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.lists(payloads, min_size=1, max_size=5), sim_download=st.booleans())
def test_any_inbound_bytes(mode, data, sim_download):
    if mode == "dtls":
        pytest.importorskip("DTLSSocket")

    async def go():
        net = LoopbackNetwork()
        net.keep_log = True
        b = SecureBearer(LoopbackBearer(net, "+15550000001"), SecurityPolicy({PEER: MODES[mode]}))
        got = []

        async def handler(sms):
            got.append(sms.payload)

        b.set_receiver(handler)
        await b.start()
        for payload in data:
            # as a class 2 SMS with TP-PID 0x7F (what mode 2 requires) or as plain 8-bit data
            coding = {"pid": 0x7F, "dcs": 0xF6} if sim_download else {}
            await b._on_inbound(InboundSms(parse_msisdn(PEER), payload, **coding))
        await net.drain()
        await b.close()
        assert set(b.security_stats.dropped) <= REASONS
        if mode != "oscore":
            assert got == []  # nothing forged gets through a packet or DTLS channel
        else:
            assert all(is_oscore_or_empty(p) for p in got)  # OSCORE checks it above
        assert not any(s.user_data.data[:1] in (b"\x40", b"\x50", b"\x60", b"\x70") for s in net.log)

    asyncio.run(go())


@given(st.binary(max_size=100))
def test_option_parsers_never_raise(data):
    p = peek(data)
    if p is not None:
        assert p.is_registration_trigger in (True, False) and len(p.token) <= 8
    is_oscore_or_empty(data)
    value = oscore_option(data)
    if value is not None:
        oscore_kid(value)
    oscore_kid(data)
    looks_like_dtls(data)
