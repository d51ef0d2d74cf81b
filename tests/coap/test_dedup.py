"""The compact deduplication memory: the sans-IO generations and bound, then the SMS
transport answering an SMSC retry from it (aiocoap's own per-message memory stays empty)."""

from __future__ import annotations

import asyncio

import pytest
from aiocoap import POST

from lwm2m_sms.bearer import SmsSegment
from lwm2m_sms.clock import FakeClock
from lwm2m_sms.coap import SmsSettings
from lwm2m_sms.coap.dedup import RecentMessages

from waiting import until

from .conftest import CLIENT, SERVER
from .test_transport import BARRIER, request, settle


def test_new_then_duplicate_then_its_response():
    recent = RecentMessages(lifetime=100)
    assert recent.receive(1, now=0) is None
    assert recent.receive(1, now=1) == b""          # duplicate, not answered yet
    recent.respond(1, b"\x60\x44\x00\x01")
    assert recent.receive(1, now=2) == b"\x60\x44\x00\x01"
    recent.respond(2, b"ours")                       # a MID never received: not kept
    assert recent.receive(2, now=3) is None


@pytest.mark.parametrize("first_seen", [0.0, 99.9])
def test_remembered_for_at_least_one_lifetime_and_at_most_two(first_seen):
    recent = RecentMessages(lifetime=100)
    recent.receive(0, now=0)                         # starts the first generation
    assert recent.receive(7, now=first_seen) is None
    assert recent.receive(7, now=first_seen + 100) == b""
    assert recent.receive(8, now=300) is None        # two rotations later: 7 is forgotten
    assert recent.receive(7, now=300.5) is None


def test_idle_for_a_long_time_forgets_everything():
    recent = RecentMessages(lifetime=10)
    recent.receive(1, now=0)
    recent.receive(2, now=5)
    assert recent.receive(3, now=1000) is None and len(recent) == 1


def test_a_flood_of_new_ids_stays_within_the_bound_and_counts_what_it_forgot():
    recent = RecentMessages(lifetime=1000, max_entries=100)
    for mid in range(1000):
        recent.receive(mid, now=1)
        assert len(recent) <= 101
    assert recent.evicted >= 800
    assert recent.receive(999, now=2) == b""         # the newest are still known


async def test_retry_is_answered_with_the_first_responses_octets(rig):
    held: list[SmsSegment] = []
    responses: list[bytes] = []

    def tap(sms):
        if str(sms.sender) == CLIENT:
            held.append(sms)
        else:
            responses.append(bytes(sms.user_data.data))
        return [sms]

    rig.net.tap = tap
    assert (await request(rig, POST, "store", b"execute")).payload == b"1"
    await until(lambda: len(responses) == 1)
    rig.net.inject(held[0])  # the SMSC delivers the request again
    await until(lambda: len(responses) == 2)
    assert responses[1] == responses[0]
    assert rig.res["store"].renders == ["POST"]
    assert rig.server_transport.stats().peer(CLIENT).duplicates == 1
    # aiocoap's memory (whole Message objects and a timer per request) is not used.
    assert rig.server_transport._mman._recent_messages == {}
    assert len(rig.server_transport._recent) == 1


async def test_a_retry_after_the_exchange_lifetime_runs_again(rig_factory):
    clock = FakeClock()
    rig = await rig_factory(server_settings=SmsSettings(exchange_lifetime=30), server_clock=clock)
    held: list = []
    rig.net.tap = lambda sms: (held.append(sms) if str(sms.sender) == CLIENT else None) or [sms]
    assert (await request(rig, POST, "store", b"execute")).payload == b"1"
    await clock.advance(61)  # past two generations of 30 s: forgotten
    rig.net.inject(held[0])
    await until(lambda: rig.res["store"].renders == ["POST", "POST"])
    assert rig.server_transport.stats().total.duplicates == 0
    await settle(rig)
    assert rig.net.sms_carried == 2 + 1 + BARRIER  # request, response, the response to the (injected) retry


async def test_udp_retry_is_answered_from_the_compact_memory_too():
    """The UDP contexts of the LwM2M server use the same message manager."""
    import socket

    from aiocoap import Message
    from aiocoap.numbers.types import CON

    from lwm2m_sms.coap.messagemanager import CompactMessageManager
    from lwm2m_sms.lwm2m.udp import local_port, udp_context

    from .conftest import make_site

    site, res = make_site()
    ctx = await udp_context(("127.0.0.1", 0), site)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        message = Message(code=POST, uri_path=("store",), payload=b"x")
        message.mtype, message.mid, message.token = CON, 4711, b"t1"
        request = message.encode()
        answers = []
        for _ in range(2):  # the same datagram twice: a retransmission
            await loop.sock_sendto(sock, request, ("127.0.0.1", local_port(ctx)))
            answers.append(await asyncio.wait_for(loop.sock_recv(sock, 1500), 10))
        assert answers[0] == answers[1] and Message.decode(answers[0]).payload == b"1"
        assert res["store"].renders == ["POST"]
        mman = ctx.request_interfaces[0].token_interface
        assert isinstance(mman, CompactMessageManager)
        assert mman._recent_messages == {} and len(mman.recent) == 1
    finally:
        sock.close()
        await ctx.shutdown()
