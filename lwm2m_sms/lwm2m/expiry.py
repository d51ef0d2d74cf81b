"""Registration deadlines, soonest first, without scanning the registrations (sans-IO).

The server core must remove a registration once its lifetime plus grace has passed. A
scan of every registration for each Register (to find the next deadline) costs O(N) per
Register, O(N^2) for a fleet that registers at once. :class:`ExpiryQueue` keeps a binary
heap of ``(deadline, endpoint)`` instead: scheduling is O(log N), taking what is due is
O(log N) per entry taken, and the next deadline is the heap's top.

Entries are never searched for and removed: an Update pushes a new entry and leaves the
old one in place, a De-register leaves its entry. The caller checks each entry it takes
against the registration it names (gone, or its deadline moved: skip it). So the heap may
hold more entries than there are registrations; :meth:`ExpiryQueue.needs_rebuild` says when
the stale ones outnumber the live ones, and :meth:`ExpiryQueue.rebuild` starts again from the
registrations themselves, which keeps the heap within a constant factor of the fleet.
Times are whatever the caller passes in (the server: its clock's wall seconds). With several
nodes on one store, a due entry is only a reason to look: the server deletes the
registration's row only if no other node has changed it since (see
:meth:`~lwm2m_sms.lwm2m.server.Lwm2mServer.expire_due`), and a hint that moves a deadline
schedules the new one here like an Update does.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Iterator, Optional

__all__ = ["ExpiryQueue"]


class ExpiryQueue:
    """Endpoint names by deadline. Stale entries are the caller's to recognise."""

    __slots__ = ("_heap",)

    #: Below this many entries a rebuild is not worth its scan.
    MIN_REBUILD = 1024

    def __init__(self) -> None:
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def schedule(self, endpoint: str, deadline: float) -> None:
        """``endpoint`` is due at ``deadline`` (an earlier entry for it may stay behind)."""
        heapq.heappush(self._heap, (deadline, endpoint))

    def next_deadline(self) -> Optional[float]:
        """The soonest deadline held (possibly a stale entry's), None when empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> Iterator[tuple[str, float]]:
        """Take every entry whose deadline lies before ``now``, soonest first, as
        (endpoint, deadline). Lazily: entries not iterated over stay."""
        heap = self._heap
        while heap and heap[0][0] < now:
            deadline, endpoint = heapq.heappop(heap)
            yield endpoint, deadline

    def needs_rebuild(self, live: int) -> bool:
        """True when the heap holds more than twice ``live`` entries (and is not tiny)."""
        return len(self._heap) > max(self.MIN_REBUILD, 2 * live)

    def rebuild(self, entries: Iterable[tuple[str, float]]) -> None:
        """Start again from (endpoint, deadline) of every live registration: O(N)."""
        self._heap = [(deadline, endpoint) for endpoint, deadline in entries]
        heapq.heapify(self._heap)
