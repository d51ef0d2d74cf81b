"""Garbage-collector set-up for a long-running server process.

CPython's cyclic collector runs a young collection every 700 net container allocations
and, now and then, a full one that walks every tracked object: the modules and classes
loaded at start-up and every long-lived record (registrations, queue entries, per-peer
state). A server holding a fleet allocates many short-lived containers per message (aiocoap
Messages, options, futures), so with the defaults it spends a large share of its time walking
the same long-lived objects again (``lwm2m-sms bench fleet`` reports the share per phase;
docs/benchmarks.md has the figures).

:func:`tune_for_server`, called once the server has started, does two things:

* ``gc.freeze()``: what start-up created (modules, classes, the configuration) moves to
  the permanent generation, which no collection walks again.
* a larger young-generation threshold (``gen0``, default 10,000 instead of 700) and
  ``gen1``/``gen2`` thresholds that make collections of the older generations rarer.
  Reference counting still frees acyclic garbage at once; only garbage in cycles waits for
  the next young collection, which bounds what waits to about ``gen0`` containers.

It is process-wide: the library never calls it; the ``lwm2m-sms server`` command and the
fleet bench's server process do.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["tune_for_server", "SERVER_THRESHOLDS"]

log = logging.getLogger(__name__)

#: (gen0, gen1, gen2) for a server process.
SERVER_THRESHOLDS = (10_000, 20, 100)


def tune_for_server(thresholds: tuple[int, int, int] = SERVER_THRESHOLDS) -> None:
    """Collect once, freeze what start-up left, and set ``thresholds``. Call it after the
    server started, once: a second call freezes whatever the first left running."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    log.info("GC: %d start-up objects frozen, thresholds %s", gc.get_freeze_count(), thresholds)
