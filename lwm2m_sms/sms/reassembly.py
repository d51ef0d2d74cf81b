"""Sans-IO reassembly of concatenated SMS (3GPP TS 23.040 9.2.3.24.1).

Parts are keyed by (sender, reference, total): out-of-order parts are held, duplicate parts
(SMSCs retry) are dropped by (sender, reference, part). The caller passes the time in
(``now``), so the reassembler needs no clock of its own and tests control time.

A part whose (sender, reference, total, part number) is held already but whose data differs
is not a duplicate: the sender reused the reference for a new message (it restarted and
began counting again, or its references wrapped around while a message sat half received).
The old partial message is dropped (``stats.replaced``) and the new part starts a new one,
so the parts of two messages are never joined into one payload.

Memory is bounded on purpose: an attacker (or a broken SMSC) can send first parts that never
complete. Senders fall in two pools, told apart by the caller (``trusted`` on :meth:`feed`;
the server says a number is trusted when a registration names it):

* trusted senders share ``max_open`` messages and ``max_bytes`` buffered octets;
* everybody else shares the small ``untrusted_max_open`` / ``untrusted_max_bytes`` pool, at
  most ``untrusted_per_sender`` open messages and ``untrusted_sender_bytes`` buffered octets
  (default an eighth of the pool) per number (a Register by SMS needs one message of a few
  KB). Past its byte quota a number's own oldest messages go first; a message alone larger
  than the quota goes too, so one number (two messages of 254 parts are about 68 KB) can
  never fill the pool that every unknown number shares.

Past a pool's bound a message of that pool is evicted, never one of the other pool: a flood
of first parts from unknown numbers only ever evicts other unknown numbers' parts, never a
registered device's. Within a pool the victim is the oldest message of the sender that holds
the most open messages there (the oldest message overall when nobody holds more than one):
so one sender, even a registered one (any number may register when there is no allow-list;
a device's firmware may loop), floods away only its own parts, while a single sender alone
still gets the whole pool. Every
eviction is logged with the sender's number and counted (``stats.evicted``, and
``stats.evicted_untrusted`` for the second pool). Parts older than ``timeout`` seconds are
dropped by :meth:`Reassembler.expire` (called from :meth:`feed` as well).

For a caller that keeps the held parts elsewhere too (a durable part store): after each
:meth:`feed`, :attr:`Reassembler.held` names the message the part was newly held for (None
when it was a duplicate or completed the message), and :meth:`take_dropped` the keys of the
messages dropped since the last call (evicted, expired, replaced), whose stored parts are now
to be deleted; a caller that never asks keeps only the last ``max_open + untrusted_max_open
+ 1`` of them (enough for any one feed).
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from .segmentation import UserData
from .udh import Ports

__all__ = ["Reassembled", "ReassemblyStats", "Reassembler", "PartKey"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 600.0  # Kannel waits 1800 s; CoAP over SMS peers send parts back to back
DEFAULT_MAX_OPEN = 1024
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_UNTRUSTED_MAX_OPEN = 64
DEFAULT_UNTRUSTED_MAX_BYTES = 64 * 1024
DEFAULT_UNTRUSTED_PER_SENDER = 2
SENDER_SHARE = 8  # default per-number byte quota of the untrusted pool: 1/8 of it


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole payload: what the bearer hands up."""

    sender: str
    payload: bytes
    parts: int
    ports: Ports | None = None
    reference: int | None = None
    chunks: tuple[bytes, ...] = ()  # the parts' data, in order (for :meth:`Reassembler.restore`)
    key: "PartKey | None" = None
    trusted: bool = True  # the pool its parts were held in


@dataclass
class ReassemblyStats:
    parts_in: int = 0
    completed: int = 0
    duplicates: int = 0
    expired: int = 0
    evicted: int = 0
    evicted_untrusted: int = 0
    replaced: int = 0  # a reference reused for another message while the first was open
    open: int = 0
    open_untrusted: int = 0
    buffered_bytes: int = 0


@dataclass
class _Partial:
    started: float
    total: int
    trusted: bool
    parts: dict[int, bytes] = field(default_factory=dict)
    ports: Ports | None = None
    size: int = 0


#: (sender, reference, total); a 16-bit reference is kept apart from an 8-bit one of the
#: same value by an offset past 0xFFFF.
PartKey = tuple[str, int, int]


def part_key(sender: str, ud: UserData) -> PartKey | None:
    """The key of the message ``ud`` is a part of (None for a single SMS)."""
    concat = ud.concat
    if concat is None or concat.total == 1:
        return None
    return (sender, concat.reference + (0x10000 if concat.ref16 else 0), concat.total)


class Reassembler:
    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_open: int = DEFAULT_MAX_OPEN,
        max_bytes: int = DEFAULT_MAX_BYTES,
        untrusted_max_open: int = DEFAULT_UNTRUSTED_MAX_OPEN,
        untrusted_max_bytes: int = DEFAULT_UNTRUSTED_MAX_BYTES,
        untrusted_per_sender: int = DEFAULT_UNTRUSTED_PER_SENDER,
        untrusted_sender_bytes: int | None = None,
    ) -> None:
        if timeout <= 0 or max_open < 1 or max_bytes < 140:
            raise ValueError("timeout, max_open and max_bytes must be positive")
        if untrusted_sender_bytes is None:
            untrusted_sender_bytes = max(140, untrusted_max_bytes // SENDER_SHARE)
        if (untrusted_max_open < 1 or untrusted_max_bytes < 140 or untrusted_per_sender < 1
                or untrusted_sender_bytes < 140):
            raise ValueError("the untrusted pool's bounds must be positive (byte bounds at least 140)")
        self.timeout = timeout
        self.max_open = max_open
        self.max_bytes = max_bytes
        self.untrusted_max_open = untrusted_max_open
        self.untrusted_max_bytes = untrusted_max_bytes
        self.untrusted_per_sender = untrusted_per_sender
        self.untrusted_sender_bytes = untrusted_sender_bytes
        self.stats = ReassemblyStats()
        #: The message the last :meth:`feed` newly held its part for (see the module doc).
        self.held: PartKey | None = None
        # Insertion order is age order: the first entry is the oldest message. One dict per
        # pool, so a pool's eviction never looks at (or touches) the other's messages.
        self._trusted: OrderedDict[PartKey, _Partial] = OrderedDict()
        self._untrusted: OrderedDict[PartKey, _Partial] = OrderedDict()
        self._untrusted_bytes = 0
        # open messages per sender, per pool (True: trusted)
        self._senders: dict[bool, dict[str, int]] = {True: {}, False: {}}
        self._sender_bytes: dict[str, int] = {}  # buffered octets per sender, untrusted pool
        # Bounded: a caller without a part store never takes them. One feed drops at most
        # every open message (an expiry) plus the one fed, so this many are never too few.
        self._dropped: deque[PartKey] = deque(maxlen=max_open + untrusted_max_open + 1)

    def feed(self, sender: str, ud: UserData, now: float, *, trusted: bool = True) -> Reassembled | None:
        """Take one received SMS; return the whole payload once its last part is in.

        A single SMS (no concatenation IE) is returned at once. ``trusted`` picks the pool a
        new message goes to (see the module docstring).
        """
        self.stats.parts_in += 1
        self.held = None
        self.expire(now)
        key = part_key(sender, ud)
        if key is None:
            self.stats.completed += 1
            return Reassembled(sender, ud.data, 1, ud.ports)
        concat = ud.concat
        assert concat is not None
        partial = self._trusted.get(key) or self._untrusted.get(key)
        if partial is not None and concat.seq in partial.parts:
            if partial.parts[concat.seq] == ud.data:
                self.stats.duplicates += 1
                return None
            log.info("reassembly: from %s reference %d part %d/%d differs from the one held: "
                     "a new message; the partial one (%d parts) dropped",
                     sender, concat.reference, concat.seq, concat.total, len(partial.parts))
            self.stats.replaced += 1
            self._drop(key)
            partial = None
        if partial is None:
            partial = _Partial(started=now, total=concat.total, trusted=trusted)
            self._insert(key, partial)
        self._add(key, partial, concat.seq, ud.data)
        if partial.ports is None:
            partial.ports = ud.ports
        if len(partial.parts) == partial.total:
            self._remove(key)
            self.stats.completed += 1
            self._update_open()
            chunks = tuple(partial.parts[i] for i in range(1, partial.total + 1))
            return Reassembled(sender, b"".join(chunks), partial.total, partial.ports,
                               concat.reference, chunks, key, partial.trusted)
        self.held = key
        self._enforce_bounds(key, partial.trusted)
        if key not in self._trusted and key not in self._untrusted:
            self.held = None  # evicted at once: it alone is larger than its pool
        self._update_open()
        return None

    def restore(self, ud: UserData, whole: Reassembled, now: float) -> None:
        """Put a message that :meth:`feed` completed with ``ud`` back, without ``ud``: its
        handling failed and the network will deliver that part again, which must then
        complete the message again rather than start a new one that never completes."""
        concat = ud.concat
        if concat is None or concat.total == 1 or len(whole.chunks) != concat.total:
            return
        key = (whole.sender, concat.reference + (0x10000 if concat.ref16 else 0), concat.total)
        # back into the pool it came from: a failed hand-up must not promote an unknown
        # number's parts to the trusted pool
        partial = _Partial(started=now, total=concat.total, trusted=whole.trusted, ports=whole.ports)
        self._insert(key, partial)
        for i, c in enumerate(whole.chunks):
            if i + 1 != concat.seq:
                self._add(key, partial, i + 1, c)
        self.stats.completed -= 1
        self._enforce_bounds(key, whole.trusted)
        self._update_open()

    def forget(self, key: PartKey, ud: UserData) -> None:
        """Take back the part :meth:`feed` just held for ``key`` (the caller could not store
        it durably and will not acknowledge it: the network delivers it again)."""
        partial = self._trusted.get(key) or self._untrusted.get(key)
        concat = ud.concat
        if partial is None or concat is None or concat.seq not in partial.parts:
            return
        data = partial.parts.pop(concat.seq)
        partial.size -= len(data)
        self.stats.buffered_bytes -= len(data)
        if not partial.trusted:
            self._untrusted_bytes -= len(data)
            self._count_sender_bytes(key[0], -len(data))
        if not partial.parts:
            self._remove(key)
        self._update_open()

    def held_parts(self, key: PartKey) -> dict[int, bytes]:
        """The parts held for ``key`` by number (a copy; empty when none)."""
        partial = self._trusted.get(key) or self._untrusted.get(key)
        return dict(partial.parts) if partial is not None else {}

    def discard(self, key: PartKey) -> bool:
        """Drop the message ``key`` (kept elsewhere now, e.g. as a dead letter); its key
        goes to :meth:`take_dropped`. False if it was not held."""
        if key not in self._trusted and key not in self._untrusted:
            return False
        self._drop(key)
        self._update_open()
        return True

    def expire(self, now: float) -> int:
        """Drop messages whose first part came more than ``timeout`` ago; return how many."""
        dropped = 0
        for pool in (self._trusted, self._untrusted):
            while pool:
                key, partial = next(iter(pool.items()))
                if now - partial.started < self.timeout:
                    break
                self._drop(key)
                dropped += 1
        self.stats.expired += dropped
        self._update_open()
        return dropped

    def take_dropped(self) -> list[PartKey]:
        """Keys of the messages dropped (evicted, expired, replaced) since the last call."""
        out = list(self._dropped)
        self._dropped.clear()
        return out

    # -- internals -------------------------------------------------------------------------

    def _add(self, key: PartKey, partial: _Partial, seq: int, data: bytes) -> None:
        partial.parts[seq] = data
        partial.size += len(data)
        self.stats.buffered_bytes += len(data)
        if not partial.trusted:
            self._untrusted_bytes += len(data)
            self._count_sender_bytes(key[0], len(data))

    def _count_sender_bytes(self, sender: str, n: int) -> None:
        left = self._sender_bytes.get(sender, 0) + n
        if left > 0:
            self._sender_bytes[sender] = left
        else:
            self._sender_bytes.pop(sender, None)

    def _over(self, trusted: bool) -> bool:
        if trusted:
            return len(self._trusted) > self.max_open or (
                self.stats.buffered_bytes - self._untrusted_bytes > self.max_bytes
            )
        return len(self._untrusted) > self.untrusted_max_open or self._untrusted_bytes > self.untrusted_max_bytes

    def _insert(self, key: PartKey, partial: _Partial) -> None:
        (self._trusted if partial.trusted else self._untrusted)[key] = partial
        counts = self._senders[partial.trusted]
        counts[key[0]] = counts.get(key[0], 0) + 1

    def _enforce_bounds(self, keep: PartKey, trusted: bool) -> None:
        # Evict within the pool of the message just fed, never from the other pool; never
        # the message being fed while another one can go; a single message larger than its
        # pool goes too.
        if not trusted and self._senders[False].get(keep[0], 0) > self.untrusted_per_sender:
            for key in [k for k in self._untrusted if k[0] == keep[0] and k != keep]:
                self._evict(key, f"the sender's quota of {self.untrusted_per_sender} is used")
                if self._senders[False].get(keep[0], 0) <= self.untrusted_per_sender:
                    break
        if not trusted and self._sender_bytes.get(keep[0], 0) > self.untrusted_sender_bytes:
            why = f"the sender's quota of {self.untrusted_sender_bytes} octets is used"
            for key in [k for k in self._untrusted if k[0] == keep[0] and k != keep]:
                self._evict(key, why)
                if self._sender_bytes.get(keep[0], 0) <= self.untrusted_sender_bytes:
                    break
            if self._sender_bytes.get(keep[0], 0) > self.untrusted_sender_bytes and keep in self._untrusted:
                self._evict(keep, why + " by this message alone")
                return
        pool = self._trusted if trusted else self._untrusted
        counts = self._senders[trusted]
        while self._over(trusted):
            victim = self._victim(pool, counts, keep)
            if victim is None:
                if keep in pool:
                    self._evict(keep, "it alone exceeds its pool")
                return
            self._evict(victim, "its pool is full" if counts.get(victim[0], 0) <= 1 else
                        f"its pool is full and this number holds the most open messages there ({counts[victim[0]]})")

    @staticmethod
    def _victim(pool: "OrderedDict[PartKey, _Partial]", counts: dict[str, int], keep: PartKey) -> PartKey | None:
        """The oldest message (not ``keep``) of the sender holding the most open messages in
        ``pool``; the oldest message overall when nobody holds more than one. O(pool) per
        eviction, and only when the pool is full: bounded work per received part."""
        top = max(counts, key=counts.__getitem__, default=None)
        if top is not None and counts[top] > 1:
            for key in pool:
                if key[0] == top and key != keep:
                    return key
        return next((key for key in pool if key != keep), None)

    def _evict(self, key: PartKey, why: str) -> None:
        partial = self._drop(key)
        self.stats.evicted += 1
        if not partial.trusted:
            self.stats.evicted_untrusted += 1
        # a flood from unknown numbers evicts on every part: one line each, but at info level
        level = logging.WARNING if partial.trusted else logging.INFO
        log.log(level, "reassembly: partial message from %s evicted (%s sender; reference %d, %d of %d "
                    "parts held): %s", key[0], "trusted" if partial.trusted else "untrusted",
                    key[1] & 0xFFFF, len(partial.parts), partial.total, why)

    def _remove(self, key: PartKey) -> _Partial:
        partial = self._trusted.pop(key, None)
        if partial is None:
            partial = self._untrusted.pop(key)
            self._untrusted_bytes -= partial.size
            self._count_sender_bytes(key[0], -partial.size)
        counts = self._senders[partial.trusted]
        n = counts[key[0]] - 1
        if n:
            counts[key[0]] = n
        else:
            del counts[key[0]]
        self.stats.buffered_bytes -= partial.size
        return partial

    def _drop(self, key: PartKey) -> _Partial:
        self._dropped.append(key)
        return self._remove(key)

    def _update_open(self) -> None:
        self.stats.open = len(self._trusted) + len(self._untrusted)
        self.stats.open_untrusted = len(self._untrusted)

    def __len__(self) -> int:
        return len(self._trusted) + len(self._untrusted)
