"""``lwm2m-sms bench store``: what one store operation costs, on SQLite or PostgreSQL.

Measures, in this one process on one connection, sequentially (each operation commits on
its own, as the server does): a registration written through (the upsert of a Register or
Update), a request queued, a queued request taken and marked answered (the router's send
path: the lease transaction plus the outcome), an SMS through the outbox (added, then
removed once sent), and an exchange recorded (what a node on a shared PostgreSQL writes
before each request it sends by SMS: docs/cluster.md; an UNLOGGED table there), and the
SMS security state the nodes share (docs/security.md): a secured-packet counter taken and
one checked, an OSCORE sequence number reserved and a partial IV accepted, over 100
peers. ``--db`` names the store (default: an SQLite file in a temporary
directory, WAL journal); a PostgreSQL URL measures that server, including the round trips
to it. The rows the bench writes stay: give it a scratch database (the default temporary
file goes away). Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Callable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH|URL",
                        help="the store to measure: an SQLite file or postgresql://... (default: a "
                             "temporary SQLite file); use a scratch database, the bench writes rows")
    parser.add_argument("--rows", type=int, default=2000, metavar="N",
                        help="operations per figure (default 2000)")


def _per_second(label: str, n: int, op: Callable[[int], object]) -> float:
    start = time.perf_counter()
    for i in range(n):
        op(i)
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    print(f"  {label:<44} {rate:10,.0f}/s {1e6 * elapsed / n:9.1f} us each")
    return rate


def run(args: argparse.Namespace) -> int:
    from ..store import RegistrationRecord, RequestState, open_store

    n = args.rows
    if n <= 0:
        raise SystemExit("lwm2m-sms bench store: --rows must be positive")
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(args.db or str(Path(scratch) / "bench.sqlite"))
        try:
            print(f"store bench: {store.backend} {store.name}, {n} operations per figure,"
                  " one connection, sequential, each committed")
            tag = f"bench-{time.time_ns()}"
            regs, requests = store.registrations, store.requests
            put = _per_second("registration written (Register, Update)", n, lambda i: regs.put(
                RegistrationRecord(f"{tag}-{i}", f"{tag}-{i}", 300, "1.0", "SQ", "15550001",
                                   "</1/0>,</3/0>", "/", "coap+sms://+15550001", 0.0, 0.0)))
            add = _per_second("request queued", n, lambda i: requests.add(
                f"{tag}-{i}", "sms", 1, "/3/0"))
            owner = f"{tag}-node"

            def take_and_mark(i: int) -> None:
                (taken,) = requests.take(owner, lease=660, endpoint=f"{tag}-{i}")
                requests.mark(taken.id, RequestState.ANSWERED, response_code=69, owner=owner)

            take = _per_second("request taken and marked answered", n, take_and_mark)
            box = store.outbox(f"{tag}-link", max_entries=n + 1)

            def through_outbox(i: int) -> None:
                box.remove(box.add(f"m{i}", "+15550001", b"\x40\x01" * 40).id)

            outbox = _per_second("SMS through the outbox (add, remove)", n, through_outbox)
            exchanges = store.exchanges
            exchange = _per_second("exchange recorded (a request sent by SMS)", n, lambda i: exchanges.record(
                owner, f"+1555{i % 1000:04d}", i % 65536, i.to_bytes(4, "big"), request_id=None,
                expires=time.time() + 660))
            exchanges.forget(owner)
            counters = store.packet_counters
            counter = _per_second("secured-packet counter taken (mode 2 send)", n, lambda i: counters.take_sent(
                f"{tag}-{i % 100}", limit=2**40 - 1))
            checked = _per_second("secured-packet counter checked (mode 2 receive)", n, lambda i: counters.accept(
                f"{tag}-{i % 100}", i + 1, exactly_next=False))
            oscore = store.oscore
            for p in range(100):
                oscore.open(f"{tag}-{p}", next_to_send=0, high=-1, seen=())
            reserve = _per_second("OSCORE sequence number reserved (send)", n, lambda i: oscore.reserve(
                f"{tag}-{i % 100}", 1, limit=2**40 - 1))
            replay = _per_second("OSCORE partial IV accepted (receive)", n, lambda i: oscore.accept(
                f"{tag}-{i % 100}", i, window=32))
        finally:
            store.close()
    print(f"store: {store.backend}, register {put:,.0f}/s, queue {add:,.0f}/s,"
          f" take+mark {take:,.0f}/s, outbox {outbox:,.0f}/s, exchange {exchange:,.0f}/s,"
          f" packet counter {counter:,.0f}/s and {checked:,.0f}/s, oscore {reserve:,.0f}/s and {replay:,.0f}/s")
    return 0
