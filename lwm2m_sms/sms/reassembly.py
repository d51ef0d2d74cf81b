"""Sans-IO reassembly of concatenated SMS (3GPP TS 23.040 9.2.3.24.1).

Parts are keyed by (sender, reference, total): out-of-order parts are held, duplicate parts
(SMSCs retry) are dropped by (sender, reference, part). The caller passes the time in
(``now``), so the reassembler needs no clock of its own and tests control time.

Memory is bounded on purpose: an attacker (or a broken SMSC) can send first parts that never
complete. At most ``max_open`` messages and ``max_bytes`` buffered octets are held; past
either bound the oldest message is evicted and counted. Parts older than ``timeout`` seconds
are dropped by :meth:`Reassembler.expire` (called from :meth:`feed` as well).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .segmentation import UserData
from .udh import Ports

__all__ = ["Reassembled", "ReassemblyStats", "Reassembler"]

DEFAULT_TIMEOUT = 600.0  # Kannel waits 1800 s; CoAP over SMS peers send parts back to back
DEFAULT_MAX_OPEN = 1024
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Reassembled:
    """A whole payload: what the bearer hands up."""

    sender: str
    payload: bytes
    parts: int
    ports: Ports | None = None
    reference: int | None = None
    chunks: tuple[bytes, ...] = ()  # the parts' data, in order (for :meth:`Reassembler.restore`)


@dataclass
class ReassemblyStats:
    parts_in: int = 0
    completed: int = 0
    duplicates: int = 0
    expired: int = 0
    evicted: int = 0
    open: int = 0
    buffered_bytes: int = 0


@dataclass
class _Partial:
    started: float
    total: int
    parts: dict[int, bytes] = field(default_factory=dict)
    ports: Ports | None = None
    size: int = 0


# (sender, reference, total); a 16-bit reference is kept apart from an 8-bit one of the
# same value by an offset past 0xFFFF.
_Key = tuple[str, int, int]


class Reassembler:
    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_open: int = DEFAULT_MAX_OPEN,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if timeout <= 0 or max_open < 1 or max_bytes < 140:
            raise ValueError("timeout, max_open and max_bytes must be positive")
        self.timeout = timeout
        self.max_open = max_open
        self.max_bytes = max_bytes
        self.stats = ReassemblyStats()
        # Insertion order is age order: the first entry is the oldest message.
        self._open: OrderedDict[_Key, _Partial] = OrderedDict()

    def feed(self, sender: str, ud: UserData, now: float) -> Reassembled | None:
        """Take one received SMS; return the whole payload once its last part is in.

        A single SMS (no concatenation IE) is returned at once.
        """
        self.stats.parts_in += 1
        self.expire(now)
        concat = ud.concat
        if concat is None or concat.total == 1:
            self.stats.completed += 1
            return Reassembled(sender, ud.data, 1, ud.ports)
        key = (sender, concat.reference + (0x10000 if concat.ref16 else 0), concat.total)
        partial = self._open.get(key)
        if partial is None:
            partial = _Partial(started=now, total=concat.total)
            self._open[key] = partial
        elif concat.seq in partial.parts:
            self.stats.duplicates += 1
            return None
        partial.parts[concat.seq] = ud.data
        partial.size += len(ud.data)
        self.stats.buffered_bytes += len(ud.data)
        if partial.ports is None:
            partial.ports = ud.ports
        if len(partial.parts) == partial.total:
            del self._open[key]
            self.stats.buffered_bytes -= partial.size
            self.stats.completed += 1
            self._update_open()
            chunks = tuple(partial.parts[i] for i in range(1, partial.total + 1))
            return Reassembled(sender, b"".join(chunks), partial.total, partial.ports, concat.reference, chunks)
        self._enforce_bounds(keep=key)
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
        parts = {i + 1: c for i, c in enumerate(whole.chunks) if i + 1 != concat.seq}
        size = sum(len(c) for c in parts.values())
        self._open[key] = _Partial(started=now, total=concat.total, parts=parts, ports=whole.ports, size=size)
        self.stats.completed -= 1
        self.stats.buffered_bytes += size
        self._enforce_bounds(keep=key)
        self._update_open()

    def expire(self, now: float) -> int:
        """Drop messages whose first part came more than ``timeout`` ago; return how many."""
        dropped = 0
        while self._open:
            key, partial = next(iter(self._open.items()))
            if now - partial.started < self.timeout:
                break
            self._drop(key)
            dropped += 1
        self.stats.expired += dropped
        self._update_open()
        return dropped

    def _over_bounds(self) -> bool:
        return len(self._open) > self.max_open or self.stats.buffered_bytes > self.max_bytes

    def _enforce_bounds(self, keep: _Key) -> None:
        # Evict oldest first, but never the message being fed while an older one exists;
        # a single message larger than max_bytes goes too.
        for key in list(self._open):
            if not self._over_bounds():
                return
            if key != keep:
                self._drop(key)
                self.stats.evicted += 1
        if self._over_bounds() and keep in self._open:
            self._drop(keep)
            self.stats.evicted += 1

    def _drop(self, key: _Key) -> None:
        partial = self._open.pop(key)
        self.stats.buffered_bytes -= partial.size

    def _update_open(self) -> None:
        self.stats.open = len(self._open)

    def __len__(self) -> int:
        return len(self._open)
