"""Device operations made through the operator interface, and their follow-up.

Each operation (read, write, execute, discover, write-attributes, create, delete, observe)
is run as a task through the server core's public API, so it takes the same path as any
other caller: the router picks the bearer, holds it in the queue for a sleeping device and
wakes the device by SMS. The :class:`Operation` record says what came of it: the CoAP code,
the decoded value, the bearer it went by and how many SMS crossed for it.

An operation for a device that is asleep (queue mode) does not keep the HTTP request
waiting: the API answers 202 with the operation, linked to its entry in the request
queue, and the caller follows it (``GET /api/operations/{id}`` or the event stream).
The link is made by the queue's listener, which sees the operation in a context variable
set by the task that queued the request.

What it knowingly approximates: the success code is the one LwM2M 1.0.2 defines for the
operation (2.05 Content for Read, 2.04 Changed for Write...), since the core's API returns
values, not messages; the bearer and the SMS count are the change of the router's
per-device and the SMS transport's per-number counters while the operation ran, so two
operations on one device at the same moment share their counts. For a request that waited in
the queue the count starts when it is sent, so the device's wake-up (its Update) is not in
it, though the server's 2.04 to that Update may be.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from ..errors import DecodeError, Lwm2mSmsError
from .stack import RunningGateway
from ..lwm2m.exceptions import DeviceUnreachable, RequestFailed
from ..lwm2m.path import format_path, parse_path
from ..lwm2m.registration import Registration
from ..routing.queue import QueuedRequest, RequestState
from ..routing.router import RequestExpired
from .events import EventHub
from .values import links_to_json, to_json

__all__ = ["Operation", "OperationRunner", "SUCCESS_CODES", "TooBusy", "msisdn_of"]

log = logging.getLogger(__name__)

SUCCESS_CODES = {
    "read": "2.05", "discover": "2.05", "observe": "2.05", "write": "2.04", "execute": "2.04",
    "write-attributes": "2.04", "create": "2.01", "delete": "2.02",
}

_current: contextvars.ContextVar[Optional["Operation"]] = contextvars.ContextVar("lwm2m_sms_http_op", default=None)


class TooBusy(Lwm2mSmsError):
    """The limit of operations in flight is reached."""


@dataclass
class Operation:
    id: int
    endpoint: str
    operation: str
    path: str
    created: float
    state: str = "running"  # running, queued, sent, answered, failed, expired, cancelled
    queue_id: Optional[int] = None
    code: Optional[str] = None
    value: Any = None
    error: Optional[str] = None
    bearer: Optional[str] = None
    sms: int = 0
    duration: Optional[float] = None
    content_format: Optional[int] = None
    status: int = 200  # the HTTP status of its final answer: 200 when the device answered
    sms_base: int = field(default=0, repr=False)  # the device's SMS count when it went out
    task: Optional["asyncio.Task[Any]"] = field(default=None, repr=False)
    queued: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "endpoint": self.endpoint, "operation": self.operation, "path": self.path,
            "state": self.state, "queue_id": self.queue_id, "code": self.code, "value": self.value,
            "error": self.error, "bearer": self.bearer, "sms": self.sms, "duration": self.duration,
            "content_format": self.content_format,
        }


class OperationRunner:
    """Runs operations on ``stack`` and keeps the last ``keep`` finished ones for lookup;
    at most ``limit`` run (or wait in the queue) at once."""

    def __init__(self, stack: RunningGateway, events: EventHub, *, limit: int = 1000, keep: int = 1000,
                 on_latency: Optional[Callable[[str, float], None]] = None) -> None:
        self.stack = stack
        self.events = events
        self.limit, self.keep = limit, keep
        self.on_latency = on_latency
        self._ids = itertools.count(1)
        self._ops: "OrderedDict[int, Operation]" = OrderedDict()
        self._by_queue_id: dict[int, Operation] = {}
        self.running = 0
        stack.router.queue.listeners.append(self._on_queue)

    def close(self) -> None:
        """Stop following the queue (the gateway may run on without this API)."""
        if self._on_queue in self.stack.router.queue.listeners:
            self.stack.router.queue.listeners.remove(self._on_queue)

    def get(self, op_id: int) -> Optional[Operation]:
        return self._ops.get(op_id)

    def by_queue_id(self, queue_id: int) -> Optional[Operation]:
        return self._by_queue_id.get(queue_id)

    # --- facts about a device -----------------------------------------------------------

    def will_wait(self, reg: Registration, operation: str) -> bool:
        """True when the request would wait for the device (asleep, or older work queued)."""
        route = self.stack.router.route(reg)
        if operation == "observe":
            return not route.now
        return not route.now or bool(self.stack.router.queue.pending(reg.endpoint))

    def sms_count(self, reg: Registration) -> int:
        msisdn = msisdn_of(reg)
        if msisdn is None:
            return 0
        total = 0
        for transport in self.stack.sms:
            c = transport.peer_stats(msisdn)
            total += c.sms_sent + c.sms_received
        return total

    def _sent(self, endpoint: str) -> dict[str, int]:
        return dict(self.stack.router.stats.per_endpoint.get(endpoint, {"udp": 0, "sms": 0}))

    # --- running ------------------------------------------------------------------------

    def start(self, endpoint: str, operation: str, path: str,
              call: Callable[[], Awaitable[Any]]) -> Operation:
        """Start ``call`` (a coroutine function making the operation through the server
        core) as operation ``operation`` on ``endpoint``'s ``path``."""
        if self.running >= self.limit:
            raise TooBusy(f"{self.running} operations in flight (limit {self.limit})")
        reg = self.stack.server.registration(endpoint)  # UnknownEndpoint before anything runs
        op = Operation(next(self._ids), endpoint, operation, format_path(parse_path(path)),
                       self.stack.server.clock.wall())
        self._ops[op.id] = op
        self.running += 1
        context = contextvars.copy_context()
        context.run(_current.set, op)
        op.task = asyncio.get_running_loop().create_task(self._run(op, reg, call), context=context)
        self._trim()
        return op

    async def _run(self, op: Operation, reg: Registration, call: Callable[[], Awaitable[Any]]) -> None:
        before_sent = self._sent(op.endpoint)
        op.sms_base = self.sms_count(reg)
        started = time.monotonic()
        try:
            value = await call()
        except asyncio.CancelledError:
            op.state, op.error = "cancelled", "cancelled by the operator"
            raise
        except RequestFailed as exc:
            op.state, op.code, op.error = "failed", _dotted(exc.code), str(exc)
        except DeviceUnreachable as exc:
            op.state = "expired" if isinstance(exc.cause, RequestExpired) else "failed"
            op.error, op.status = str(exc), 504
        except DecodeError as exc:  # the device's answer does not decode
            op.state, op.error, op.status = "failed", f"the device's answer: {exc}", 502
        except (Lwm2mSmsError, ValueError, KeyError) as exc:  # the value or path given
            op.state, op.error, op.status = "failed", str(exc), 400
        except Exception as exc:  # a bug must show in the operation, not vanish in a task
            log.exception("operation %s %s on ep=%s failed", op.operation, op.path, op.endpoint)
            op.state, op.error, op.status = "failed", repr(exc), 500
        else:
            op.state, op.code = "answered", SUCCESS_CODES[op.operation]
            if hasattr(value, "content_format") and hasattr(value, "value"):  # a typed read result
                op.content_format = int(value.content_format) if value.content_format is not None else None
                value = value.value
            op.value = to_json(value) if op.operation != "discover" else links_to_json(value)
        finally:
            op.duration = time.monotonic() - started
            self.running -= 1
            after = self._sent(op.endpoint)
            used = [t for t in ("udp", "sms") if after.get(t, 0) > before_sent.get(t, 0)]
            op.bearer = "+".join(used) or None
            current = self.stack.server.store.get(op.endpoint) or reg
            op.sms = self.sms_count(current) - op.sms_base
            if op.state == "answered" and op.bearer and self.on_latency is not None:
                self.on_latency(op.bearer, op.duration)
            if op.queue_id is not None:
                self._by_queue_id.pop(op.queue_id, None)
            log.info("operation #%d %s %s on ep=%s (msisdn %s): %s %s via %s, %d SMS, %.2f s", op.id, op.operation,
                     op.path, op.endpoint, msisdn_of(current) or "-", op.state, op.code or op.error or "",
                     op.bearer or "-", op.sms, op.duration)
            self.events.publish("operation", op.endpoint, operation=op.json())

    def cancel_queued(self, queue_id: int) -> bool:
        """Cancel a request waiting in the queue: it never reaches the device. False when
        it is no longer waiting."""
        queue = self.stack.router.queue
        # Only while it waits: another node may have taken and sent it meanwhile.
        if not queue.mark(queue_id, RequestState.FAILED, detail="cancelled by the operator", if_queued=True):
            return False
        op = self._by_queue_id.get(queue_id)
        if op is not None and op.task is not None:
            op.task.cancel()
        return True

    def _on_queue(self, entry: QueuedRequest) -> None:
        op = _current.get()
        if entry.state is RequestState.QUEUED and op is not None and op.queue_id is None and not op.done:
            op.queue_id = entry.id
            self._by_queue_id[entry.id] = op
        else:
            op = self._by_queue_id.get(entry.id)
        if op is not None and not op.done:
            op.state = entry.state.value
            if entry.state is RequestState.SENT:  # count the SMS of this request from here,
                reg = self.stack.server.store.get(op.endpoint)  # not the device's wake-up
                if reg is not None:
                    op.sms_base = self.sms_count(reg)
            if entry.state is RequestState.QUEUED:
                op.queued.set()
        self.events.on_queue(entry)

    def _trim(self) -> None:
        while len(self._ops) > self.keep:
            oldest_id, oldest = next(iter(self._ops.items()))
            if not oldest.done:
                break  # never forget one that is still running
            del self._ops[oldest_id]


def _dotted(code: Any) -> str:
    dotted = getattr(code, "dotted", None)
    return str(dotted) if dotted else str(code)


def msisdn_of(reg: Registration) -> Optional[str]:
    if reg.sms is not None:
        return str(reg.sms)
    if reg.remote_uri.startswith("coap+sms://"):
        return reg.remote_uri[len("coap+sms://"):]
    return None
