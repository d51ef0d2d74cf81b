"""Fixtures: an LwM2M server and bootstrap server on UDP loopback (port 0), an event
recorder hooked into the server, and clients with a UDP context each."""

import asyncio

import pytest

from lwm2m_sms.lwm2m.client import udp_context
from lwm2m_sms.lwm2m.server import Lwm2mServer, ServerHooks


class Recorder(ServerHooks):
    """Every server event, in order, as (name, endpoint) on a queue."""

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.messages: list[str] = []

    def on_registered(self, r):
        self.queue.put_nowait(("registered", r))

    def on_updated(self, r):
        self.queue.put_nowait(("updated", r))

    def on_deregistered(self, r):
        self.queue.put_nowait(("deregistered", r))

    def on_expired(self, r):
        self.queue.put_nowait(("expired", r))

    def on_message_from(self, r):
        self.messages.append(r.endpoint)

    async def next(self, name=None, timeout=10):
        while True:
            event, reg = await asyncio.wait_for(self.queue.get(), timeout)
            if name is None or event == name:
                return event, reg


@pytest.fixture
async def recorder():
    return Recorder()


@pytest.fixture
async def server(recorder):
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    srv.add_hooks(recorder)
    yield srv
    await srv.close()


@pytest.fixture
async def contexts():
    made = []

    async def make():
        ctx = await udp_context()
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        await ctx.shutdown()
