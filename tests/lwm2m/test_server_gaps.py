"""Gaps of the server core found against an independent LwM2M client written in C, shown
here with a minimal client on a raw UDP socket that behaves as that client does: it
notifies with NON (or CON) messages, does not send an Update after its lifetime is
written, and puts Content-Format on the later blocks of a block-wise Update."""

import asyncio
import itertools

import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import ACK, CON, NON, RST
from aiocoap.optiontypes import BlockOption

from waiting import until

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
from lwm2m_sms.clock import FakeClock
from lwm2m_sms.gateway import start_device, start_server
from lwm2m_sms.lwm2m.exceptions import DeviceUnreachable
from lwm2m_sms.routing.router import PolicySettings


class RawClient(asyncio.DatagramProtocol):
    """One device on a UDP socket, CoAP by hand (aiocoap's Message for the bytes only)."""

    def __init__(self, notify_type, honour_deregister=True):
        self.notify_type = notify_type
        self.honour_deregister = honour_deregister
        self.mids = itertools.count(100)
        self.responses = {}
        self.token = None
        self.notifications = 0
        self.notify_mids = set()
        self.deregistered = False
        self.resets = 0
        self.stopped = asyncio.Event()
        self.writes = []

    async def start(self, server_port):
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.server = ("127.0.0.1", server_port)

    def send(self, msg):
        self.transport.sendto(msg.encode(), self.server)

    async def request(self, msg):
        msg.mid = next(self.mids)
        msg.token = msg.mid.to_bytes(2, "big")
        fut = self.responses[msg.token] = asyncio.get_running_loop().create_future()
        self.send(msg)
        return await asyncio.wait_for(fut, 10)

    def datagram_received(self, data, addr):
        msg = Message.decode(data)
        if msg.mtype is RST:
            if msg.mid in self.notify_mids:
                self.resets += 1
                self.stopped.set()
        elif msg.code.is_response():
            fut = self.responses.pop(msg.token, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif msg.code == Code.GET and msg.opt.observe == 0:
            self.token = msg.token
            self.reply(msg, Code.CONTENT, b"0", observe=1)
        elif msg.code == Code.GET and msg.opt.observe == 1:
            self.deregistered = msg.token == self.token
            if self.honour_deregister:
                self.stopped.set()
            self.reply(msg, Code.CONTENT, b"0")
        elif msg.code == Code.PUT:
            self.writes.append(("/".join(msg.opt.uri_path), msg.payload))
            self.reply(msg, Code.CHANGED)  # and no Update follows, as the C client does

    def reply(self, request, code, payload=b"", **options):
        answer = Message(code=code, payload=payload, **options)
        answer.mtype, answer.mid, answer.token = ACK, request.mid, request.token
        if request.mtype is NON:
            answer.mtype, answer.mid = NON, next(self.mids)
        self.send(answer)

    def notify(self):
        """One notification (the test plays the device's pmax timer), unless told to stop."""
        if self.stopped.is_set():
            return
        self.notifications += 1
        seq = self.notifications + 1
        n = Message(code=Code.CONTENT, payload=str(seq).encode(), observe=seq)
        n.mtype, n.mid, n.token = self.notify_type, next(self.mids), self.token
        self.notify_mids.add(n.mid)
        self.send(n)

    async def register(self, ep="raw", lifetime=300):
        msg = Message(code=Code.POST, uri_path=("rd",), uri_query=(f"ep={ep}", f"lt={lifetime}", "b=U"),
                      payload=b"</1/0>,</3/0>", content_format=40)
        msg.mtype = CON
        answer = await self.request(msg)
        assert answer.code == Code.CREATED
        return "/".join(answer.opt.location_path)

    def close(self):
        self.stopped.set()
        self.transport.close()


@pytest.fixture
async def stack():
    s = await start_server()
    yield s
    await s.close()


def port_of(stack):
    return int(stack.udp_uri.rsplit(":", 1)[1])


@pytest.mark.parametrize("notify_type", [NON, CON], ids=["NON", "CON"])
@pytest.mark.parametrize("honour", [True, False], ids=["deregisters", "ignores-deregistration"])
async def test_cancelled_observation_stops_notifications(stack, notify_type, honour):
    client = RawClient(notify_type, honour_deregister=honour)
    await client.start(port_of(stack))
    await client.register()
    obs = await stack.server.observe("raw", "/3/0/13")
    values = obs.__aiter__()
    for expected in (2, 3):
        client.notify()
        assert await asyncio.wait_for(values.__anext__(), 10) == expected
    obs.cancel()
    # Told at once: a GET with the observation's token and Observe=1.
    await until(lambda: client.deregistered, what="the GET with Observe=1")
    if not honour:
        # A client that goes on regardless gets a Reset to its next notification, NON or CON.
        assert not client.stopped.is_set()
        client.notify()
        await asyncio.wait_for(client.stopped.wait(), 10)
        assert client.resets == 1
    assert client.stopped.is_set()
    client.notify()  # stopped: nothing more goes out
    assert client.notifications == (2 if honour else 3)
    client.close()


async def test_written_lifetime_is_the_registrations_lifetime(stack):
    client = RawClient(NON)
    await client.start(port_of(stack))
    await client.register(lifetime=300)
    await stack.server.write("raw", "/1/0/1", 40)
    assert client.writes == [("1/0/1", b"40")]
    assert stack.server.registration("raw").lifetime == 40
    await stack.server.write("raw", "/1/0", {1: 50, 2: 1})  # an instance write carrying /1/0/1
    assert stack.server.registration("raw").lifetime == 50
    client.close()


@pytest.mark.parametrize("where", ["later-blocks", "first-block", "every-block"])
async def test_blockwise_update_with_content_format_on_some_blocks(stack, where):
    client = RawClient(NON)
    await client.start(port_of(stack))
    location = await client.register()
    payload = b"</1/0>,</3/0>,</5/0>,</6/0>,</7/0>,</9/0>,</9/1>,</9/2>"
    size, szx = 16, 0  # 16-octet blocks: SZX 0
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)]
    for number, chunk in enumerate(chunks):
        with_cf = {"later-blocks": number > 0, "first-block": number == 0, "every-block": True}[where]
        msg = Message(code=Code.POST, uri_path=tuple(location.split("/")), payload=chunk,
                      block1=BlockOption.BlockwiseTuple(number, number < len(chunks) - 1, szx),
                      **({"content_format": 40} if with_cf else {}))
        msg.mtype = CON
        answer = await client.request(msg)
        expected = Code.CONTINUE if number < len(chunks) - 1 else Code.CHANGED
        assert answer.code == expected, (number, answer.code, answer.payload)
    targets = [l.target for l in stack.server.registration("raw").objects]
    assert targets == ["/1/0", "/3/0", "/5/0", "/6/0", "/7/0", "/9/0", "/9/1", "/9/2"]
    client.close()


async def test_router_close_with_an_observe_waiting_for_a_sleeping_device(caplog):
    caplog.set_level("INFO", logger="lwm2m_sms.routing.router")
    net = LoopbackNetwork()
    server_bearer, device_bearer = LoopbackBearer(net, "+15550000"), LoopbackBearer(net, "+15550104")
    await server_bearer.start()
    await device_bearer.start()
    clock = FakeClock()
    s = await start_server(bearers=[server_bearer], policy=PolicySettings(sms_window=30), clock=clock)
    dev = await start_device("dev-sq", "SQ", server_uri=s.udp_uri, server_msisdn="+15550000",
                             bearer=device_bearer, queue_window=30, clock=clock.wall)
    await clock.advance(31)
    assert not s.router.route(s.server.registration("dev-sq")).now
    observe = asyncio.create_task(s.server.observe("dev-sq", "/3/0/13"))
    await until(lambda: "observe /3/0/13 waits for the device" in caplog.text)
    await s.close()  # raised ValueError here: the waiting observe could not be failed
    with pytest.raises(DeviceUnreachable):
        await observe
    await dev.close(deregister=False)
    await device_bearer.close()
    await server_bearer.close()
