"""SMS networks for the end-to-end binding tests: the loopback network, and the simulated
SMSC with the server on one SMPP bind and every device on one fleet bind (multiplexed by
MSISDN). Each exposes ``sms()``: the SMS count that crossed the network so far. Servers and
devices made here run on a FakeClock."""

import pytest

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
from lwm2m_sms.clock import FakeClock
from lwm2m_sms.gateway import emulated_modem, smpp_bearer, start_device, start_server
from lwm2m_sms.multiplex import SegmentMux

SERVER = "+15550000"


class LoopbackRig:
    def __init__(self):
        self.net = LoopbackNetwork()
        self.closers = []

    def sms(self) -> int:
        return self.net.sms_carried

    async def bearer(self, msisdn, *, server=False):
        b = LoopbackBearer(self.net, msisdn)
        await b.start()
        self.closers.append(b.close)
        return b

    async def close(self):
        for c in reversed(self.closers):
            await c()


class SmppRig:
    """Server link bound for its own number; devices share one bind for ^\\+?15550[1-9].*"""

    def __init__(self, impairments=None):
        self.impairments = impairments or {}
        self.closers = []
        self.mux = None

    async def start(self):
        from smsc.config import SmscConfig
        from smsc.server import SimulatedSmsc

        self.smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
        for k, v in self.impairments.items():
            setattr(self.smsc.impairments, k, v)
        await self.smsc.start("127.0.0.1", 0)
        self.closers.append(self.smsc.close)
        return self

    def sms(self) -> int:
        return self.smsc.stats.submitted

    async def _link(self, system_id, address_range, msisdn=None):
        link = await smpp_bearer(self.smsc.port, system_id, address_range, msisdn)
        self.closers.append(link.close)
        return link

    async def bearer(self, msisdn, *, server=False):
        if server:
            return await self._link("server", msisdn, msisdn)
        if self.mux is None:
            self.mux = SegmentMux(await self._link("fleet", r"^\+?15550[1-9].*"))
        b = self.mux.channel(msisdn)
        await b.start()
        self.closers.append(b.close)
        return b

    async def close(self):
        for c in reversed(self.closers):
            await c()


class ModemRig(SmppRig):
    """The server on SMPP; each device on a modem driver -> pty modem emulator -> an SMPP bind
    for the device's number -> the simulated SMSC."""

    async def bearer(self, msisdn, *, server=False):
        if server:
            return await super().bearer(msisdn, server=True)
        network = await self._link("dev" + msisdn[-4:], msisdn, msisdn)
        emulator, driver = await emulated_modem(network, msisdn)
        self.closers.append(emulator.close)
        self.closers.append(driver.close)
        return driver


RIGS = {"loopback": LoopbackRig, "smpp": SmppRig, "modem": ModemRig}


@pytest.fixture(params=list(RIGS))
async def rig(request):
    r = RIGS[request.param]()
    if hasattr(r, "start"):
        await r.start()
    yield r
    await r.close()


async def make_server(rig, **kw):
    """A server whose core and router run on fake time (a FakeClock unless ``clock`` is
    given): no routing test waits for a window, a time limit or a retry in real time."""
    kw.setdefault("clock", FakeClock())
    return await start_server(bearers=[await rig.bearer(SERVER, server=True)], **kw)


async def make_device(rig, stack, ep, binding, msisdn, **kw):
    """A device whose queue-mode window runs on the server's fake time."""
    kw.setdefault("clock", stack.server.clock.wall)
    bearer = await rig.bearer(msisdn)
    return await start_device(ep, binding, server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=bearer, **kw)
