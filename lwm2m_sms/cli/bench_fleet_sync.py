"""``lwm2m-sms bench fleet-sync``: what it costs a node to keep its copy of the fleet in step
with another node's registrations (``lwm2m_sms/routing/fleet.py``).

Two nodes in this one process on the PostgreSQL database ``--db`` names (each a server core
with its router, its own store connection and its own node bus; no bearers, no CoAP
traffic). Node A writes ``--devices`` registration rows (S devices, three objects: not
measured), then tells node B of them by ``r`` hints, and the bench measures the wall time
until B holds them all in memory: the hints through ``NOTIFY``, B's reads of the rows (one
statement per turn of its loop) and its taking them in (decode, expiry heap, the router's
number directory). Twice: all hints at once (a burst), and one hint per turn of the
event loop (Registers spread out, the case where batching has to come from waiting for the
bus). Then the memory of B's copy: B forgets them and takes them in again from the store
in one catch-up while ``tracemalloc`` counts what stays allocated, per registration.

The bench writes its rows under endpoint names of its own and deletes them at the end; give
it a scratch database all the same (node B takes in whatever the table holds). Prints
figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
import uuid


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", required=True,
                        help="a scratch PostgreSQL database (postgresql://...): the bench writes rows"
                             " (and deletes them at the end)")
    parser.add_argument("--devices", type=int, default=10_000, metavar="N",
                        help="registrations per figure (default 10000)")


def run(args: argparse.Namespace) -> int:
    from ..store import StoreError, is_store_url

    if not is_store_url(args.db):
        raise SystemExit("lwm2m-sms bench fleet-sync: --db must be a PostgreSQL URL (the node bus needs one)")
    if args.devices <= 0:
        raise SystemExit("lwm2m-sms bench fleet-sync: --devices must be positive")
    try:
        return asyncio.run(_run(args.db, args.devices))
    except StoreError as exc:
        raise SystemExit(f"lwm2m-sms bench fleet-sync: {exc}") from None


async def _run(url: str, n: int) -> int:
    import aiocoap

    from ..lwm2m import linkformat
    from ..lwm2m.registration import Registration
    from ..lwm2m.server import Lwm2mServer
    from ..lwm2m.store import StoredRegistrationStore
    from ..routing import Router
    from ..sms.address import parse_msisdn
    from ..store import Store, open_store
    from ..store.bus import NodeBus

    tag = uuid.uuid4().hex[:8]
    context = await aiocoap.Context.create_client_context()
    nodes = []
    stores: list[Store] = []
    try:
        for name in ("a", "b"):
            bus = NodeBus(url, f"bench-{tag}-{name}")
            await bus.start()
            store = open_store(url)
            stores.append(store)
            server = Lwm2mServer(StoredRegistrationStore(store))
            nodes.append((server, Router(server, context, bus=bus), bus))
        (a, router_a, _), (b, router_b, _) = nodes
        fleet_a, fleet_b = router_a.fleet, router_b.fleet
        assert fleet_a is not None and fleet_b is not None
        print(f"fleet-sync bench: {n} S registrations per figure, two nodes in one process on {stores[1].name}")
        objects = tuple(linkformat.parse("</1/0>,</3/0>,</4/0>"))
        rates = []
        for round_, spread in enumerate((False, True)):
            endpoints = [f"bench-{tag}-{round_}-{i:07d}" for i in range(n)]
            now = time.time()
            for i, ep in enumerate(endpoints):
                number = f"+1{round_}{i:09d}"
                a.store.put(Registration(ep, f"{tag}{round_}{i:07d}", 86400, "1.0", "S", parse_msisdn(number),
                                         objects, f"coap+sms://{number}", now, now))
            held, messages = len(b.store), fleet_a.stats["messages"]
            start = time.perf_counter()
            for ep in endpoints:
                fleet_a.registration_changed(ep)
                if spread:
                    await asyncio.sleep(0)
            while len(b.store) < held + n:
                await asyncio.sleep(0.002)  # polls node B's copy: the bench's own clock
            elapsed = time.perf_counter() - start
            rates.append(n / elapsed)
            how = "one per turn of A's loop" if spread else "all at once"
            print(f"  {how:<26} {elapsed:7.2f} s {n / elapsed:10,.0f} registrations/s"
                  f"  ({fleet_a.stats['messages'] - messages} bus messages)")
        for reg in list(b.store):
            b.store.drop(reg.endpoint)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        b.resync()
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        copies = len(b.store)
        per_copy = sum(d.size_diff for d in after.compare_to(before, "filename")) / copies
        print(f"  node B's copy: {copies} registrations, {per_copy:,.0f} bytes each (tracemalloc)")
    finally:
        if stores:
            stores[0].db.execute("DELETE FROM registrations WHERE endpoint LIKE ?", (f"bench-{tag}-%",))
        for server, router, bus in nodes:
            await router.close()
            await bus.close()
            server.store.close()
        await context.shutdown()
    print(f"fleet-sync: {n} registrations, at once {rates[0]:,.0f}/s, spread {rates[1]:,.0f}/s,"
          f" copy {per_copy:,.0f} B/registration")
    return 0
