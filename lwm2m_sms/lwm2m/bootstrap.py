"""LwM2M 1.0.2 bootstrap server (``/bs``) with per-endpoint bootstrap information.

OMA-TS-LightweightM2M-V1_0_2 5.2 (Bootstrap Interface). On a Client Initiated
Bootstrap-Request ``POST /bs?ep=NAME`` from an endpoint it has information for, the server
answers 2.04 Changed and then runs, towards the remote the request came from:

1. Bootstrap Delete ``/`` (the client keeps its bootstrap account and /3),
2. Bootstrap Write of each server account: ``/0/{i}`` (server URI, bootstrap-server
   false, security mode NoSec 3, SMS security mode 3, the server's SMS number in /0/x/9,
   short server id) and ``/1/{j}`` (short server id, lifetime, notification storing,
   binding in /1/x/7),
3. Bootstrap Discover on ``/``,
4. Bootstrap-Finish ``POST /bs``.

Each step's answer is recorded in a :class:`BootstrapSession`; the first error ends the
session (logged with the step, the code and the client's diagnostic). An unknown
endpoint or a request without ``ep`` is answered 4.00 Bad Request.

Configuration (:meth:`BootstrapConfig.from_dict`, JSON on the command line)::

    {"endpoints": {"dev-1": {"servers": [{"uri": "coap://127.0.0.1:5683", "short_server_id": 1,
        "lifetime": 300, "binding": "UQS", "sms_number": "+15550000"}]}},
     "default": {"servers": [...]}}

Security modes other than NoSec (3) are refused when the configuration is loaded (DESIGN:
only NoSec is built on UDP). SMS security modes 1 (DTLS), 2 (secured packet), 3 (NoSec) and
204 (OSCORE) are written with their /0/x/7 and /0/x/8 as ``sms_key_parameters`` and
``sms_secret_key`` (hex; layouts in docs/security.md); the client must have an SMS security
layer for anything but 3. Security instances are written
from id 1 upwards (``security_instance`` overrides), keeping clear of the bootstrap
account a client usually has at /0/0.
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

from ..errors import AddressError
from ..sms.address import parse_msisdn
from . import linkformat
from .client import NOSEC, SECURED_SMS_MODES, SMS_NOSEC, ServerAccount, check_security
from .content import ContentFormat, encode_payload
from .exceptions import ConfigError
from .linkformat import Link
from .udp import local_port, udp_context
from .registration import BINDINGS
from .remote import remote_uri

__all__ = ["BootstrapInfo", "BootstrapConfig", "BootstrapServer", "BootstrapSession", "StepResult"]

log = logging.getLogger(__name__)

Send = Callable[[Any, Message], Awaitable[Message]]


@dataclass
class BootstrapInfo:
    """What one endpoint gets: its server accounts, and the instance ids to write."""

    servers: list[ServerAccount]
    security_instances: list[int] = field(default_factory=list)
    server_instances: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.servers:
            raise ConfigError("bootstrap information needs at least one server")
        for account in self.servers:
            check_security(account.security_instance(), SECURED_SMS_MODES)
            if account.binding not in BINDINGS:
                raise ConfigError(f"binding {account.binding!r} is not one of {', '.join(sorted(BINDINGS))}")
            if "S" in account.binding and account.sms_number is None:
                raise ConfigError(f"server {account.uri}: binding {account.binding} needs the server's sms_number")
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
            return BootstrapInfo([_account(s) for s in d.get("servers", [])])

        endpoints = {ep: info(d) for ep, d in data.get("endpoints", {}).items()}
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
    endpoint: str
    remote: Any
    steps: list[StepResult] = field(default_factory=list)
    discovered: list[Link] = field(default_factory=list)
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def succeeded(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps) and self.steps[-1].step == "Finish"


class _BootstrapRequestResource(resource.Resource):
    def __init__(self, server: "BootstrapServer"):
        super().__init__()
        self.server = server

    async def render_post(self, request: Message) -> Message:
        return self.server._handle_request(request)


class BootstrapServer:
    """Mount :attr:`site` in a context (or :meth:`create_udp`) and :meth:`start` it.
    ``sessions[ep]`` holds the last bootstrap of each endpoint; ``on_finished`` callbacks
    get each session when it ends."""

    def __init__(self, config: BootstrapConfig, *, send: Optional[Send] = None):
        self.config = config
        self._send_fn = send
        self.context: Optional[aiocoap.Context] = None
        self.site = resource.Site()
        self.mount(self.site)
        self.sessions: dict[str, BootstrapSession] = {}
        self.on_finished: list[Callable[[BootstrapSession], None]] = []
        self._tasks: set[asyncio.Task] = set()

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

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.context is not None:
            await self.context.shutdown()

    async def _send(self, remote: Any, request: Message) -> Message:
        if self._send_fn is not None:
            return await self._send_fn(remote, request)
        request.remote = remote
        return await self.context.request(request).response  # type: ignore[union-attr]

    def _handle_request(self, request: Message) -> Message:
        params = {}
        for q in request.opt.uri_query:
            key, _, value = q.partition("=")
            params[key] = value
        ep = params.get("ep")
        where = remote_uri(request.remote)
        if not ep or set(params) - {"ep"}:
            log.warning("Bootstrap-Request from %s (mid=%s) refused with 4.00: ep missing or unknown parameters %s",
                        where, request.mid, list(request.opt.uri_query))
            return Message(code=Code.BAD_REQUEST, payload=b"ep missing or unknown parameter")
        info = self.config.lookup(ep)
        if info is None:
            log.warning("Bootstrap-Request ep=%s from %s (mid=%s) refused with 4.00: no bootstrap information", ep, where, request.mid)
            return Message(code=Code.BAD_REQUEST, payload=b"no bootstrap information for this endpoint")
        session = BootstrapSession(ep, request.remote)
        self.sessions[ep] = session
        log.info("Bootstrap-Request ep=%s from %s (mid=%s): %d server(s)", ep, where, request.mid, len(info.servers))
        task = asyncio.get_running_loop().create_task(self._run(session, info))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Message(code=Code.CHANGED)

    async def _step(self, session: BootstrapSession, name: str, request: Message) -> Message:
        try:
            response = await self._send(session.remote, request)
        except asyncio.CancelledError:
            raise
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
            for account, sec_id, srv_id in zip(info.servers, info.security_instances, info.server_instances):
                sec = account.security_instance()
                cf, body = encode_payload((0, sec_id), sec, ContentFormat.TLV)
                await self._step(session, f"Write /0/{sec_id}", Message(code=Code.PUT, uri_path=("0", str(sec_id)),
                                                                       content_format=cf, payload=body))
                cf, body = encode_payload((1, srv_id), account.server_instance(), ContentFormat.TLV)
                await self._step(session, f"Write /1/{srv_id}", Message(code=Code.PUT, uri_path=("1", str(srv_id)),
                                                                       content_format=cf, payload=body))
            response = await self._step(session, "Discover /", Message(code=Code.GET, accept=ContentFormat.LINK_FORMAT.value))
            try:
                session.discovered = linkformat.parse(response.payload)
            except ValueError as exc:
                log.warning("bootstrap ep=%s: Discover answer is not link-format: %s", ep, exc)
            await self._step(session, "Finish", Message(code=Code.POST, uri_path=("bs",)))
            log.info("bootstrap ep=%s finished: %s", ep, ", ".join(f"{s.step} {s.code}" for s in session.steps))
        except _StepFailed:
            last = session.steps[-1]
            log.error("bootstrap ep=%s failed at %s: %s %s", ep, last.step, last.code or "", last.error)
        except Exception as exc:  # e.g. a value that does not encode: record it, do not vanish
            session.steps.append(StepResult("prepare", None, repr(exc)))
            log.exception("bootstrap ep=%s failed", ep)
        finally:
            if not session.done.done():
                session.done.set_result(session)
            for callback in self.on_finished:
                try:
                    callback(session)
                except Exception:
                    log.exception("bootstrap on_finished callback failed")


class _StepFailed(Exception):
    pass
