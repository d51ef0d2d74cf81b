"""Registration expiry without scanning the store: the deadline heap, its stale entries
and its rebuild, on a FakeClock, with Registers and Updates over UDP loopback."""

import pytest
from aiocoap.numbers.codes import Code

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.lwm2m.expiry import ExpiryQueue
from lwm2m_sms.lwm2m.server import Lwm2mServer
from lwm2m_sms.lwm2m.store import MemoryRegistrationStore

from .test_registration import register, send


class CountingStore(MemoryRegistrationStore):
    """Counts the full scans (iterations) of the store."""

    scans = 0

    def __iter__(self):
        self.scans += 1
        return super().__iter__()


@pytest.fixture
async def coap(contexts):
    return await contexts()


def test_queue_takes_due_entries_soonest_first_and_leaves_the_rest():
    q = ExpiryQueue()
    for ep, deadline in [("c", 30.0), ("a", 10.0), ("b", 20.0)]:
        q.schedule(ep, deadline)
    assert q.next_deadline() == 10.0
    assert list(q.pop_due(25.0)) == [("a", 10.0), ("b", 20.0)]
    assert q.next_deadline() == 30.0 and len(q) == 1
    assert list(q.pop_due(30.0)) == []  # due means strictly past the deadline


def test_queue_rebuild_bounds_stale_entries():
    q = ExpiryQueue()
    for i in range(3000):
        q.schedule("same", float(i))  # 3000 Updates of one endpoint: 2999 stale entries
    assert q.needs_rebuild(live=1)
    q.rebuild([("same", 2999.0)])
    assert len(q) == 1 and not q.needs_rebuild(live=1)


async def test_register_and_update_do_not_scan_the_store(coap, contexts, recorder):
    clock = FakeClock()
    store = CountingStore()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), store=store, clock=clock, grace=0)
    srv.add_hooks(recorder)
    try:
        await clock.sleeping(60.0)  # the expiry task waits (empty store: its 60 s look)
        scans = store.scans
        locations = []
        for i in range(20):
            r = await register(coap, srv, [f"ep=d{i}", "lt=3600"])
            assert r.code == Code.CREATED
            locations.append("/".join(r.opt.location_path))
        for location in locations:
            assert (await send(coap, srv, Code.POST, location)).code == Code.CHANGED
        assert store.scans == scans
        assert srv.next_expiry() == pytest.approx(clock.wall() + 3600)
    finally:
        await srv.close()


async def test_stale_entries_of_updated_and_deregistered_endpoints_expire_nothing(coap, contexts, recorder):
    clock = FakeClock()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=0)
    srv.add_hooks(recorder)
    try:
        kept = await register(coap, srv, ["ep=kept", "lt=100"])
        gone = await register(coap, srv, ["ep=gone", "lt=100"])
        await clock.advance(50)
        assert (await send(coap, srv, Code.POST, "/".join(kept.opt.location_path))).code == Code.CHANGED
        assert (await send(coap, srv, Code.DELETE, "/".join(gone.opt.location_path))).code == Code.DELETED
        await clock.advance(60)  # both first deadlines (t=100) passed: stale entries only
        assert srv.expire_due() == [] and [r.endpoint for r in srv.registrations()] == ["kept"]
        await clock.advance(41)  # kept's Update at t=50 + 100 s
        assert (await recorder.next("expired"))[1].endpoint == "kept"
        assert srv.registrations() == []
    finally:
        await srv.close()


async def test_an_update_to_a_shorter_lifetime_wakes_the_expiry_task(coap, contexts, recorder):
    clock = FakeClock()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=0)
    srv.add_hooks(recorder)
    try:
        r = await register(coap, srv, ["ep=short", "lt=3600"])
        await clock.sleeping(60.0)
        assert (await send(coap, srv, Code.POST, "/".join(r.opt.location_path), ["lt=5"])).code == Code.CHANGED
        await clock.sleeping(5.01)  # woken: it now waits for the 5 s deadline, not 60 s
        await clock.advance(6)
        assert (await recorder.next("expired"))[1].endpoint == "short"
    finally:
        await srv.close()


async def test_registrations_a_store_brings_back_are_scheduled_at_start(coap, contexts, recorder):
    clock = FakeClock()
    first = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=0)
    try:
        await register(coap, first, ["ep=persisted", "lt=30"])
        store = first.store
        first.store = MemoryRegistrationStore()  # keep the records past close()
    finally:
        await first.close()
    second = await Lwm2mServer.create_udp(("127.0.0.1", 0), store=store, clock=clock, grace=0)
    second.add_hooks(recorder)
    try:
        assert second.next_expiry() == pytest.approx(clock.wall() + 30)
        await clock.advance(31)
        assert (await recorder.next("expired"))[1].endpoint == "persisted"
    finally:
        await second.close()


async def test_a_longer_lifetime_stored_without_scheduling_still_expires(coap, contexts, recorder):
    """A path that stores a registration with a later deadline and forgets the heap: the
    stale entry reschedules it when it comes due."""
    from dataclasses import replace

    clock = FakeClock()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=0)
    srv.add_hooks(recorder)
    try:
        await register(coap, srv, ["ep=quiet", "lt=10"])
        srv.store.put(replace(srv.registration("quiet"), lifetime=100))
        await clock.advance(11)
        assert srv.expire_due() == [] and srv.next_expiry() == pytest.approx(clock.wall() + 89)
        await clock.advance(90)
        assert (await recorder.next("expired"))[1].endpoint == "quiet"
    finally:
        await srv.close()
