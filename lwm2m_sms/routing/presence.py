"""Queue mode presence (sans-IO): is a device online now?

LwM2M 1.0.2 queue mode: a device is reachable from each message it sends until
MAX_TRANSMIT_WAIT after its last one (93 s with UDP's defaults; for an SMS-based window a
setting); any message restarts the window. The caller passes the time in: monotonic seconds
from the router's :meth:`~lwm2m_sms.clock.Clock.now`. A window another node saw (its
message came there) is taken in with :meth:`Presence.until`, converted by the caller from
the wall time on the bus to this node's monotonic seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Presence", "UDP_MAX_TRANSMIT_WAIT"]

UDP_MAX_TRANSMIT_WAIT = 93.0  # RFC 7252 4.8.2 with the default transmission parameters


@dataclass
class Presence:
    window: float = UDP_MAX_TRANSMIT_WAIT
    _until: dict[str, float] = field(default_factory=dict)

    def seen(self, endpoint: str, now: float, window: float | None = None) -> bool:
        """Record a message from ``endpoint``; True if it was asleep before (it just woke)."""
        woke = not self.online(endpoint, now)
        self._until[endpoint] = now + (self.window if window is None else window)
        return woke

    def until(self, endpoint: str, until: float, now: float) -> bool:
        """Online until ``until`` at least (another node saw the device: its window there);
        a longer window held here stays. True if it was asleep before."""
        woke = not self.online(endpoint, now)
        if until > self._until.get(endpoint, float("-inf")):
            self._until[endpoint] = until
        return woke

    def online(self, endpoint: str, now: float) -> bool:
        return self._until.get(endpoint, float("-inf")) > now

    def asleep(self, endpoint: str) -> None:
        """Forget the window (the device de-registered or went quiet for good)."""
        self._until.pop(endpoint, None)

