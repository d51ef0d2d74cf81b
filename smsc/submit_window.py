"""The ESME's sending state, sans-IO: the window of unacknowledged submit_sm, throughput,
back-off on throttling, retries, drops, delivery receipts and outcomes.

:class:`SubmitWindow` performs no I/O and keeps no timers: the adapter
(:mod:`smsc.link`) asks :meth:`SubmitWindow.take` for the PDUs it may write now, feeds it
the resps, receipts and connection losses, calls :meth:`SubmitWindow.tick` now and then and
sleeps until :meth:`SubmitWindow.wake_at`. Time is a number passed in (the adapter's
monotonic clock; validity is compared with the wall clock, also passed in), so tests drive it
with a fake clock and no sleeps.

Rules it keeps:

* at most ``window`` submit_sm without a resp; at most ``throughput`` per second;
* ESME_RTHROTTLED / ESME_RMSGQFUL (or a generic_nack with one of them): the part goes back to
  the head of the queue and sending pauses, the pause doubling from ``backoff_min`` to
  ``backoff_max`` (only a refusal of a part sent after the pause began doubles it again:
  the whole window was on its way before the first refusal came back);
* ESME_RSYSERR / ESME_RX_T_APPN / ESME_RSUBMITFAIL: the part is retried after
  ``backoff x attempts`` up to ``max_attempts``; any other status fails the message;
* a connection loss puts the unacknowledged parts back at the head of the queue, in order,
  and charges the oldest of them: the SMSC handles PDUs in order, so that is the one a drop is
  most likely about (a PDU the SMSC cannot take closes the connection). Charged
  ``max_attempts`` times in a row, its message fails alone and stops blocking the rest;
* a message whose validity ends before it was submitted fails; one that asked for a receipt
  is DELIVERED when every part's receipt says DELIVRD, FAILED on the first that does not or
  when none came within ``receipt_timeout``; otherwise it is SUBMITTED once every part has a
  resp.
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
from typing import Any, Callable, Protocol

from . import pdu as P
from .receipt import Receipt

__all__ = ["Outgoing", "Part", "SubmitWindow", "TEMPORARY", "BACKPRESSURE"]

log = logging.getLogger("smsc.link")

TEMPORARY = frozenset({P.ESME_RSYSERR, P.ESME_RX_T_APPN, P.ESME_RSUBMITFAIL})
BACKPRESSURE = frozenset({P.ESME_RTHROTTLED, P.ESME_RMSGQFUL})
_EARLY_RECEIPTS = 10_000


class Outcome(Protocol):
    """Where a message's fate goes (a :class:`lwm2m_sms.bearer.Submission`)."""

    message_id: str

    def resolve(self, state: Any, detail: str = "") -> None: ...


class Counters(Protocol):
    """The caller's statistics (a :class:`lwm2m_sms.bearer.BearerStats`)."""

    failed: int
    delivered: int


class Outgoing:
    """One accepted message (payload or single segment) and the state of its parts."""

    __slots__ = ("submission", "entry_id", "total", "acked", "done", "report", "receipts", "ids",
                 "started", "expires", "recipient")

    def __init__(self, submission: Outcome, entry_id: int | None, total: int, report: bool,
                 started: float, expires: float = float("inf"), recipient: str = "") -> None:
        self.submission = submission
        self.entry_id = entry_id
        self.total = total
        self.acked = 0
        self.done = False
        self.report = report
        self.receipts = 0
        self.ids: list[str] = []
        self.started = started  # monotonic
        self.expires = expires  # wall clock: not submitted by then, it fails
        self.recipient = recipient


class Part:
    __slots__ = ("msg", "body", "attempts", "drops", "command_id")

    def __init__(self, msg: Outgoing, body: bytes, command_id: int = P.SUBMIT_SM) -> None:
        self.msg = msg
        self.body = body  # submit_sm body; the header (with a fresh sequence) is added per try
        self.command_id = command_id
        self.attempts = 0
        self.drops = 0  # connections lost while it was the oldest unacknowledged part


class SubmitWindow:
    """See the module docstring. ``states`` maps the outcomes to the caller's values
    (SUBMITTED, DELIVERED, FAILED); ``finished`` is called once per message that leaves
    (acknowledged or failed), e.g. to remove it from the outbox."""

    def __init__(
        self,
        *,
        states: tuple[object, object, object],
        finished: Callable[[Outgoing], None],
        window: int = 64,
        throughput: float = 0.0,
        backoff_min: float = 0.05,
        backoff_max: float = 5.0,
        max_attempts: int = 5,
        receipt_timeout: float = 3600.0,
        response_timeout: float = 10.0,
        name: str = "esme",
        counters: Counters | None = None,
    ) -> None:
        self.submitted_state, self.delivered_state, self.failed_state = states
        self.finished = finished
        self.window = window
        self.interval = 1.0 / throughput if throughput else 0.0
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.max_attempts = max_attempts
        self.receipt_timeout = receipt_timeout
        self.response_timeout = response_timeout
        self.name = name
        self.queue: collections.deque[Part] = collections.deque()
        self.inflight: dict[int, tuple[Part, float]] = {}
        self._retry: list[tuple[float, int, Part]] = []  # (due, tiebreak, part)
        self._tiebreak = itertools.count()
        self._pause_until = 0.0
        self._paused_at = 0.0
        self._backoff = backoff_min
        self._next_send = 0.0
        self._refused = 0  # parts at the head of the queue put back by throttling, in order
        self._by_smsc_id: dict[str, Outgoing] = {}
        self._early: dict[str, Receipt] = {}
        self.awaiting_receipt: dict[int, Outgoing] = {}
        self.max_inflight = 0
        self.throttled = 0
        self.counters = counters

    # -- in ---------------------------------------------------------------------------------

    def add(self, parts: list[Part]) -> None:
        self.queue.extend(parts)

    def take(self, now: float, next_sequence: Callable[[], int]) -> list[bytes]:
        """The submit_sm octets to write now (window, pause, throughput and retries allowing)."""
        while self._retry and self._retry[0][0] <= now:
            part = heapq.heappop(self._retry)[2]
            if not part.msg.done:
                self.queue.append(part)
        if now < self._pause_until:
            return []
        self._refused = 0
        out = []
        queue, inflight = self.queue, self.inflight
        while queue and len(inflight) < self.window:
            if self.interval:
                if now < self._next_send:
                    break
                self._next_send = max(now, self._next_send) + self.interval
            part = queue.popleft()
            if part.msg.done:
                continue
            seq = next_sequence()
            inflight[seq] = (part, now)
            out.append(P.HEADER.pack(16 + len(part.body), part.command_id, 0, seq) + part.body)
        if len(inflight) > self.max_inflight:
            self.max_inflight = len(inflight)
        return out

    def wake_at(self, now: float) -> float | None:
        """When :meth:`take` may give more without any input, or None (it waits for a resp,
        new parts, or nothing is queued)."""
        times = []
        if self._retry:
            times.append(self._retry[0][0])
        if self.queue and len(self.inflight) < self.window:
            times.append(max(self._pause_until, self._next_send if self.interval else 0.0, now))
        return min(times) if times else None

    def on_resp(self, seq: int, status: int, message_id: str, now: float, *, nack: bool = False) -> bool:
        """A submit_sm_resp (data_sm_resp, or with ``nack`` a generic_nack for a submit).
        Returns False for a sequence number not in flight."""
        entry = self.inflight.pop(seq, None)
        if entry is None:
            return False
        part, sent = entry
        msg = part.msg
        if status == P.ESME_ROK:
            self._backoff = self.backoff_min
            if msg.done:
                return True
            msg.acked += 1
            msg.ids.append(message_id)
            if msg.report:
                self._by_smsc_id[message_id] = msg
                early = self._early.pop(message_id, None)
                if early is not None:
                    self.on_receipt(early)
            if msg.acked == msg.total:
                self._submitted(msg)
            return True
        if status in BACKPRESSURE:
            self.throttled += 1
            if sent >= self._paused_at:
                self._paused_at = now
                self._pause_until = now + self._backoff
                log.info("smpp %s: to %s id %s: %s; pausing %.2f s", self.name, msg.recipient,
                         msg.submission.message_id, P.status_name(status), self._backoff)
                self._backoff = min(self.backoff_max, self._backoff * 2)
            # back to the head, behind the parts refused before it: the order stays as sent
            self.queue.insert(self._refused, part)
            self._refused += 1
            return True
        part.attempts += 1
        if status in TEMPORARY and part.attempts < self.max_attempts:
            log.info("smpp %s: to %s id %s: %s (attempt %d); retrying", self.name, msg.recipient,
                     msg.submission.message_id, P.status_name(status), part.attempts)
            heapq.heappush(self._retry, (now + self._backoff * part.attempts, next(self._tiebreak), part))
            return True
        self.fail(msg, f"generic_nack {P.status_name(status)}" if nack else P.status_name(status))
        return True

    def on_receipt(self, receipt: Receipt) -> None:
        msg = self._by_smsc_id.pop(receipt.message_id, None)
        if msg is None:
            self._early[receipt.message_id] = receipt
            while len(self._early) > _EARLY_RECEIPTS:  # oldest first: stale ones from a past run
                self._early.pop(next(iter(self._early)))
            log.info("smpp %s: receipt for unknown id %s (%s)", self.name, receipt.message_id, receipt.stat)
            return
        if msg.done or not receipt.final:
            return
        if not receipt.delivered:
            self.fail(msg, f"delivery receipt stat:{receipt.stat} err:{receipt.error}")
            return
        msg.receipts += 1
        if msg.receipts >= msg.total:
            msg.done = True
            self.awaiting_receipt.pop(id(msg), None)
            if self.counters is not None:
                self.counters.delivered += 1
            log.debug("smpp %s: to %s id %s delivered", self.name, msg.recipient, msg.submission.message_id)
            msg.submission.resolve(self.delivered_state)

    def connection_lost(self) -> None:
        """The parts without a resp go back to the head of the queue, in the order sent; the
        oldest is charged with the drop."""
        parts = [part for part, _ in sorted(self.inflight.values(), key=lambda e: e[1])]
        self.inflight.clear()
        if parts:
            head = parts[0]
            head.drops += 1
            if head.drops >= self.max_attempts and not head.msg.done:
                parts.pop(0)
                self.fail(head.msg, f"connection lost {head.drops} times while it was in flight; given up")
        for part in reversed(parts):
            if not part.msg.done:
                self.queue.appendleft(part)
        self._refused = 0

    def tick(self, now: float, wall: float) -> bool:
        """Expire what is due. Returns True when a submit_sm waited longer than
        ``response_timeout`` for its resp: the connection is stuck, reconnect."""
        expired = {id(p.msg): p.msg for p in self.queue if p.msg.expires <= wall and not p.msg.done}
        for msg in expired.values():
            self.fail(msg, "validity ended before it could be submitted")
        for msg in list(self.awaiting_receipt.values()):
            if now - msg.started > self.receipt_timeout:
                self.fail(msg, f"no delivery receipt within {self.receipt_timeout:.0f} s")
        oldest = min((t for _, t in self.inflight.values()), default=None)
        return oldest is not None and now - oldest > self.response_timeout

    # -- out --------------------------------------------------------------------------------

    def pending(self) -> list[Part]:
        """Parts not yet acknowledged and not in flight: queued or waiting for a retry."""
        return [*self.queue, *(p for _, _, p in self._retry)]

    def clear(self) -> None:
        self.queue.clear()
        self._retry.clear()

    def _submitted(self, msg: Outgoing) -> None:
        self.finished(msg)
        log.debug("smpp %s: to %s id %s submitted as %s", self.name, msg.recipient, msg.submission.message_id,
                  ",".join(msg.ids))
        if msg.report:
            if not msg.done:  # (a receipt may have overtaken the last resp on a pair)
                self.awaiting_receipt[id(msg)] = msg
        else:
            msg.done = True
            msg.submission.resolve(self.submitted_state)

    def fail(self, msg: Outgoing, detail: str) -> None:
        if msg.done:
            return
        msg.done = True
        self.awaiting_receipt.pop(id(msg), None)
        for smsc_id in msg.ids:
            self._by_smsc_id.pop(smsc_id, None)
        self.finished(msg)
        if self.counters is not None:
            self.counters.failed += 1
        log.warning("smpp %s: to %s id %s failed: %s", self.name, msg.recipient, msg.submission.message_id, detail)
        msg.submission.resolve(self.failed_state, detail)
