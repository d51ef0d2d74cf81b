"""The public composition API: an LwM2M server and simulated devices on whatever bearers.

The one place where server core, router, UDP and the SMS transport are put together, so
that users' programs, ``lwm2m-sms server``, ``lwm2m-sms demo``, ``lwm2m-sms bench fleet``
and the end-to-end tests build them the same way. Bearers come in ready made (SMPP link, modem driver,
loopback): this module does not know which.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import aiocoap

from .bearer import Bearer
from .coap import SmsSettings, SmsTransport, add_sms_transport
from .lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from .lwm2m.client import Lwm2mClient
from .lwm2m.server import Lwm2mServer
from .lwm2m.store import MemoryRegistrationStore, SqliteRegistrationStore
from .lwm2m.udp import local_port, udp_context
from .routing.queue import RequestQueue
from .routing.router import PolicySettings, Router
from .sms.address import Address

__all__ = ["ServerStack", "BootstrapStack", "Device", "start_server", "start_bootstrap_server", "start_device", "smpp_bearer", "modem_bearer", "emulated_modem"]

log = logging.getLogger(__name__)


@dataclass
class ServerStack:
    server: Lwm2mServer
    router: Router
    context: aiocoap.Context
    sms: list[SmsTransport] = field(default_factory=list)
    msisdn: Optional[Address] = None
    udp_host: str = "127.0.0.1"

    @property
    def udp_uri(self) -> str:
        host = f"[{self.udp_host}]" if ":" in self.udp_host else self.udp_host
        return f"coap://{host}:{local_port(self.context)}"

    async def close(self) -> None:
        await self.router.close()
        await self.server.close()
        self.router.queue.close()


async def start_server(
    *,
    udp: tuple[str, int] = ("127.0.0.1", 0),
    bearers: Sequence[Bearer] = (),
    db: Optional[str] = None,
    policy: Optional[PolicySettings] = None,
    sms_settings: Optional[SmsSettings] = None,
    site: Any = None,
    **server_kwargs: Any,
) -> ServerStack:
    """An LwM2M server on UDP plus one SMS transport per bearer (started by the caller),
    with the router in front of the core. ``db`` keeps registrations and the request queue
    in one SQLite file; ``site`` lets the caller serve more (e.g. a bootstrap server)."""
    store = SqliteRegistrationStore(db) if db else MemoryRegistrationStore()
    server = Lwm2mServer(store, **server_kwargs)
    if site is not None:
        server.mount(site)
    context = await udp_context(udp, site or server.site)
    transports = [await add_sms_transport(context, b, sms_settings) for b in bearers]
    server.start(context)
    router = Router(
        server, context, sms=transports[0] if transports else None,
        queue=RequestQueue(db), policy=policy,
    )
    for extra in transports[1:]:
        extra.accept_filter = router._accept_sms
    for bearer in bearers:
        # reassembly pools: parts from numbers no registration names never evict a
        # registered device's parts (lwm2m_sms.sms.reassembly)
        bearer.set_sender_trust(router.trust.directory.known)
    router.start()
    msisdn = bearers[0].local_address if bearers else None
    return ServerStack(server, router, context, transports, msisdn, udp[0])


@dataclass
class BootstrapStack:
    """A bootstrap server on its own UDP socket and SMS number(s)."""

    server: BootstrapServer
    context: aiocoap.Context
    sms: list[SmsTransport] = field(default_factory=list)
    msisdn: Optional[Address] = None
    udp_host: str = "127.0.0.1"

    @property
    def udp_uri(self) -> str:
        host = f"[{self.udp_host}]" if ":" in self.udp_host else self.udp_host
        return f"coap://{host}:{local_port(self.context)}"

    @property
    def sms_uri(self) -> Optional[str]:
        return f"coap+sms://{self.msisdn}" if self.msisdn is not None else None

    async def close(self) -> None:
        await self.server.close()


async def start_bootstrap_server(
    config: BootstrapConfig,
    *,
    udp: tuple[str, int] = ("127.0.0.1", 0),
    bearers: Sequence[Bearer] = (),
    sms_settings: Optional[SmsSettings] = None,
    step_timeout: float = 120.0,
) -> BootstrapStack:
    """A bootstrap server on UDP plus one SMS transport per bearer (started by the
    caller): Client Initiated Bootstrap by UDP and by SMS (from the numbers ``config``
    lists per endpoint; other SMS are dropped and counted), and Server Initiated Bootstrap
    by :meth:`BootstrapServer.push`, sent from the first bearer's number."""
    server = BootstrapServer(config, step_timeout=step_timeout)
    context = await udp_context(udp, server.site, loggername="coap-bootstrap")
    transports = [await add_sms_transport(context, b, sms_settings) for b in bearers]
    for transport in transports:
        transport.accept_filter = server.sms_accept_filter
    for bearer in bearers:
        bearer.set_sender_trust(server.knows_sms)
    server.start(context)
    return BootstrapStack(server, context, transports, bearers[0].local_address if bearers else None, udp[0])


@dataclass
class Device:
    client: Lwm2mClient
    context: aiocoap.Context
    sms: Optional[SmsTransport] = None

    async def close(self, deregister: bool = True) -> None:
        await self.client.stop(deregister=deregister)
        await self.context.shutdown()


async def start_device(
    endpoint: str,
    binding: str,
    *,
    server_uri: Optional[str] = None,
    bootstrap_uri: Optional[str] = None,
    server_msisdn: "str | Address | None" = None,
    bearer: Optional[Bearer] = None,
    udp: bool = True,
    sms_settings: Optional[SmsSettings] = None,
    start: bool = True,
    own_sms: "str | Address | None" = None,
    **client_kwargs: Any,
) -> Device:
    """One simulated device: a context with a UDP socket (when ``udp``) and the SMS transport
    on ``bearer`` (when given), and an :class:`Lwm2mClient` on it. ``server_msisdn`` goes
    into /0/x/9; the client drops every SMS from a number its /0 does not name (LwM2M SMS
    trust; the check is the client's, on the SMS transport's accept_filter). ``own_sms`` is
    the number a device without a bearer names in ``sms=`` (with a bearer: the bearer's)."""
    # One socket of its own per device (see lwm2m_sms.lwm2m.udp: no shared ports).
    context = await udp_context(("127.0.0.1", 0)) if udp else aiocoap.Context(serversite=None)
    sms = None
    if bearer is not None:
        sms = await add_sms_transport(context, bearer, sms_settings)
    client = Lwm2mClient(
        context, endpoint, server=server_uri, bootstrap=bootstrap_uri, binding=binding,
        sms=bearer.local_address if bearer is not None else own_sms,
        server_sms=server_msisdn, **client_kwargs,
    )
    if bearer is not None:
        bearer.set_sender_trust(client.trust.known)
    device = Device(client, context, sms)
    if start:
        await client.start()
    return device


async def smpp_bearer(
    port: int, system_id: str, address_range: str, msisdn: "str | None" = None,
    *, host: str = "127.0.0.1", **config: Any,
) -> Any:
    """An SMPP link to ``host:port``, started and bound (raises if not bound in 10 s).
    Short reconnect delays: made for simulated SMSCs on loopback."""
    from smsc.link import SmppBearer, SmppLinkConfig

    config.setdefault("reconnect_min", 0.05)
    config.setdefault("reconnect_max", 0.5)
    link = SmppBearer(
        SmppLinkConfig(host=host, port=port, system_id=system_id, address_range=address_range, **config),
        msisdn,
    )
    await link.start()
    try:
        await link.wait_bound(10)
    except BaseException:
        await link.close()
        raise
    return link


async def emulated_modem(network: Any, msisdn: str) -> tuple[Any, Any]:
    """A modem emulator on a pty with ``network`` (a SegmentLink) as its network side, and
    the modem driver on it, both started: (emulator, driver). Close the driver first."""
    from modems.driver import ModemConfig, ModemDriver
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore

    emulator = ModemEmulator(EmulatorCore(msisdn), network)
    await emulator.start()
    driver = ModemDriver(
        ModemConfig(emulator.path, registration_timeout=10.0, poll_interval=0.05, command_timeout=5.0,
                    send_timeout=10.0, retry_delay=0.01),
        msisdn,
    )
    try:
        await driver.start()
    except BaseException:
        await emulator.close()
        raise
    return emulator, driver


async def modem_bearer(
    port: str, msisdn: "str | None" = None, *, pin: "str | None" = None, profile: "str | None" = None,
    **config: Any,
) -> Any:
    """The modem driver on serial port ``port`` (a USB modem, or a modem emulator's pty),
    started: the SIM unlocked with ``pin`` and the modem registered on the network."""
    from modems.driver import ModemConfig, ModemDriver

    driver = ModemDriver(ModemConfig(port, pin=pin, profile=profile, **config), msisdn)
    await driver.start()
    return driver
