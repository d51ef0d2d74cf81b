"""Two gateway nodes on one PostgreSQL, each with its own SMPP bind of one account through
the simulated SMSC: answers that reach the node that did not send the request
(lwm2m_sms.cluster). The device is registered by a real client at node 1 (node 2 starts
after it and loads the registration); tests that need exact control of the device's
answers then drive its SMPP bind by hand (a scripted device: each CoAP message it gets
and sends is visible to the test)."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON, NON, RST

from lwm2m_sms.bearer import InboundSms
from lwm2m_sms.cluster import ClusterSettings
from lwm2m_sms.coap.settings import SmsSettings
from lwm2m_sms.gateway import start_device
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.store import RequestState
from smsc.link import SmppBearer

from waiting import Inbox, until

from .nodes import DEVICE, SERVER, NodesRig

SETTINGS = SmsSettings(ack_timeout=10.0)


class Rig(NodesRig):
    def __init__(self, distribution: str) -> None:
        super().__init__(SETTINGS)
        self.distribution = distribution
        self.device_link: SmppBearer | None = None
        self.inbox = Inbox()

    async def start(self, pg_url: str, binding: str, settings: list[ClusterSettings]) -> None:
        await self.start_smsc(self.distribution)
        first = await self.node(pg_url, cluster=settings[0])
        self.device_link = await self.open_device_link()
        self.device = await start_device("dev", binding, server_uri=first.sms_uri, server_msisdn=SERVER,
                                         bearer=self.device_link, udp=False, sms_settings=SETTINGS)
        await until(lambda: "dev" in {r.endpoint for r in first.server.registrations()}, what="Register")
        await self.node(pg_url, cluster=settings[1])

    async def script(self) -> None:
        """From now on the test plays the device: its client lets go of the bind."""
        assert self.device is not None and self.device_link is not None
        await self.device.close(deregister=False)
        self.device = None
        self.device_link.set_receiver(self.inbox)

    async def received(self, n: int) -> Message:
        """The ``n``-th (from 1) CoAP message the scripted device got."""
        items: list[InboundSms] = await self.inbox.wait(n)
        return Message.decode(items[n - 1].payload)

    async def send(self, message: Message) -> None:
        assert self.device_link is not None
        await self.device_link.send(parse_msisdn(SERVER), message.encode())

    def stat(self, name: str) -> int:
        return sum(getattr(gw.cluster.stats, name) for gw in self.nodes if gw.cluster is not None)


@pytest.fixture
async def rig(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[Rig]:
    """(distribution, binding, [node 1 settings, node 2 settings]) from the test's parameter."""
    distribution, binding, settings = getattr(request, "param", ("round_robin", "S", None))
    r = Rig(distribution)
    try:
        await r.start(pg_url, binding, settings or [ClusterSettings(), ClusterSettings()])
        yield r
    finally:
        await r.close()


def coap(code: Code, mtype: Any, mid: int, payload: bytes = b"", token: bytes = b"", **options: Any) -> Message:
    """A message as a device's CoAP layer would send it (type and message ID its own)."""
    m = Message(code=code, payload=payload, **options)
    m.mtype, m.mid, m.token = mtype, mid, token
    return m


def answer(request: Message, code: Code, payload: bytes = b"", *, mtype: Any, mid: int, **options: Any) -> Message:
    return coap(code, mtype, mid, payload, request.token, **options)


async def test_a_separate_response_completes_whichever_node_gets_its_ack_and_its_response(rig: Rig) -> None:
    """Empty ACK, then a CON response with the token: the SMSC alternates them over the two
    binds, so one of them reaches node 2 and is handed to node 1 (an ACK by message ID, a
    response by token). Node 1's empty ACK to the CON response goes out on its own bind."""
    await rig.script()
    first = rig.nodes[0]
    seen = 0
    for separate in (True, False, True):  # the piggybacked one in the middle shifts the alternation
        read = asyncio.ensure_future(first.server.read("dev", "/3/0/0"))
        seen += 1
        request = await rig.received(seen)
        assert request.code == Code.GET and request.mtype is CON
        if separate:
            ack = coap(Code.EMPTY, ACK, request.mid)
            await rig.send(ack)
            response = answer(request, Code.CONTENT, b"Acme", mtype=CON, mid=(request.mid + 1000) % 65536,
                              content_format=0)
            await rig.send(response)
            seen += 1
            got = await rig.received(seen)
            assert (got.mtype, got.code, got.mid) == (ACK, Code.EMPTY, response.mid)  # from node 1
        else:
            await rig.send(answer(request, Code.CONTENT, b"Acme", mtype=ACK, mid=request.mid, content_format=0))
        assert (await asyncio.wait_for(read, 10)).value == "Acme"
    # One of each separate response's two messages went to node 2; so did the piggybacked
    # answer or neither separate one's first, whichever way the alternation fell.
    one, two = rig.nodes[0].cluster, rig.nodes[1].cluster
    assert one is not None and two is not None
    # (an empty ACK may still be on its way when the response has completed the read)
    await until(lambda: two.stats.handed_over >= 2, what="node 2 handed two answers over")
    await until(lambda: one.stats.received == two.stats.handed_over, what="node 1 took every hand-off")


async def test_notifications_that_reach_the_other_node_reach_the_observer(rig: Rig) -> None:
    await rig.script()
    first = rig.nodes[0]
    values: list[object] = []
    observing = asyncio.ensure_future(first.server.observe("dev", "/3/0/0", callback=values.append))
    request = await rig.received(1)
    assert request.opt.observe == 0
    await rig.send(answer(request, Code.CONTENT, b"v1", mtype=ACK, mid=request.mid, observe=1, content_format=0))
    observation = await asyncio.wait_for(observing, 10)
    assert observation.value == "v1"
    for n in range(2, 6):
        # One at a time: a notification overtaken by a newer one (a hand-off takes longer
        # than a direct delivery) is stale by its Observe number and dropped (RFC 7641 3.4).
        await rig.send(answer(request, Code.CONTENT, f"v{n}".encode(), mtype=NON, mid=100 + n, observe=n,
                              content_format=0))
        await until(lambda: len(values) == n - 1, what=f"notification {n} at node 1")
    assert values == ["v2", "v3", "v4", "v5"]
    assert rig.nodes[1].cluster is not None and rig.nodes[1].cluster.stats.handed_over == 2
    exchanges = first.router.queue.store.exchanges
    assert len(exchanges.by_token(DEVICE, request.token, 0.0)) == 1  # owned while it lives
    observation.cancel()  # over SMS the passive way: a Reset to the device's next notification
    # (aiocoap lets go of the token when the first notification after the cancel comes in:
    # that one is taken silently, the one after it gets the Reset)
    for n in (6, 7):
        await rig.send(answer(request, Code.CONTENT, f"v{n}".encode(), mtype=NON, mid=100 + n, observe=n,
                              content_format=0))
    reset = await rig.received(2)
    assert reset.mtype is RST and reset.mid in (106, 107)  # from node 1, whichever node it reached
    assert exchanges.by_token(DEVICE, request.token, 0.0) == []  # and its row is gone
    assert values == ["v2", "v3", "v4", "v5"]


async def test_an_answer_no_node_owns_is_handled_as_with_one_node(rig: Rig) -> None:
    """A CON response with a token nobody sent: looked up once, found in no row, and given
    to the receiving node's own CoAP layer, which answers it with a Reset as it always did."""
    await rig.script()
    stray = coap(Code.CONTENT, CON, 4242, b"x", b"\x99\x98\x97")
    await rig.send(stray)
    reset = await rig.received(1)
    assert (reset.mtype, reset.mid) == (RST, 4242)
    assert rig.stat("lookups") == 1 and rig.stat("unknown") == 1 and rig.stat("handed_over") == 0


@pytest.mark.parametrize("rig", [("first", "S", [ClusterSettings(handoff_burst=3, handoff_rate=0),
                                                  ClusterSettings()])], indirect=True)
async def test_a_sender_gets_a_bounded_number_of_lookups(rig: Rig) -> None:
    """Ten ACKs for message IDs nobody sent, all to node 1 (the account's first bind):
    three lookups (the burst; no refill at rate 0), the other seven dropped unlooked-up."""
    await rig.script()
    for mid in range(10):
        await rig.send(coap(Code.EMPTY, ACK, 5000 + mid))
    first = rig.nodes[0].cluster
    assert first is not None
    await until(lambda: first.stats.lookups + first.stats.refused == 10, what="ten ACKs at node 1")
    assert (first.stats.lookups, first.stats.refused) == (3, 7)


@pytest.mark.parametrize("rig", [("first", "SQ", [ClusterSettings(), ClusterSettings(check_interval=3600)])],
                         indirect=True)
async def test_the_answer_to_a_dead_nodes_queued_request_is_recorded_by_the_node_it_reaches(rig: Rig) -> None:
    """Node 1 sends a queued Read (the device woke there) and stops before the answer
    comes; the answer reaches node 2 (now the account's only bind), whose check of the
    other nodes is not due: it finds node 1 dead and records the Read answered."""
    first, second = rig.nodes
    device, link = rig.device, rig.device_link
    assert device is not None and link is not None
    second.router.presence.asleep("dev sms")
    read = asyncio.ensure_future(second.server.read("dev", "/3/0/0"))  # queued: a caller at node 2
    await until(lambda: second.router.queue.counts() == {"queued": 1}, what="the Read queued")
    (queued,) = second.router.queue.pending("dev")

    gate = asyncio.Event()
    send = link.send

    async def held(recipient: Any, payload: bytes, **options: Any) -> Any:
        if payload[1] >> 5 >= 2:  # a response: held until node 1 is gone
            await gate.wait()
        return await send(recipient, payload, **options)

    link.send = held  # type: ignore[method-assign]
    requests = device.client.stats["requests"]
    await device.client.update()  # reaches node 1: it takes the Read and sends it
    await until(lambda: device.client.stats["requests"] == requests + 1, what="the device got the Read")
    assert first.router.queue.get(queued.id).state is RequestState.SENT  # type: ignore[union-attr]
    await first.close()
    await rig.links[0].close()  # node 1 and its bind are gone
    gate.set()
    await until(lambda: second.cluster is not None and second.cluster.stats.outcomes == 1,
                what="node 2 records the answer")
    record = second.router.queue.get(queued.id)
    assert record is not None and (record.state, record.response_code) == (RequestState.ANSWERED, 69)
    assert (await asyncio.wait_for(read, 10)).value  # and node 2's caller has it


async def test_a_node_taken_over_while_its_listener_was_down_is_watched_again_once_back(pg_url: str) -> None:
    """Node 1's listening connection drops (its name's lock goes with it): node 2 takes its
    work over and strikes it from the node list. Node 1 listens again and goes on taking
    work; when it then dies for good, node 2 must take that work over too, not leave it
    until the leases run out."""
    import psycopg

    from lwm2m_sms.gateway import start_server

    slow = ClusterSettings(check_interval=3600)  # the rounds are the test's explicit calls
    first = await start_server(db=pg_url, node="node1", cluster=slow)
    second = await start_server(db=pg_url, node="node2", cluster=slow)
    try:
        assert first.bus is not None and first.cluster is not None and second.cluster is not None
        bus = first.bus

        async def drop_listener() -> None:
            pid = bus._listener.info.backend_pid  # type: ignore[union-attr]
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            await until(lambda: not bus.listening, what="node 1 to notice its listener is gone")

        await drop_listener()
        assert await second.cluster.check() == ["node1"]
        await until(lambda: bus.listening, what="node 1 to listen again")
        await first.cluster.check()
        assert "node1" in second.router.queue.store.nodes.names()
        await drop_listener()  # and now it is dead again: taken over again
        assert await second.cluster.check() == ["node1"]
    finally:
        await second.close()
        await first.close()


@pytest.mark.parametrize("rig", [("round_robin", "S", [ClusterSettings(check_interval=3600, purge_interval=0),
                                                        ClusterSettings()])], indirect=True)
async def test_an_observation_that_never_began_leaves_no_row_behind(rig: Rig) -> None:
    """An Observe the device refuses (4.04), or answers without Observe (the resource is
    not observable): no notification will ever come to release its row, which has no
    expiry. The owner's next purge round deletes it, or the table grows with every such
    Observe until the node restarts."""
    from lwm2m_sms.lwm2m.exceptions import RequestFailed

    await rig.script()
    first = rig.nodes[0]
    assert first.cluster is not None
    exchanges = first.router.queue.store.exchanges
    refused = asyncio.ensure_future(first.server.observe("dev", "/3/0/9"))
    request = await rig.received(1)
    await rig.send(answer(request, Code.NOT_FOUND, mtype=ACK, mid=request.mid))
    with pytest.raises(RequestFailed):
        await asyncio.wait_for(refused, 10)
    plain = asyncio.ensure_future(first.server.observe("dev", "/3/0/0"))
    second_request = await rig.received(2)
    await rig.send(answer(second_request, Code.CONTENT, b"Acme", mtype=ACK, mid=second_request.mid,
                          content_format=0))
    await asyncio.wait_for(plain, 10)
    live = asyncio.ensure_future(first.server.observe("dev", "/3/0/13"))
    third_request = await rig.received(3)
    await rig.send(answer(third_request, Code.CONTENT, b"1", mtype=ACK, mid=third_request.mid, observe=1,
                          content_format=0))
    await asyncio.wait_for(live, 10)
    assert len(exchanges.by_token(DEVICE, request.token, 0.0)) == 1
    await first.cluster.check()
    assert exchanges.by_token(DEVICE, request.token, 0.0) == []
    assert exchanges.by_token(DEVICE, second_request.token, 0.0) == []
    assert len(exchanges.by_token(DEVICE, third_request.token, 0.0)) == 1  # it lives: its row stays
