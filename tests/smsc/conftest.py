"""Fixtures: a simulated SMSC on a loopback port the OS picks, and links bound to it."""

import pytest

from smsc.config import SmscConfig
from smsc.link import SmppBearer, SmppLinkConfig
from smsc.server import SimulatedSmsc


@pytest.fixture
async def smsc():
    # ESME applications on both ends: message_payload passes whole ("split" is for handsets)
    server = SimulatedSmsc(SmscConfig(open=True, long_payload="pass", retry_min=0.05, retry_max=0.2))
    await server.start("127.0.0.1", 0)
    yield server
    await server.close()


@pytest.fixture
async def make_link():
    links = []

    async def make(server_or_port, msisdn, *, start=True, bearer=None, **kwargs):
        """``kwargs`` configure the link (SmppLinkConfig), ``bearer`` the SmppBearer."""
        port = server_or_port if isinstance(server_or_port, int) else server_or_port.port
        kwargs.setdefault("system_id", "esme" + msisdn[-4:])
        kwargs.setdefault("address_range", msisdn)
        kwargs.setdefault("reconnect_min", 0.05)
        kwargs.setdefault("reconnect_max", 0.5)
        link = SmppBearer(SmppLinkConfig(port=port, **kwargs), msisdn, **(bearer or {}))
        links.append(link)
        if start:
            await link.start()
        return link

    yield make
    for link in links:
        await link.close()
