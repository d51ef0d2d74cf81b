"""A server with the HTTP API on a real loopback port, the simulated SMSC, and devices on
UDP and on SMS (one SMPP bind shared by the device fleet, multiplexed by MSISDN). The
server core, the router and the devices run on one FakeClock (``rig.clock``): queue-mode
windows close when a test advances it, not after real seconds."""

import aiohttp
import pytest

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.gateway import smpp_bearer, start_device, start_server
from lwm2m_sms.http import HttpApi, HttpSettings
from lwm2m_sms.multiplex import SegmentMux
from lwm2m_sms.routing.router import PolicySettings

SERVER = "+15550000"
TOKEN = "test-token-0123456789abcdef"


class Rig:
    def __init__(self):
        self.closers = []
        self.mux = None
        self.clock = FakeClock()

    async def start(self, *, policy=None, settings=None):
        from smsc.config import SmscConfig
        from smsc.server import SimulatedSmsc

        self.smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
        await self.smsc.start("127.0.0.1", 0)
        self.closers.append(self.smsc.close)
        link = await smpp_bearer(self.smsc.port, "server", SERVER, SERVER)
        self.closers.append(link.close)
        self.stack = await start_server(bearers=[link], policy=policy or PolicySettings(), clock=self.clock)
        self.closers.append(self.stack.close)
        self.api = HttpApi(self.stack, settings or HttpSettings(port=0, token=TOKEN))
        await self.api.start()
        self.closers.append(self.api.close)
        self.http = aiohttp.ClientSession(
            self.api.url, headers={"Authorization": f"Bearer {TOKEN}"} if self.api.settings.token else {})
        self.closers.append(self.http.close)
        return self

    def sms(self) -> int:
        return self.smsc.stats.submitted

    async def sms_device(self, ep, binding, msisdn, **kw):
        if self.mux is None:
            fleet = await smpp_bearer(self.smsc.port, "fleet", r"^\+?15550[1-9].*")
            self.closers.append(fleet.close)
            self.mux = SegmentMux(fleet)
        bearer = self.mux.channel(msisdn)
        await bearer.start()
        self.closers.append(bearer.close)
        kw.setdefault("clock", self.clock.wall)
        dev = await start_device(ep, binding, server_uri=self.stack.udp_uri, server_msisdn=SERVER,
                                 bearer=bearer, **kw)
        self.closers.append(lambda: dev.close(deregister=False))
        return dev

    async def udp_device(self, ep, binding="U", **kw):
        kw.setdefault("clock", self.clock.wall)
        dev = await start_device(ep, binding, server_uri=self.stack.udp_uri, **kw)
        self.closers.append(lambda: dev.close(deregister=False))
        return dev

    async def get(self, url, status=200, **kw):
        async with self.http.get(url, **kw) as r:
            body = await r.json()
            assert r.status == status, body
            return body

    async def call(self, method, url, status=200, **kw):
        async with self.http.request(method, url, **kw) as r:
            body = await r.json()
            assert r.status == status, body
            return body

    async def close(self):
        for c in reversed(self.closers):
            await c()


@pytest.fixture
async def rig():
    r = Rig()
    yield r
    await r.close()
