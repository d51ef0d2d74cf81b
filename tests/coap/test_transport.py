"""aiocoap over the SMS transport on the loopback bearer: every test counts the SMS that
crossed the network (``net.sms_carried``) for the operation it runs."""

from __future__ import annotations

import asyncio
import logging

import aiocoap
import pytest
from aiocoap import DELETE, GET, POST, PUT, Message, error
from aiocoap.numbers.types import CON, NON

from lwm2m_sms.bearer import DeliveryState, LoopbackBearer, SmsSegment, Submission
from lwm2m_sms.coap import SmsAddress, SmsSendError, SmsSettings, add_sms_transport
from lwm2m_sms.errors import BearerError
from lwm2m_sms.lwm2m.udp import local_port
from lwm2m_sms.sms.address import parse_address
from lwm2m_sms.sms.udh import Ports

from waiting import until

from .conftest import CLIENT, SERVER

# Retransmission on, with a timeout far above a loopback round trip (well under 1 ms) so a
# busy machine does not cause spurious retransmissions.
FAST_RETRY = SmsSettings(ack_timeout=0.5, max_retransmit=4, piggyback_window=0.1)


async def settle(rig) -> None:
    """A barrier: one more GET, answered. The loopback network delivers in order, so what
    either side sent before it has crossed the network when its answer is back. It costs two
    SMS (``BARRIER``), which the tests count in."""
    rig.net.tap = None
    await request(rig, GET, "obs")
    await rig.net.drain()


BARRIER = 2


async def request(rig, code, path, payload=b"", **kw):
    msg = Message(code=code, uri=rig.uri(path), payload=payload, **kw)
    return await asyncio.wait_for(rig.client.request(msg).response, 10)


async def test_get_is_two_sms_with_piggybacked_response(rig):
    resp = await request(rig, GET, "store")
    assert resp.code == aiocoap.CONTENT and resp.payload == b"v0"
    assert resp.mtype == aiocoap.ACK  # piggybacked: no separate empty ACK
    assert isinstance(resp.remote, SmsAddress) and str(resp.remote.msisdn) == SERVER
    assert rig.res["store"].senders == [CLIENT]  # resources see the sender MSISDN
    assert resp.get_request_uri() == f"coap+sms://{SERVER}/store"
    assert rig.res["store"].uris == [f"coap+sms://{SERVER}/store"]  # as the server sees it
    assert rig.net.sms_carried == 2
    total = rig.client_transport.stats().total
    assert (total.sms_sent, total.sms_received, total.messages_sent) == (1, 1, 1)


async def test_put_post_delete(rig):
    resp = await request(rig, PUT, "store", b"new value")
    assert resp.code == aiocoap.CHANGED and rig.res["store"].value == b"new value"
    assert rig.net.sms_carried == 2
    resp = await request(rig, POST, "store", b"x")
    assert resp.code == aiocoap.CHANGED and resp.payload == b"2"
    assert rig.net.sms_carried == 4
    resp = await request(rig, DELETE, "store")
    assert resp.code == aiocoap.DELETED and rig.res["store"].value == b""
    assert rig.net.sms_carried == 6
    assert rig.res["store"].renders == ["PUT", "POST", "DELETE"]
    peer = rig.server_transport.stats().peer(CLIENT)
    assert peer.messages_received == 3 and peer.messages_sent == 3


async def test_uri_forms_and_no_uri_host_on_the_wire(rig):
    rig.net.keep_log = True
    for uri in (f"coap+sms://%2B{SERVER[1:]}/store", f"coap+sms://{SERVER[1:]}/store"):
        resp = await asyncio.wait_for(rig.client.request(Message(code=GET, uri=uri)).response, 10)
        assert resp.payload == b"v0"
    msg = Message(code=GET, uri_path=["store"])
    msg.remote = rig.client_transport.address_for(f"tel:{SERVER}")
    resp = await asyncio.wait_for(rig.client.request(msg).response, 10)
    assert resp.payload == b"v0"
    assert rig.net.sms_carried == 6
    # GET /store: 4 header + token + Uri-Path "store" (6): no 12-octet Uri-Host
    requests = [s for s in rig.net.log if str(s.sender) == CLIENT]
    assert all(len(s.user_data.data) <= 4 + 8 + 6 for s in requests)


async def test_observe_notifications(rig):
    req = rig.client.request(Message(code=GET, uri=rig.uri("obs"), observe=0))
    first = await asyncio.wait_for(req.response, 10)
    assert first.payload == b"0" and rig.net.sms_carried == 2
    notifications = aiter(req.observation)
    for expected in (b"1", b"2"):
        rig.res["obs"].bump()
        assert (await asyncio.wait_for(anext(notifications), 10)).payload == expected
    await settle(rig)
    # Each notification is a CON (the request was) plus its empty ACK.
    assert rig.net.sms_carried == 2 + 2 * 2 + BARRIER
    req.observation.cancel()


async def test_blockwise_2k_down(rig):
    resp = await request(rig, GET, "big")
    assert resp.payload == bytes(range(256)) * 8
    # 2048 / 64 = 32 blocks, each a request and a response in one SMS.
    assert rig.net.sms_carried == 64
    assert rig.client_transport.stats().total.sms_received == 32


async def test_blockwise_2k_up(rig):
    body = bytes(range(255, -1, -1)) * 8
    resp = await request(rig, PUT, "store", body)
    assert resp.code == aiocoap.CHANGED
    assert rig.res["store"].value == body and rig.res["store"].renders == ["PUT"]
    assert rig.net.sms_carried == 64


async def test_response_up_to_max_message_size_goes_whole_in_concatenated_sms(rig):
    resp = await request(rig, GET, "medium")
    assert len(resp.payload) == 400 and resp.opt.block2 is None
    assert rig.net.sms_carried == 1 + 4  # request, then 4 parts of one message


async def test_sms_retry_does_not_run_the_request_twice(rig):
    held: list[SmsSegment] = []

    def duplicate_requests(sms):
        if str(sms.sender) == CLIENT:
            held.append(sms)
        return [sms]

    rig.net.tap = duplicate_requests
    resp = await request(rig, POST, "store", b"execute")
    assert resp.payload == b"1"
    # The SMSC retries the request after the response went out: the server answers
    # from its dedup cache without running the handler again.
    rig.net.inject(held[0])
    await until(lambda: rig.server_transport.stats().peer(CLIENT).duplicates == 1)
    await settle(rig)
    assert rig.res["store"].renders == ["POST"]
    assert rig.server_transport.stats().peer(CLIENT).duplicates == 1
    assert rig.net.sms_carried == 3 + BARRIER  # request, response, response re-sent for the retry


async def test_duplicate_arriving_before_the_response_is_dropped(rig):
    rig.net.tap = lambda sms: [sms, sms] if str(sms.sender) == CLIENT else [sms]
    resp = await request(rig, POST, "store", b"execute")
    assert resp.payload == b"1"
    await until(lambda: rig.server_transport.stats().total.duplicates == 1)
    await settle(rig)
    assert rig.res["store"].renders == ["POST"]
    assert rig.server_transport.stats().total.duplicates == 1
    assert rig.net.sms_carried == 2 + BARRIER


async def test_reordered_parts_and_reordered_messages(rig):
    held: list[SmsSegment] = []
    rig.net.tap = lambda sms: held.append(sms) or []
    # A 4-part response delivered last part first.
    pending = asyncio.ensure_future(request(rig, GET, "medium"))
    await until(lambda: len(held) == 1)
    rig.net.inject(held.pop())
    await until(lambda: len(held) == 4)
    for sms in reversed(held):
        rig.net.inject(sms)
    held.clear()
    assert len((await pending).payload) == 400
    assert rig.net.sms_carried == 5
    # Two NON requests (no NSTART backlog) delivered in reverse order.
    first = asyncio.ensure_future(
        request(rig, GET, "store", transport_tuning=aiocoap.Unreliable())
    )
    second = asyncio.ensure_future(
        request(rig, POST, "store", transport_tuning=aiocoap.Unreliable())
    )
    await until(lambda: len(held) == 2)
    rig.net.tap = None
    for sms in reversed(held):
        rig.net.inject(sms)
    r1, r2 = await first, await second
    assert (r1.mtype, r1.payload, r2.payload) == (NON, b"v0", b"1")
    assert rig.res["store"].renders == ["POST", "GET"]
    assert rig.net.sms_carried == 5 + 4


async def test_default_sends_a_con_once_and_fails_after_the_ack_wait(rig_factory):
    rig = await rig_factory(SmsSettings(ack_timeout=0.3, piggyback_window=0.1))
    rig.net.tap = lambda sms: []  # the network loses everything
    with pytest.raises(error.ConRetransmitsExceeded):
        await request(rig, GET, "store")
    assert rig.net.sms_carried == 1  # no retransmission by default


async def test_lost_request_recovered_by_opt_in_retransmission(rig_factory):
    rig = await rig_factory(FAST_RETRY)
    lost = []

    def lose_first(sms):
        if not lost:
            lost.append(sms)
            return []
        return [sms]

    rig.net.tap = lose_first
    resp = await request(rig, GET, "store")
    assert resp.payload == b"v0"
    assert rig.net.sms_carried == 3  # lost request, retransmission, response


async def test_lost_response_recovered_without_running_the_request_twice(rig_factory):
    rig = await rig_factory(FAST_RETRY)
    lost = []

    def lose_first_response(sms):
        if str(sms.sender) == SERVER and not lost:
            lost.append(sms)
            return []
        return [sms]

    rig.net.tap = lose_first_response
    resp = await request(rig, POST, "store", b"execute")
    assert resp.payload == b"1" and rig.res["store"].renders == ["POST"]
    assert rig.server_transport.stats().total.duplicates == 1
    assert rig.net.sms_carried == 4  # request, lost response, retransmission, re-sent response


async def test_slow_response_gets_an_empty_ack_after_the_piggyback_window(rig_factory):
    rig = await rig_factory(
        SmsSettings(ack_timeout=5.0, piggyback_window=1.0),
        SmsSettings(ack_timeout=5.0, piggyback_window=0.1),
    )
    pending = asyncio.ensure_future(request(rig, GET, "slow"))
    await until(lambda: rig.net.sms_carried == 2)  # request, empty ACK after 0.1 s
    rig.res["slow"].release.set()
    resp = await pending
    assert resp.payload == b"late" and resp.mtype == CON
    await settle(rig)
    assert rig.net.sms_carried == 4 + BARRIER  # request, empty ACK, CON response, its ACK


async def test_unreachable_msisdn_is_an_error_not_a_hang(rig):
    msg = Message(code=GET, uri="coap+sms://+4915199999999/3/0/0")
    with pytest.raises(SmsSendError) as info:
        await asyncio.wait_for(rig.client.request(msg).response, 10)
    assert isinstance(info.value, error.NetworkError) and isinstance(info.value, BearerError)
    assert "no such subscriber" in str(info.value)
    assert rig.net.sms_carried == 0
    assert rig.client_transport.stats().peer("+4915199999999").failures == 1
    # The peer is usable again afterwards (no exchange left behind).
    assert (await request(rig, GET, "store")).payload == b"v0"
    assert rig.net.sms_carried == 2


class ReportsFailureLater(LoopbackBearer):
    """A bearer that accepts everything and reports it undelivered later, as an SMSC's
    delivery receipt would (the outcome resolves after send() returned)."""

    async def send(self, recipient, payload, *, ports=None, report=False):
        sub = Submission(
            self._new_message_id(), parse_address(recipient), 1, asyncio.get_running_loop().create_future()
        )
        asyncio.get_running_loop().call_soon(sub.resolve, DeliveryState.FAILED, "EXPIRED")
        return sub


async def test_failed_delivery_report_fails_the_request(rig):
    bearer = ReportsFailureLater(rig.net, "+15550000077")
    await bearer.start()
    ctx = aiocoap.Context(loggername="coap-late")
    await add_sms_transport(ctx, bearer, SmsSettings(report=True))
    try:
        with pytest.raises(SmsSendError, match="EXPIRED"):
            await asyncio.wait_for(ctx.request(Message(code=GET, uri=rig.uri("store"))).response, 10)
    finally:
        await ctx.shutdown()
    assert rig.net.sms_carried == 0  # nothing reached the network


async def test_bearer_refusing_the_send_is_an_error(rig):
    await rig.client_bearer.close()
    with pytest.raises(SmsSendError, match="not started"):
        await request(rig, GET, "store")
    assert rig.net.sms_carried == 0


async def test_message_over_max_size_is_refused(rig):
    msg = Message(code=POST, uri=rig.uri("store"), payload=b"x" * 600)
    with pytest.raises(SmsSendError, match="max_message_size"):
        await asyncio.wait_for(rig.client.request(msg, handle_blockwise=False).response, 10)
    assert rig.client_transport.stats().total.dropped_too_large == 1
    assert rig.net.sms_carried == 0


async def test_garbage_payload_is_dropped_with_one_log_line(rig, caplog):
    stranger = LoopbackBearer(rig.net, "+15550000099")
    await stranger.start()
    with caplog.at_level(logging.WARNING, logger="lwm2m_sms.coap"):
        await stranger.send(SERVER, b"\x00not coap at all")
        await stranger.send(SERVER, b"\x40\x01")  # shorter than a CoAP header
        await rig.net.drain()
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("lwm2m_sms.coap")]
    assert len(lines) == 2 and all("+15550000099" in line for line in lines)
    stats = rig.server_transport.stats()
    # counted in the total only: a stream of garbage from many numbers cannot grow the
    # per-peer map
    assert stats.total.dropped_garbage == 2 and "+15550000099" not in stats.per_peer
    assert rig.net.sms_carried == 2  # nothing answered
    # and the transport still serves
    assert (await request(rig, GET, "store")).payload == b"v0"
    assert rig.net.sms_carried == 4


async def test_accept_filter_drops_silently(rig_factory, caplog):
    rig = await rig_factory(SmsSettings(ack_timeout=0.3, piggyback_window=0.1))
    seen = []

    def only_known(remote, message):
        seen.append((str(remote.msisdn), message.code))
        return str(remote.msisdn) != CLIENT

    rig.server_transport.accept_filter = only_known
    with caplog.at_level(logging.INFO, logger="lwm2m_sms.coap"):
        with pytest.raises(error.ConRetransmitsExceeded):
            await request(rig, POST, "store", b"execute")
    assert seen == [(CLIENT, POST)] and rig.res["store"].renders == []
    assert rig.server_transport.stats().total.dropped_untrusted == 1
    assert any(CLIENT in r.getMessage() and "untrusted" in r.getMessage() for r in caplog.records)
    assert rig.net.sms_carried == 1  # no reply SMS


async def test_ports_are_swapped_in_the_reply(rig_factory):
    rig = await rig_factory(SmsSettings(ports=Ports(destination=5683, source=9201)))
    rig.net.keep_log = True
    resp = await request(rig, GET, "store")
    assert resp.payload == b"v0"
    assert [s.user_data.ports for s in rig.net.log] == [Ports(5683, 9201), Ports(9201, 5683)]
    assert rig.net.sms_carried == 2


async def test_same_site_over_udp_and_sms(rig_factory):
    rig = await rig_factory(server_udp=True)
    udp_port = local_port(rig.server)
    udp_client = await aiocoap.Context.create_client_context(transports=["udp6"])
    try:
        resp = await asyncio.wait_for(
            udp_client.request(Message(code=GET, uri=f"coap://127.0.0.1:{udp_port}/store")).response,
            10,
        )
        assert resp.payload == b"v0" and resp.remote.scheme == "coap"
        assert rig.net.sms_carried == 0
        resp = await request(rig, GET, "store")
        assert resp.payload == b"v0" and resp.remote.scheme == "coap+sms"
        # the SMS request was answered by SMS, from the server's number
        assert rig.net.sms_carried == 2
        assert rig.server_transport.stats().peer(CLIENT).sms_sent == 1
        assert rig.res["store"].senders == ["coap", CLIENT]
    finally:
        await udp_client.shutdown()


async def test_stats_are_logged_at_shutdown(rig_factory, caplog):
    rig = await rig_factory()
    await request(rig, GET, "store")
    assert rig.net.sms_carried == 2
    stats = rig.server_transport.stats()
    assert stats.total.messages_received == 1 and set(stats.per_peer) == {CLIENT}
    assert stats.as_dict()["per_peer"][CLIENT]["sms_sent"] == 1
    with caplog.at_level(logging.INFO, logger="lwm2m_sms.coap"):
        await rig.server.shutdown()
        rig.server_closed = True
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "shut down: messages_sent=1 messages_received=1" in text and CLIENT in text


async def test_malformed_msisdn_in_uri_is_a_resolution_error(rig):
    with pytest.raises(error.ResolutionError, match="not an MSISDN"):
        await asyncio.wait_for(
            rig.client.request(Message(code=GET, uri="coap+sms://+49abc/3/0")).response, 10
        )
    assert rig.net.sms_carried == 0
