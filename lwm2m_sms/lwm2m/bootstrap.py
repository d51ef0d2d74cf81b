"""LwM2M 1.0.2 bootstrap server (``/bs``) with per-endpoint bootstrap information.

OMA-TS-LightweightM2M-V1_0_2 5.2 (Bootstrap Interface). A bootstrap session runs, towards
the device:

1. Bootstrap Delete ``/`` (the client keeps its bootstrap account and /3),
2. Bootstrap Discover on ``/``: which /0 instance the bootstrap account is (the only /0
   instance a Delete of ``/`` leaves), so that no Write lands on it,
3. Bootstrap Write of each server account: ``/0/{i}`` (server URI, bootstrap-server
   false, security mode NoSec 3, SMS security mode 3, the server's SMS number in /0/x/9,
   short server id) and ``/1/{j}`` (short server id, lifetime, notification storing,
   binding in /1/x/7),
4. Bootstrap-Finish ``POST /bs``.

It starts in one of two ways (5.2.3): Client Initiated, on a Bootstrap-Request
``POST /bs?ep=NAME`` from an endpoint the configuration knows (answered 2.04, then the
session runs towards the remote the request came from); or Server Initiated, by
:meth:`BootstrapServer.push` towards a device known by its UDP address or its MSISDN,
without a request. Each step's answer is recorded in a :class:`BootstrapSession`; the first
error or a step without answer within ``step_timeout`` seconds ends the session as failed
(logged with the step, the code and the client's diagnostic). Over UDP an unknown endpoint
or a request without ``ep`` is answered 4.00 Bad Request.

By SMS the bootstrap server holds to the SMS trust rule (LwM2M 1.0.2 7.2: unknown senders
are ignored): :meth:`BootstrapServer.sms_accept_filter`, set as its SMS transports'
``accept_filter``, lets a Bootstrap-Request in only from a number the configuration lists
for that endpoint (``sms``), and anything else only from the device of a running session.
Everything else is dropped silently (no answer, logged, counted in ``stats``).

Configuration (:meth:`BootstrapConfig.from_dict`, JSON on the command line)::

    {"endpoints": {"dev-1": {"sms": "+15550101", "servers": [{"uri": "coap://127.0.0.1:5683",
        "short_server_id": 1, "lifetime": 300, "binding": "UQS", "sms_number": "+15550000"}]}},
     "default": {"servers": [...]}}

Security modes other than NoSec (3) are refused when the configuration is loaded (DESIGN:
only NoSec is built on UDP). SMS security modes 1 (DTLS), 2 (secured packet), 3 (NoSec) and
204 (OSCORE) are written with their /0/x/7 and /0/x/8 as ``sms_key_parameters`` and
``sms_secret_key`` (hex; layouts in docs/security.md); the client must have an SMS security
layer for anything but 3. Security instances are written at the lowest ids from 1 upwards
that the Discover did not list (``security_instances`` overrides), keeping clear of the
bootstrap account wherever the client keeps it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import aiocoap
from aiocoap import Message, resource
from aiocoap.numbers.codes import Code

from ..clock import SYSTEM_CLOCK, Clock, wait_for
from ..errors import AddressError
from ..sms.address import Address, parse_msisdn
from . import linkformat
from .client.accounts import NOSEC, SECURED_SMS_MODES, SMS_NOSEC, ServerAccount, check_security
from .content import ContentFormat, encode_payload
from .exceptions import ConfigError
from .linkformat import Link
from .udp import RateLimitedLog, local_port, udp_context
from .registration import BINDINGS, DEFAULT_LIMITS, printable
from .remote import remote_msisdn, remote_uri

__all__ = ["BootstrapInfo", "BootstrapConfig", "BootstrapServer", "BootstrapSession", "BootstrapStats", "StepResult"]

log = logging.getLogger(__name__)

Send = Callable[[Any, Message], Awaitable[Message]]


@dataclass
class BootstrapInfo:
    """What one endpoint gets: its server accounts, and the instance ids to write."""

    servers: list[ServerAccount]
    security_instances: list[int] = field(default_factory=list)
    server_instances: list[int] = field(default_factory=list)
    sms: frozenset[Address] = frozenset()  # numbers a Bootstrap-Request by SMS may come from
    auto_security_instances: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not self.servers:
            raise ConfigError("bootstrap information needs at least one server")
        for account in self.servers:
            check_security(account.security_instance(), SECURED_SMS_MODES)
            if account.binding not in BINDINGS:
                raise ConfigError(f"binding {account.binding!r} is not one of {', '.join(sorted(BINDINGS))}")
            if "S" in account.binding and account.sms_number is None:
                raise ConfigError(f"server {account.uri}: binding {account.binding} needs the server's sms_number")
        # empty: chosen per session, clear of the ids the device's Discover lists in /0
        self.auto_security_instances = not self.security_instances
        if not self.security_instances:
            self.security_instances = [i + 1 for i in range(len(self.servers))]
        if not self.server_instances:
            self.server_instances = list(range(len(self.servers)))


def _account(data: dict[str, Any]) -> ServerAccount:
    known = {"uri", "short_server_id", "lifetime", "binding", "sms_number", "security_mode", "sms_security_mode",
             "sms_key_parameters", "sms_secret_key"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown server settings {sorted(unknown)}")
    if "uri" not in data:
        raise ConfigError("a server needs a uri")
    try:
        sms = parse_msisdn(data["sms_number"]) if data.get("sms_number") else None
    except AddressError as exc:
        raise ConfigError(f"server {data['uri']}: sms_number: {exc}") from None
    return ServerAccount(
        uri=str(data["uri"]), short_server_id=int(data.get("short_server_id", 1)),
        lifetime=int(data.get("lifetime", 300)), binding=str(data.get("binding", "U")), sms_number=sms,
        security_mode=int(data.get("security_mode", NOSEC)),
        sms_security_mode=int(data.get("sms_security_mode", SMS_NOSEC)),
        sms_key_parameters=_hex(data, "sms_key_parameters"), sms_secret_key=_hex(data, "sms_secret_key"),
    )


def _hex(data: dict[str, Any], key: str) -> bytes:
    try:
        return bytes.fromhex(str(data.get(key, "")))
    except ValueError:
        raise ConfigError(f"server {data.get('uri')}: {key} is not hex") from None


@dataclass
class BootstrapConfig:
    endpoints: dict[str, BootstrapInfo] = field(default_factory=dict)
    default: Optional[BootstrapInfo] = None

    def lookup(self, endpoint: str) -> Optional[BootstrapInfo]:
        return self.endpoints.get(endpoint, self.default)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BootstrapConfig":
        def info(d: dict[str, Any]) -> BootstrapInfo:
            unknown = set(d) - {"servers", "sms"}
            if unknown:
                raise ConfigError(f"unknown endpoint settings {sorted(unknown)}")
            numbers = d.get("sms") or []
            if isinstance(numbers, str):
                numbers = [numbers]
            if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
                raise ConfigError(f"sms: give a number or a list of numbers, not {numbers!r}")
            try:
                sms = frozenset(parse_msisdn(n) for n in numbers)
            except AddressError as exc:
                raise ConfigError(f"sms: {exc}") from None
            return BootstrapInfo([_account(s) for s in d.get("servers", [])], sms=sms)

        endpoints = {ep: info(d) for ep, d in data.get("endpoints", {}).items()}
        if isinstance(data.get("default"), dict) and data["default"].get("sms"):
            # a number is listed for an endpoint name: the default has none to tie it to
            raise ConfigError("default: 'sms' is per endpoint; list the numbers under endpoints")
        return cls(endpoints, info(data["default"]) if data.get("default") else None)

    @classmethod
    def load(cls, path: "str | Path") -> "BootstrapConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not JSON: {exc}") from None


@dataclass
class StepResult:
    step: str
    code: Optional[Code]
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code is not None and self.code.is_successful()


@dataclass
class BootstrapSession:
    """One bootstrap of one endpoint. ``initiated_by`` is "client" (its Bootstrap-Request)
    or "server" (:meth:`BootstrapServer.push`); ``state`` is running, succeeded or failed."""

    endpoint: str
    remote: Any  # an aiocoap remote, or the base URI of a pushed session
    initiated_by: str = "client"
    steps: list[StepResult] = field(default_factory=list)
    discovered: list[Link] = field(default_factory=list)
    done: "asyncio.Future[BootstrapSession]" = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    msisdn: Optional[Address] = None  # the device's number when the session runs by SMS
    ended: Optional[float] = None  # the server's clock when it ended

    @property
    def succeeded(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and self.steps[-1].step == "Finish"

    @property
    def state(self) -> str:
        if not self.done.done():
            return "running"
        return "succeeded" if self.succeeded else "failed"

    @property
    def error(self) -> str:
        """Why a failed session failed: its last step, code and diagnostic."""
        if self.succeeded or not self.steps:
            return ""
        last = self.steps[-1]
        return f"{last.step}: " + " ".join(str(part) for part in (last.code, last.error) if part)


@dataclass
class BootstrapStats:
    requests: int = 0  # Bootstrap-Requests accepted
    refused: int = 0  # Bootstrap-Requests answered 4.00 (UDP)
    dropped_sms: int = 0  # SMS dropped by the trust rule (no answer)
    pushed: int = 0  # server-initiated sessions
    succeeded: int = 0
    failed: int = 0


class _BootstrapRequestResource(resource.Resource):  # type: ignore[misc]
    def __init__(self, server: "BootstrapServer"):
        super().__init__()
        self.server = server

    async def render_post(self, request: Message) -> Message:
        return self.server._handle_request(request)


def _query(message: Message) -> dict[str, str]:
    params = {}
    for q in message.opt.uri_query:
        key, _, value = q.partition("=")
        params[key] = value
    return params


class BootstrapServer:
    """Mount :attr:`site` in a context (or :meth:`create_udp`) and :meth:`start` it.
    ``sessions[ep]`` holds the last bootstrap of each endpoint; ``on_finished`` callbacks
    get each session when it ends. A step without an answer within ``step_timeout``
    seconds fails the session. A peer cannot pile up work: one session per endpoint (a
    request for an endpoint whose session runs with another peer is refused 4.00, a push
    of it raises ConfigError), at most ``max_sessions`` at a time (5.03 beyond), none
    asked for within ``min_interval`` seconds (on ``clock``, the project's injectable
    :class:`~lwm2m_sms.clock.Clock`) of the end of the endpoint's
    last one (5.03 with Max-Age), and ``sessions`` keeps at most ``max_history`` finished
    ones (the oldest go first)."""

    def __init__(self, config: BootstrapConfig, *, send: Optional[Send] = None, step_timeout: float = 120.0,
                 max_sessions: int = 1000, max_history: int = 10000, min_interval: float = 30.0,
                 clock: Clock = SYSTEM_CLOCK):
        self._send_fn = send
        self.min_interval = min_interval
        self.clock = clock
        self.step_timeout = step_timeout
        self.max_sessions = max_sessions
        self.max_history = max_history
        self.context: Optional[aiocoap.Context] = None
        self.site = resource.Site()
        self.mount(self.site)
        # the last session of each endpoint, oldest first; finished ones beyond max_history
        # are forgotten (a default configuration lets any name start one)
        self.sessions: dict[str, BootstrapSession] = {}
        self._running = 0
        self._running_numbers: dict[Address, int] = {}  # device numbers of running SMS sessions
        self._listed: frozenset[Address] = frozenset()
        self._drop_log = RateLimitedLog(60.0, clock=clock.now)
        self.config = config
        self.stats = BootstrapStats()
        self.on_finished: list[Callable[[BootstrapSession], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def create_udp(cls, config: BootstrapConfig, bind: tuple[str, int] = ("127.0.0.1", 5783), **kw: Any) -> "BootstrapServer":
        server = cls(config, **kw)
        server.start(await udp_context(bind, server.site, loggername="coap-server"))
        return server

    def mount(self, site: resource.Site) -> None:
        """Add ``/bs`` to another aiocoap Site (e.g. the LwM2M server's)."""
        site.add_resource(["bs"], _BootstrapRequestResource(self))

    def start(self, context: aiocoap.Context) -> None:
        self.context = context

    @property
    def port(self) -> int:
        """The UDP port of a server made by :meth:`create_udp`."""
        port = local_port(self.context) if self.context is not None else None
        if port is None:
            raise RuntimeError("no UDP transport in this bootstrap server's context")
        return port

    @property
    def config(self) -> BootstrapConfig:
        """The bootstrap information. The numbers it lists are indexed when it is set: give
        a changed configuration by assigning it again, not by changing it in place."""
        return self._config

    @config.setter
    def config(self, config: BootstrapConfig) -> None:
        self._config = config
        # knows_sms runs for each SMS part from anyone: a set lookup, not a scan of endpoints
        self._listed = frozenset(n for info in config.endpoints.values() for n in info.sms)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.context is not None:
            await self.context.shutdown()

    # --- SMS trust ------------------------------------------------------------------------

    def knows_sms(self, sender: Address) -> bool:
        """Whether ``sender`` is listed for an endpoint or is the device of a running
        session (the bearer's reassembly trust)."""
        return sender in self._listed or sender in self._running_numbers

    def sms_accept_filter(self, remote: Any, message: Message) -> bool:
        """The accept_filter of the bootstrap server's SMS transports: a Bootstrap-Request
        only from a number listed for its endpoint, anything else only from the device of a
        running session; the rest is dropped silently and counted."""
        sender = remote_msisdn(remote)
        if sender is None:
            return False
        if message.code == Code.POST and tuple(message.opt.uri_path) == ("bs",):
            ep = _query(message).get("ep", "")
            info = self.config.endpoints.get(ep)
            if info is not None and sender in info.sms:
                return True
            self._dropped(sender, "Bootstrap-Request by SMS from %s for ep=%s (mid=%s) dropped: number not "
                          "listed for it", sender, printable(ep) or "-", message.mid)
            return False
        if sender in self._running_numbers:
            return True
        self._dropped(sender, "SMS %s from %s (mid=%s) dropped: no bootstrap session with this number",
                      message.code, sender, message.mid)
        return False

    def _dropped(self, sender: Address, text: str, *args: Any) -> None:
        # counted always; logged at most once a minute per number, so that a flood of SMS
        # from strangers does not become a flood of log lines
        self.stats.dropped_sms += 1
        ok, suppressed = self._drop_log.should_log(str(sender))
        if ok:
            log.warning(text + (f" ({suppressed} more from this number since the last line)" if suppressed else ""),
                        *args)

    # --- sessions -------------------------------------------------------------------------

    @property
    def running(self) -> int:
        """Bootstrap sessions running now (at most ``max_sessions``)."""
        return self._running

    def check_push(self, endpoint: str, remote: str) -> tuple[str, Optional[Address]]:
        """What :meth:`push` checks before it sends anything: the endpoint's information,
        the address (returned as a base URI and the device's number for SMS), no session of
        the endpoint running, room for one more. ConfigError says what is wrong."""
        if self.config.lookup(endpoint) is None:
            raise ConfigError(f"no bootstrap information for endpoint {endpoint!r}")
        if "://" not in remote:
            remote = f"coap+sms://{remote}"
        msisdn = None
        if remote.lower().startswith("coap+sms://"):
            try:
                msisdn = parse_msisdn(remote[len("coap+sms://"):].split("/", 1)[0])
            except AddressError as exc:
                raise ConfigError(f"{remote}: {exc}") from None
            remote = f"coap+sms://{msisdn}"
        elif not remote.lower().startswith("coap://"):
            raise ConfigError(f"{remote}: give coap://HOST:PORT or coap+sms://+N")
        running = self.sessions.get(endpoint)
        if running is not None and not running.done.done():
            raise ConfigError(f"a bootstrap of {endpoint!r} is running ({running.initiated_by} initiated)")
        if self._running >= self.max_sessions:
            raise ConfigError(f"{self.max_sessions} bootstraps are running: try again later")
        return remote, msisdn

    async def push(self, endpoint: str, remote: str) -> BootstrapSession:
        """Server Initiated Bootstrap of ``endpoint`` at ``remote`` (``coap://host:port`` or
        ``coap+sms://+N``; ``+N`` alone means SMS), without a Bootstrap-Request: runs the
        sequence and returns the ended session (see ``state`` and ``error``). ConfigError
        when :meth:`check_push` finds the push impossible."""
        remote, msisdn = self.check_push(endpoint, remote)
        info = self.config.lookup(endpoint)
        assert info is not None  # checked
        session = BootstrapSession(endpoint, remote.rstrip("/"), "server", msisdn=msisdn)
        self._opened(session)
        self.stats.pushed += 1
        log.info("Server Initiated Bootstrap ep=%s at %s: %d server(s)", endpoint, remote, len(info.servers))
        await self._run(session, info)
        return session

    async def _send(self, remote: Any, request: Message) -> Message:
        if self._send_fn is not None:
            return await self._send_fn(remote, request)
        if isinstance(remote, str):
            # no Uri-Host: over SMS it would cost octets, and the device does not need it
            request.set_request_uri(remote + "/" + "/".join(request.opt.uri_path), set_uri_host=False)
        else:
            request.remote = remote
        assert self.context is not None, "start() the bootstrap server first"
        response: Message = await self.context.request(request).response
        return response

    def _handle_request(self, request: Message) -> Message:
        params = _query(request)
        ep = params.get("ep")
        where = remote_uri(request.remote)
        if not ep or set(params) - {"ep"}:
            self.stats.refused += 1
            log.warning("Bootstrap-Request from %s (mid=%s) refused with 4.00: ep missing or unknown parameters %s",
                        where, request.mid, list(request.opt.uri_query))
            return Message(code=Code.BAD_REQUEST, payload=b"ep missing or unknown parameter")
        if len(ep) > DEFAULT_LIMITS.max_endpoint or not ep.isprintable():
            # the server's rule for endpoint names: a newline in one would forge log lines
            self.stats.refused += 1
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 4.00: endpoint name too long or "
                        "unprintable", printable(ep), where, request.mid)
            return Message(code=Code.BAD_REQUEST, payload=b"endpoint name too long or unprintable")
        info = self.config.lookup(ep)
        if info is None:
            self.stats.refused += 1
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 4.00: no bootstrap information", ep, where, request.mid)
            return Message(code=Code.BAD_REQUEST, payload=b"no bootstrap information for this endpoint")
        running = self.sessions.get(ep)
        if running is not None and not running.done.done():
            if running.remote == request.remote:
                # the device asked again while its session runs (its answer was slow): go on
                return Message(code=Code.CHANGED)
            self.stats.refused += 1
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 4.00: a bootstrap of this endpoint "
                        "runs with %s", ep, where, request.mid, remote_uri(running.remote))
            return Message(code=Code.BAD_REQUEST, payload=b"a bootstrap of this endpoint is running")
        if running is not None and running.ended is not None and self.clock.now() - running.ended < self.min_interval:
            # each session costs the operator about ten SMS: a device (or someone sending
            # as its number) cannot have them back to back
            wait = max(1, round(running.ended + self.min_interval - self.clock.now()))
            self.stats.refused += 1
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 5.03: its last bootstrap ended "
                        "less than %g s ago", ep, where, request.mid, self.min_interval)
            return Message(code=Code.SERVICE_UNAVAILABLE, max_age=wait, payload=b"bootstrapped moments ago")
        if self._running >= self.max_sessions:
            self.stats.refused += 1
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 5.03: %d sessions running",
                        ep, where, request.mid, self.max_sessions)
            return Message(code=Code.SERVICE_UNAVAILABLE, payload=b"too many bootstraps running")
        session = BootstrapSession(ep, request.remote, "client", msisdn=remote_msisdn(request.remote))
        self._opened(session)
        self.stats.requests += 1
        log.info("Bootstrap-Request ep=%s from %s (mid=%s): %d server(s)", ep, where, request.mid, len(info.servers))
        task = asyncio.get_running_loop().create_task(self._run(session, info))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Message(code=Code.CHANGED)

    def _opened(self, session: BootstrapSession) -> None:
        self.sessions.pop(session.endpoint, None)  # to the end: the newest
        self.sessions[session.endpoint] = session
        self._running += 1
        if session.msisdn is not None:
            self._running_numbers[session.msisdn] = self._running_numbers.get(session.msisdn, 0) + 1

    def _closed(self, session: BootstrapSession) -> None:
        self._running -= 1
        if session.msisdn is not None:
            left = self._running_numbers.pop(session.msisdn, 1) - 1
            if left > 0:
                self._running_numbers[session.msisdn] = left
        excess = len(self.sessions) - self._running - self.max_history
        if excess > 0:
            # oldest first; running sessions (at most max_sessions) are skipped, so this
            # looks at no more than excess + max_sessions entries
            finished = []
            for ep, old in self.sessions.items():
                if old.done.done():
                    finished.append(ep)
                    if len(finished) == excess:
                        break
            for ep in finished:
                del self.sessions[ep]

    async def _step(self, session: BootstrapSession, name: str, request: Message) -> Message:
        try:
            response = await wait_for(self.clock, self._send(session.remote, request), self.step_timeout)
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            session.steps.append(StepResult(name, None, f"no answer within {self.step_timeout:g} s"))
            raise _StepFailed() from None
        except Exception as exc:  # aiocoap errors, and whatever a custom send raises
            session.steps.append(StepResult(name, None, f"no answer: {exc!r}"))
            raise _StepFailed() from exc
        diag = response.payload.decode("utf-8", "replace") if not response.code.is_successful() else ""
        session.steps.append(StepResult(name, response.code, diag))
        if not response.code.is_successful():
            raise _StepFailed()
        return response

    async def _run(self, session: BootstrapSession, info: BootstrapInfo) -> None:
        await asyncio.sleep(0)  # let the 2.04 go out first
        ep = session.endpoint
        try:
            await self._step(session, "Delete /", Message(code=Code.DELETE))
            response = await self._step(session, "Discover /", Message(code=Code.GET, accept=ContentFormat.LINK_FORMAT.value))
            try:
                session.discovered = linkformat.parse(response.payload)
            except ValueError as exc:
                log.warning("bootstrap ep=%s: Discover answer is not link-format: %s", ep, exc)
            security_ids = info.security_instances
            if info.auto_security_instances:
                security_ids = _free_ids(_instances_of(0, session.discovered), len(info.servers))
            for account, sec_id, srv_id in zip(info.servers, security_ids, info.server_instances):
                sec = account.security_instance()
                cf, body = encode_payload((0, sec_id), sec, ContentFormat.TLV)
                await self._step(session, f"Write /0/{sec_id}", Message(code=Code.PUT, uri_path=("0", str(sec_id)),
                                                                       content_format=cf, payload=body))
                cf, body = encode_payload((1, srv_id), account.server_instance(), ContentFormat.TLV)
                await self._step(session, f"Write /1/{srv_id}", Message(code=Code.PUT, uri_path=("1", str(srv_id)),
                                                                       content_format=cf, payload=body))
            await self._step(session, "Finish", Message(code=Code.POST, uri_path=("bs",)))
            log.info("bootstrap ep=%s (%s initiated) finished: %s", ep, session.initiated_by,
                     ", ".join(f"{s.step} {s.code}" for s in session.steps))
        except _StepFailed:
            log.error("bootstrap ep=%s (%s initiated) at %s failed: %s", ep, session.initiated_by,
                      remote_uri(session.remote) if not isinstance(session.remote, str) else session.remote,
                      session.error)
        except Exception as exc:  # e.g. a value that does not encode: record it, do not vanish
            session.steps.append(StepResult("prepare", None, repr(exc)))
            log.exception("bootstrap ep=%s failed", ep)
        finally:
            if session.succeeded:
                self.stats.succeeded += 1
            else:
                self.stats.failed += 1
            if not session.done.done():
                session.ended = self.clock.now()
                session.done.set_result(session)
                self._closed(session)
            for callback in self.on_finished:
                try:
                    callback(session)
                except Exception:
                    log.exception("bootstrap on_finished callback failed")


class _StepFailed(Exception):
    pass


def _instances_of(obj: int, links: list[Link]) -> set[int]:
    """The instance ids of ``obj`` in a Discover answer (``</0/1>`` ...)."""
    ids = set()
    for link in links:
        parts = link.target.strip("/").split("/")
        if len(parts) == 2 and parts[0] == str(obj) and parts[1].isascii() and parts[1].isdigit():
            ids.add(int(parts[1]))
    return ids


def _free_ids(taken: set[int], count: int) -> list[int]:
    """The ``count`` lowest ids from 1 upwards that are not ``taken``."""
    ids: list[int] = []
    candidate = 1
    while len(ids) < count:
        if candidate not in taken:
            ids.append(candidate)
        candidate += 1
    return ids
