"""The HTTP API, the event stream, ``/metrics`` and the web console, on aiohttp in the
event loop of the server's aiocoap context.

Routes (JSON in and out; the reference with examples is docs/http.md):

* ``GET /api/devices`` (filters: ``binding``, ``state``, ``msisdn``, ``q``, ``limit``,
  ``offset``), ``GET /api/devices/{ep}``
* ``GET|PUT|PATCH|POST|DELETE /api/devices/{ep}/data/{path}``: Read, Write (replace),
  Write (partial update), Execute (a resource) or Create (an object), Delete
* ``GET /api/devices/{ep}/discover/{path}``, ``PUT /api/devices/{ep}/attributes/{path}``
* ``POST|DELETE /api/devices/{ep}/observe/{path}``: Observe, Cancel Observation
* ``GET /api/devices/{ep}/queue``, ``DELETE /api/devices/{ep}/queue/{id}``
* ``GET|DELETE /api/operations/{id}``: follow or cancel an operation answered 202
* ``POST|GET /api/bootstrap/{ep}``: push an endpoint's bootstrap information to a device
  (Server Initiated Bootstrap), follow it (:mod:`.bootstrap`)
* ``GET /api/events`` (Server-Sent Events), ``GET /api/stats``, ``GET /metrics``
* ``POST /api/session``: the console trades the token for a cookie (EventSource cannot
  send an Authorization header); ``GET /``: the console.

Every request is rate-limited per client address; every body is size-limited by aiohttp
(``client_max_size``); event streams are counted and bounded (see :mod:`.access`).
A request authenticated by the cookie must also carry ``X-Lwm2m-Sms: 1`` unless it is a
GET: a custom header cannot be sent cross-site without a CORS preflight, which this server
never grants, so another web page cannot make a logged-in browser act on devices.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

from aiohttp import web

from ..errors import DecodeError, EncodeError
from .stack import RunningGateway
from ..lwm2m.bootstrap import BootstrapServer, BootstrapSession
from ..lwm2m.content import ContentFormat, decode_payload
from ..lwm2m.exceptions import UnknownEndpoint
from ..lwm2m.linkformat import AttrValue
from ..lwm2m.objects import OBJECTS
from ..lwm2m.path import format_path, parse_path
from ..lwm2m.server import Observation
from ..lwm2m.udp import RateLimitedLog
from .bootstrap import BootstrapPushes, PushRefused, session_json
from .access import HttpSettings, RateLimiter, check_exposure, token_matches
from .events import EventHub, queued_json
from .metrics import CONTENT_TYPE, GatewayMetrics
from .devices import device_json, device_state
from .operations import Operation, OperationRunner, TooBusy, msisdn_of
from .values import BadValue, from_json, to_json

__all__ = ["HttpApi"]

log = logging.getLogger(__name__)

CONSOLE = Path(__file__).parent / "console"
COOKIE = "lwm2m_sms_token"
CSRF_HEADER = "X-Lwm2m-Sms"
TLV_TYPE = "application/vnd.oma.lwm2m+tlv"
_FORMATS = {"tlv": ContentFormat.TLV.value, "text": ContentFormat.TEXT.value, "opaque": ContentFormat.OPAQUE.value}
_CONSOLE_FILES = {"index.html": "text/html", "console.css": "text/css", "console.js": "text/javascript"}
MAX_LIST = 1000


class HttpError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def _json(data: Any, status: int = 200, **headers: str) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json", headers=headers)


class HttpApi:
    """The operator interface of a running gateway (:class:`.stack.RunningGateway`). Refuses to be
    built when the settings would expose it without a token (see :mod:`.access`)."""

    def __init__(self, stack: RunningGateway, settings: HttpSettings, *,
                 bootstrap: Optional["BootstrapServer"] = None) -> None:
        """``bootstrap``: the bootstrap server running next to the gateway, if any (its
        pushes are started and followed under ``/api/bootstrap``)."""
        check_exposure(settings)
        self.stack = stack
        self.settings = settings
        # Event times, last-seen and rate limits on the gateway's own clock (tests: a fake one);
        # latencies are measured on the real monotonic clock.
        self.clock = stack.server.clock
        self.events = EventHub(clock=self.clock.wall)
        self.metrics = GatewayMetrics(stack)
        self.operations = OperationRunner(stack, self.events, limit=settings.max_operations,
                                          on_latency=self.metrics.observe_latency)
        self.bootstrap = BootstrapPushes(bootstrap, on_end=self._bootstrap_ended)
        self.limiter = RateLimiter(settings.rate, settings.burst, settings.max_clients_tracked)
        self.observations: dict[tuple[str, str], Observation] = {}
        self.sse_clients = 0
        self._refusals = RateLimitedLog(60.0)  # one log line per client address and minute
        self._sse_by_client: dict[str, int] = {}
        stack.server.add_hooks(self.events)
        stack.router.wake_up_listeners.append(self.events.on_wake_up)
        self.app = web.Application(client_max_size=settings.max_body, middlewares=[self._guard])
        self.app.on_shutdown.append(self._on_shutdown)
        self._routes()
        self._runner: Optional[web.AppRunner] = None
        self.port: Optional[int] = None

    # --- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        # handler_cancellation: a client that goes away ends its handler (and frees its
        # event-stream slot) at once, not at the next keep-alive write.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("HTTP API on %s%s", self.url, "" if self.settings.token else " (no token: loopback only)")

    @property
    def url(self) -> str:
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop serving; the gateway runs on (its hooks and listeners are taken back)."""
        self.events.close()
        self.operations.close()
        await self.bootstrap.close()
        if self.events in self.stack.server.hooks:
            self.stack.server.hooks.remove(self.events)
        if self.events.on_wake_up in self.stack.router.wake_up_listeners:
            self.stack.router.wake_up_listeners.remove(self.events.on_wake_up)
        for obs in list(self.observations.values()):
            obs.cancel()
        self.observations.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _on_shutdown(self, app: web.Application) -> None:
        self.events.close()

    def _routes(self) -> None:
        r = self.app.router
        r.add_get("/", self._console_index)
        r.add_get("/console/{name}", self._console_file)
        r.add_post("/api/session", self._session)
        r.add_get("/api/devices", self._devices)
        r.add_get("/api/devices/{ep}", self._device)
        data = "/api/devices/{ep}/data/{path:.*}"
        r.add_get(data, self._read)
        r.add_put(data, self._write)
        r.add_patch(data, self._write)
        r.add_post(data, self._execute_or_create)
        r.add_delete(data, self._delete)
        r.add_get("/api/devices/{ep}/discover/{path:.*}", self._discover)
        r.add_put("/api/devices/{ep}/attributes/{path:.*}", self._write_attributes)
        r.add_post("/api/devices/{ep}/observe/{path:.*}", self._observe)
        r.add_delete("/api/devices/{ep}/observe/{path:.*}", self._cancel_observe)
        r.add_get("/api/devices/{ep}/queue", self._queue)
        r.add_delete("/api/devices/{ep}/queue/{id}", self._cancel_queued)
        r.add_get("/api/operations/{id}", self._operation)
        r.add_delete("/api/operations/{id}", self._cancel_operation)
        r.add_post("/api/bootstrap/{ep}", self._push_bootstrap)
        r.add_get("/api/bootstrap/{ep}", self._bootstrap_session)
        r.add_get("/api/events", self._events)
        r.add_get("/api/stats", self._stats)
        r.add_get("/api/objects", self._objects)
        r.add_get("/metrics", self._metrics)

    # --- the guard: rate, authentication, errors ------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        client = request.remote or "?"
        if not self.limiter.allow(client, self.clock.now()):
            retry = max(1, round(self.limiter.retry_after(client)))
            return _json({"error": "too many requests"}, 429, **{"Retry-After": str(retry)})
        try:
            if request.path.startswith("/api/") and request.path != "/api/session" or request.path == "/metrics":
                self._authenticate(request)
            return await handler(request)
        except HttpError as exc:
            return _json({"error": exc.message, **exc.extra}, exc.status)
        except UnknownEndpoint as exc:
            return _json({"error": str(exc)}, 404)
        except (DecodeError, EncodeError, BadValue) as exc:
            return _json({"error": str(exc)}, 400)
        except web.HTTPException as exc:
            if exc.status == 413:
                return _json({"error": f"request body larger than {self.settings.max_body} octets"}, 413)
            raise

    def _authenticate(self, request: web.Request) -> None:
        token = self.settings.token
        if token is None:
            return
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            if token_matches(token, auth[7:].strip()):
                return
            self._refused(request, "wrong token")
            raise HttpError(401, "wrong token")
        cookie = request.cookies.get(COOKIE)
        if cookie is not None and token_matches(token, cookie):
            if request.method not in ("GET", "HEAD") and request.headers.get(CSRF_HEADER) != "1":
                self._refused(request, f"cookie without {CSRF_HEADER}")
                raise HttpError(403, f"a request authenticated by cookie needs the {CSRF_HEADER}: 1 header")
            return
        self._refused(request, "no token")
        raise HttpError(401, "a bearer token is needed (Authorization: Bearer ...)")

    def _refused(self, request: web.Request, why: str) -> None:
        client = request.remote or "?"
        ok, suppressed = self._refusals.should_log(client)
        if ok:
            log.warning("HTTP %s %s from %s refused: %s%s", request.method, request.path[:100], client, why,
                        f" ({suppressed} more refused since the last line)" if suppressed else "")

    async def _session(self, request: web.Request) -> web.Response:
        body = await self._body_json(request)
        given = body.get("token") if isinstance(body, dict) else None
        if self.settings.token is not None and not token_matches(self.settings.token, str(given or "")):
            self._refused(request, "wrong token for a console session")
            raise HttpError(401, "wrong token")
        response = _json({"ok": True})
        if self.settings.token is not None:
            response.set_cookie(COOKIE, self.settings.token, httponly=True, samesite="Strict", path="/")
        return response

    # --- console ------------------------------------------------------------------------

    async def _console_index(self, request: web.Request) -> web.Response:
        return self._console_response("index.html")

    async def _console_file(self, request: web.Request) -> web.Response:
        return self._console_response(request.match_info["name"])

    def _console_response(self, name: str) -> web.Response:
        kind = _CONSOLE_FILES.get(name)
        if kind is None:
            raise HttpError(404, "no such file")
        return web.Response(body=(CONSOLE / name).read_bytes(), content_type=kind, charset="utf-8",
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
                                     "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})

    # --- devices ------------------------------------------------------------------------

    async def _devices(self, request: web.Request) -> web.Response:
        q = request.query
        limit = _int(q.get("limit", "100"), "limit", 1, MAX_LIST)
        offset = _int(q.get("offset", "0"), "offset", 0, 10**9)
        selected = []
        # Filters on what is cheap to know; the full view (counters, queue) for one page only.
        for reg in sorted(self.stack.server.registrations(), key=lambda r: r.endpoint):
            if "binding" in q and reg.binding != q["binding"]:
                continue
            if "q" in q and q["q"] not in reg.endpoint:
                continue
            if "msisdn" in q and (msisdn_of(reg) or "").lstrip("+") != q["msisdn"].lstrip("+ "):
                continue
            if "state" in q and device_state(self.stack, reg) != q["state"]:
                continue
            selected.append(reg)
        page = [device_json(self.stack, self.events, reg) for reg in selected[offset:offset + limit]]
        return _json({"total": len(selected), "devices": page})

    async def _device(self, request: web.Request) -> web.Response:
        reg = self.stack.server.registration(request.match_info["ep"])
        return _json(device_json(self.stack, self.events, reg, full=True))

    # --- operations ---------------------------------------------------------------------

    async def _run(self, request: web.Request, name: str, call: Callable[[], Awaitable[Any]],
                   path: Optional[str] = None) -> web.Response:
        ep = request.match_info["ep"]
        path = path if path is not None else _path(request)
        reg = self.stack.server.registration(ep)
        waits = self.operations.will_wait(reg, name)
        try:
            op = self.operations.start(ep, name, path, call)
        except TooBusy as exc:
            raise HttpError(503, str(exc)) from None
        assert op.task is not None
        if waits:
            queued = asyncio.ensure_future(op.queued.wait())
            try:
                # Observe waits in memory, not in the queue: nothing to wait for then.
                await asyncio.wait([op.task, queued], timeout=0 if name == "observe" else 5.0,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                queued.cancel()  # also when the client went away meanwhile
        else:
            await asyncio.wait([op.task], timeout=self.settings.operation_wait)
        if not op.done:
            if op.state == "running" and waits:
                op.state = "waiting"
            # event_id: follow the event stream from here (Last-Event-ID) to miss nothing
            return _json({**self._operation_json(op), "event_id": self.events.last_id}, 202,
                         Location=f"/api/operations/{op.id}")
        return _json(self._operation_json(op), op.status)

    def _operation_json(self, op: Operation) -> dict[str, Any]:
        out = op.json()
        if op.queue_id is not None:
            entry = self.stack.router.queue.get(op.queue_id)
            if entry is not None:
                out["queued"] = queued_json(entry)
        return out

    async def _read(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        fmt = request.query.get("format")
        accept = None
        if fmt is not None:
            if fmt not in _FORMATS:
                raise HttpError(400, f"format must be one of {', '.join(_FORMATS)}")
            accept = _FORMATS[fmt]
        return await self._run(request, "read", lambda: self.stack.server.read(ep, path, accept=accept))

    async def _write(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        p = parse_path(path)
        if len(p) < 2:
            raise HttpError(400, "Write takes an instance, resource or resource instance path")
        ctype = request.content_type
        cf: Optional[int] = None
        if ctype == TLV_TYPE:
            value = decode_payload(p, ContentFormat.TLV.value, await request.read())
            cf = ContentFormat.TLV.value
        elif ctype == "text/plain":
            value = decode_payload(p, ContentFormat.TEXT.value, await request.read())
        else:
            body = await self._body_json(request)
            if not isinstance(body, dict) or "value" not in body:
                raise HttpError(400, 'a Write body is {"value": ...} (JSON), TLV or text/plain')
            value = from_json(body["value"])
            fmt = body.get("format")
            if fmt is not None:
                if fmt not in _FORMATS:
                    raise HttpError(400, f"format must be one of {', '.join(_FORMATS)}")
                cf = _FORMATS[fmt]
        partial = request.method == "PATCH"
        return await self._run(request, "write", lambda: self.stack.server.write(
            ep, path, value, partial=partial, content_format=cf))

    async def _execute_or_create(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        p = parse_path(path)
        if len(p) == 3:
            args = ""
            if request.content_type == "text/plain":
                args = (await request.read()).decode("utf-8", "replace")
            elif request.can_read_body:
                body = await self._body_json(request)
                args = str(body.get("args", "")) if isinstance(body, dict) else ""
            return await self._run(request, "execute", lambda: self.stack.server.execute(ep, path, args))
        if len(p) == 1:
            body = await self._body_json(request)
            if not isinstance(body, dict) or not isinstance(body.get("resources", {}), dict):
                raise HttpError(400, 'a Create body is {"resources": {"id": value, ...}, "instance": n}')
            resources = from_json(body.get("resources", {}))
            instance = body.get("instance")
            if instance is not None and not (isinstance(instance, int) and 0 <= instance <= 0xFFFF):
                raise HttpError(400, "instance is an id in 0..65535")

            async def create() -> str:
                return format_path(await self.stack.server.create(ep, path, resources, instance))

            return await self._run(request, "create", create)
        raise HttpError(400, "POST executes a resource (/O/I/R) or creates an instance of an object (/O)")

    async def _delete(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        return await self._run(request, "delete", lambda: self.stack.server.delete(ep, path))

    async def _discover(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        return await self._run(request, "discover", lambda: self.stack.server.discover(ep, path))

    async def _write_attributes(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], _path(request)
        body = await self._body_json(request)
        allowed = {"pmin", "pmax", "gt", "lt", "st"}
        if not isinstance(body, dict) or not body or not set(body) <= allowed:
            raise HttpError(400, f"a Write-Attributes body is a JSON object of {', '.join(sorted(allowed))}")
        attributes: dict[str, AttrValue] = {}
        for key, value in body.items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise HttpError(400, f"{key} must be a number or null")
            attributes[key] = value
        return await self._run(request, "write-attributes",
                               lambda: self.stack.server.write_attributes(ep, path, **attributes))

    async def _observe(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], format_path(parse_path(_path(request)))
        live = {k: o for k, o in self.observations.items()
                if not o.cancelled and o in self.stack.server.observations(k[0])}
        self.observations = live
        if (ep, path) in live:
            raise HttpError(409, f"{path} on {ep} is already observed", value=to_json(live[(ep, path)].value))
        if len(live) >= self.settings.max_observations:
            raise HttpError(503, f"{len(live)} observations (limit {self.settings.max_observations})")

        def notify(value: Any) -> None:
            self.events.publish("notification", ep, path=path, value=to_json(value))

        async def observe() -> Any:
            obs = await self.stack.server.observe(ep, path, callback=notify)
            if obs.observable:
                self.observations[(ep, path)] = obs
            return obs.value

        return await self._run(request, "observe", observe, path)

    async def _cancel_observe(self, request: web.Request) -> web.Response:
        ep, path = request.match_info["ep"], format_path(parse_path(_path(request)))
        self.stack.server.registration(ep)
        self.observations.pop((ep, path), None)
        return _json({"endpoint": ep, "path": path, "cancelled": self.stack.server.cancel_observation(ep, path)})

    # --- the queue and operations -------------------------------------------------------

    async def _queue(self, request: web.Request) -> web.Response:
        ep = request.match_info["ep"]
        self.stack.server.registration(ep)
        states = request.query.get("state")
        entries = self.stack.router.queue.history(ep, limit=MAX_LIST)
        out = [queued_json(e) for e in entries if states is None or e.state.value in states.split(",")]
        return _json({"endpoint": ep, "requests": out, "counts": self.stack.router.queue.counts()})

    async def _cancel_queued(self, request: web.Request) -> web.Response:
        queue_id = _int(request.match_info["id"], "id", 0, 2**62)
        entry = self.stack.router.queue.get(queue_id)
        if entry is None or entry.endpoint != request.match_info["ep"]:
            raise HttpError(404, f"no queued request {queue_id} for {request.match_info['ep']}")
        if not self.operations.cancel_queued(queue_id):
            raise HttpError(409, f"request {queue_id} is {entry.state.value}, no longer waiting")
        entry = self.stack.router.queue.get(queue_id)
        assert entry is not None
        return _json(queued_json(entry))

    async def _operation(self, request: web.Request) -> web.Response:
        op = self.operations.get(_int(request.match_info["id"], "id", 0, 2**62))
        if op is None:
            raise HttpError(404, "no such operation (finished ones are kept for a while only)")
        return _json(self._operation_json(op))

    async def _cancel_operation(self, request: web.Request) -> web.Response:
        op = self.operations.get(_int(request.match_info["id"], "id", 0, 2**62))
        if op is None:
            raise HttpError(404, "no such operation")
        if op.done:
            raise HttpError(409, f"operation {op.id} is {op.state}")
        if op.queue_id is not None:
            self.operations.cancel_queued(op.queue_id)
        elif op.task is not None:
            op.task.cancel()
        await asyncio.wait([op.task]) if op.task is not None else None
        return _json(self._operation_json(op))

    # --- events, statistics, metrics ----------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if self.sse_clients >= self.settings.max_sse_clients:
            raise HttpError(503, f"{self.sse_clients} event streams open (limit {self.settings.max_sse_clients})")
        client = request.remote or "?"
        if self._sse_by_client.get(client, 0) >= self.settings.max_sse_per_client:
            raise HttpError(429, f"{self.settings.max_sse_per_client} event streams open from {client} (the limit)")
        last = request.headers.get("Last-Event-ID") or request.query.get("since")
        last_id = _int(last, "Last-Event-ID", 0, 2**62) if last else None
        endpoint = request.query.get("endpoint")
        self.sse_clients += 1
        self._sse_by_client[client] = self._sse_by_client.get(client, 0) + 1
        sub = self.events.subscribe(endpoint, self.settings.sse_backlog, last_id)
        try:
            response = web.StreamResponse(headers={
                "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
            await response.prepare(request)
            await response.write(b"retry: 2000\n: connected\n\n")
            while True:
                try:
                    event = await asyncio.wait_for(sub.queue.get(), 15.0)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")  # also finds dead clients
                    continue
                if event is None:
                    break
                await response.write(event.sse())
            return response
        except (ConnectionError, asyncio.CancelledError):
            raise
        finally:
            self.sse_clients -= 1
            left = self._sse_by_client.pop(client, 1) - 1
            if left:
                self._sse_by_client[client] = left
            self.events.unsubscribe(sub)

    async def _push_bootstrap(self, request: web.Request) -> web.Response:
        ep = request.match_info["ep"]
        body = await self._body_json(request)
        remote = body.get("remote") if isinstance(body, dict) else None
        if not isinstance(remote, str) or not remote:
            raise HttpError(400, 'a push names the device: {"remote": "+N"} (SMS) or {"remote": "coap://host:port"}')
        try:
            task = self.bootstrap.start(ep, remote)
        except PushRefused as exc:
            raise HttpError(exc.status, str(exc)) from None
        await asyncio.wait([task], timeout=self.settings.operation_wait)
        session = self.bootstrap.last(ep)
        if not task.done():
            return _json({**session_json(session), "event_id": self.events.last_id}, 202,
                         Location=f"/api/bootstrap/{ep}")
        return _json(session_json(session), 200 if session.succeeded else 502)

    async def _bootstrap_session(self, request: web.Request) -> web.Response:
        try:
            return _json(session_json(self.bootstrap.last(request.match_info["ep"])))
        except PushRefused as exc:
            raise HttpError(exc.status, str(exc)) from None

    def _bootstrap_ended(self, session: "BootstrapSession") -> None:
        self.events.publish("bootstrap", session.endpoint, session=session_json(session))

    async def _stats(self, request: web.Request) -> web.Response:
        server, router = self.stack.server, self.stack.router
        regs = server.registrations()
        by_binding: dict[str, int] = {}
        for reg in regs:
            by_binding[reg.binding] = by_binding.get(reg.binding, 0) + 1
        rstats = {k: v for k, v in dataclasses.asdict(router.stats).items() if k != "per_endpoint"}
        return _json({
            "registrations": len(regs), "by_binding": by_binding,
            "queue": router.queue.counts(), "router": rstats,
            "trust": dataclasses.asdict(router.trust.stats) if dataclasses.is_dataclass(router.trust.stats) else {},
            "sms": [{"msisdn": str(t.local_msisdn or ""), "bearer": str(getattr(t.bearer, "kind", "sms")),
                     **dataclasses.asdict(t.stats().total)} for t in self.stack.sms],
            "http": {"event_streams": self.sse_clients, "operations_running": self.operations.running,
                     "observations": len(self.observations), "rate_limited": self.limiter.refused},
        })

    async def _objects(self, request: web.Request) -> web.Response:
        return _json({str(o.id): {"name": o.name, "multiple": o.multiple, "resources": {
            str(r.id): {"name": r.name, "type": r.type.value, "operations": r.operations, "multiple": r.multiple}
            for r in o.resources.values()}} for o in OBJECTS.values()})

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    # --- parsing ------------------------------------------------------------------------

    async def _body_json(self, request: web.Request) -> Any:
        if not request.can_read_body:
            return {}
        raw = await request.read()
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "the body is not JSON") from None


def _path(request: web.Request) -> str:
    text = request.match_info.get("path", "")
    try:
        return format_path(parse_path(text))
    except DecodeError as exc:
        raise HttpError(400, str(exc)) from None


def _int(text: str, name: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 19 or not low <= int(text) <= high:
        raise HttpError(400, f"{name} must be an integer in {low}..{high}")
    return int(text)
