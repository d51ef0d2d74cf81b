"""The loopback bearer: segmentation, reassembly, counters and outcomes as real bearers do."""

import asyncio

import pytest

from lwm2m_sms.bearer import DeliveryState, SmsSegment, loopback_pair
from lwm2m_sms.errors import BearerClosed, PayloadTooLarge
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.udh import Ports


async def _pair():
    a, b, net = loopback_pair()
    await a.start()
    await b.start()
    got = []

    async def handler(sms):
        got.append(sms)

    b.set_receiver(handler)
    return a, b, net, got


async def test_single_sms_round_trip():
    a, b, net, got = await _pair()
    sub = await a.send("+15550000002", b"hello")
    assert (await sub.outcome).state is DeliveryState.SUBMITTED
    await net.drain()
    assert [(str(s.sender), s.payload, s.segments) for s in got] == [("+15550000001", b"hello", 1)]
    assert net.sms_carried == 1 and a.stats.sms_sent == 1 and b.stats.sms_received == 1


async def test_long_payload_is_segmented_and_reassembled_out_of_order():
    a, b, net, got = await _pair()
    held: list[SmsSegment] = []
    net.tap = lambda sms: held.append(sms) or []
    payload = bytes(range(256)) * 2  # 512 octets -> 4 parts of 134
    sub = await a.send("+15550000002", payload)
    assert sub.segments == 4 and len(held) == 4
    for sms in [held[3], held[0], held[2], held[0], held[1]]:  # reordered, part 1 twice
        net.inject(sms)
    await net.drain()
    assert [s.payload for s in got] == [payload]
    assert b.reassembly_stats.duplicates == 1


async def test_ports_travel_and_unknown_recipient_fails():
    a, b, net, got = await _pair()
    await a.send("+15550000002", b"x", ports=Ports(5683, 5684))
    await net.drain()
    assert got[0].ports == Ports(5683, 5684)
    sub = await a.send("+19999", b"x")
    assert (await sub.outcome).state is DeliveryState.FAILED


async def test_refusals():
    a, b, net, got = await _pair()
    with pytest.raises(PayloadTooLarge):
        await a.send("+15550000002", bytes(255 * 134 + 1))
    await a.close()
    with pytest.raises(BearerClosed):
        await a.send("+15550000002", b"x")
    assert parse_msisdn("tel:+1 555 000-0002") == b.local_address


async def test_a_text_sms_is_logged_and_taken_not_handed_up(caplog):
    caplog.set_level("INFO", logger="lwm2m_sms.bearer")
    from lwm2m_sms.bearer import SmsSegment
    from lwm2m_sms.sms.segmentation import UserData
    from lwm2m_sms.sms.gsm7 import encode as gsm7_encode

    a, b, net, got = await _pair()
    notice = SmsSegment(a.local_address, b.local_address, UserData(gsm7_encode("Your bundle ends today")), 0x00)
    net.inject(notice)
    await net.drain()
    assert got == [] and b.stats.text_dropped == 1
    assert "Your bundle ends today" in caplog.text


async def test_a_handler_failure_on_the_last_part_loses_nothing():
    a, b, net, got = await _pair()
    held = []
    net.tap = lambda sms: held.append(sms) or []
    failures = [RuntimeError("disk full")]

    async def flaky(sms):
        if failures:
            raise failures.pop()
        got.append(sms)

    b.set_receiver(flaky)
    payload = bytes(range(256)) + bytes(100)  # 3 parts
    await a.send("+15550000002", payload)
    for sms in held:
        net.inject(sms)
    await net.drain()  # the handler failed on the last part: nothing handed up
    assert got == [] and b.reassembly_stats.open == 1
    net.inject(held[-1])  # the network delivers the unacknowledged part again
    await net.drain()
    assert [s.payload for s in got] == [payload]
