"""What the several-node tests share: the simulated SMSC with a gateway account (its MO
spread over the account's binds as ``distribution`` says) and a devices account, and a rig
of gateway nodes on one database, each on its own SMPP bind of the gateway account."""

from __future__ import annotations

import threading
from typing import Any, Callable

from lwm2m_sms.coap.settings import SmsSettings
from lwm2m_sms.gateway import Device, Gateway, smpp_bearer, start_server
from smsc.config import Account, SmscConfig
from smsc.link import SmppBearer
from smsc.server import SimulatedSmsc

SERVER, DEVICE = "+15550000", "+15550101"


async def cluster_smsc(distribution: str = "first") -> SimulatedSmsc:
    """Started on a loopback port: account ``gateway`` (password ``gpw``) owns SERVER,
    ``devices`` (``dpw``) the device numbers +15550[1-9]..."""
    smsc = SimulatedSmsc(SmscConfig(
        accounts=[Account("gateway", "gpw", address_range=SERVER.lstrip("+"), mo_distribution=distribution),
                  Account("devices", "dpw", address_range=r"^15550[1-9]\d*")],
        retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    return smsc


class NodesRig:
    """The SMSC, the nodes (``node1``, ``node2``... in start order), the device's link and
    device; :meth:`close` stops them all."""

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self.smsc: SimulatedSmsc | None = None
        self.links: list[SmppBearer] = []
        self.nodes: list[Gateway] = []
        self.device: Device | None = None

    async def start_smsc(self, distribution: str = "first") -> None:
        self.smsc = await cluster_smsc(distribution)

    async def node(self, db: str, **options: Any) -> Gateway:
        assert self.smsc is not None
        link = await smpp_bearer(self.smsc.port, "gateway", SERVER, SERVER, password="gpw")
        self.links.append(link)
        gw = await start_server(bearers=[link], db=db, sms_settings=self.settings,
                                node=f"node{len(self.nodes) + 1}", **options)
        self.nodes.append(gw)
        return gw

    async def open_device_link(self, msisdn: str = DEVICE) -> SmppBearer:
        assert self.smsc is not None
        link = await smpp_bearer(self.smsc.port, "devices", msisdn, msisdn, password="dpw")
        self.links.append(link)
        return link

    async def close(self) -> None:
        if self.device is not None:
            await self.device.close(deregister=False)
        for gw in self.nodes:
            await gw.close()
        for link in self.links:
            await link.close()
        if self.smsc is not None:
            await self.smsc.close()


def at_once(n: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` for i in 0..n-1 in ``n`` threads released together (nodes acting at the
    same moment, each on its own connection); their results in order."""
    start = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
