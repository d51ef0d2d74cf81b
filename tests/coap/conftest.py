"""Fixtures: an aiocoap server and client talking CoAP over the loopback SMS network."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiocoap
import aiocoap.resource as resource
import pytest
from aiocoap import CHANGED, CONTENT, DELETED, Message

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork, loopback_pair
from lwm2m_sms.coap import SmsSettings, SmsTransport, add_sms_transport
from lwm2m_sms.clock import SYSTEM_CLOCK, Clock

CLIENT = "+15550000001"
SERVER = "+15550000002"


class Store(resource.Resource):
    """GET/PUT/POST/DELETE on one value; counts the requests it rendered."""

    def __init__(self, value: bytes = b"v0") -> None:
        super().__init__()
        self.value = value
        self.renders: list[str] = []
        self.senders: list[str] = []
        self.uris: list[str] = []

    def _seen(self, request, method: str) -> None:
        self.renders.append(method)
        self.uris.append(request.get_request_uri())
        # over SMS the remote names the sender's MSISDN; over UDP its socket address
        self.senders.append(str(getattr(request.remote, "msisdn", request.remote.scheme)))

    async def render_get(self, request):
        self._seen(request, "GET")
        return Message(code=CONTENT, payload=self.value)

    async def render_put(self, request):
        self._seen(request, "PUT")
        self.value = request.payload
        return Message(code=CHANGED)

    async def render_post(self, request):
        self._seen(request, "POST")
        return Message(code=CHANGED, payload=str(len(self.renders)).encode())

    async def render_delete(self, request):
        self._seen(request, "DELETE")
        self.value = b""
        return Message(code=DELETED)


class Slow(resource.Resource):
    """Answers GET only once the test sets :attr:`release` (a handler as slow as needed)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def render_get(self, request):
        await self.release.wait()
        return Message(code=CONTENT, payload=b"late")


class Observed(resource.ObservableResource):
    def __init__(self) -> None:
        super().__init__()
        self.state = 0

    def bump(self) -> None:
        self.state += 1
        self.updated_state()

    async def render_get(self, request):
        return Message(code=CONTENT, payload=str(self.state).encode())


def make_site() -> tuple[resource.Site, dict[str, resource.Resource]]:
    res = {
        "store": Store(),
        "big": Store(bytes(range(256)) * 8),  # 2 KiB
        "medium": Store(bytes(range(200)) * 2),  # 400 octets: one message of 4 SMS
        "slow": Slow(),
        "obs": Observed(),
    }
    site = resource.Site()
    for name, r in res.items():
        site.add_resource([name], r)
    return site, res


@dataclass
class SmsRig:
    net: LoopbackNetwork
    client_bearer: LoopbackBearer
    server_bearer: LoopbackBearer
    client: aiocoap.Context
    server: aiocoap.Context
    client_transport: SmsTransport
    server_transport: SmsTransport
    res: dict[str, resource.Resource]
    server_closed: bool = False

    def uri(self, path: str) -> str:
        return f"coap+sms://{SERVER}/{path}"


async def build_rig(
    client_settings: SmsSettings | None = None,
    server_settings: SmsSettings | None = None,
    *,
    server_udp: bool = False,
    server_clock: Clock = SYSTEM_CLOCK,
) -> SmsRig:
    a, b, net = loopback_pair(CLIENT, SERVER)
    await a.start()
    await b.start()
    site, res = make_site()
    if server_udp:
        server = await aiocoap.Context.create_server_context(
            site, bind=("127.0.0.1", 0), transports=["udp6"]
        )
    else:
        server = aiocoap.Context(serversite=site, loggername="coap-server")
    client = aiocoap.Context(loggername="coap-client")
    st = await add_sms_transport(server, b, server_settings, server_clock)
    ct = await add_sms_transport(client, a, client_settings)
    return SmsRig(net, a, b, client, server, ct, st, res)


@pytest.fixture
async def rig_factory():
    rigs: list[SmsRig] = []

    async def make(*args, **kwargs) -> SmsRig:
        rig = await build_rig(*args, **kwargs)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        await rig.client.shutdown()
        if not rig.server_closed:
            await rig.server.shutdown()
        await rig.net.drain()
        await rig.client_bearer.close()
        await rig.server_bearer.close()


@pytest.fixture
async def rig(rig_factory) -> SmsRig:
    return await rig_factory()
