"""The public composition API: an LwM2M server with its SMS bearers, and simulated devices.

The one place where server core, store, router, UDP and the SMS transport are put together,
so that users' programs, ``lwm2m-sms server``, the HTTP layer, ``lwm2m-sms demo``, the
benches and the end-to-end tests build them the same way::

    config = GatewayConfig(udp=("0.0.0.0", 5683), msisdn="+15550000",
                           smpp=SmppLinkConfig(host="smsc.example", port=2775,
                                               system_id="lwm2m", password="secret"))
    async with Gateway(config) as gateway:
        result = await gateway.server.read("dev-1", "/3/0")

A :class:`Gateway` is configured by one :class:`GatewayConfig` (or the same fields as
keyword arguments). Bearers come two ways: described in the config (``smpp``: an SMPP link
to an SMSC; ``modem``: a GSM modem on a serial port), which the gateway builds, starts and
closes; or ready made in ``bearers`` (any :class:`~lwm2m_sms.bearer.Bearer`, e.g. a
loopback), which the caller starts and closes. Every SMS bearer gets its own SMS transport
in the same aiocoap context; the router's trust gate guards all of them. The server core,
router and transport never know which bearer is below.

:func:`start_bootstrap_server` runs a bootstrap server on its own socket and numbers
(:class:`BootstrapStack`). :func:`start_device` builds one simulated device (client
simulator) on a bearer; the
:func:`smpp_bearer` and :func:`emulated_modem` helpers start the loopback test bearers that
the demo, benches and tests use.

Errors: :meth:`Gateway.start` raises :class:`GatewayError` naming what could not start (the
UDP socket, a bearer) and leaves nothing running.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, TypeVar

import aiocoap
from aiocoap import resource

from .bearer import Bearer
from .cluster import ClusterNode, ClusterSettings
from .clock import SYSTEM_CLOCK, Clock
from .coap import SmsSettings, SmsTransport, TransportStats, add_sms_transport, sms_uri
from .errors import Lwm2mSmsError
from .lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from .lwm2m.client import Lwm2mClient
from .lwm2m.server import DEFAULT_GRACE, Lwm2mServer
from .lwm2m.registration import DEFAULT_VERSION, RegistrationLimits
from .lwm2m.store import MemoryRegistrationStore, RegistrationStore, StoredRegistrationStore
from .lwm2m.udp import local_port, udp_context
from .routing.queue import RequestQueue
from .routing.router import PolicySettings, Router, RouterStats
from .routing.trust import TrustPolicy, TrustStats
from .sms.address import Address, parse_msisdn
from .store import Store, StoreError, is_store_url, open_store
from .security.setup import share_state
from .store.postgres import redact
from .store.bus import NodeBus

if TYPE_CHECKING:
    from modems.driver import ModemConfig, ModemDriver
    from modems.emulator import ModemEmulator
    from smsc.link import SmppBearer, SmppLinkConfig

    from .bearer import SegmentLink

__all__ = [
    "Gateway", "GatewayConfig", "GatewayError", "GatewayStats", "Device", "BootstrapStack",
    "start_server", "start_bootstrap_server", "start_device", "smpp_bearer", "modem_bearer", "emulated_modem",
]

log = logging.getLogger(__name__)


def _udp_uri(host: str, port: Optional[int]) -> str:
    """``coap://HOST:PORT`` (an IPv6 host in brackets)."""
    return f"coap://{f'[{host}]' if ':' in host else host}:{port}"


class GatewayError(Lwm2mSmsError):
    """A gateway could not start. ``part`` is the :class:`GatewayConfig` field that
    failed (``"udp"``, ``"db"``, ``"local_db"``, ``"smpp"``, ``"modem"``, ``"msisdn"``,
    ``"register_allow_list"``, ``"node"``), ``where`` names it (``database server.sqlite``; a URL
    without its password), ``detail`` says why; the message is ``"{where}: {detail}"``."""

    def __init__(self, part: str, where: str, detail: str):
        self.part, self.where, self.detail = part, where, detail
        super().__init__(f"{where}: {detail}")


@dataclass
class GatewayConfig:
    """Everything a :class:`Gateway` is built from; every field has a default.

    * ``udp``: the server's UDP address (port 0: the OS picks one; see
      :attr:`Gateway.udp_uri`).
    * ``msisdn``: the server's own SMS number (``+N``); needed with ``smpp`` or ``modem``.
    * ``smpp``: an SMPP link to build (``smsc.link.SmppLinkConfig``; its ``address_range``
      defaults to ``msisdn``). The gateway waits ``smpp_bind_timeout`` seconds for the bind
      (None: does not wait; the link keeps trying in the background).
    * ``modem``: a GSM modem to drive (``modems.driver.ModemConfig``).
    * ``bearers``: ready-made bearers (started and closed by the caller), e.g. a loopback.
    * ``db``: the store of registrations and the request queue: an SQLite file or
      ``postgresql://...`` (None: in memory; :mod:`lwm2m_sms.store`).
    * ``policy``: routing (queue windows, wake-up, US fallback, queue time limit).
    * ``sms_settings``: the SMS transport's settings (None: the LwM2M SMS defaults).
    * ``grace``, ``accepted_versions``, ``request_timeout``, ``limits`` (what a client may
      register: :class:`~lwm2m_sms.lwm2m.registration.RegistrationLimits`): the server
      core's (:class:`~lwm2m_sms.lwm2m.server.Lwm2mServer`).
    * ``local_db``: an SQLite file that holds, for the bearers the gateway builds, the parts
      of long SMS held for reassembly (both) and the modem's dead letters, so a crash loses
      neither; they belong to this node's bearers. None: ``db`` when it is a file; with a
      PostgreSQL ``db`` and a bearer to build it must be given.
    * ``durability``: SQLite's synchronous for those parts, ``"normal"`` (survives the
      process killed) or ``"full"`` (a power cut too, an fsync per part; docs/field.md).
    * ``register_allow_list``: accept a Register by SMS only from these numbers (None: any).
    * ``node``: this node's name in a shared store (the owner of the queued requests it has
      taken). Keep it across the node's restarts, and give each node on one PostgreSQL
      database its own: a node that starts takes back the requests its name left on the wire.
      On PostgreSQL the node holds its name while it runs (:mod:`lwm2m_sms.store.bus`): a
      second live node of the same name is refused.
    * ``cluster``: with a PostgreSQL ``db``, how this node watches the others (a dead
      node's work is taken over within ``check_interval`` seconds) and bounds the answers
      it hands to their owners (:class:`~lwm2m_sms.cluster.ClusterSettings`; docs/cluster.md).
    * ``clock``: where the server core, the router and the queue take time from (tests
      give a :class:`~lwm2m_sms.clock.FakeClock`).
    * ``site``: an aiocoap Site to serve next to ``/rd`` (e.g. with a bootstrap server's
      ``/bs``); None: the server's own.
    * ``sms_security``: wraps each SMS bearer before the transport is put on it (the SMS
      security layer: ``lambda b: lwm2m_sms.security.bearer.SecureBearer(b, policy)``);
      None: NoSec. With ``db``, secured-packet counters are kept in the store (shared by
      the nodes), and so are OSCORE's sequence numbers and replay windows once
      ``security.setup.enable_server_oscore`` is given the gateway; on PostgreSQL, DTLS
      peers are warned about (a session lives in one node).
      See docs/security.md.
    """

    udp: tuple[str, int] = ("127.0.0.1", 5683)
    msisdn: Optional[str] = None
    smpp: "Optional[SmppLinkConfig]" = None
    smpp_bind_timeout: Optional[float] = None
    modem: "Optional[ModemConfig]" = None
    bearers: Sequence[Bearer] = ()
    db: Optional[str] = None
    local_db: Optional[str] = None
    durability: str = "normal"
    policy: PolicySettings = field(default_factory=PolicySettings)
    sms_settings: Optional[SmsSettings] = None
    grace: float = DEFAULT_GRACE
    accepted_versions: tuple[str, ...] = (DEFAULT_VERSION,)
    request_timeout: Optional[float] = None
    limits: RegistrationLimits = field(default_factory=RegistrationLimits)
    register_allow_list: Optional[Sequence[str]] = None
    site: Optional[resource.Site] = None
    node: str = "local"
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    clock: Clock = SYSTEM_CLOCK
    sms_security: Optional[Callable[[Bearer], Bearer]] = None


@dataclass
class GatewayStats:
    """A snapshot: registrations, the router's counters, the trust gate's, and each SMS
    transport's (in the order of :attr:`Gateway.sms`)."""

    registrations: int
    router: RouterStats
    trust: TrustStats
    sms: list[TransportStats]

    def as_dict(self) -> dict[str, Any]:
        """Plain dicts, lists and numbers (for JSON)."""
        return dataclasses.asdict(self)


class Gateway:
    """An LwM2M server on UDP and SMS: see the module docstring. ``await start()`` (or
    ``async with``) builds and starts it; then :attr:`server` is the
    :class:`~lwm2m_sms.lwm2m.server.Lwm2mServer` to manage devices with (its methods go
    through :attr:`router`, which picks the bearer per binding)."""

    def __init__(self, config: Optional[GatewayConfig] = None, /, **options: Any) -> None:
        base = config if config is not None else GatewayConfig()
        self.config = dataclasses.replace(base, **options) if options else base
        self._server: Optional[Lwm2mServer] = None
        self._router: Optional[Router] = None
        self._context: Optional[aiocoap.Context] = None
        self.sms: list[SmsTransport] = []
        self._own_bearers: list[Bearer] = []
        #: this node's link to the other nodes on the same PostgreSQL database (None on
        #: SQLite, which serves one node): see :mod:`lwm2m_sms.store.bus`
        self.bus: Optional[NodeBus] = None
        #: exchange hand-off and takeover of dead nodes' work (None without :attr:`bus`)
        self.cluster: Optional[ClusterNode] = None
        #: the store ``db`` names, while the gateway runs (None without ``db``): the SMS
        #: security layer keeps its shared state there (``security.setup``)
        self.store: Optional[Store] = None

    # -- what a started gateway exposes -------------------------------------------------

    @property
    def server(self) -> Lwm2mServer:
        """The LwM2M server core (read, write, execute, observe... on registered devices)."""
        return _started(self._server)

    @property
    def router(self) -> Router:
        """The MSISDN router (per-binding routing, queue mode, wake-up, trust)."""
        return _started(self._router)

    @property
    def context(self) -> aiocoap.Context:
        """The aiocoap context: UDP plus one SMS transport per bearer."""
        return _started(self._context)

    @property
    def bearers(self) -> list[Bearer]:
        """Every SMS bearer in use: the ones built from the config, then ``bearers``."""
        return [*self._own_bearers, *self.config.bearers]

    @property
    def msisdn(self) -> Optional[Address]:
        """The server's own SMS number (``config.msisdn``, else the first bearer's)."""
        if self.config.msisdn is not None:
            return parse_msisdn(self.config.msisdn)
        bearers = self.bearers
        return bearers[0].local_address if bearers else None

    @property
    def udp_port(self) -> int:
        """The port of the server's UDP socket (the one the OS picked, for port 0)."""
        port = local_port(self.context)
        assert port is not None  # the gateway always has its UDP socket
        return port

    @property
    def udp_uri(self) -> str:
        """``coap://host:port`` of the server's UDP socket (the port the OS picked, for 0)."""
        return _udp_uri(self.config.udp[0], self.udp_port)

    @property
    def sms_uri(self) -> Optional[str]:
        """``coap+sms://+N`` of the server's SMS number (None without SMS)."""
        msisdn = self.msisdn
        return sms_uri(msisdn) if msisdn is not None else None

    def stats(self) -> GatewayStats:
        """A snapshot of the counters (see :class:`GatewayStats`)."""
        return GatewayStats(
            registrations=len(self.server.store), router=self.router.stats,
            trust=self.router.trust.stats, sms=[t.stats() for t in self.sms],
        )

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> "Gateway":
        """Start the configured bearers, open the store, bind UDP, wire the SMS transports
        and the router, start the server. Raises :class:`GatewayError` (nothing is left
        running) when a part cannot start. Returns the gateway."""
        if self._server is not None:
            raise RuntimeError("gateway already started")
        cfg = self.config
        try:
            allow = frozenset(parse_msisdn(n) for n in cfg.register_allow_list) \
                if cfg.register_allow_list is not None else None
        except Lwm2mSmsError as exc:
            raise GatewayError("register_allow_list", "register allow-list", str(exc)) from exc
        try:
            if cfg.msisdn is not None:
                parse_msisdn(cfg.msisdn)
        except Lwm2mSmsError as exc:
            raise GatewayError("msisdn", "the server's number", str(exc)) from exc
        if (cfg.smpp is not None or cfg.modem is not None) and cfg.msisdn is None:
            raise GatewayError("msisdn", "the server's number", "needed with an SMPP link or a modem")
        if (cfg.smpp is not None or cfg.modem is not None) and self._local_db() is None \
                and cfg.db is not None:
            raise GatewayError("local_db", f"database {redact(cfg.db)}",
                               "held SMS parts and dead letters stay on this node: give local_db,"
                               " an SQLite file")
        store: Optional[RegistrationStore] = None
        queue: Optional[RequestQueue] = None
        try:
            await self._start_bearers()
            try:
                shared = open_store(cfg.db) if cfg.db else None  # registrations and queue
                self.store = shared
                store = StoredRegistrationStore(shared) if shared else MemoryRegistrationStore()
            except Exception as exc:  # StoreError, sqlite3.Error, OSError: the store is not usable
                raise _store_unusable(cfg.db, exc) from exc
            if cfg.db is not None and is_store_url(cfg.db):
                bus = NodeBus(cfg.db, cfg.node)
                try:
                    await bus.start()
                except StoreError as exc:
                    raise GatewayError("node", f"node {cfg.node!r} on {redact(cfg.db)}", exc.detail) from exc
                self.bus = bus
            try:
                # Only once this node holds its name: the queue does what a restart of the name
                # does to the requests it left on the wire, which must not touch a live namesake's.
                queue = RequestQueue(shared, owner=cfg.node)
            except Exception as exc:
                raise _store_unusable(cfg.db, exc) from exc
            server = Lwm2mServer(store, grace=cfg.grace, accepted_versions=cfg.accepted_versions,
                                 request_timeout=cfg.request_timeout, limits=cfg.limits, clock=cfg.clock)
            if cfg.site is not None:
                server.mount(cfg.site)
            try:
                context = await udp_context(cfg.udp, cfg.site or server.site)
            except (OSError, ValueError) as exc:  # ValueError: not an IP address
                raise GatewayError("udp", f"UDP {cfg.udp[0]}:{cfg.udp[1]}", f"cannot bind: {exc}") from exc
            self._context = context
            wrap = cfg.sms_security or (lambda b: b)
            wrapped = [wrap(b) for b in self.bearers]
            if shared is not None:
                for w in wrapped:  # secured-packet counters in the store the nodes share
                    share_state(w, shared.packet_counters, several_nodes=shared.backend == "postgresql")
            self.sms = [await add_sms_transport(context, w, cfg.sms_settings) for w in wrapped]
            server.start(context)
            self._server = server
            router = Router(server, context, sms=self.sms[0] if self.sms else None, queue=queue,
                            trust=TrustPolicy(register_allow_list=allow), policy=cfg.policy,
                            bus=self.bus)
            for extra in self.sms[1:]:
                extra.accept_filter = router.accept_sms
            if self.bus is not None:
                # Before the router takes any work: see ClusterNode.attach.
                self.cluster = ClusterNode(router, self.bus, self.sms, settings=cfg.cluster, clock=cfg.clock)
                self.cluster.attach()
            for bearer in self.bearers:
                # reassembly pools: parts from numbers no registration names never evict a
                # registered device's parts (lwm2m_sms.sms.reassembly)
                bearer.set_sender_trust(router.trust.directory.known)
            router.start()
            self._router = router
            if self.cluster is not None:
                self.cluster.start()
        except BaseException:
            await self._abort(store, queue)
            self.sms = []
            raise
        log.info("gateway: LwM2M server on %s%s", self.udp_uri,
                 f", SMS {self.msisdn} over {', '.join(b.kind for b in self.bearers)}" if self.sms else "")
        return self

    async def _start_bearers(self) -> None:
        cfg = self.config
        if cfg.smpp is not None:
            from smsc.link import SmppBearer

            assert cfg.msisdn is not None
            smpp = cfg.smpp if cfg.smpp.address_range else dataclasses.replace(cfg.smpp, address_range=cfg.msisdn)
            link = SmppBearer(smpp, cfg.msisdn, parts_db=self._local_db(), dead_letters=self._local_db(),
                              durability=cfg.durability)
            where = f"SMPP link to {smpp.host}:{smpp.port} as {smpp.system_id!r}"
            try:
                await link.start()
                self._own_bearers.append(link)
                if cfg.smpp_bind_timeout is not None:
                    await link.wait_bound(cfg.smpp_bind_timeout)
            except TimeoutError as exc:
                raise GatewayError("smpp", where, f"not bound within {cfg.smpp_bind_timeout:g} s") from exc
            except (Lwm2mSmsError, OSError) as exc:
                raise GatewayError("smpp", where, str(exc) or type(exc).__name__) from exc
        if cfg.modem is not None:
            from modems.driver import ModemDriver

            driver = ModemDriver(cfg.modem, cfg.msisdn, parts_db=self._local_db(),
                                 dead_letters=self._local_db(),
                                 durability=cfg.durability)
            try:
                await driver.start()
            except (Lwm2mSmsError, OSError, TimeoutError) as exc:
                await driver.close()
                raise GatewayError("modem", f"GSM modem on {cfg.modem.port}", str(exc) or type(exc).__name__) from exc
            self._own_bearers.append(driver)

    def _local_db(self) -> Optional[str]:
        cfg = self.config
        if cfg.local_db is not None:
            return cfg.local_db
        return cfg.db if cfg.db is not None and not is_store_url(cfg.db) else None

    async def _abort(self, store: Optional[RegistrationStore], queue: Optional[RequestQueue]) -> None:
        """Stop and close whatever has been started (by close, or by a start that failed
        half way: then ``store`` and ``queue`` may be open without a server)."""
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
        if self._router is not None:
            await self._router.close()
        if self.bus is not None:
            await self.bus.close()
            self.bus = None
        if self._server is not None:
            await self._server.close()
        else:
            if self._context is not None:
                await self._context.shutdown()
            if store is not None:
                store.close()
        if queue is not None:
            queue.close()
        for bearer in reversed(self._own_bearers):
            await bearer.close()
        self._own_bearers.clear()
        self._server = self._router = self._context = None
        self.store = None

    async def close(self) -> None:
        """Stop the router (waiting callers get an error), the server and its context, close
        the store and queue, then the bearers the gateway built (not those in
        ``config.bearers``). Idempotent; :attr:`sms` still lists the transports it had."""
        if self._server is None:
            return
        await self._abort(None, self._router.queue if self._router is not None else None)

    async def __aenter__(self) -> "Gateway":
        return await self.start()

    async def __aexit__(
        self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException], tb: Optional[TracebackType]
    ) -> None:
        await self.close()


_T = TypeVar("_T")


def _started(part: Optional[_T]) -> _T:
    if part is None:
        raise RuntimeError("gateway not started: await gateway.start() first")
    return part


def _store_unusable(db: Optional[str], exc: Exception) -> GatewayError:
    detail = exc.detail if isinstance(exc, StoreError) else str(exc)
    return GatewayError("db", f"database {redact(db or '')}", detail)


async def start_server(
    *,
    udp: tuple[str, int] = ("127.0.0.1", 0),
    bearers: Sequence[Bearer] = (),
    db: Optional[str] = None,
    policy: Optional[PolicySettings] = None,
    sms_settings: Optional[SmsSettings] = None,
    site: Optional[resource.Site] = None,
    **options: Any,
) -> Gateway:
    """A started :class:`Gateway` on ``bearers`` (started and closed by the caller), UDP on
    an OS-picked loopback port by default: the short form the tests and benches use.
    ``options`` are further :class:`GatewayConfig` fields."""
    config = GatewayConfig(udp=udp, bearers=tuple(bearers), db=db, policy=policy or PolicySettings(),
                           sms_settings=sms_settings, site=site, **options)
    return await Gateway(config).start()


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
        return _udp_uri(self.udp_host, local_port(self.context))

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
    """A simulated device from :func:`start_device`: its client, its aiocoap context and
    its SMS transport (None without a bearer)."""

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
    try:
        sms = None
        if bearer is not None:
            sms = await add_sms_transport(context, bearer, sms_settings)
        client = Lwm2mClient(
            context, endpoint, server=server_uri, bootstrap=bootstrap_uri, binding=binding,
            sms=bearer.local_address if bearer is not None else own_sms,
            server_sms=server_msisdn, **client_kwargs,
        )
    except BaseException:
        await context.shutdown()  # its socket, whatever refused the device
        raise
    if bearer is not None:
        bearer.set_sender_trust(client.trust.known)
    device = Device(client, context, sms)
    if start:
        try:
            await client.start()
        except BaseException:
            await device.close(deregister=False)
            raise
    return device


async def smpp_bearer(
    port: int, system_id: str, address_range: str, msisdn: "str | None" = None,
    *, host: str = "127.0.0.1", **config: Any,
) -> "SmppBearer":
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


async def emulated_modem(network: "SegmentLink", msisdn: str) -> "tuple[ModemEmulator, ModemDriver]":
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
) -> "ModemDriver":
    """The modem driver on serial port ``port`` (a USB modem, or a modem emulator's pty),
    started: the SIM unlocked with ``pin`` and the modem registered on the network."""
    from modems.driver import ModemConfig, ModemDriver

    driver = ModemDriver(ModemConfig(port, pin=pin, profile=profile, **config), msisdn)
    await driver.start()
    return driver
