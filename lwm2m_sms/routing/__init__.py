"""MSISDN routing: per-endpoint binding, queue mode, the SMS wake-up trigger, and trust.

``binding``, ``presence``, ``queue`` and ``trust`` are sans-IO (the queue keeps its state in
SQLite); ``router`` is the asyncio part that sits between the LwM2M server core and the
aiocoap context and decides, per request, which bearer it goes on and when. The names below
are imported on first use, so the sans-IO parts import no asyncio code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "Router": ".router", "RouterStats": ".router", "PolicySettings": ".router",
    "RequestExpired": ".router", "NoRoute": ".router", "via": ".router",
    "Binding": ".binding", "BindingError": ".binding", "Route": ".binding", "Transport": ".binding",
    "decide": ".binding",
    "Presence": ".presence",
    "RequestQueue": ".queue", "QueuedRequest": ".queue", "RequestState": ".queue",
    "TrustPolicy": ".trust", "TrustStats": ".trust",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from .binding import Binding, BindingError, Route, Transport, decide
    from .presence import Presence
    from .queue import QueuedRequest, RequestQueue, RequestState
    from .router import NoRoute, PolicySettings, RequestExpired, Router, RouterStats, via
    from .trust import TrustPolicy, TrustStats
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
