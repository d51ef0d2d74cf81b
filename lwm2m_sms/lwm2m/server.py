"""The LwM2M 1.0.2 server core on aiocoap: the Registration interface (``/rd``), lifetime
expiry, and device management as an asyncio API.

The core does not know which bearer is below. It records, for each registration, the
aiocoap remote its Register or Update came from (``request.remote``: a UDP address, an
:class:`~lwm2m_sms.coap.SmsAddress`, anything a transport provides) together with the
remote's ``uri_base``, and sends every device-management request through a
:class:`RequestSender`. :class:`DirectSender` sends to that recorded remote over the
server's own context; the router (``lwm2m_sms.routing``) substitutes its own sender to pick
a bearer per binding, queue requests for sleeping devices and wake them by SMS.

Hooks (:class:`ServerHooks`, any number of them): ``validate_registration`` may refuse a
Register or Update with a CoAP code (the SMS trust rule plugs in here);
``on_registered``, ``on_updated``, ``on_deregistered``, ``on_expired`` follow the lifetime
of a registration; ``on_message_from`` is called for every message a registered device
sends us (Register, Update, De-register, each response and notification), which is what
queue mode's online window is measured from.

Lifetime: a registration expires when neither Update nor Register came for ``lifetime``
seconds plus a grace margin (default 93 s, CoAP's MAX_TRANSMIT_WAIT, for an Update that is
late on the wire). Time comes from an injectable :class:`~lwm2m_sms.clock.Clock` (its wall
reading stamps registrations, which are stored; its timer wakes the expiry task), which the
router shares; :meth:`Lwm2mServer.expire_due` is the sans-IO step that the task runs.
Deadlines sit in an :class:`~.expiry.ExpiryQueue` (a heap, not a scan of the store): every
path that stores a registration with a new lifetime or ``updated_at`` calls
``_schedule_expiry`` (Register and Update do); the registrations a persistent store brings
back are scheduled at :meth:`Lwm2mServer.start`.

Several nodes on one store: the store's registrations are the truth and this core's a copy
that it keeps current. A miss in memory reads the store (:meth:`Lwm2mServer.registration`,
the location of an Update or De-register), so a node serves a device whose Register another
node took a moment ago (for an Update or De-register at most ``location_reads`` reads a
second, 100 by default: anyone on UDP can send one to any location, and past the budget a
location not held is 4.04 unread; ``location_misses`` counts both); :meth:`Lwm2mServer.refresh` brings given endpoints up to the store
(the other nodes' hints call it: :mod:`lwm2m_sms.routing.fleet`) and
:meth:`Lwm2mServer.resync` the whole copy; ``on_changed_elsewhere`` and
``on_removed_elsewhere`` tell the hooks. Expiry deletes a row only while it is unchanged
(same location, lifetime and ``updated_at``): one that another node has updated is read
back with its new deadline, one another node removed is dropped. A Register draws its
location again when it is taken (another endpoint's, on this node or in the store's unique
index).

Cancel Observation is active (RFC 7641 section 3.6: a NON GET with the observation's token
and Observe=1 goes to the device at once: one SMS, no ACK) and reactive (a Reset answers any later
notification, NON ones too: see :mod:`lwm2m_sms.coap.observe`). The deregistration goes
straight to the address the observation's first answer came from, not through the queue,
so a sleeping queue-mode device misses it and gets the Reset for its next notification.

Block-wise Register and Update: the blocks are assembled as aiocoap does, except that a
Content-Format option on some blocks and not on others (seen from a C client) does not
split the assembly into two and end in 4.08.

Known limits: LwM2M JSON (11543) is not built; no DTLS.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Protocol, Union

import aiocoap
from aiocoap import Message, resource
from aiocoap.blockwise import Block1Spool
from aiocoap.message import UndecidedRemote
from aiocoap.numbers.codes import Code

from ..clock import SYSTEM_CLOCK, Clock, wait_for
from ..coap.observe import send_deregistration
from . import linkformat
from ..errors import DecodeError, EncodeError
from .content import Content, ContentFormat, InstanceValue, decode_payload, encode_payload, normalize_format
from .expiry import ExpiryQueue
from .exceptions import DeviceUnreachable, InvalidResponse, RequestFailed, UnknownEndpoint
from .linkformat import AttrValue, Link
from .path import LwM2MPath, format_path, parse_path
from .remote import remote_msisdn, remote_uri
from .udp import local_port, udp_context
from .registration import (
    DEFAULT_VERSION, Registration, RegistrationLimits, RegistrationRefused, RegisterParams,
    UpdateParams, check_binding_sms, new_location, parse_register, parse_update, printable,
)
from .results import ReadResult
from .store import MemoryRegistrationStore, RegistrationStore
from ..store import LocationTaken

__all__ = [
    "RequestSender", "ObserveRequest", "DirectSender", "ServerHooks", "Lwm2mServer", "Observation", "ReadResult",
    "Verdict",
    "remote_uri", "remote_msisdn",
]

log = logging.getLogger(__name__)
DEFAULT_GRACE = 93.0
#: Draws of a new location before a Register is refused (5.03): 40 random bits each, so a
#: second draw is already rare with a fleet of millions.
_LOCATION_TRIES = 4
#: Seconds before an expiry the store could not record (it was away) is tried again.
_EXPIRY_RETRY = 5.0


class _Budget:
    """A token bucket: ``rate`` takes per second, as many at once (sans-IO: time in)."""

    __slots__ = ("rate", "tokens", "at")

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.at: Optional[float] = None

    def take(self, now: float) -> bool:
        if self.at is not None:
            self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def _changed(held: Registration, stored: Registration) -> bool:
    return (held.location, held.lifetime, held.updated_at, held.binding, held.sms, held.remote_uri,
            held.root_path, held.objects) != (
        stored.location, stored.lifetime, stored.updated_at, stored.binding, stored.sms,
        stored.remote_uri, stored.root_path, stored.objects)


class ObserveRequest(Protocol):
    """What :meth:`RequestSender.observe` returns: the shape of an aiocoap request.
    ``response`` resolves to the first answer; ``observation`` is aiocoap's
    ClientObservation (async iterable of notifications, ``cancel()``)."""

    @property
    def response(self) -> "asyncio.Future[Message]": ...

    @property
    def observation(self) -> Any: ...


#: A hook's verdict on a Register, Update or De-register: None allows it, a CoAP code refuses.
Verdict = Union[Optional[Code], Awaitable[Optional[Code]]]


class RequestSender(Protocol):
    """How the server core reaches a registered device. ``send`` returns the final
    response (raising aiocoap's errors when there is none); ``observe`` returns an aiocoap
    request object whose ``.response`` is the first answer and ``.observation`` the
    notifications."""

    async def send(self, registration: Registration, request: Message) -> Message: ...

    def observe(self, registration: Registration, request: Message) -> ObserveRequest: ...


class DirectSender:
    """Sends to the remote the registration was recorded from, over ``context``. After a
    restart (no remote object in memory) it addresses ``registration.remote_uri``."""

    def __init__(self, context: aiocoap.Context):
        self.context = context

    def _address(self, registration: Registration, request: Message) -> Message:
        if registration.remote is not None:
            request.remote = registration.remote
        else:
            request.remote = UndecidedRemote.from_pathless_uri(registration.remote_uri)
        return request

    async def send(self, registration: Registration, request: Message) -> Message:
        return await self.context.request(self._address(registration, request)).response

    def observe(self, registration: Registration, request: Message) -> ObserveRequest:
        return self.context.request(self._address(registration, request))


class ServerHooks:
    """Subclass and override what you need; register with :meth:`Lwm2mServer.add_hooks`.
    Event methods are called synchronously from the request handler: start a task for
    long work."""

    def validate_registration(
        self, params: "RegisterParams | UpdateParams", remote: Any, existing: Optional[Registration]
    ) -> Verdict:
        """Return None to allow, a CoAP code to refuse (may be a coroutine)."""
        return None

    def validate_deregistration(self, registration: Registration, remote: Any) -> Verdict:
        """Return None to allow a De-register from ``remote``, a CoAP code to refuse."""
        return None

    def on_registered(self, registration: Registration) -> None: ...
    def on_updated(self, registration: Registration) -> None: ...
    def on_deregistered(self, registration: Registration) -> None: ...
    def on_expired(self, registration: Registration) -> None: ...

    def on_changed_elsewhere(self, registration: Registration) -> None:
        """Another node on the shared store registered or updated this device (this node
        read it from the store: :meth:`Lwm2mServer.refresh`, or a miss in memory)."""

    def on_removed_elsewhere(self, registration: Registration) -> None:
        """The device is no longer registered: another node took its De-register or
        expired it (this node found its row gone)."""
    def on_message_from(self, registration: Registration) -> None: ...


def _diag(text: str) -> bytes:
    return text.encode("utf-8")[:120]


class _Block1Spool(Block1Spool):  # type: ignore[misc]  # aiocoap ships no types
    """aiocoap's assembly of Block1 requests, with Content-Format taken out of the key that
    ties the blocks together: a client that sends it on the first block only (or on the
    later ones only) would otherwise get 4.08 Request Entity Incomplete. The assembled
    request carries the first Content-Format any block had."""

    def __init__(self) -> None:
        super().__init__()
        self._formats: dict[Any, int] = {}

    def feed_and_take(self, req: Message) -> Message:
        if req.opt.block1 is None:
            return req
        cf = req.opt.content_format
        key = (req.remote.blockwise_key, req.code, tuple(req.opt.uri_path))
        if req.opt.block1.block_number == 0:
            self._formats.pop(key, None)
        if cf is not None:
            self._formats.setdefault(key, int(cf))
        if len(self._formats) > 1000:  # assemblies end or time out; this map must not grow
            self._formats.pop(next(iter(self._formats)))
        stripped = req.copy(content_format=None) if cf is not None else req
        whole = super().feed_and_take(stripped)  # raises Continue until the last block
        cf = self._formats.pop(key, None)
        if cf is not None:
            whole.opt.content_format = cf
        return whole


class _RegisterResource(resource.Resource):
    def __init__(self, server: "Lwm2mServer"):
        super().__init__()
        self.server = server
        self._block1 = _Block1Spool()

    async def render_post(self, request: Message) -> Message:
        return await self.server._handle_register(request)


class _RegistrationSite(resource.Resource, resource.PathCapable):
    """``/rd/{location}``: Update (POST) and De-register (DELETE)."""

    def __init__(self, server: "Lwm2mServer"):
        super().__init__()
        self.server = server
        self._block1 = _Block1Spool()

    async def render_post(self, request: Message) -> Message:
        return await self.server._handle_update(request)

    async def render_delete(self, request: Message) -> Message:
        return await self.server._handle_deregister(request)


class Observation:
    """A running observation: ``value`` is the first answer's decoded value; iterate for
    the decoded notifications; :meth:`cancel` stops it (a GET with Observe=1 tells the
    device at once; a Reset answers any notification that still comes)."""

    def __init__(
        self, server: "Lwm2mServer", endpoint: str, path: LwM2MPath, request: ObserveRequest, value: Content,
        observable: bool, first: Optional[Message] = None, sent: Optional[Message] = None,
    ):
        self.server, self.endpoint, self.path = server, endpoint, path
        self._request = request
        self.value = value
        self.observable = observable
        self.cancelled = False
        self._first, self._sent = first, sent

    def __aiter__(self) -> AsyncIterator[Content]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Content]:
        if not self.observable:
            return
        try:
            async for notification in self._request.observation:
                reg = self.server.store.get(self.endpoint)
                if reg is not None:
                    self.server._emit("on_message_from", reg)
                if not notification.code.is_successful():
                    raise RequestFailed(self.endpoint, "observe", format_path(self.path), notification.code)
                value = self.server._decode(self.endpoint, "observe", self.path, notification).value
                self.value = value
                yield value
        except aiocoap.error.ObservationCancelled:
            return

    def _deregister(self) -> None:
        context = self.server.context
        if context is None or self._first is None or self._sent is None:
            return
        first, sent = self._first, self._sent
        if remote_uri(first.remote).startswith("coap+sms:"):
            # Over SMS the passive cancel is the cheaper one: the device's next notification
            # (CON or NON) gets a Reset, two SMS, where the GET and its answer are two SMS
            # at once and may cross a notification anyway. The active cancel over SMS also
            # made the impaired demo (tests/test_demo.py) lose another device's observation
            # about one run in six; not understood yet, so it stays off for SMS.
            return

        async def send() -> None:
            try:
                if await send_deregistration(context, first, sent):
                    log.info("ep=%s: observation of %s cancelled (GET Observe=1 to %s)",
                             self.endpoint, format_path(self.path), remote_uri(first.remote))
            except Exception:  # the Reset to its next notification still stops it
                log.warning("ep=%s: cancelling %s on the device failed", self.endpoint,
                            format_path(self.path), exc_info=True)

        self.server._spawn(send())

    def _start_callback(self, callback: Callable[[Content], None]) -> None:
        async def feed() -> None:
            try:
                async for value in self:
                    callback(value)
            except Exception:  # the observation ended with an error: say so, stop feeding
                log.warning("observation of %s on ep=%s ended", format_path(self.path), self.endpoint, exc_info=True)

        self._task = asyncio.get_running_loop().create_task(feed())

    def cancel(self, tell_device: bool = True) -> None:
        """Stop the observation; ``tell_device`` sends the GET with Observe=1 (the server's
        shutdown does not: a Reset answers the device's next notification instead)."""
        if not self.cancelled:
            self.cancelled = True
            if self.observable:
                self._request.observation.cancel()
                if tell_device:
                    self._deregister()
            self.server._forget_observation(self)
            task = getattr(self, "_task", None)
            if task is not None:
                task.cancel()


class Lwm2mServer:
    """The server core. Mount :attr:`site` in a context (or use :meth:`create_udp`), then
    :meth:`start` it with that context."""

    def __init__(
        self,
        store: Optional[RegistrationStore] = None,
        *,
        sender: Optional[RequestSender] = None,
        clock: Clock = SYSTEM_CLOCK,
        grace: float = DEFAULT_GRACE,
        accepted_versions: Iterable[str] = (DEFAULT_VERSION,),
        request_timeout: Optional[float] = None,
        limits: RegistrationLimits = RegistrationLimits(),
        location_reads: float = 100.0,
    ):
        self.store = store if store is not None else MemoryRegistrationStore()
        self.sender = sender
        self.clock = clock
        self.grace = grace
        self.accepted_versions = tuple(accepted_versions)
        self.request_timeout = request_timeout
        self.limits = limits
        self.hooks: list[ServerHooks] = []
        self.context: Optional[aiocoap.Context] = None
        self.site = resource.Site()
        self.mount(self.site)
        self._observations: dict[str, set[Observation]] = {}
        self._expiry_task: "Optional[asyncio.Task[None]]" = None
        self._wake_expiry = asyncio.Event()
        self._expiry = ExpiryQueue()
        self._expiry_armed = float("-inf")  # wall time the expiry task sleeps until
        self._tasks: set[asyncio.Task[None]] = set()
        # An Update or De-register for a location not held here reads the store (another
        # node's Register a moment ago), at most ``location_reads`` per second: anyone on
        # UDP can send them, and each read is a round trip to the database.
        self._location_reads = _Budget(location_reads)
        #: Updates and De-registers for a location not held here: ``read`` from the
        #: store, ``skipped`` (over the budget: answered 4.04 without reading)
        self.location_misses = {"read": 0, "skipped": 0}

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- life cycle -------------------------------------------------------------------

    def mount(self, site: resource.Site) -> None:
        """Add ``/rd`` to another aiocoap Site (to serve it next to other resources)."""
        site.add_resource(["rd"], _RegisterResource(self))
        site.add_resource(["rd"], _RegistrationSite(self))

    @classmethod
    async def create_udp(cls, bind: tuple[str, int] = ("127.0.0.1", 5683), **kwargs: Any) -> "Lwm2mServer":
        """A server on a UDP socket of its own (port 0: the OS picks; see :attr:`port`)."""
        server = cls(**kwargs)
        context = await udp_context(bind, server.site, loggername="coap-server")
        server.start(context)
        return server

    def start(self, context: aiocoap.Context) -> None:
        """Use ``context`` (whose serversite contains :attr:`site`) to send requests, with a
        :class:`DirectSender` unless a sender was given; start the expiry task."""
        self.context = context
        if self.sender is None:
            self.sender = DirectSender(context)
        if self._expiry_task is None:
            self._rebuild_expiry()  # registrations a persistent store brought back
            self._expiry_task = asyncio.get_running_loop().create_task(self._expiry_loop(), name="lwm2m expiry")

    @property
    def port(self) -> int:
        """The UDP port of a server made by :meth:`create_udp`."""
        port = local_port(self.context) if self.context is not None else None
        if port is None:
            raise RuntimeError("no UDP transport in this server's context")
        return port

    async def close(self, shutdown_context: bool = True) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            try:
                await self._expiry_task
            except asyncio.CancelledError:
                pass
            self._expiry_task = None
        for observations in list(self._observations.values()):
            for obs in list(observations):
                obs.cancel(tell_device=False)
        if self._tasks:  # deregistrations of observations cancelled just before
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if shutdown_context and self.context is not None:
            await self.context.shutdown()
        self.store.close()

    def add_hooks(self, hooks: ServerHooks) -> None:
        self.hooks.append(hooks)

    def _emit(self, event: str, registration: Registration) -> None:
        for hooks in self.hooks:
            try:
                getattr(hooks, event)(registration)
            except Exception:  # a broken hook must not break the registration interface
                log.exception("hook %s(%s) failed", event, registration.endpoint)

    async def _validate(
        self, params: "RegisterParams | UpdateParams | None", remote: Any, existing: Optional[Registration]
    ) -> None:
        for hooks in self.hooks:
            if params is None:
                assert existing is not None
                verdict = hooks.validate_deregistration(existing, remote)
            else:
                verdict = hooks.validate_registration(params, remote, existing)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if verdict is not None:
                raise RegistrationRefused(verdict, f"refused by {type(hooks).__name__}")

    # --- registration interface ---------------------------------------------------------

    def registrations(self) -> list[Registration]:
        """Every current registration."""
        return list(self.store)

    def registration(self, endpoint: str) -> Registration:
        """The registration of ``endpoint``; raises UnknownEndpoint if there is none. Not
        in memory: read from the store (another node may have taken its Register a moment
        ago, before its hint came)."""
        reg = self.lookup(endpoint)
        if reg is None:
            raise UnknownEndpoint(endpoint)
        return reg

    def lookup(self, endpoint: str) -> Optional[Registration]:
        """The registration of ``endpoint`` from memory, else from the store (and then
        held in memory), else None."""
        reg = self.store.get(endpoint)
        if reg is None:
            reg = self.store.load(endpoint)
            if reg is not None:
                self._adopt(reg, None)
        return reg

    # --- other nodes on the same store ---------------------------------------------------

    def refresh(self, endpoints: Iterable[str]) -> None:
        """Bring the registrations of ``endpoints`` in memory up to the store (one read):
        another node registered, updated, de-registered or expired them. Emits
        ``on_changed_elsewhere`` or ``on_removed_elsewhere`` for each that changed; one
        held with the same row stays as it is (with its remote)."""
        wanted = list(endpoints)
        stored = self.store.load_many(wanted)
        for endpoint in wanted:
            old = self.store.get(endpoint)
            new = stored.get(endpoint)
            if new is None:
                if old is not None:
                    self._drop(old)
            elif old is None or _changed(old, new):
                self._adopt(new, old)

    def resync(self) -> int:
        """Compare every registration held with the store (one light read of the whole
        table) and refresh those that differ: after hints may have been missed (a node
        starting, its bus reconnecting). Returns how many were refreshed."""
        stamps = self.store.load_stamps()
        if stamps is None:
            return 0
        differ = [ep for ep, stamp in stamps.items() if self.store.stamp(ep) != stamp]
        differ += [reg.endpoint for reg in self.store if reg.endpoint not in stamps]
        if differ:
            self.refresh(differ)
            log.info("%d registrations brought up to the store", len(differ))
        return len(differ)

    def _adopt(self, reg: Registration, old: Optional[Registration]) -> None:
        if old is not None:
            if old.location != reg.location:
                self._cancel_observations(old.endpoint)  # registered anew: they are void
            elif old.remote is not None and old.remote_uri == reg.remote_uri:
                reg = dataclasses.replace(reg, remote=old.remote)
        self.store.adopt(reg)
        self._schedule_expiry(reg)
        log.debug("ep=%s: /rd/%s lt=%s b=%s updated %.0f, from the store (another node)",
                 reg.endpoint, reg.location, reg.lifetime, reg.binding, reg.updated_at)
        self._emit("on_changed_elsewhere", reg)

    def _drop(self, reg: Registration) -> None:
        self.store.drop(reg.endpoint)
        self._cancel_observations(reg.endpoint)
        log.debug("ep=%s: /rd/%s is gone from the store (de-registered or expired on another node)",
                 reg.endpoint, reg.location)
        self._emit("on_removed_elsewhere", reg)

    def _refuse(self, what: str, request: Message, exc: RegistrationRefused, ep: str = "?") -> Message:
        log.warning("%s from %s (ep=%s, mid=%s) refused with %s: %s",
                    what, remote_uri(request.remote), printable(ep), request.mid, exc.code, exc.reason)
        return Message(code=exc.code, payload=_diag(exc.reason))

    async def _handle_register(self, request: Message) -> Message:
        remote = request.remote
        ep = next((q[3:] for q in request.opt.uri_query if q.startswith("ep=")), "?")
        try:
            params = parse_register(
                request.opt.uri_query, request.payload, request.opt.content_format,
                accepted_versions=self.accepted_versions, sender_msisdn=remote_msisdn(remote),
                limits=self.limits,
            )
            existing = self.store.get(params.endpoint)
            if existing is None and len(self.store) >= self.limits.max_registrations:
                raise RegistrationRefused(
                    Code.SERVICE_UNAVAILABLE,
                    f"{len(self.store)} registrations held (at most {self.limits.max_registrations})",
                )
            await self._validate(params, remote, existing)
        except RegistrationRefused as exc:
            return self._refuse("Register", request, exc, ep)
        now = self.clock.wall()
        for _ in range(_LOCATION_TRIES):
            reg = Registration(
                endpoint=params.endpoint, location=new_location(), lifetime=params.lifetime,
                version=params.version, binding=params.binding, sms=params.sms, objects=params.objects,
                remote_uri=remote_uri(remote), registered_at=now, updated_at=now,
                root_path=params.root_path, remote=remote,
            )
            try:
                self.store.put(reg)
                break
            except LocationTaken:  # another endpoint's, here or on another node: draw again
                log.info("ep=%s: location /rd/%s is taken, drawing another", reg.endpoint, reg.location)
        else:
            return self._refuse("Register", request, RegistrationRefused(
                Code.SERVICE_UNAVAILABLE, f"no free location in {_LOCATION_TRIES} draws"), ep)
        if existing is not None:
            log.info("ep=%s registers again: location /rd/%s replaces /rd/%s", reg.endpoint, reg.location, existing.location)
            self._cancel_observations(existing.endpoint)
        log.info("Register ep=%s from %s (mid=%s): /rd/%s lt=%s b=%s sms=%s objects=%s",
                 reg.endpoint, reg.remote_uri, request.mid, reg.location, reg.lifetime, reg.binding,
                 reg.sms.lwm2m_digits if reg.sms else "-", ",".join(l.target for l in reg.objects))
        self._emit("on_message_from", reg)
        self._emit("on_registered", reg)
        self._schedule_expiry(reg)
        return Message(code=Code.CREATED, location_path=("rd", reg.location))

    def _located(self, request: Message, what: str) -> Registration:
        path = request.opt.uri_path
        reg = None
        if len(path) == 1:
            reg = self.store.by_location(path[0])
            if reg is None and self._location_reads.take(self.clock.now()):
                # made on another node a moment ago, before its hint came?
                self.location_misses["read"] += 1
                reg = self.store.load_location(path[0])
                if reg is not None:
                    self._adopt(reg, self.store.get(reg.endpoint))
            elif reg is None:
                self.location_misses["skipped"] += 1
        if reg is None:
            raise RegistrationRefused(Code.NOT_FOUND, f"no registration at /rd/{'/'.join(path)}")
        return reg

    async def _handle_update(self, request: Message) -> Message:
        remote = request.remote
        ep = "?"
        try:
            reg = self._located(request, "Update")
            ep = reg.endpoint
            params = parse_update(request.opt.uri_query, request.payload, request.opt.content_format,
                                  limits=self.limits)
            new = reg.with_update(params, remote, remote_uri(remote), self.clock.wall())
            check_binding_sms(new.binding, new.sms)
            await self._validate(params, remote, reg)
        except RegistrationRefused as exc:
            return self._refuse("Update", request, exc, ep)
        if not self.store.update(new):
            # This node's copy was stale: the device registered again or went (on another
            # node), and this Update of the old location is late: the store keeps what is.
            self.refresh([new.endpoint])
            return self._refuse("Update", request, RegistrationRefused(
                Code.NOT_FOUND, f"/rd/{new.location} is no longer {new.endpoint}'s"), ep)
        log.info("Update ep=%s from %s (mid=%s): lt=%s b=%s sms=%s%s", new.endpoint, new.remote_uri, request.mid,
                 new.lifetime, new.binding, new.sms.lwm2m_digits if new.sms else "-",
                 " objects=" + ",".join(l.target for l in new.objects) if params.objects is not None else "")
        self._emit("on_message_from", new)
        self._emit("on_updated", new)
        self._schedule_expiry(new)
        return Message(code=Code.CHANGED)

    async def _handle_deregister(self, request: Message) -> Message:
        try:
            reg = self._located(request, "De-register")
            if request.opt.uri_query or request.payload:
                raise RegistrationRefused(Code.BAD_REQUEST, "De-register takes no parameters or payload")
            await self._validate(None, request.remote, reg)
        except RegistrationRefused as exc:
            return self._refuse("De-register", request, exc)
        if self.store.remove(reg.endpoint, location=reg.location) is None:
            # This node's copy was stale: the device registered again (on another node) and
            # this De-register of the old location is late (an SMSC's repeat): keep the new.
            self.refresh([reg.endpoint])
            return self._refuse("De-register", request, RegistrationRefused(
                Code.NOT_FOUND, f"/rd/{reg.location} is no longer {reg.endpoint}'s registration"), reg.endpoint)
        self._cancel_observations(reg.endpoint)
        log.info("De-register ep=%s from %s (mid=%s): /rd/%s", reg.endpoint, remote_uri(request.remote), request.mid, reg.location)
        self._emit("on_message_from", reg)
        self._emit("on_deregistered", reg)
        return Message(code=Code.DELETED)

    # --- lifetime -----------------------------------------------------------------------

    def expire_due(self) -> list[Registration]:
        """Remove every registration whose lifetime plus grace has passed; emit
        ``on_expired`` for each. Returns them. Costs O(log N) per deadline passed, not a
        scan of the registrations (:class:`~.expiry.ExpiryQueue`)."""
        now = self.clock.wall()
        expired = []
        later = []
        changed = []
        for endpoint, _ in self._expiry.pop_due(now):
            reg = self.store.get(endpoint)
            if reg is None:
                continue  # de-registered or replaced: a stale entry
            deadline = reg.expires_at + self.grace
            if now <= deadline:
                # Its deadline moved (an Update). Scheduled again here, so that a path that
                # stores a longer lifetime without _schedule_expiry still expires it.
                later.append((endpoint, deadline))
                continue
            try:
                removed = self.store.remove_unchanged(reg)
            except Exception as exc:  # the store is away: this one and the rest next round
                log.warning("ep=%s: expiry not recorded (%s); tried again in %.0f s", endpoint,
                            " ".join(str(exc).split()), _EXPIRY_RETRY)
                later.append((endpoint, now + _EXPIRY_RETRY))
                break
            if not removed:
                # Another node updated it (or removed it) since this node read it: the
                # store has the truth, read below.
                changed.append(endpoint)
                continue
            self._cancel_observations(reg.endpoint)
            log.info("ep=%s expired: no Update for %.0f s (lifetime %s s + grace %.0f s), /rd/%s removed",
                     reg.endpoint, now - reg.updated_at, reg.lifetime, self.grace, reg.location)
            self._emit("on_expired", reg)
            expired.append(reg)
        if changed:
            try:
                self.refresh(changed)
            except Exception as exc:  # held as they were: read again next round
                log.warning("%d registrations changed elsewhere not read (%s)", len(changed),
                            " ".join(str(exc).split()))
                later += [(endpoint, now + _EXPIRY_RETRY) for endpoint in changed]
        for endpoint, deadline in later:
            self._expiry.schedule(endpoint, deadline)
        if self._expiry.needs_rebuild(len(self.store)):
            self._rebuild_expiry()
        return expired

    def next_expiry(self) -> Optional[float]:
        """The soonest deadline (lifetime plus grace) held; it may belong to a registration
        that has since been updated or removed, which only wakes the expiry task early."""
        return self._expiry.next_deadline()

    def _schedule_expiry(self, reg: Registration) -> None:
        """Record ``reg``'s deadline; wake the expiry task only when it is sooner than the
        task's timer (a new registration's deadline hardly ever is)."""
        deadline = reg.expires_at + self.grace
        self._expiry.schedule(reg.endpoint, deadline)
        if deadline < self._expiry_armed:
            self._wake_expiry.set()

    def _rebuild_expiry(self) -> None:
        self._expiry.rebuild((r.endpoint, r.expires_at + self.grace) for r in self.store)

    async def _expiry_loop(self) -> None:
        while True:
            try:
                self.expire_due()
            except Exception:  # a bug here must not end expiry on this node for good
                log.exception("expiring registrations failed")
            deadline = self.next_expiry()
            now = self.clock.wall()
            # The wall clock may be set meanwhile: look again at least every 60 s.
            delay = 60.0 if deadline is None else min(60.0, max(0.5, deadline - now + 0.01))
            self._expiry_armed = now + delay
            self._wake_expiry.clear()
            try:
                await wait_for(self.clock, self._wake_expiry.wait(), delay)
            except TimeoutError:
                pass

    # --- device management ------------------------------------------------------------
    #
    # Every method below raises, besides what its docstring adds:
    #   UnknownEndpoint    no registration for ``endpoint``;
    #   DeviceUnreachable  no answer: timeout, transport error, no route for the binding,
    #                      a queued request that expired or the server closing
    #                      (``.cause`` holds the underlying error);
    #   RequestFailed      the device answered with an error code (``.code``, e.g. 4.04);
    #   DecodeError        a malformed ``path`` (lwm2m_sms.errors; also a ValueError).
    # All of them derive from lwm2m_sms.errors.Lwm2mSmsError.

    def _message(self, reg: Registration, code: Code, path: LwM2MPath, **options: Any) -> Message:
        root = [p for p in reg.root_path.split("/") if p]
        return Message(code=code, uri_path=tuple(root) + tuple(str(i) for i in path), **options)

    def _sender(self) -> RequestSender:
        if self.sender is None:
            raise RuntimeError("server not started: call start(context) first")
        return self.sender

    async def _request(self, endpoint: str, operation: str, code: Code, path: LwM2MPath, **options: Any) -> Message:
        reg = self.registration(endpoint)
        sender = self._sender()
        msg = self._message(reg, code, path, **options)
        try:
            coro = sender.send(reg, msg)
            response = await (asyncio.wait_for(coro, self.request_timeout) if self.request_timeout else coro)
        except (aiocoap.error.Error, asyncio.TimeoutError, OSError) as exc:
            log.warning("%s %s on ep=%s: no answer: %r", operation, format_path(path), endpoint, exc)
            raise DeviceUnreachable(endpoint, operation, format_path(path), exc) from exc
        current = self.store.get(endpoint)
        if current is not None:
            self._emit("on_message_from", current)
        if not response.code.is_successful():
            log.info("%s %s on ep=%s: %s", operation, format_path(path), endpoint, response.code)
            raise RequestFailed(endpoint, operation, format_path(path), response.code,
                                response.payload.decode("utf-8", "replace"))
        return response

    @staticmethod
    def _decode(endpoint: str, operation: str, path: LwM2MPath, response: Message) -> ReadResult:
        try:
            cf = normalize_format(response.opt.content_format)
            value = decode_payload(path, response.opt.content_format, response.payload)
        except DecodeError as exc:
            log.warning("%s %s on ep=%s: undecodable answer: %s", operation, format_path(path), endpoint, exc)
            raise InvalidResponse(endpoint, operation, format_path(path), exc) from exc
        return ReadResult(endpoint, path, value, cf)

    async def read(self, endpoint: str, path: "str | LwM2MPath", *, accept: Optional[int] = None) -> ReadResult:
        """Read an object, instance, resource or resource instance (``"/3/0/0"`` or
        ``(3, 0, 0)``). The result's ``value`` is shaped by the path's level (see
        :mod:`.content`); objects and instances are asked for as TLV unless ``accept``
        names another format.

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and InvalidResponse when the answer does not decode for the path."""
        p = parse_path(path)
        if accept is None and len(p) < 3:
            accept = ContentFormat.TLV.value
        options = {"accept": accept} if accept is not None else {}
        response = await self._request(endpoint, "read", Code.GET, p, **options)
        return self._decode(endpoint, "read", p, response)

    async def write(self, endpoint: str, path: "str | LwM2MPath", value: Content, *, partial: bool = False,
                    content_format: Optional[int] = None) -> None:
        """Write (replace: PUT) or, with ``partial=True``, partial update (POST) of an
        instance; a single resource is always replaced. ``value`` has the shape a Read of
        ``path`` returns; by default one value goes as text/plain (opaque as opaque), the
        rest as TLV.

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and EncodeError (lwm2m_sms.errors) for a value the path's type cannot carry."""
        p = parse_path(path)
        cf, body = encode_payload(p, value, content_format)
        await self._request(endpoint, "write", Code.POST if partial else Code.PUT, p, payload=body, content_format=cf)
        self._lifetime_written(endpoint, p, value)

    def _lifetime_written(self, endpoint: str, path: LwM2MPath, value: Any) -> None:
        """A Write that set /1/x/1 (Lifetime) changed the registration's lifetime: a
        client that does not follow it with an Update must not expire while alive."""
        lifetime: Any = None
        if path[:1] == (1,) and len(path) == 3 and path[2] == 1:
            lifetime = value
        elif path[:1] == (1,) and len(path) == 2 and isinstance(value, dict):
            lifetime = value.get(1)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 0 < lifetime <= 0xFFFFFFFF:
            return
        reg = self.store.get(endpoint)
        if reg is not None and reg.lifetime != lifetime:
            if not self.store.update(dataclasses.replace(reg, lifetime=lifetime)):
                self.refresh([endpoint])  # registered again or gone, on another node
                return
            log.info("ep=%s: Write of %s set the lifetime to %d s (was %d s)", endpoint, format_path(path),
                     lifetime, reg.lifetime)
            self._wake_expiry.set()

    async def execute(self, endpoint: str, path: "str | LwM2MPath", arguments: "str | bytes" = b"") -> None:
        """Execute a resource (``"/1/0/8"``), with optional arguments (text/plain).

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above)."""
        p = parse_path(path)
        body = arguments.encode() if isinstance(arguments, str) else arguments
        await self._request(endpoint, "execute", Code.POST, p, payload=body,
                            **({"content_format": ContentFormat.TEXT.value} if body else {}))

    async def create(
        self, endpoint: str, path: "str | LwM2MPath", resources: InstanceValue, instance_id: Optional[int] = None
    ) -> LwM2MPath:
        """Create an instance of object ``path`` with ``resources`` ({resource_id: value});
        the device picks the instance id unless ``instance_id`` is given. Returns the new
        instance's path (from the answer's Location-Path).

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and EncodeError for a path that is not an object's or an unencodable value."""
        p = parse_path(path)
        if len(p) != 1:
            raise EncodeError(f"create takes an object path, not {format_path(p)}")
        if instance_id is None:
            cf, body = encode_payload(p + (0,), resources, ContentFormat.TLV)
        else:
            cf, body = encode_payload(p, {instance_id: resources}, ContentFormat.TLV)
        response = await self._request(endpoint, "create", Code.POST, p, payload=body, content_format=cf)
        location = [s for s in response.opt.location_path if s]
        if location:
            try:
                return parse_path("/".join(location))
            except DecodeError:
                pass
        return p + ((instance_id,) if instance_id is not None else ())

    async def delete(self, endpoint: str, path: "str | LwM2MPath") -> None:
        """Delete an object instance (``"/5/1"``).

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above)."""
        await self._request(endpoint, "delete", Code.DELETE, parse_path(path))

    async def discover(self, endpoint: str, path: "str | LwM2MPath") -> list[Link]:
        """Discover: the links (with their attributes) under an object, instance or
        resource.

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and InvalidResponse when the answer is not valid link-format."""
        p = parse_path(path)
        response = await self._request(endpoint, "discover", Code.GET, p, accept=ContentFormat.LINK_FORMAT.value)
        try:
            return linkformat.parse(response.payload)
        except DecodeError as exc:
            raise InvalidResponse(endpoint, "discover", format_path(p), exc) from exc

    async def write_attributes(self, endpoint: str, path: "str | LwM2MPath", **attributes: AttrValue) -> None:
        """Write-Attributes: ``pmin=10, pmax=60, gt=..., lt=..., st=...``; None removes.

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and EncodeError for an attribute LwM2M does not define or a value it cannot take."""
        p = parse_path(path)
        await self._request(endpoint, "write-attributes", Code.PUT, p,
                            uri_query=tuple(linkformat.attributes_to_query(attributes)))

    async def observe(
        self, endpoint: str, path: "str | LwM2MPath", *, accept: Optional[int] = None,
        callback: Optional[Callable[[Content], None]] = None,
    ) -> Observation:
        """Observe: returns once the first answer is in (its value in ``.value``). Iterate
        the returned :class:`Observation` for the decoded notifications, or pass
        ``callback`` to have each one handed to it (from a task the observation owns).

        Raises UnknownEndpoint, DeviceUnreachable, RequestFailed, DecodeError (see above),
        and InvalidResponse when the first answer does not decode. Iterating raises
        RequestFailed for an error notification and InvalidResponse for an undecodable
        one."""
        p = parse_path(path)
        reg = self.registration(endpoint)
        sender = self._sender()
        if accept is None and len(p) < 3:
            accept = ContentFormat.TLV.value
        msg = self._message(reg, Code.GET, p, observe=0, **({"accept": accept} if accept is not None else {}))
        request = sender.observe(reg, msg)
        try:
            if self.request_timeout:
                response = await asyncio.wait_for(asyncio.shield(request.response), self.request_timeout)
            else:
                response = await request.response
        except (aiocoap.error.Error, asyncio.TimeoutError, OSError) as exc:
            if not request.response.done():
                request.response.cancel()
            raise DeviceUnreachable(endpoint, "observe", format_path(p), exc) from exc
        self._emit("on_message_from", reg)
        if not response.code.is_successful():
            raise RequestFailed(endpoint, "observe", format_path(p), response.code)
        first = self._decode(endpoint, "observe", p, response)
        obs = Observation(self, endpoint, p, request, first.value, response.opt.observe is not None, response, msg)
        if obs.observable:  # a plain answer (not observable) is nothing to track or cancel
            self._observations.setdefault(endpoint, set()).add(obs)
        if callback is not None:
            obs._start_callback(callback)
        return obs

    def observations(self, endpoint: str) -> list[Observation]:
        return list(self._observations.get(endpoint, ()))

    def cancel_observation(self, endpoint: str, path: "str | LwM2MPath") -> int:
        """Cancel every observation of ``path`` on ``endpoint``; returns how many."""
        p = parse_path(path)
        matching = [o for o in self.observations(endpoint) if o.path == p]
        for obs in matching:
            obs.cancel()
        return len(matching)

    def _forget_observation(self, obs: Observation) -> None:
        self._observations.get(obs.endpoint, set()).discard(obs)

    def _cancel_observations(self, endpoint: str) -> None:
        for obs in list(self._observations.pop(endpoint, ())):
            obs.cancel()
