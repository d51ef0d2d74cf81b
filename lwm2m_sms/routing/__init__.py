"""MSISDN routing: per-endpoint binding, queue mode, the SMS wake-up trigger, and trust.

``binding``, ``presence``, ``queue`` and ``trust`` are sans-IO (the queue keeps its state in
the store: SQLite or PostgreSQL); ``router`` is the asyncio part that sits between the LwM2M
server core and the aiocoap context and decides, per request, which bearer it goes on and
when; ``fleet`` keeps several nodes on one PostgreSQL database in step (its hints over the
node bus). The names below
are imported on first use, so the sans-IO parts import no asyncio code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "Router": ".router", "RouterStats": ".router", "PolicySettings": ".router",
    "RequestExpired": ".router", "NoRoute": ".router", "via": ".router",
    "OutcomeUnknown": ".router", "FailedElsewhere": ".router", "FleetSync": ".fleet",
    "Binding": ".binding", "BindingError": ".binding", "Route": ".binding", "Transport": ".binding",
    "decide": ".binding",
    "Presence": ".presence",
    "RequestQueue": ".queue", "QueuedRequest": ".queue", "RequestState": ".queue",
    "TrustPolicy": ".trust", "TrustStats": ".trust",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    # "X as X": an explicit re-export for type checkers (the loader below is what runs)
    from .binding import (
        Binding as Binding,
        BindingError as BindingError,
        Route as Route,
        Transport as Transport,
        decide as decide,
    )
    from .fleet import FleetSync as FleetSync
    from .presence import Presence as Presence
    from .queue import (
        QueuedRequest as QueuedRequest,
        RequestQueue as RequestQueue,
        RequestState as RequestState,
    )
    from .router import (
        FailedElsewhere as FailedElsewhere,
        NoRoute as NoRoute,
        OutcomeUnknown as OutcomeUnknown,
        PolicySettings as PolicySettings,
        RequestExpired as RequestExpired,
        Router as Router,
        RouterStats as RouterStats,
        via as via,
    )
    from .trust import TrustPolicy as TrustPolicy, TrustStats as TrustStats
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
