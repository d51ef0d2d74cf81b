"""The MSISDN router: every device-management request of the LwM2M server core goes through
it, and it picks the bearer and the moment per the device's binding (DESIGN.md, bindings).

It plugs into :class:`lwm2m_sms.lwm2m.server.Lwm2mServer` twice: as its
:class:`~lwm2m_sms.lwm2m.server.RequestSender` (``server.sender = router``) and as a set of
:class:`~lwm2m_sms.lwm2m.server.ServerHooks` (registration events, the trust check, the
online window). On the SMS transport it sets the ``accept_filter`` that drops SMS from
numbers no registration names. The core stays bearer-agnostic.

What it does per binding:

* U, S, US: at once; UDP to the address the device registered or updated from, SMS to its
  ``sms`` number. US goes by UDP unless the caller asks for SMS (:func:`via`) and, with
  ``PolicySettings.us_fallback``, by SMS when UDP gets no answer within ``udp_timeout``.
* UQ, SQ, and UDP in UQS: held in the persistent :class:`~.queue.RequestQueue` while the
  device sleeps; any message from the device opens its online window (:mod:`.presence`)
  and the queue is sent in order, one request at a time.
* UQS wake-up: with work queued for a sleeping UQS device, the router executes
  /1/x/8 (Registration Update Trigger) by SMS (a CON POST, sent once) per
  ``PolicySettings.wake_up``; the device answers 2.04 by SMS and sends its Update over UDP,
  which opens the window and flushes the queue over UDP.

Queue mode is tracked per transport: in UQS only a message the device sends over UDP opens
its UDP window (an SMS answer to the wake-up does not), and each answer to a queued request
keeps the window open. The wake-up is tried ``wake_up_attempts`` times, ``wake_up_retry``
seconds apart, and again whenever a flush stops with work left; after a restart it is sent
for every UQS device with persisted work.

Time: windows, time limits, wake-up delays and retries and the US fallback timeout are
measured on one :class:`~lwm2m_sms.clock.Clock`, the server core's unless another is given
(tests pass a :class:`~lwm2m_sms.clock.FakeClock` and run them in no real time).

Queued requests have a time limit (``queue_ttl``); expiry fails the caller's request with
:class:`RequestExpired` and is recorded in the queue's store. A caller that gives up
(cancels) takes its request out of the queue. Observe requests for a sleeping device wait
in memory for the window (they are not persisted: an observation does not survive a server
restart anyway).

Several nodes on one PostgreSQL database (given a node bus: :mod:`.fleet`): a device's
window opened on another node holds here too (its ``a`` hint), so a request made here goes
at once; a request queued here while the device sleeps for this node is announced (``w``),
and a node that has it awake flushes the queue; the store's take hands each request to one
node. Whichever node sends a queued request records its outcome with the answer's payload
and content format, and the node that queued it (the row's ``origin``) wakes its caller
from the row (``d``; :meth:`Router.done_elsewhere`): an answer, :class:`RequestExpired`,
:class:`OutcomeUnknown` or :class:`FailedElsewhere`. The periodic round re-reads the rows
its callers wait for and flushes the queue of a device awake here, so a lost hint costs a
delay. The node the device's Register or Update reaches sends what is queued, because the
device's answers are likeliest to come back through that node's bearer; the SMS wake-up is
sent by the node whose caller wants the device, over its own bearer.

Known limits: when US falls back to SMS, the UDP CON keeps retransmitting to its end
(aiocoap cannot stop it). The trigger goes to /1/x/8 with one ``trigger_instance`` x for every device
(the instance of this server's Server object on the device; 0 in practice). A notification
does not count as a message from the device for queue mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine, Iterator, Optional

import aiocoap
from aiocoap import Message
from aiocoap.message import UndecidedRemote
from aiocoap.numbers.codes import Code

from ..clock import Clock, wait_for
from ..errors import AddressError, Lwm2mSmsError
from ..coap import SmsTransport, parse_sms_peer
from ..lwm2m.registration import Registration, RegisterParams, UpdateParams
from ..lwm2m.server import Lwm2mServer, ObserveRequest, ServerHooks
from ..sms.address import Address
from ..store.bus import NodeBus
from .binding import Binding, BindingError, Route, Transport, decide
from .fleet import FleetSync
from .presence import UDP_MAX_TRANSMIT_WAIT, Presence
from .queue import QueuedRequest, RequestQueue, RequestState
from .trust import TrustPolicy

__all__ = [
    "Router", "PolicySettings", "RequestExpired", "OutcomeUnknown", "FailedElsewhere", "NoRoute", "via",
    "RouterStats", "SENDING_QUEUED",
]

log = logging.getLogger(__name__)

_prefer: contextvars.ContextVar[Optional[Transport]] = contextvars.ContextVar("lwm2m_sms_prefer", default=None)
#: The id of the queued request whose CoAP request is being sent in this context (set
#: around ``context.request`` when the router sends from the queue), for whoever records
#: the exchange (:mod:`lwm2m_sms.cluster`: a dead node's answered request is recorded by
#: the node the answer reaches).
SENDING_QUEUED: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("lwm2m_sms_queued", default=None)


@contextlib.contextmanager
def via(transport: "Transport | str | None") -> Iterator[None]:
    """Ask for a bearer for the requests made inside the block::

        with via("sms"):
            await server.read("dev1", "/3/0")
    """
    token = _prefer.set(Transport(transport) if transport is not None else None)
    try:
        yield
    finally:
        _prefer.reset(token)


class RequestExpired(Lwm2mSmsError, aiocoap.error.Error):
    """A queued request's time limit passed before the device woke up."""


class OutcomeUnknown(Lwm2mSmsError, aiocoap.error.Error):  # type: ignore[misc]  # aiocoap is untyped
    """A queued POST was on the wire when its sender's lease in the store ended (the node
    stopped or hung): it may or may not have run on the device, and is not sent again."""


class FailedElsewhere(Lwm2mSmsError, aiocoap.error.Error):  # type: ignore[misc]  # aiocoap is untyped
    """A queued request that another node sent failed there; the message is what that
    node recorded (e.g. the bearer's error, "device de-registered")."""


class NoRoute(Lwm2mSmsError, aiocoap.error.Error):
    """No address for the bearer a request must take (e.g. SMS with no MSISDN known)."""


@dataclass
class PolicySettings:
    """Routing policy; every field has a documented default.

    * ``udp_window`` (93 s, MAX_TRANSMIT_WAIT): queue-mode online window after a device's
      message when it is queued on UDP (UQ, UQS).
    * ``sms_window`` (300 s): the same for SMS queue mode (SQ); an SMS round trip takes
      seconds to minutes, so UDP's 93 s would often close before the queue is through.
    * ``wake_up`` ("now"): for UQS, when to send the SMS trigger after work is queued:
      "now", "never", or a number of seconds to wait first (the device may wake by itself).
    * ``trigger_instance`` (0): x in /1/x/8, the device's Server object instance for us.
    * ``wake_up_attempts`` (3), ``wake_up_retry`` (60 s): a trigger that gets no 2.04, or
      whose device then sends no Update, is sent again after ``wake_up_retry`` seconds, at
      most ``wake_up_attempts`` times in a row.
    * ``us_fallback`` (True), ``udp_timeout`` (30 s): US sends by SMS when UDP gets no
      answer within ``udp_timeout`` (idempotent methods only: an Execute or Create that may
      have arrived is not run twice).
    * ``queue_ttl`` (86400 s): the time limit of a queued request.
    * ``expiry_interval`` (5 s): how often the queue is checked for expired requests.
    """

    udp_window: float = UDP_MAX_TRANSMIT_WAIT
    sms_window: float = 300.0
    wake_up: "str | float" = "now"
    trigger_instance: int = 0
    wake_up_attempts: int = 3
    wake_up_retry: float = 60.0
    us_fallback: bool = True
    udp_timeout: float = 30.0
    queue_ttl: float = 86400.0
    expiry_interval: float = 5.0


@dataclass
class RouterStats:
    """Counters; ``per_endpoint[ep]`` holds the same ``udp``/``sms`` request counts per
    registered device (dropped when it de-registers or expires)."""

    sent_udp: int = 0
    sent_sms: int = 0
    queued: int = 0
    flushed: int = 0
    expired: int = 0
    wake_ups: int = 0
    wake_up_failures: int = 0
    us_fallbacks: int = 0
    per_endpoint: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, endpoint: str, transport: Transport) -> None:
        if transport is Transport.UDP:
            self.sent_udp += 1
        else:
            self.sent_sms += 1
        d = self.per_endpoint.setdefault(endpoint, {"udp": 0, "sms": 0})
        d[transport.value] += 1


class _Deferred:
    """What :meth:`Router.observe` returns for a device that must be woken first: the same
    shape as an aiocoap request (``.response``, then ``.observation``)."""

    def __init__(self) -> None:
        self._inner: Any = None
        self.response: "asyncio.Future[Message]" = asyncio.get_running_loop().create_future()

    def attach(self, inner: Any) -> None:
        self._inner = inner

        def done(fut: "asyncio.Future[Message]") -> None:
            if self.response.done():
                return
            if fut.cancelled():
                self.response.cancel()
            elif (exc := fut.exception()) is not None:
                self.response.set_exception(exc)
            else:
                self.response.set_result(fut.result())

        asyncio.ensure_future(inner.response).add_done_callback(done)

    def fail(self, exc: BaseException) -> None:
        if not self.response.done():
            self.response.set_exception(exc)

    @property
    def observation(self) -> Any:
        return self._inner.observation


class Router(ServerHooks):
    """See the module docstring. ``sms`` is the server's SMS transport (None: no SMS bearer;
    S/SQ devices are then unreachable and say so)."""

    def __init__(
        self,
        server: Lwm2mServer,
        context: aiocoap.Context,
        *,
        sms: Optional[SmsTransport] = None,
        queue: Optional[RequestQueue] = None,
        trust: Optional[TrustPolicy] = None,
        policy: Optional[PolicySettings] = None,
        clock: Optional[Clock] = None,
        bus: Optional[NodeBus] = None,
    ) -> None:
        self.server = server
        self.context = context
        self.sms = sms
        self.queue = queue or RequestQueue()
        self.trust = trust or TrustPolicy()
        self.policy = policy or PolicySettings()
        self.presence = Presence(self.policy.udp_window)
        # One clock for the whole server: by default the core's (its lifetimes, our windows).
        self.clock: Clock = clock if clock is not None else server.clock
        self.stats = RouterStats()
        self._waiters: dict[int, asyncio.Future] = {}
        self._waiter_endpoint: dict[int, str] = {}  # the endpoint of each waiter's request
        # Endpoints whose binding never queues (U, S, US) but which may have queued work in
        # the store (queued while their binding queued, here or, by its "w" hint, on another
        # node): only for these and for queue-mode bindings does a request or a Register
        # read the queue first. Seeded from the store at start and at each catch-up.
        self._work_known: set[str] = set()
        self._observe_waiting: dict[str, list[tuple[Message, _Deferred, Transport]]] = {}
        self._flushing: set[str] = set()
        self._wake_tasks: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()
        self._udp_remote: dict[str, Any] = {}
        self._expiry_task: Optional[asyncio.Task] = None
        # Observers of SMS wake-ups: (endpoint, MSISDN, attempt), called when the trigger goes.
        self.wake_up_listeners: list[Callable[[str, Address, int], None]] = []
        for reg in server.registrations():
            self._learn(reg)
        if sms is not None:
            sms.accept_filter = self.accept_sms
        server.sender = self
        server.add_hooks(self)
        #: what this node tells the other nodes on a shared database and hears from them
        #: (:mod:`.fleet`); None without a node bus (SQLite, one node)
        self.fleet: Optional[FleetSync] = FleetSync(self, bus) if bus is not None else None

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        if self.fleet is not None:
            self.fleet.catch_up(self.clock.now())
        if self._expiry_task is None:
            self._expiry_task = asyncio.get_running_loop().create_task(self._expiry_loop())
        # Work persisted before a restart: wake the devices that can be woken.
        self._work_known = self.queue.endpoints_waiting()
        for endpoint in self._work_known:
            reg = self.server.store.get(endpoint)
            if reg is not None and self.route(reg).wake_up:
                self._schedule_wake_up(reg)

    async def close(self) -> None:
        if self.fleet is not None:
            await self.fleet.close()
        tasks = [t for t in (self._expiry_task, *self._wake_tasks.values(), *self._tasks) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._expiry_task = None
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(aiocoap.error.LibraryShutdown())
        for waiting in self._observe_waiting.values():
            for _request, deferred, _transport in waiting:
                deferred.fail(aiocoap.error.LibraryShutdown())
        self._observe_waiting.clear()

    def taken_over(self, requests: "list[QueuedRequest]") -> None:
        """Another node died with these requests on the wire and this node took them over
        (:meth:`RequestQueue.take_over`): a POST failed (outcome unknown) fails its waiting
        caller here, if any; requests queued again are sent now to devices that are awake
        (woken per the policy otherwise), as any queued work is."""
        for entry in requests:
            if entry.state is RequestState.FAILED:
                self._outcome_unknown(entry)
                self._tell_origin(entry)  # its caller may wait on a third node
        for endpoint in sorted({e.endpoint for e in requests if e.state is RequestState.QUEUED}):
            self._work_known.add(endpoint)
            if self.server.store.get(endpoint) is not None:
                self._start_flush(endpoint)

    def answered_elsewhere(self, request_id: int, response: Message) -> None:
        """The answer to queued request ``request_id`` reached this node after the node
        that sent it died, and was recorded in the store with its payload
        (:mod:`lwm2m_sms.cluster`): its caller gets it, here, or on the node that queued it
        by a ``d`` hint."""
        fut = self._waiters.get(request_id)
        if fut is not None:
            if not fut.done():
                fut.set_result(response)
            return
        self.outcome_recorded(request_id)

    def outcome_recorded(self, request_id: int) -> None:
        """The outcome of queued request ``request_id`` was recorded in the store by this
        node outside the router (:mod:`lwm2m_sms.cluster`: the answer or Reset to a dead
        node's request): wake its caller here, or tell the node that queued it."""
        entry = self.queue.get(request_id)
        if entry is None:
            return
        if request_id in self._waiters:
            self._settle(entry)
        else:
            self._tell_origin(entry)

    def waiting(self, endpoint: str) -> int:
        """How many requests (queued) and observations wait for ``endpoint`` to wake up."""
        return len(self.queue.pending(endpoint)) + len(self._observe_waiting.get(endpoint, ()))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> "asyncio.Task[None]":
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- addresses ----------------------------------------------------------------------

    def _learn(self, reg: Registration, *, stored: bool = False) -> None:
        """Remember where a registration's UDP messages come from; bind its MSISDN.
        ``stored``: read from the store after another node changed it, so its
        ``remote_uri`` is newer than the UDP address held here (unless it is the same)."""
        remote = reg.remote
        if remote is not None and getattr(remote, "msisdn", None) is None:
            self._udp_remote[reg.endpoint] = remote
        elif remote is None and reg.remote_uri.startswith("coap://"):
            held = self._udp_remote.get(reg.endpoint)
            if held is None or (stored and getattr(held, "uri_base", None) != reg.remote_uri):
                self._udp_remote[reg.endpoint] = UndecidedRemote.from_pathless_uri(reg.remote_uri)
        self.trust.directory.bind(reg.endpoint, self._msisdn_of(reg))

    @staticmethod
    def _msisdn_of(reg: Registration) -> Optional[Address]:
        if reg.sms is not None:
            return reg.sms
        if reg.remote is not None:
            return getattr(reg.remote, "msisdn", None)
        if reg.remote_uri.startswith("coap+sms:"):  # registered by SMS, before a restart
            try:
                return parse_sms_peer(reg.remote_uri)
            except AddressError:
                return None
        return None

    def _address(self, reg: Registration, transport: Transport) -> Any:
        if transport is Transport.UDP:
            remote = self._udp_remote.get(reg.endpoint)
            if remote is None:
                raise NoRoute(f"ep={reg.endpoint}: no UDP address known (it registered by SMS)")
            return remote
        msisdn = self._msisdn_of(reg)
        if msisdn is None:
            raise NoRoute(f"ep={reg.endpoint}: no MSISDN known for SMS")
        if self.sms is None:
            raise NoRoute(f"ep={reg.endpoint}: this server has no SMS bearer")
        return self.sms.address_for(msisdn)

    def _seen(self, endpoint: str, transport: Transport) -> None:
        """A message from the device over ``transport``: its window there (re)opens (and
        the other nodes hear of it, for a device that queues on that transport)."""
        window = self.policy.sms_window if transport is Transport.SMS else self.policy.udp_window
        self.presence.seen(f"{endpoint} {transport.value}", self.clock.now(), window)
        if self.fleet is not None:
            reg = self.server.store.get(endpoint)
            if reg is not None and self._binding(reg).queued(transport):
                self.fleet.awake(endpoint, transport, self.clock.wall() + window, window)

    def _online(self, reg: Registration, binding: Binding) -> bool:
        """Online on the transport its binding queues (UDP in UQ/UQS, SMS in SQ)."""
        transport = Transport.SMS if binding.sms_queued else Transport.UDP
        return self.presence.online(f"{reg.endpoint} {transport.value}", self.clock.now())

    @staticmethod
    def _binding(reg: Registration) -> Binding:
        return Binding.parse(reg.binding)

    # -- RequestSender ------------------------------------------------------------------

    def route(self, reg: Registration, prefer: Optional[Transport] = None) -> Route:
        """Where a request to ``reg`` would go now (also for tables and tests)."""
        binding = self._binding(reg)
        prefer = prefer or _prefer.get()
        if prefer is None and binding.udp and binding.sms and reg.endpoint not in self._udp_remote:
            # US/UQS that registered by SMS: no UDP address to send to, SMS it is.
            prefer = Transport.SMS
        return decide(binding, online=self._online(reg, binding), prefer=prefer)

    async def send(self, registration: Registration, request: Message) -> Message:
        reg = registration
        route = self.route(reg)
        # Older queued work goes first; the queue is read only where there can be some
        # (not for a fleet's every Read of an S device: _may_have_work).
        if route.now and not (self._may_have_work(reg) and self.queue.pending(reg.endpoint)):
            return await self._send_now(reg, request, route.transport)
        # Asleep, or older work is queued (order is kept, also across a binding change).
        return await self._enqueue(reg, request, route)

    def observe(self, registration: Registration, request: Message) -> ObserveRequest:
        reg = registration
        route = self.route(reg)
        deferred = _Deferred()
        if route.now:
            try:
                request.remote = self._address(reg, route.transport)
            except NoRoute as exc:
                deferred.fail(exc)
                return deferred
            self.stats.count(reg.endpoint, route.transport)
            return self.context.request(request)
        self._observe_waiting.setdefault(reg.endpoint, []).append((request, deferred, route.transport))
        log.info("ep=%s: observe %s waits for the device (%s)", reg.endpoint, _path(request), route)
        if route.wake_up:
            self._schedule_wake_up(reg)
        return deferred


    async def _send_now(self, reg: Registration, request: Message, transport: Transport) -> Message:
        binding = self._binding(reg)
        request.remote = self._address(reg, transport)
        self.stats.count(reg.endpoint, transport)
        fallback = (
            transport is Transport.UDP and binding.value == "US" and self.policy.us_fallback
            and request.code in _IDEMPOTENT and self._msisdn_of(reg) is not None
        )
        if not fallback:
            response = await self.context.request(request).response
            self._seen(reg.endpoint, transport)
            return response
        retry = _rebuild(request)
        req = self.context.request(request)
        try:
            response = await wait_for(self.clock, asyncio.shield(req.response), self.policy.udp_timeout)
            self._seen(reg.endpoint, transport)
            return response
        except (asyncio.TimeoutError, aiocoap.error.NetworkError) as exc:
            self.stats.us_fallbacks += 1
            log.info("ep=%s: %s %s got no UDP answer (%r); sending by SMS",
                     reg.endpoint, request.code, _path(request), exc)
        finally:
            # Drops our interest. aiocoap offers no way to stop a CON's retransmissions, so
            # the UDP exchange runs to its end; only idempotent methods fall back, so a late
            # UDP copy reaching the device does no harm.
            if not req.response.done():
                req.response.cancel()
        retry.remote = self._address(reg, Transport.SMS)
        self.stats.count(reg.endpoint, Transport.SMS)
        response = await self.context.request(retry).response
        self._seen(reg.endpoint, Transport.SMS)
        return response

    # -- the queue ----------------------------------------------------------------------

    async def _enqueue(self, reg: Registration, request: Message, route: Route) -> Message:
        opt = request.opt
        entry = self.queue.add(
            reg.endpoint, route.transport, int(request.code), _path(request),
            query=tuple(opt.uri_query), payload=request.payload,
            content_format=int(opt.content_format) if opt.content_format is not None else None,
            accept=int(opt.accept) if opt.accept is not None else None,
            ttl=self.policy.queue_ttl, now=self.clock.wall(),
        )
        self.stats.queued += 1
        self._work_known.add(reg.endpoint)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiters[entry.id] = fut
        self._waiter_endpoint[entry.id] = reg.endpoint
        log.info("ep=%s: %s %s queued as #%d (%s)", reg.endpoint, request.code, entry.path, entry.id, route)
        if route.now:
            self._start_flush(reg.endpoint)  # online with older work queued: keep the order
        else:
            if self.fleet is not None:  # it may be awake for another node: that one sends it
                self.fleet.work(reg.endpoint)
            if route.wake_up:
                self._schedule_wake_up(reg)
        try:
            return await fut
        except asyncio.CancelledError:
            # The caller gave up: the request must not reach the device later.
            # Only while it waits: another node may have taken and sent it meanwhile.
            self.queue.mark(entry.id, RequestState.FAILED, detail="the caller gave up", if_queued=True)
            raise
        finally:
            self._waiters.pop(entry.id, None)
            self._waiter_endpoint.pop(entry.id, None)

    def _may_have_work(self, reg: Registration) -> bool:
        """Whether ``reg`` may have queued work in the store: a queue-mode binding, or one
        known to have had work queued (:attr:`_work_known`)."""
        binding = self._binding(reg)
        return binding.udp_queued or binding.sms_queued or reg.endpoint in self._work_known

    def _start_flush(self, endpoint: str) -> None:
        if endpoint not in self._flushing:
            self._flushing.add(endpoint)
            self._spawn(self._flush(endpoint))

    async def _flush(self, endpoint: str) -> None:
        try:
            for request, deferred, transport in self._observe_waiting.pop(endpoint, []):
                reg = self.server.store.get(endpoint)
                if deferred.response.done():  # the caller gave up meanwhile
                    continue
                if reg is None:
                    deferred.fail(NoRoute(f"ep={endpoint} is no longer registered"))
                    continue
                try:
                    request.remote = self._address(reg, transport)
                except NoRoute as exc:
                    deferred.fail(exc)
                    continue
                self.stats.count(reg.endpoint, transport)
                deferred.attach(self.context.request(request))
            while True:
                pending = self.queue.pending(endpoint)
                if not pending:
                    self._work_known.discard(endpoint)
                    return
                reg = self.server.store.get(endpoint)
                if reg is None:
                    return
                route = self.route(reg, prefer=pending[0].transport if self._binding(reg).carries(pending[0].transport) else None)
                if not route.now:
                    log.info("ep=%s: online window closed with %d queued", endpoint, len(pending))
                    if route.wake_up:
                        self._schedule_wake_up(reg)
                    return
                # Taken, not just read: another node sharing the store may be flushing the
                # same device (its SMS reached that node); the store gives each request to one.
                entry = self.queue.take(endpoint, self.clock.wall())
                if entry is None:  # in flight elsewhere, or only requests past their deadline
                    return
                await self._deliver(reg, entry)
        except Exception:  # a bug here must not leave callers waiting silently
            log.exception("ep=%s: flushing the queue failed", endpoint)
        finally:
            self._flushing.discard(endpoint)

    async def _deliver(self, reg: Registration, entry: QueuedRequest) -> None:
        binding = self._binding(reg)
        # A binding change in an Update takes effect now; queued work survives it.
        transport = entry.transport if binding.carries(entry.transport) else binding.default_transport
        request = Message(
            code=Code(entry.code), uri_path=tuple(p for p in entry.path.split("/") if p),
            uri_query=entry.query, payload=entry.payload,
        )  # the route path of the registration is part of the stored path
        if entry.content_format is not None:
            request.opt.content_format = entry.content_format
        if entry.accept is not None:
            request.opt.accept = entry.accept
        fut = self._waiters.get(entry.id)
        if not self.queue.mark(entry.id, RequestState.SENT, transport=transport, taken=True):
            # Taken over since this node took it (it counted as dead a moment): queued
            # again, for whichever node the device is awake on; its caller hears from there.
            log.warning("ep=%s: queued #%d %s was taken over before it went out; not sent here",
                        reg.endpoint, entry.id, entry.path)
            return
        try:
            request.remote = self._address(reg, transport)
            self.stats.count(reg.endpoint, transport)
            queued = SENDING_QUEUED.set(entry.id)  # the send task aiocoap starts inherits it
            try:
                pending = self.context.request(request)
            finally:
                SENDING_QUEUED.reset(queued)
            response = await pending.response
        except Exception as exc:
            if self.queue.mark(entry.id, RequestState.FAILED, detail=repr(exc), taken=True):
                self._tell_origin(entry)
            log.warning("ep=%s: queued #%d %s failed: %r", reg.endpoint, entry.id, entry.path, exc)
            if fut is not None and not fut.done():
                fut.set_exception(exc)
            return
        self.stats.flushed += 1
        self._seen(reg.endpoint, transport)  # an answer keeps the window open
        cf = response.opt.content_format
        if self.queue.mark(entry.id, RequestState.ANSWERED, response_code=int(response.code),
                           response_payload=response.payload,
                           response_format=int(cf) if cf is not None else None, taken=True):
            self._tell_origin(entry)
        else:
            log.warning("ep=%s: queued #%d answered after another node took it over; its"
                        " outcome is that node's", reg.endpoint, entry.id)
        log.info("ep=%s: queued #%d %s answered %s over %s", reg.endpoint, entry.id, entry.path,
                 response.code, transport.value)
        if fut is not None and not fut.done():
            fut.set_result(response)
        elif fut is None and entry.origin in (None, self.queue.owner):
            log.info("ep=%s: queued #%d was made before a restart; its answer is in the store",
                     reg.endpoint, entry.id)

    def _tell_origin(self, entry: QueuedRequest) -> None:
        """The outcome of ``entry`` is in the store: a caller on another node waits for it."""
        if self.fleet is not None and entry.id not in self._waiters:
            self.fleet.done(entry.id, entry.origin)

    # -- requests queued on other nodes, devices awake on other nodes ----------------------

    def done_elsewhere(self, ids: "list[int]") -> None:
        """Another node recorded the outcome of requests ``ids``: wake the callers here
        that wait for them (one read)."""
        mine = [i for i in ids if i in self._waiters and not self._waiters[i].done()]
        for entry in self.queue.finished(mine):
            self._settle(entry)

    def collect_finished(self) -> int:
        """The periodic fallback for a lost ``done`` hint: wake every caller here whose
        request has an outcome in the store. Returns how many were woken."""
        waiting = [i for i, fut in self._waiters.items() if not fut.done()]
        finished = self.queue.finished(waiting)
        for entry in finished:
            self._settle(entry)
        return len(finished)

    def _settle(self, entry: QueuedRequest) -> None:
        fut = self._waiters.get(entry.id)
        if fut is None or fut.done():
            return
        where = f"ep={entry.endpoint}: queued #{entry.id} {entry.path}"
        if entry.state is RequestState.ANSWERED and entry.response_code is not None:
            response = Message(code=Code(entry.response_code), payload=entry.response_payload)
            if entry.response_format is not None:
                response.opt.content_format = entry.response_format
            log.info("%s answered %s on another node", where, response.code)
            fut.set_result(response)
        elif entry.state is RequestState.EXPIRED:
            self.stats.expired += 1
            fut.set_exception(RequestExpired(f"{where} expired in the queue"))
        elif "outcome unknown" in entry.detail:
            fut.set_exception(OutcomeUnknown(f"{where}: {entry.detail}"))
        else:
            fut.set_exception(FailedElsewhere(f"{where}: {entry.detail or entry.state.value}"))

    def awake_elsewhere(self, endpoint: str, transport: Transport, until: float) -> None:
        """Another node heard from ``endpoint`` over ``transport``: awake here too until
        ``until`` (wall seconds). Requests made here from now go at once; those already
        queued are sent by that node (its Register or Update handler flushes the queue)."""
        # At most this node's own window: a node with a wrong clock, or a buggy one (inf,
        # nan), must not hold a sleeping device awake here, where requests would go at once.
        window = self.policy.sms_window if transport is Transport.SMS else self.policy.udp_window
        left = min(until - self.clock.wall(), window)
        if not left > 0 or self.server.store.get(endpoint) is None:
            return
        self.presence.until(f"{endpoint} {transport.value}", self.clock.now() + left, self.clock.now())
        if self._observe_waiting.get(endpoint):  # observations wait in this node's memory only
            self._start_flush(endpoint)

    def work_elsewhere(self, endpoint: str) -> None:
        """Another node queued a request for ``endpoint``: send it if the device is awake
        here (the store's take gives it to one node)."""
        reg = self.server.store.get(endpoint)
        if reg is None:
            return  # not held here (the registration's own hint comes first): nothing to keep
        self._work_known.add(endpoint)
        if self.route(reg).now:
            self._start_flush(endpoint)

    def _flush_awake(self) -> None:
        """The periodic fallback for a lost ``work`` hint: flush the queue of each device
        that callers here wait for and that can be reached now (awake here, or its
        binding no longer queues)."""
        for endpoint in set(self._waiter_endpoint.values()):
            reg = self.server.store.get(endpoint)
            if reg is not None and self.route(reg).now:
                self._start_flush(endpoint)

    def refresh_work_known(self) -> None:
        """Read again which endpoints have queued work (a ``w`` hint may have been lost)."""
        self._work_known = self.queue.endpoints_waiting()

    async def _expiry_loop(self) -> None:
        while True:
            await self.clock.sleep(self.policy.expiry_interval)
            try:
                self.expire_queue()
                self.collect_finished()
                if self.fleet is not None:
                    self.fleet.catch_up(self.clock.now())
                    self._flush_awake()
                    self.fleet.prune(self.clock.wall())
            except Exception:  # e.g. the database is locked: try again next round
                log.exception("expiring the request queue failed")

    def expire_queue(self, now: Optional[float] = None) -> list[QueuedRequest]:
        expired = self.queue.expire(self.clock.wall() if now is None else now)
        for entry in expired:
            self._tell_origin(entry)
            fut = self._waiters.get(entry.id)
            if entry.state is RequestState.FAILED:  # a POST whose sender's lease ended
                self._outcome_unknown(entry)
                continue
            self.stats.expired += 1
            log.warning("ep=%s: queued #%d %s expired before the device woke", entry.endpoint, entry.id, entry.path)
            if fut is not None and not fut.done():
                fut.set_exception(RequestExpired(f"ep={entry.endpoint}: {entry.path} expired in the queue"))
        return expired

    def _outcome_unknown(self, entry: QueuedRequest) -> None:
        """A POST failed because its sender stopped while it was on the wire."""
        log.warning("ep=%s: queued #%d %s: %s", entry.endpoint, entry.id, entry.path, entry.detail)
        fut = self._waiters.get(entry.id)
        if fut is not None and not fut.done():
            fut.set_exception(OutcomeUnknown(f"ep={entry.endpoint}: {entry.path}: {entry.detail}"))

    # -- wake-up ------------------------------------------------------------------------

    def _schedule_wake_up(self, reg: Registration) -> None:
        mode = self.policy.wake_up
        if mode == "never" or reg.endpoint in self._wake_tasks:
            return
        delay = 0.0 if mode == "now" else float(mode)
        task = asyncio.get_running_loop().create_task(self._wake_up(reg.endpoint, delay))
        self._wake_tasks[reg.endpoint] = task

        def done(t: asyncio.Task, ep: str = reg.endpoint) -> None:
            if self._wake_tasks.get(ep) is t:
                del self._wake_tasks[ep]

        task.add_done_callback(done)

    def _asleep_with_work(self, endpoint: str) -> Optional[Registration]:
        reg = self.server.store.get(endpoint)
        if reg is None or not (self.queue.pending(endpoint) or self._observe_waiting.get(endpoint)):
            return None
        return None if self._online(reg, self._binding(reg)) else reg

    async def _wake_up(self, endpoint: str, delay: float) -> None:
        if delay:
            await self.clock.sleep(delay)
        for attempt in range(1, self.policy.wake_up_attempts + 1):
            reg = self._asleep_with_work(endpoint)
            if reg is None:
                return
            await self._trigger(reg, attempt)
            await self.clock.sleep(self.policy.wake_up_retry)
        if self._asleep_with_work(endpoint) is not None:
            log.warning("ep=%s: no Update after %d wake-up attempts; the queue waits for the device",
                        endpoint, self.policy.wake_up_attempts)

    async def _trigger(self, reg: Registration, attempt: int) -> bool:
        """Execute /1/x/8 by SMS (one CON); True if the device answered 2.04."""
        root = tuple(p for p in reg.root_path.split("/") if p)
        path = root + ("1", str(self.policy.trigger_instance), "8")
        request = Message(code=Code.POST, uri_path=path)
        try:
            request.remote = self._address(reg, Transport.SMS)
        except NoRoute as exc:
            log.warning("ep=%s: cannot wake it up: %s", reg.endpoint, exc)
            return False
        self.stats.wake_ups += 1
        self.stats.count(reg.endpoint, Transport.SMS)
        log.info("ep=%s: work queued while asleep; executing /%s by SMS to %s (attempt %d)",
                 reg.endpoint, "/".join(path), request.remote.msisdn, attempt)
        for listener in self.wake_up_listeners:
            try:
                listener(reg.endpoint, request.remote.msisdn, attempt)
            except Exception:  # an observer must not stop the wake-up
                log.exception("wake-up listener failed for ep=%s", reg.endpoint)
        try:
            response = await self.context.request(request).response
        except aiocoap.error.Error as exc:
            self.stats.wake_up_failures += 1
            log.warning("ep=%s: registration update trigger by SMS failed: %r", reg.endpoint, exc)
            return False
        if not response.code.is_successful():
            self.stats.wake_up_failures += 1
            log.warning("ep=%s: registration update trigger answered %s", reg.endpoint, response.code)
            return False
        return True

    # -- ServerHooks --------------------------------------------------------------------

    def validate_registration(
        self, params: "RegisterParams | UpdateParams", remote: Any, existing: Optional[Registration]
    ) -> Optional[Code]:
        sender = getattr(remote, "msisdn", None)
        sms = getattr(params, "sms", None)
        if sms is not None and self.trust.allow_list_refusal(sms, sender):
            return Code.FORBIDDEN  # a number becomes trusted only through the allow-list
        if sender is None:
            return None
        if hasattr(params, "endpoint"):  # a Register
            return Code.FORBIDDEN if self.trust.register_refusal(sender, sms, params.endpoint) else None
        if existing is not None and self.trust.location_refusal(sender, existing.endpoint):
            return Code.FORBIDDEN
        if self.trust.register_refusal(sender, sms):
            return Code.FORBIDDEN
        return None

    def validate_deregistration(self, registration: Registration, remote: Any) -> Optional[Code]:
        sender = getattr(remote, "msisdn", None)
        if sender is not None and self.trust.location_refusal(sender, registration.endpoint):
            return Code.FORBIDDEN
        return None

    def on_registered(self, registration: Registration) -> None:
        self._learn(registration)
        self._from_device(registration)

    def on_updated(self, registration: Registration) -> None:
        self._learn(registration)
        self._from_device(registration)

    def _from_device(self, reg: Registration) -> None:
        """A Register or Update: the device is awake on the transport it came by; send
        whatever waits for it."""
        transport = Transport.SMS if getattr(reg.remote, "msisdn", None) is not None else Transport.UDP
        self._seen(reg.endpoint, transport)
        if self._observe_waiting.get(reg.endpoint) or (
                self._may_have_work(reg) and self.queue.pending(reg.endpoint)):
            self._start_flush(reg.endpoint)

    def on_changed_elsewhere(self, registration: Registration) -> None:
        self._learn(registration, stored=True)

    def on_removed_elsewhere(self, registration: Registration) -> None:
        self._forget(registration)

    def on_deregistered(self, registration: Registration) -> None:
        self._forget(registration)

    def on_expired(self, registration: Registration) -> None:
        self._forget(registration)

    def _forget(self, reg: Registration) -> None:
        self.trust.directory.unbind(reg.endpoint)
        for transport in Transport:
            self.presence.asleep(f"{reg.endpoint} {transport.value}")
        self._udp_remote.pop(reg.endpoint, None)
        self.stats.per_endpoint.pop(reg.endpoint, None)  # per-device state lives as long as the device
        self._work_known.discard(reg.endpoint)
        task = self._wake_tasks.pop(reg.endpoint, None)
        if task is not None:
            task.cancel()
        for entry in self.queue.pending(reg.endpoint):
            if self.queue.mark(entry.id, RequestState.FAILED, detail="device de-registered", if_queued=True):
                self._tell_origin(entry)
            fut = self._waiters.get(entry.id)
            if fut is not None and not fut.done():
                fut.set_exception(NoRoute(f"ep={reg.endpoint} de-registered with {entry.path} queued"))
        for _request, deferred, _transport in self._observe_waiting.pop(reg.endpoint, []):
            deferred.fail(NoRoute(f"ep={reg.endpoint} de-registered"))

    # -- the SMS gate -------------------------------------------------------------------

    def accept_sms(self, remote: Any, message: Message) -> bool:
        """The SMS trust gate (an :data:`~lwm2m_sms.coap.AcceptFilter`): True for an SMS
        from a number a registration names, or for a Register (from an allowed number).
        The router sets it on the transport it is given; set it on every further SMS
        transport of the same server."""
        is_register = message.code == Code.POST and tuple(message.opt.uri_path) == ("rd",)
        return self.trust.accept_sms(remote.msisdn, is_register=is_register, oscore=message.opt.oscore is not None)


def _path(request: Message) -> str:
    return "/" + "/".join(request.opt.uri_path)


_IDEMPOTENT = frozenset({Code.GET, Code.PUT, Code.DELETE, Code.FETCH})


def _rebuild(request: Message) -> Message:
    """A fresh copy of a request for another bearer (new MID and token)."""
    fresh = Message(code=request.code, payload=request.payload)
    fresh.opt = copy.deepcopy(request.opt)
    return fresh
