"""The coap+sms scheme, peer parsing, SmsAddress identity and the settings' timing; and
garbage SMS payloads, which must only ever be dropped."""

from __future__ import annotations

import urllib.parse

import aiocoap
import aiocoap.message
import pytest
from aiocoap import GET, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from lwm2m_sms.bearer import InboundSms, loopback_pair
from lwm2m_sms.coap import (
    SmsAddress,
    SmsSettings,
    SmsTuning,
    add_sms_transport,
    parse_sms_peer,
    sms_uri,
)
from lwm2m_sms.errors import AddressError
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.udh import Ports


def test_scheme_is_registered_and_uri_parses_into_options():
    assert "coap+sms" in aiocoap.message.coap_schemes
    assert "coap+sms" in urllib.parse.uses_relative and "coap+sms" in urllib.parse.uses_netloc
    m = Message(code=GET, uri="coap+sms://+15550001/3/0/0?x=1")
    assert m.opt.proxy_uri is None
    assert m.opt.uri_path == ("3", "0", "0") and m.opt.uri_query == ("x=1",)
    assert (m.remote.scheme, m.remote.hostinfo) == ("coap+sms", "+15550001")
    # relative references resolve like coap:// ones (Location-Path of a registration)
    assert urllib.parse.urljoin("coap+sms://+15550001/rd", "rd/5a") == "coap+sms://+15550001/rd/5a"


@pytest.mark.parametrize(
    "text",
    [
        "coap+sms://+4915123456789/3/0",
        "coap+sms://%2B4915123456789",
        "COAP+SMS://4915123456789/",
        "tel:+4915123456789",
        "sms:+4915123456789",
        "+49 151 2345 6789",
        "4915123456789",
    ],
)
def test_peer_forms(text):
    assert parse_sms_peer(text) == parse_msisdn("+4915123456789")


@pytest.mark.parametrize(
    "text", ["coap+sms:///3/0", "coap+sms://+4915:5683/x", "coap+sms://user@+49151/", "tel:", "+49x1"]
)
def test_bad_peers_are_refused(text):
    with pytest.raises(AddressError):
        parse_sms_peer(text)


def test_sms_uri_writes_plus_form():
    assert sms_uri("sms:4915123456789", "3/0/0") == "coap+sms://+4915123456789/3/0/0"
    assert sms_uri(parse_msisdn("+1555")) == "coap+sms://+1555"


async def test_address_identity_and_uri_parts():
    a, b, net = loopback_pair("+15550000001", "+15550000002")
    ctx = aiocoap.Context()
    transport = await add_sms_transport(ctx, a)
    try:
        x = transport.address_for("tel:+15550000002")
        y = SmsAddress(parse_msisdn("15550000002"), transport)
        assert x == y and hash(x) == hash(y) and x.blockwise_key == y.blockwise_key
        assert {(x, 1): "ok"}[(y, 1)] == "ok"  # the MessageManager's dedup key
        assert SmsAddress(x.msisdn, transport, ports=Ports(1, 2)) != x
        assert (x.hostinfo, x.uri_base) == ("+15550000002", "coap+sms://+15550000002")
        assert (x.hostinfo_local, x.uri_base_local) == ("+15550000001", "coap+sms://+15550000001")
        assert not x.is_multicast and not x.is_multicast_locally and x.scheme == "coap+sms"
        assert x.maximum_block_size_exp == 2 and x.maximum_payload_size == 536 - 64
        assert await transport.recognize_remote(x)
        assert SmsAddress(x.msisdn, transport, ports=Ports(5683, 9200)).reply_ports() == Ports(9200, 5683)
        assert net.sms_carried == 0
    finally:
        await ctx.shutdown()


def test_settings_defaults_and_tuning():
    s = SmsSettings()
    assert s.max_message_size == 536 and s.block_size_exp == 2
    t = s.tuning()
    assert isinstance(t, aiocoap.numbers.TransportTuning) and isinstance(t, SmsTuning)
    assert (t.ACK_TIMEOUT, t.MAX_RETRANSMIT, t.EMPTY_ACK_DELAY) == (60.0, 0, 15.0)
    assert t.DEFAULT_BLOCK_SIZE_EXP == 2
    # one transmission, then 2 x MAX_LATENCY + PROCESSING_DELAY: not UDP's 247 s
    assert t.EXCHANGE_LIFETIME == 660.0
    assert SmsSettings(exchange_lifetime=30).tuning().EXCHANGE_LIFETIME == 30
    assert SmsSettings(max_retransmit=4, ack_timeout=2.0).tuning().MAX_TRANSMIT_WAIT == 93.0
    for bad in (
        dict(block_size_exp=7),
        dict(piggyback_window=60.0),
        dict(max_message_size=40),
        dict(max_retransmit=-1),
    ):
        with pytest.raises(ValueError):
            SmsSettings(**bad)


async def test_reliability_choices_are_kept_with_sms_timing():
    a, b, net = loopback_pair()
    ctx = aiocoap.Context()
    transport = await add_sms_transport(ctx, a)
    try:
        assert transport.tuning_for(aiocoap.numbers.TransportTuning()) is transport.tuning
        t = transport.tuning_for(aiocoap.Unreliable())
        assert t.reliability is False and t.ACK_TIMEOUT == 60.0
        assert transport.tuning_for(aiocoap.Reliable()).reliability is True

        class Mine(aiocoap.numbers.TransportTuning):
            ACK_TIMEOUT = 7.0

        mine = Mine()
        assert transport.tuning_for(mine) is mine
        assert net.sms_carried == 0
    finally:
        await ctx.shutdown()


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=5))
async def test_any_payload_is_dropped_or_filtered_never_raises(payloads):
    a, b, net = loopback_pair()
    ctx = aiocoap.Context()
    transport = await add_sms_transport(ctx, b)
    transport.accept_filter = lambda remote, message: False
    try:
        for p in payloads:
            await transport.handle_sms(InboundSms(parse_msisdn("+15550000001"), p))
        total = transport.stats().total
        assert total.dropped_garbage + total.dropped_untrusted == len(payloads)
        assert total.messages_received == 0 and net.sms_carried == 0
    finally:
        await ctx.shutdown()


@given(st.one_of(st.text(max_size=40), st.text(max_size=30).map(lambda t: "coap+sms://" + t)))
def test_peer_parsing_raises_only_address_error(text):
    try:
        msisdn = parse_sms_peer(text)
    except AddressError:
        return
    assert msisdn.is_international and sms_uri(msisdn).startswith("coap+sms://+")
