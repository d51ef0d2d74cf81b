"""Message deduplication memory in a few dozen octets per message (sans-IO).

RFC 7252 4.5: a recipient remembers the message ID of each CON and NON it receives for
EXCHANGE_LIFETIME (660 s with the SMS settings), and answers a duplicate CON with the
response it sent the first time. aiocoap's MessageManager keeps, per incoming request,
the request's remote and a timer handle, and then the whole response :class:`Message`
(options, the request behind it, the remote): about 2.7 KiB per message, for 660 s. A
duplicate needs only the peer, the message ID and the response's octets.

:class:`RecentMessages` keeps exactly that: a key (peer and message ID; the SMS transport
packs them into one integer) mapped to the encoded response (``b""`` until one is sent). Instead of a timer
per message it has two generations of one ``lifetime`` each: a message lives in the
current generation until the next rotation, then in the previous one until the rotation
after, so it is remembered for at least ``lifetime`` and at most twice that. Each call
passes the time in (monotonic seconds) and rotates when due: no timers, no scans.

``max_entries`` bounds both generations together, against a peer that floods new message
IDs: past it the previous generation is forgotten early (its count goes to
:attr:`RecentMessages.evicted`); a retry of one of those messages would be processed again,
which is the price of a bounded memory.
"""

from __future__ import annotations

from typing import Hashable, Optional

__all__ = ["RecentMessages", "DEFAULT_MAX_ENTRIES"]

DEFAULT_MAX_ENTRIES = 100_000


class RecentMessages:
    """Message IDs seen in the last ``lifetime`` seconds, with the response to each."""

    __slots__ = ("lifetime", "max_entries", "evicted", "_current", "_previous", "_rotate_at")

    def __init__(self, lifetime: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if lifetime <= 0 or max_entries < 1:
            raise ValueError("lifetime and max_entries must be positive")
        self.lifetime = lifetime
        self.max_entries = max_entries
        self.evicted = 0
        self._current: dict[Hashable, bytes] = {}
        self._previous: dict[Hashable, bytes] = {}
        self._rotate_at: Optional[float] = None

    def __len__(self) -> int:
        return len(self._current) + len(self._previous)

    def receive(self, key: Hashable, now: float) -> Optional[bytes]:
        """A message arrived. None: it is new (and now remembered). Otherwise it is a
        duplicate and this is the encoded response sent to it (``b""``: none yet)."""
        self._age(now)
        stored = self._current.get(key)
        if stored is None:
            stored = self._previous.get(key)
        if stored is not None:
            return stored
        if len(self._current) + len(self._previous) >= self.max_entries:
            self.evicted += len(self._previous)
            if len(self._current) >= self.max_entries:
                self._previous, self._current = self._current, {}
            else:
                self._previous = {}
        self._current[key] = b""
        return None

    def respond(self, key: Hashable, response: bytes) -> None:
        """``response`` (encoded) answers the remembered message ``key``; a key not
        remembered (a message we originate, or one already forgotten) is ignored."""
        if key in self._current:
            self._current[key] = response
        elif key in self._previous:
            self._previous[key] = response

    def _age(self, now: float) -> None:
        if self._rotate_at is None:
            self._rotate_at = now + self.lifetime
        elif now >= self._rotate_at:
            # Everything in the current generation came in before _rotate_at; after a
            # whole idle lifetime past that, it is all older than ``lifetime``.
            self._previous = self._current if now < self._rotate_at + self.lifetime else {}
            self._current = {}
            self._rotate_at = now + self.lifetime
