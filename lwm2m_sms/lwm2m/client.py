"""An LwM2M 1.0.2 client simulator on aiocoap: objects /0, /1, /3, bootstrap, register,
periodic Update, queue mode, Execute /1/x/8, de-register on shutdown.

One :class:`Lwm2mClient` is one device. It serves its objects as the ``serversite`` of the
aiocoap :class:`~aiocoap.Context` it is given and sends its Register/Update/De-register
through the same context, so a device is whatever that context's transports make it: a UDP
socket (:func:`udp_context`), an SMS number (a context with the SMS transport on the
device's bearer), or both (US, UQS). aiocoap serves one site per context and picks one
transport per URI scheme, so each simulated device has a context of its own; a context
without sockets costs little (see the README for the memory per client measured).

Observe: /3/0/13 Current Time changes every ``time_resolution`` seconds; notifications
follow the Write-Attributes pmin, pmax, gt, lt and st (resource over instance over object,
the server's /1/x/2 and /1/x/3 as default pmin and pmax).

Which server address a device talks to: the LwM2M Server URI (/0/x/0), except for the SMS
bindings S and SQ, where it sends to the server's SMS number (/0/x/9) as
``coap+sms://+N``.

Queue mode (binding with Q): the device is online from each message it sends until
``queue_window`` seconds after it (default 93 s, MAX_TRANSMIT_WAIT); while asleep its radio
is off: requests that reach its context are dropped before aiocoap's message layer sees
them (not even an ACK goes out), which is what a sleeping device looks like to a server.

Bootstrap (LwM2M 1.0.2 5.2): ``POST /bs?ep=`` to the bootstrap server, then the client
accepts Bootstrap Delete (``/``, an object or an instance: ``/`` keeps the bootstrap
account and /3), Bootstrap Write of /0 and /1, Bootstrap Discover and Bootstrap-Finish
(4.06 Not Acceptable when no usable server account was written), then registers with every
server it was given. Only NoSec (security mode 3) and SMS security mode 3 are built: a
Write of any other mode is refused with 4.00 and a clear diagnostic (DESIGN: trust).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import aiocoap
from aiocoap import Message, interfaces, resource
from aiocoap.messagemanager import MessageManager
from aiocoap.numbers.codes import Code

from ..errors import AddressError, DecodeError, EncodeError
from ..sms.address import Address, parse_msisdn
from . import linkformat
from .content import ContentFormat, decode_payload, encode_payload, normalize_format
from .exceptions import ConfigError
from .linkformat import Link
from .objects import OBJECTS, resource_def
from .path import LwM2MPath, format_path, parse_path
from .binding import BINDINGS, Binding
from .remote import remote_msisdn, remote_uri
from .udp import udp_context

__all__ = ["Lwm2mClient", "ServerAccount", "udp_context", "default_device", "NOSEC", "SMS_NOSEC"]

log = logging.getLogger(__name__)

NOSEC = 3
SMS_NOSEC = 3
SECURITY_MODES = {0: "PSK", 1: "RPK", 2: "certificate", 3: "NoSec", 4: "certificate with EST"}
SMS_SECURITY_MODES = {1: "DTLS", 2: "secure packet (3GPP TS 31.115)", 3: "NoSec", 204: "OSCORE (proprietary)"}
# What a client with an SMS security layer (``on_sms_security``, lwm2m_sms.security) runs.
SECURED_SMS_MODES = (1, 2, 3, 204)
DEFAULT_QUEUE_WINDOW = 93.0
_warned_nosec = False
_SERVER_EXECUTABLES = {4: None, 8: None}  # /1/x/4 Disable, /1/x/8 Registration Update Trigger


@dataclass
class ServerAccount:
    """One LwM2M server (or the bootstrap server) as /0 and /1 describe it."""

    uri: str
    short_server_id: int = 1
    lifetime: int = 300
    binding: str = "U"
    sms_number: Optional[Address] = None  # /0/x/9: where the server's SMS come from
    bootstrap: bool = False
    security_mode: int = NOSEC
    sms_security_mode: Optional[int] = SMS_NOSEC
    sms_key_parameters: bytes = b""  # /0/x/7
    sms_secret_key: bytes = field(default=b"", repr=False)  # /0/x/8: never readable by a server

    def security_instance(self) -> dict[int, Any]:
        inst: dict[int, Any] = {0: self.uri, 1: self.bootstrap, 2: self.security_mode, 3: b"", 4: b"", 5: b""}
        if self.sms_security_mode is not None:
            inst[6] = self.sms_security_mode
        if self.sms_key_parameters or self.sms_secret_key:
            inst[7], inst[8] = self.sms_key_parameters, self.sms_secret_key
        if self.sms_number is not None:
            inst[9] = self.sms_number.lwm2m_digits
        if not self.bootstrap:
            inst[10] = self.short_server_id
        return inst

    def server_instance(self) -> dict[int, Any]:
        return {0: self.short_server_id, 1: self.lifetime, 6: False, 7: self.binding}


def check_security(instance: dict[int, Any], sms_modes: tuple[int, ...] = (SMS_NOSEC,)) -> None:
    """ConfigError unless the Security instance asks for NoSec on UDP and one of
    ``sms_modes`` on SMS."""
    mode = instance.get(2, NOSEC)
    if mode != NOSEC:
        raise ConfigError(f"security mode {mode} ({SECURITY_MODES.get(mode, 'unknown')}) is not supported: only NoSec (3) is built")
    sms_mode = instance.get(6)
    if sms_mode is not None and sms_mode not in sms_modes:
        raise ConfigError(
            f"SMS security mode {sms_mode} ({SMS_SECURITY_MODES.get(sms_mode, 'reserved/proprietary')}) is not "
            + ("supported: only NoSec (3) is built into a client without an SMS security layer"
               if sms_modes == (SMS_NOSEC,) else f"supported: {', '.join(map(str, sms_modes))}")
        )


# Values every simulated device shares. Nested dicts are shared between devices: writes
# replace a resource's value and never change one in place (see _write), and a fleet of
# 10,000 devices saves about 1 KB each.
_DEVICE_TEMPLATE: dict[int, Any] = {
    0: "lwm2m-sms", 1: "SIM-1", 3: "1.0.2", 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000},
    8: {0: 125, 1: 900}, 9: 87, 10: 15, 11: {0: 0}, 13: 0, 14: "+00:00", 15: "UTC",
    17: "simulator", 18: "1.0", 19: "1.0", 20: 1, 21: 64,
    4: None, 5: None, 12: None,  # executable: listed by Discover, never read
}


def default_device(endpoint: str, binding: str) -> dict[int, Any]:
    """Plausible /3/0 values for a simulated device."""
    serial = "".join(ch for ch in endpoint if ch.isalnum())[-12:] or "0"
    return {**_DEVICE_TEMPLATE, 2: serial, 16: binding}


class _Refused(Exception):
    def __init__(self, code: Code, reason: str = ""):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass
class _Watch:
    """One observation's state: when it last sent, the number it last sent (for gt, lt,
    st), a notification held back by pmin."""

    last: float
    value: Optional[float]
    pending: Optional[asyncio.TimerHandle] = None


def _crossed(attrs: dict[str, Any], old: Optional[float], new: Optional[float]) -> bool:
    """LwM2M 1.0.2 5.1.2: with gt/lt/st on a numeric resource, notify only when the value
    crosses gt or lt, or moved by at least st; otherwise on every change."""
    if old is None or new is None or not any(k in attrs for k in ("gt", "lt", "st")):
        return True
    for limit in (attrs.get("gt"), attrs.get("lt")):
        if limit is not None and (old - float(limit)) * (new - float(limit)) <= 0 and old != new:
            return True
    st = attrs.get("st")
    return st is not None and abs(new - old) >= float(st)


class _ClientSite(resource.Resource, interfaces.ObservableResource):
    """All of the device's objects as one aiocoap resource (paths are LwM2M ids)."""

    def __init__(self, client: "Lwm2mClient"):
        super().__init__()
        self.client = client
        self._observers: dict[LwM2MPath, dict[Any, _Watch]] = {}

    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return True

    async def render_to_pipe(self, pipe: Any) -> Any:
        return await interfaces.ObservableResource._render_to_pipe(self, pipe)

    async def add_observation(self, request: Message, serverobservation: Any) -> None:
        try:
            path = parse_path("/".join(request.opt.uri_path))
        except DecodeError:
            return
        observers = self._observers.setdefault(path, {})
        observers[serverobservation] = _Watch(self.client._now(), self.client._numeric(path))

        def cancelled() -> None:
            watch = observers.pop(serverobservation, None)
            if watch is not None and watch.pending is not None:
                watch.pending.cancel()
            self.client._observers_changed()

        serverobservation.accept(cancelled)
        self.client._observers_changed()

    def observed_paths(self) -> list[LwM2MPath]:
        return [p for p, obs in self._observers.items() if obs]

    def notify(self, changed: LwM2MPath) -> None:
        """A value under ``changed`` changed: notify the observations whose path covers or
        lies below it, as their attributes allow (gt/lt/st on numbers, no more often than
        pmin: a change within pmin is sent when pmin has passed)."""
        now = self.client._now()
        for path, observers in self._observers.items():
            n = min(len(path), len(changed))
            if path[:n] != changed[:n]:
                continue
            attrs = self.client.effective_attributes(path)
            value = self.client._numeric(path)
            for obs, watch in list(observers.items()):
                if not _crossed(attrs, watch.value, value):
                    continue
                watch.value = value
                wait = float(attrs.get("pmin") or 0) - (now - watch.last)
                if wait <= 0:
                    self._send(obs, watch, now)
                elif watch.pending is None:
                    watch.pending = asyncio.get_running_loop().call_later(wait, self._send_later, obs, watch)

    def check_pmax(self) -> None:
        """Send a notification to each observation silent for its pmax."""
        now = self.client._now()
        for path, observers in self._observers.items():
            pmax = self.client.effective_attributes(path).get("pmax")
            if not pmax:
                continue
            for obs, watch in list(observers.items()):
                if now - watch.last >= float(pmax):
                    self._send(obs, watch, now)

    def wants_ticks(self) -> bool:
        return any(obs and self.client.effective_attributes(p).get("pmax") for p, obs in self._observers.items())

    def _send_later(self, obs: Any, watch: "_Watch") -> None:
        watch.pending = None
        self._send(obs, watch, self.client._now())

    def _send(self, obs: Any, watch: "_Watch", now: float) -> None:
        if watch.pending is not None:
            watch.pending.cancel()
            watch.pending = None
        watch.last = now
        self.client.stats["notifications"] += 1
        obs.trigger()

    async def render(self, request: Message) -> Message:
        self.client._saw_message()
        try:
            response = self.client._handle(request)
        except _Refused as exc:
            log.info("ep=%s %s %s refused with %s: %s", self.client.endpoint, request.code,
                     "/" + "/".join(request.opt.uri_path), exc.code, exc.reason)
            response = Message(code=exc.code, payload=exc.reason.encode()[:120])
        self.client._sent_message()
        return response


@dataclass
class _Session:
    account: ServerAccount
    base_uri: str
    location: Optional[str] = None  # "/rd/5a3f": the Location-Path of the Register answer
    task: Optional[asyncio.Task] = None
    update_now: asyncio.Event = field(default_factory=asyncio.Event)
    pending: dict[str, str] = field(default_factory=dict)  # changed lt/b for the next Update
    objects_changed: bool = False  # instances created/deleted: the next Update carries the list


class Lwm2mClient:
    """One simulated device. ``server`` (a URI) makes it register without bootstrap;
    ``bootstrap`` (a URI) makes it bootstrap first. ``sms`` is the device's own MSISDN,
    sent as ``sms=`` on Register. ``clock`` gives Unix seconds (for /3/0/13)."""

    def __init__(
        self,
        context: aiocoap.Context,
        endpoint: str,
        *,
        server: Optional[str] = None,
        bootstrap: Optional[str] = None,
        binding: str = "U",
        lifetime: int = 300,
        sms: "str | Address | None" = None,
        server_sms: "str | Address | None" = None,
        short_server_id: int = 1,
        queue_window: float = DEFAULT_QUEUE_WINDOW,
        update_margin: float = 0.8,
        time_resolution: float = 1.0,
        clock: Callable[[], float] = time.time,
        device: Optional[dict[int, Any]] = None,
        sms_security: "tuple[int, bytes, bytes] | None" = None,
        on_sms_security: Optional[Callable[[aiocoap.Context, dict[int, Any]], None]] = None,
    ):
        """``sms_security`` is (/0/x/6, /0/x/7, /0/x/8) of the server account given here;
        ``on_sms_security`` (the SMS security layer's hook) is called with the context and
        each server's Security instance before registering, so it protects SMS to and from /0/x/9 as
        /0/x/6..8 say. Without it, only SMS security mode NoSec is accepted."""
        if binding not in BINDINGS:
            raise ConfigError(f"binding {binding!r} is not one of {', '.join(sorted(BINDINGS))}")
        if server is None and bootstrap is None:
            raise ConfigError("give a server URI, a bootstrap server URI, or both")
        self.context = context
        self.endpoint = endpoint
        self.sms = parse_msisdn(sms) if sms is not None else None
        self.queue_window = queue_window
        self.update_margin = update_margin
        self.time_resolution = time_resolution
        self.clock = clock
        self.bootstrap_uri = bootstrap
        self.on_sms_security = on_sms_security
        self._sms_modes = SECURED_SMS_MODES if on_sms_security is not None else (SMS_NOSEC,)
        self.objects: dict[int, dict[int, dict[int, Any]]] = {0: {}, 1: {}, 3: {0: device or default_device(endpoint, binding)}}
        if bootstrap is not None:
            self.objects[0][0] = ServerAccount(bootstrap, bootstrap=True).security_instance()
        if server is not None:
            account = ServerAccount(
                server, short_server_id, lifetime, binding,
                parse_msisdn(server_sms) if server_sms is not None else None,
            )
            if sms_security is not None:
                account.sms_security_mode, account.sms_key_parameters, account.sms_secret_key = sms_security
            self.objects[0][1] = account.security_instance()
            self.objects[1][0] = account.server_instance() | _SERVER_EXECUTABLES
        self.attributes: dict[LwM2MPath, dict[str, Any]] = {}
        self.site = _ClientSite(self)
        context.serversite = self.site
        self._sessions: dict[int, _Session] = {}
        self._bootstrapping = False
        self._bootstrap_finished: Optional[asyncio.Future] = None
        self._awake_until = float("inf")
        self._tick_task: Optional[asyncio.Task] = None
        self._tasks: set[asyncio.Task] = set()
        self.registered = asyncio.Event()
        self.stats = {"registers": 0, "updates": 0, "requests": 0, "dropped_asleep": 0, "dropped_untrusted": 0,
                      "notifications": 0}
        self._install_gate()

    # --- queue mode -------------------------------------------------------------------

    @property
    def binding(self) -> str:
        for inst in self.objects[1].values():
            return str(inst.get(7, "U"))
        return "U"

    @property
    def queue_mode(self) -> bool:
        return "Q" in self.binding

    def awake(self) -> bool:
        return not self.queue_mode or self.clock() < self._awake_until

    def _sent_message(self) -> None:
        self._awake_until = self.clock() + self.queue_window

    _saw_message = _sent_message  # any message restarts the window, sent or received

    def _queued_on(self, mman: MessageManager) -> bool:
        """Whether the binding puts the transport below ``mman`` in queue mode: UDP in UQ
        and UQS, SMS in SQ. In UQS the SMS side is always listening (the wake-up path)."""
        from ..coap import SmsTransport

        binding = Binding.parse(self.binding)
        return binding.sms_queued if isinstance(mman.message_interface, SmsTransport) else binding.udp_queued

    def _install_gate(self) -> None:
        # A sleeping device's radio is off: drop requests before aiocoap's message layer
        # (no ACK, no RST), per message manager of every transport the binding queues.
        for ri in self.context.request_interfaces:
            mman = getattr(ri, "token_interface", None)
            if not isinstance(mman, MessageManager):
                continue
            original = mman.dispatch_message

            def gated(message: Message, original: Callable = original, mman: MessageManager = mman) -> Any:
                if message.code.is_request() and not self.accepts(message, queued=self._queued_on(mman)):
                    return None
                return original(message)

            mman.dispatch_message = gated  # type: ignore[method-assign]

    def accepts(self, message: Message, *, queued: Optional[bool] = None) -> bool:
        """Whether an incoming request reaches the device: not while it sleeps on a
        transport its binding queues (``queued``; default: the binding has Q), and by SMS
        only from a number one of its servers has in /0/x/9 or in a ``coap+sms`` server URI
        (LwM2M SMS channel security; dropped silently, counted)."""
        if queued is None:
            queued = self.queue_mode
        if queued and not self.awake():
            self.stats["dropped_asleep"] += 1
            log.info("ep=%s asleep: dropped %s mid=%s from %s", self.endpoint, message.code, message.mid,
                     remote_uri(message.remote))
            return False
        sender = remote_msisdn(message.remote)
        if sender is not None and sender not in self.trusted_numbers():
            self.stats["dropped_untrusted"] += 1
            log.warning("ep=%s dropped SMS %s mid=%s from %s: not a server's number", self.endpoint,
                        message.code, message.mid, sender)
            return False
        return True

    def trusted_numbers(self) -> set[Address]:
        numbers = set()
        for sec in self.objects.get(0, {}).values():
            candidates = [str(sec[9])] if sec.get(9) else []
            uri = str(sec.get(0, ""))
            if uri.lower().startswith("coap+sms://"):
                candidates.append(uri[len("coap+sms://"):].split("/", 1)[0])
            for text in candidates:
                try:
                    numbers.add(parse_msisdn(text))
                except AddressError:
                    pass
        return numbers

    # --- life cycle -------------------------------------------------------------------

    async def start(self, *, bootstrap_timeout: float = 60.0) -> None:
        """Bootstrap (when configured and no server account exists), then register with
        every server account; returns once all registrations are done."""
        if self.bootstrap_uri is not None and not self._server_accounts():
            await self.bootstrap(timeout=bootstrap_timeout)
        await self.register_all()

    async def stop(self, deregister: bool = True, timeout: float = 10.0) -> None:
        """De-register from every server (when asked; each De-register given up after
        ``timeout`` seconds, so an unreachable server does not hold a shutdown), stop all
        timers."""
        for task in list(self._tasks) + ([self._tick_task] if self._tick_task else []):
            task.cancel()
        for session in self._sessions.values():
            if session.task is not None:
                session.task.cancel()
        if deregister:
            for session in list(self._sessions.values()):
                if session.location is not None:
                    try:
                        await asyncio.wait_for(
                            self._send(Message(code=Code.DELETE, uri=session.base_uri + session.location)), timeout)
                        log.info("ep=%s de-registered from %s", self.endpoint, session.base_uri)
                    except (aiocoap.error.Error, asyncio.TimeoutError) as exc:
                        log.warning("ep=%s de-register from %s failed: %r", self.endpoint, session.base_uri, exc)
                    session.location = None
        self._sessions.clear()
        self.registered.clear()

    async def _send(self, request: Message) -> Message:
        self._sent_message()
        response = await self.context.request(request).response
        self._saw_message()
        return response

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- bootstrap --------------------------------------------------------------------

    async def bootstrap(self, timeout: float = 60.0) -> None:
        """Client-initiated bootstrap: request, serve the bootstrap server's commands,
        return after Bootstrap-Finish. Raises ConfigError when refused or timed out."""
        self._bootstrapping = True
        self._bootstrap_finished = asyncio.get_running_loop().create_future()
        try:
            msg = Message(code=Code.POST, uri=f"{self.bootstrap_uri.rstrip('/')}/bs")
            msg.opt.uri_query = (f"ep={self.endpoint}",)
            response = await self._send(msg)
            if response.code != Code.CHANGED:
                raise ConfigError(f"Bootstrap-Request refused with {response.code}: {response.payload.decode('utf-8', 'replace')}")
            log.info("ep=%s Bootstrap-Request accepted by %s", self.endpoint, self.bootstrap_uri)
            try:
                await asyncio.wait_for(asyncio.shield(self._bootstrap_finished), timeout)
            except asyncio.TimeoutError:
                raise ConfigError(f"no Bootstrap-Finish within {timeout} s") from None
        finally:
            self._bootstrapping = False

    def _bootstrap_delete(self, path: LwM2MPath) -> None:
        if not path:
            for obj in list(self.objects):
                if obj == 3:
                    continue
                for iid in list(self.objects[obj]):
                    if obj == 0 and self.objects[0][iid].get(1):
                        continue
                    del self.objects[obj][iid]
            return
        if path[0] == 3:
            raise _Refused(Code.BAD_REQUEST, "the Device object is not deleted by bootstrap")
        instances = self.objects.get(path[0])
        if instances is None:
            raise _Refused(Code.NOT_FOUND, f"no object {path[0]}")
        targets = list(instances) if len(path) == 1 else [path[1]]
        for iid in targets:
            if path[0] == 0 and instances.get(iid, {}).get(1):
                continue  # the bootstrap account stays
            instances.pop(iid, None)

    def _bootstrap_discover(self, path: LwM2MPath) -> bytes:
        links = [Link("/", {"lwm2m": "1.0"})] if not path else []
        for obj in sorted(self.objects):
            if path and obj != path[0]:
                continue
            if not self.objects[obj]:
                links.append(Link(f"/{obj}"))
            for iid, inst in sorted(self.objects[obj].items()):
                attrs: dict[str, Any] = {}
                if obj == 0 and not inst.get(1) and 10 in inst:
                    attrs["ssid"] = inst[10]
                if obj == 1 and 0 in inst:
                    attrs["ssid"] = inst[0]
                links.append(Link(f"/{obj}/{iid}", attrs))
        return linkformat.serialize(links)

    def _bootstrap_finish(self) -> None:
        if not self._server_accounts():
            raise _Refused(Code.NOT_ACCEPTABLE, "bootstrap left no server account with a matching /1 instance")
        log.info("ep=%s Bootstrap-Finish: %d server account(s)", self.endpoint, len(self._server_accounts()))
        if self._bootstrap_finished is not None and not self._bootstrap_finished.done():
            self._bootstrap_finished.set_result(None)

    def _server_accounts(self) -> list[ServerAccount]:
        accounts = []
        for sec in self.objects[0].values():
            if sec.get(1):
                continue
            ssid = sec.get(10)
            server = next((s for s in self.objects[1].values() if s.get(0) == ssid), None)
            if server is None:
                continue
            sms = None
            if sec.get(9):
                try:
                    sms = parse_msisdn(str(sec[9]))
                except AddressError:
                    log.warning("ep=%s: /0 SMS number %r is not an MSISDN", self.endpoint, sec[9])
            accounts.append(ServerAccount(
                uri=str(sec.get(0, "")), short_server_id=int(ssid), lifetime=int(server.get(1, 86400)),
                binding=str(server.get(7, "U")), sms_number=sms, security_mode=int(sec.get(2, NOSEC)),
                sms_security_mode=sec.get(6), sms_key_parameters=bytes(sec.get(7) or b""),
                sms_secret_key=bytes(sec.get(8) or b""),
            ))
        return accounts

    # --- registration -------------------------------------------------------------------

    def _registration_uri(self, account: ServerAccount) -> str:
        if account.binding in ("S", "SQ") and account.sms_number is not None:
            return f"coap+sms://{account.sms_number}"
        return account.uri.rstrip("/")

    def _links(self) -> bytes:
        links = []
        for obj in sorted(self.objects):
            if obj == 0:
                continue
            if not self.objects[obj]:
                links.append(Link(f"/{obj}"))
            for iid in sorted(self.objects[obj]):
                links.append(Link(f"/{obj}/{iid}"))
        return linkformat.serialize(links)

    async def register_all(self) -> None:
        accounts = self._server_accounts()
        if not accounts:
            raise ConfigError(f"ep={self.endpoint}: no LwM2M server account to register with")
        for account in accounts:
            check_security(account.security_instance(), self._sms_modes)
            if self.on_sms_security is not None:
                self.on_sms_security(self.context, next(
                    s for s in self.objects[0].values() if not s.get(1) and s.get(10) == account.short_server_id))
            if "S" in account.binding and account.sms_security_mode in (None, SMS_NOSEC):
                # The spec allows NoSec on SMS for debugging and trigger-only use. Said once
                # per process at WARNING: a simulated fleet would print it per device.
                global _warned_nosec
                level = logging.INFO if _warned_nosec else logging.WARNING
                _warned_nosec = True
                log.log(level, "ep=%s: binding %s with %s runs SMS on NoSec (SMS security mode 3)",
                            self.endpoint, account.binding, account.uri)
            session = _Session(account, self._registration_uri(account))
            self._sessions[account.short_server_id] = session
            await self._register(session)
            session.task = self._spawn(self._update_loop(session))
        self.registered.set()

    async def _register(self, session: _Session) -> None:
        a = session.account
        msg = Message(code=Code.POST, uri=f"{session.base_uri}/rd", content_format=ContentFormat.LINK_FORMAT.value,
                      payload=self._links())
        query = [f"ep={self.endpoint}", f"lt={a.lifetime}", "lwm2m=1.0", f"b={a.binding}"]
        if self.sms is not None:
            query.append(f"sms={self.sms.lwm2m_digits}")
        msg.opt.uri_query = tuple(query)
        response = await self._send(msg)
        if response.code != Code.CREATED:
            raise ConfigError(f"ep={self.endpoint}: Register refused by {session.base_uri} with {response.code}: "
                              f"{response.payload.decode('utf-8', 'replace')}")
        # Some servers put the whole path into one Location-Path option ("/rd/1"):
        # split and rejoin so both forms address the same resource.
        segments = [seg for part in response.opt.location_path for seg in part.split("/") if seg]
        if not segments:
            raise ConfigError(f"ep={self.endpoint}: Register answer from {session.base_uri} has no Location-Path")
        session.location = "/" + "/".join(segments)
        self.stats["registers"] += 1
        log.info("ep=%s registered with %s at %s (b=%s lt=%s)", self.endpoint, session.base_uri,
                 session.location, a.binding, a.lifetime)

    async def update(self, short_server_id: Optional[int] = None) -> None:
        """Send an Update now (to one server or all)."""
        for ssid, session in self._sessions.items():
            if short_server_id is None or ssid == short_server_id:
                await self._update(session)

    async def _update(self, session: _Session) -> None:
        if session.location is None:
            await self._register(session)
            return
        msg = Message(code=Code.POST, uri=session.base_uri + session.location)
        pending, session.pending = session.pending, {}
        objects_changed, session.objects_changed = session.objects_changed, False
        msg.opt.uri_query = tuple(f"{k}={v}" for k, v in pending.items())
        if objects_changed:
            msg.opt.content_format = ContentFormat.LINK_FORMAT.value
            msg.payload = self._links()
        try:
            response = await self._send(msg)
        except BaseException:
            # not sent: the next Update carries them
            session.pending = {**pending, **session.pending}
            session.objects_changed |= objects_changed
            raise
        if response.code == Code.NOT_FOUND:
            log.info("ep=%s: %s forgot %s, registering again", self.endpoint, session.base_uri, session.location)
            session.location = None
            await self._register(session)
            return
        if response.code != Code.CHANGED:
            raise ConfigError(f"ep={self.endpoint}: Update refused with {response.code}")
        self.stats["updates"] += 1
        log.info("ep=%s Update to %s %s %s", self.endpoint, session.base_uri, session.location,
                 " ".join(msg.opt.uri_query) or "(no parameters)")

    async def _update_loop(self, session: _Session) -> None:
        failures = 0
        while True:
            # update_margin of the lifetime (default 0.8): well before the server's expiry.
            # After a failed Update, try again sooner (a tenth of that, doubling), so that one
            # lost Update does not let the registration expire.
            delay = max(0.1, session.account.lifetime * self.update_margin)
            if failures:
                delay = min(delay, max(0.1, delay / 10 * 2 ** (failures - 1)))
            try:
                await asyncio.wait_for(session.update_now.wait(), delay)
            except asyncio.TimeoutError:
                pass
            session.update_now.clear()
            try:
                await self._update(session)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop must outlive any one failure
                failures += 1
                log.warning("ep=%s Update to %s failed (%d in a row): %r", self.endpoint, session.base_uri,
                            failures, exc)

    def trigger_update(
        self, short_server_id: Optional[int] = None, *, objects_changed: bool = False, **changed: str
    ) -> None:
        """Send an Update soon, with the changed parameters; ``objects_changed`` makes it
        carry the object list (LwM2M 1.0.2: after instances were created or deleted)."""
        for ssid, session in self._sessions.items():
            if short_server_id is None or ssid == short_server_id:
                session.pending.update(changed)
                session.objects_changed |= objects_changed
                session.update_now.set()

    # --- local values ------------------------------------------------------------------

    def set_value(self, path: "str | LwM2MPath", value: Any) -> None:
        """Change a resource as the device itself would (notifies observers)."""
        p = parse_path(path)
        self.objects[p[0]][p[1]][p[2]] = value
        self.site.notify(p)

    def _current_time(self) -> int:
        return int(self.clock())

    def _now(self) -> float:
        # monotonic, for pmin/pmax spacing (the injectable clock is for /3/0/13 and queue mode)
        return time.monotonic()

    def _numeric(self, path: LwM2MPath) -> Optional[float]:
        """The value at a resource path when it is a number (for gt/lt/st), else None."""
        if len(path) != 3:
            return None
        value = self._current_time() if path[::2] == (3, 13) else self.objects.get(path[0], {}).get(path[1], {}).get(path[2])
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def effective_attributes(self, path: LwM2MPath) -> dict[str, Any]:
        """Notification attributes for ``path``: the resource's over the instance's over
        the object's, pmin/pmax defaulting to the server's /1/x/2 and /1/x/3."""
        attrs: dict[str, Any] = {}
        server = next(iter(self.objects.get(1, {}).values()), {})
        if server.get(2) is not None:
            attrs["pmin"] = server[2]
        if server.get(3) is not None:
            attrs["pmax"] = server[3]
        for level in range(1, len(path) + 1):
            attrs.update(self.attributes.get(path[:level], {}))
        return attrs

    def _observers_changed(self) -> None:
        watching_time = any(p[:1] == (3,) and (len(p) < 3 or p[2] == 13) for p in self.site.observed_paths())
        wanted = watching_time or self.site.wants_ticks()
        if wanted and self._tick_task is None:
            self._tick_task = asyncio.get_running_loop().create_task(self._tick())
        elif not wanted and self._tick_task is not None:
            self._tick_task.cancel()
            self._tick_task = None

    async def _tick(self) -> None:
        # /3/0/13 Current Time changes every time_resolution seconds (1 s by default);
        # observations silent for their pmax get a notification.
        while True:
            await asyncio.sleep(max(self.time_resolution, 0.01))
            if self.awake():
                before = self.stats["notifications"]
                if any(p[:1] == (3,) and (len(p) < 3 or p[2] == 13) for p in self.site.observed_paths()):
                    self.site.notify((3, 0, 13))
                self.site.check_pmax()
                if self.stats["notifications"] != before:
                    self._sent_message()

    # --- request handling (sans-IO apart from spawning tasks) ---------------------------

    def _handle(self, request: Message) -> Message:
        self.stats["requests"] += 1
        code = request.code
        if tuple(request.opt.uri_path) == ("bs",) and code == Code.POST:
            if not self._bootstrapping:
                raise _Refused(Code.METHOD_NOT_ALLOWED, "Bootstrap-Finish while not bootstrapping")
            self._bootstrap_finish()
            return Message(code=Code.CHANGED)
        try:
            path = parse_path("/".join(request.opt.uri_path))
        except DecodeError as exc:
            raise _Refused(Code.NOT_FOUND, str(exc)) from None
        if self._bootstrapping:
            return self._handle_bootstrap(request, path)
        if path[:1] == (0,):
            raise _Refused(Code.UNAUTHORIZED, "the Security object is for the bootstrap server only")
        if code == Code.GET:
            accept = request.opt.accept
            if accept == ContentFormat.LINK_FORMAT:
                return Message(code=Code.CONTENT, content_format=40, payload=self._discover(path))
            return self._read(path, accept)
        if code == Code.PUT:
            if not request.payload and request.opt.uri_query:
                return self._write_attributes(path, request.opt.uri_query)
            self._write(path, request, replace=True)
            return Message(code=Code.CHANGED)
        if code == Code.POST:
            if len(path) == 3:
                return self._execute(path)
            if len(path) == 1:
                return self._create(path, request)
            if len(path) == 2:
                self._write(path, request, replace=False)
                return Message(code=Code.CHANGED)
            raise _Refused(Code.METHOD_NOT_ALLOWED, f"POST on {format_path(path)}")
        if code == Code.DELETE:
            return self._delete(path)
        raise _Refused(Code.METHOD_NOT_ALLOWED, f"{code} not supported")

    def _handle_bootstrap(self, request: Message, path: LwM2MPath) -> Message:
        code = request.code
        if code == Code.DELETE:
            self._bootstrap_delete(path)
            log.info("ep=%s Bootstrap-Delete %s", self.endpoint, format_path(path))
            return Message(code=Code.DELETED)
        if code == Code.PUT:
            if not path:
                raise _Refused(Code.BAD_REQUEST, "Bootstrap-Write needs an object path")
            values = self._decode(path, request)
            if len(path) <= 2 and not isinstance(values, dict):
                raise _Refused(Code.BAD_REQUEST, f"Bootstrap-Write of {format_path(path)} needs TLV")
            if len(path) == 1:
                for iid, inst in values.items():
                    self._bootstrap_write_instance(path[0], iid, inst)
            elif len(path) == 2:
                self._bootstrap_write_instance(path[0], path[1], values)
            else:
                inst = self.objects.setdefault(path[0], {}).setdefault(path[1], {})
                inst[path[2]] = values
                if path[0] == 0:
                    self._check_security(inst)
            log.info("ep=%s Bootstrap-Write %s", self.endpoint, format_path(path))
            return Message(code=Code.CHANGED)
        if code == Code.GET and request.opt.accept in (None, ContentFormat.LINK_FORMAT):
            return Message(code=Code.CONTENT, content_format=40, payload=self._bootstrap_discover(path))
        raise _Refused(Code.METHOD_NOT_ALLOWED, f"{code} {format_path(path)} during bootstrap")

    def _check_security(self, instance: dict[int, Any]) -> None:
        try:
            check_security(instance, self._sms_modes)
        except ConfigError as exc:
            log.warning("ep=%s refuses bootstrap: %s", self.endpoint, exc)
            raise _Refused(Code.BAD_REQUEST, str(exc)) from None

    def _bootstrap_write_instance(self, obj: int, iid: int, values: dict[int, Any]) -> None:
        if not isinstance(values, dict):
            raise _Refused(Code.BAD_REQUEST, "Bootstrap-Write of an instance needs TLV resources")
        if obj == 0:
            self._check_security(values)
        instance = self.objects.setdefault(obj, {}).setdefault(iid, {})
        instance.update(values)
        if obj == 1:
            for rid, value in _SERVER_EXECUTABLES.items():
                instance.setdefault(rid, value)

    def _decode(self, path: LwM2MPath, request: Message) -> Any:
        try:
            return decode_payload(path, request.opt.content_format, request.payload)
        except DecodeError as exc:
            raise _Refused(Code.BAD_REQUEST, str(exc)) from None

    def _instance(self, path: LwM2MPath) -> dict[int, Any]:
        try:
            return self.objects[path[0]][path[1]]
        except KeyError:
            raise _Refused(Code.NOT_FOUND, f"{format_path(path[:2])} does not exist") from None

    def _readable(self, obj: int, inst: dict[int, Any]) -> dict[int, Any]:
        out = {}
        for rid, value in inst.items():
            rdef = resource_def(obj, rid)
            if rdef is not None and not rdef.readable:
                continue
            out[rid] = self._current_time() if (obj, rid) == (3, 13) else value
        return out

    def _read(self, path: LwM2MPath, accept: Optional[int]) -> Message:
        if not path:
            raise _Refused(Code.METHOD_NOT_ALLOWED, "Read on /")
        if path[0] not in self.objects:
            raise _Refused(Code.NOT_FOUND, f"no object {path[0]}")
        if len(path) == 1:
            value: Any = {iid: self._readable(path[0], inst) for iid, inst in self.objects[path[0]].items()}
        else:
            inst = self._instance(path)
            if len(path) == 2:
                value = self._readable(path[0], inst)
            else:
                rdef = resource_def(path[0], path[2])
                if rdef is not None and not rdef.readable:
                    raise _Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path)} is not readable")
                if path[2] not in inst:
                    raise _Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
                value = self._readable(path[0], {path[2]: inst[path[2]]})[path[2]]
                if len(path) == 4:
                    if not isinstance(value, dict) or path[3] not in value:
                        raise _Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
                    value = value[path[3]]
        try:
            fmt = normalize_format(accept)
        except DecodeError:
            raise _Refused(Code.NOT_ACCEPTABLE, f"cannot answer in content format {accept}") from None
        if fmt is None and isinstance(value, dict):
            fmt = ContentFormat.TLV
        try:
            cf, body = encode_payload(path, value, fmt)
        except EncodeError as exc:
            raise _Refused(Code.NOT_ACCEPTABLE, str(exc)) from None
        return Message(code=Code.CONTENT, content_format=cf, payload=body)

    def _write(self, path: LwM2MPath, request: Message, *, replace: bool) -> None:
        if len(path) < 2:
            raise _Refused(Code.METHOD_NOT_ALLOWED, f"Write on {format_path(path)}")
        inst = self._instance(path)
        values = self._decode(path, request)
        if len(path) == 4:
            current = inst.get(path[2], {})
            if not isinstance(current, dict):
                raise _Refused(Code.BAD_REQUEST, f"{format_path(path[:3])} is a single resource")
            values = {path[2]: {**current, path[3]: values}}
        elif len(path) == 3:
            values = {path[2]: values}
        for rid, value in values.items():
            rdef = resource_def(path[0], rid)
            if rdef is not None and not rdef.writable:
                raise _Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path[:2] + (rid,))} is not writable")
            if rdef is not None and isinstance(value, dict) != rdef.multiple:
                raise _Refused(Code.BAD_REQUEST, f"{format_path(path[:2] + (rid,))}: "
                               f"{'multiple' if rdef.multiple else 'single'} resource")
        if replace and len(path) == 2:
            for rid in [r for r in inst if (d := resource_def(path[0], r)) is None or d.writable]:
                del inst[rid]
        inst.update(values)
        log.info("ep=%s Write %s %s", self.endpoint, format_path(path), values)
        for rid in values:
            self.site.notify(path[:2] + (rid,))
        if path[0] == 1:
            changed = {}
            if 1 in values:
                changed["lt"] = str(values[1])
            if 7 in values:
                changed["b"] = str(values[7])
            if changed:
                for session in self._sessions.values():
                    if session.account.short_server_id == inst.get(0):
                        session.account.lifetime = int(inst.get(1, session.account.lifetime))
                        session.account.binding = str(inst.get(7, session.account.binding))
                self.trigger_update(inst.get(0), **changed)

    def _write_attributes(self, path: LwM2MPath, query: Any) -> Message:
        try:
            attrs = linkformat.query_to_attributes(query)
        except DecodeError as exc:
            raise _Refused(Code.BAD_REQUEST, str(exc)) from None
        current = self.attributes.setdefault(path, {})
        for name, value in attrs.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value
        if self.site.observed_paths():
            self._observers_changed()  # a new pmax may need the tick
        return Message(code=Code.CHANGED)

    def _execute(self, path: LwM2MPath) -> Message:
        inst = self._instance(path)
        rdef = resource_def(path[0], path[2])
        if rdef is None or not rdef.executable:
            raise _Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path)} is not executable")
        log.info("ep=%s Execute %s", self.endpoint, format_path(path))
        if path[0] == 1 and path[2] == 8:
            # Registration Update Trigger: answer first, then send the Update
            self.trigger_update(inst.get(0))
        return Message(code=Code.CHANGED)

    def _create(self, path: LwM2MPath, request: Message) -> Message:
        obj = path[0]
        if obj in (0, 3) or obj not in self.objects and obj not in OBJECTS:
            raise _Refused(Code.METHOD_NOT_ALLOWED if obj in (0, 3) else Code.NOT_FOUND, f"cannot create in /{obj}")
        try:
            entries = decode_payload(path, request.opt.content_format, request.payload)
            iid = next(iter(entries))
            values = entries[iid]
        except (DecodeError, StopIteration):
            # resources without an instance wrapper: the client picks the id
            values = self._decode(path + (0,), request)
            iid = max(self.objects.get(obj, {0: None}).keys(), default=-1) + 1
        instances = self.objects.setdefault(obj, {})
        if iid in instances:
            raise _Refused(Code.BAD_REQUEST, f"/{obj}/{iid} exists")
        instances[iid] = values
        self.trigger_update(objects_changed=True)
        return Message(code=Code.CREATED, location_path=(str(obj), str(iid)))

    def _delete(self, path: LwM2MPath) -> Message:
        if len(path) != 2:
            raise _Refused(Code.METHOD_NOT_ALLOWED, f"Delete on {format_path(path)}")
        if path[0] in (0, 3):
            raise _Refused(Code.METHOD_NOT_ALLOWED, f"/{path[0]} instances are not deleted by a server")
        self._instance(path)
        del self.objects[path[0]][path[1]]
        self.trigger_update(objects_changed=True)
        return Message(code=Code.DELETED)

    def _discover(self, path: LwM2MPath) -> bytes:
        if not path or path[0] not in self.objects:
            raise _Refused(Code.NOT_FOUND, f"Discover on {format_path(path)}")
        links = []
        obj = path[0]
        if len(path) == 1:
            links.append(Link(f"/{obj}", dict(self.attributes.get(path, {}))))
        instances = self.objects[obj] if len(path) == 1 else {path[1]: self._instance(path)}
        for iid, inst in sorted(instances.items()):
            if len(path) <= 2:
                links.append(Link(f"/{obj}/{iid}", dict(self.attributes.get((obj, iid), {}))))
            for rid in sorted(inst):
                if len(path) >= 3 and rid != path[2]:
                    continue
                rp = (obj, iid, rid)
                links.append(Link(format_path(rp), dict(self.attributes.get(rp, {}))))
        if len(path) >= 3 and len(links) == 0:
            raise _Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
        return linkformat.serialize(links)
