"""Every node sees the same fleet (issue 17 item 2, ``lwm2m_sms/routing/fleet.py``): two
gateways on one throw-away PostgreSQL with their node bus, and devices over UDP loopback.
Each node sends UDP from its own socket and gets the answers there, so these tests need no
hand-off of responses between nodes (the SMS rig is tests/store/test_two_nodes.py).

The registration of a device that the other node took, its Update and its De-register;
any node serving any device with and without the hint; expiry that re-reads the store;
locations unique across nodes; queue-mode presence across nodes; a caller woken with the
outcome another node recorded, by the hint or, when the hint is lost, by the periodic
round.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import AsyncIterator, Iterator

import pytest

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.gateway import Device, Gateway, start_device, start_server
from lwm2m_sms.lwm2m.exceptions import DeviceUnreachable
from lwm2m_sms.lwm2m.registration import Registration
from lwm2m_sms.lwm2m.server import Lwm2mServer, ServerHooks
from lwm2m_sms.lwm2m.store import StoredRegistrationStore
from lwm2m_sms.routing import PolicySettings, RequestExpired
from lwm2m_sms.store import LocationTaken, open_store

from waiting import until

EP = "dev-1"


class Seen(ServerHooks):
    """What a node learnt from the others."""

    def __init__(self) -> None:
        self.changed: list[Registration] = []
        self.removed: list[Registration] = []

    def on_changed_elsewhere(self, registration: Registration) -> None:
        self.changed.append(registration)

    def on_removed_elsewhere(self, registration: Registration) -> None:
        self.removed.append(registration)


class Rig:
    def __init__(self, pg_url: str) -> None:
        self.pg_url = pg_url
        self.nodes: list[Gateway] = []
        self.devices: list[Device] = []

    async def node(self, **options: object) -> Gateway:
        gw = await start_server(db=self.pg_url, node=f"node{len(self.nodes) + 1}", **options)  # type: ignore[arg-type]
        self.nodes.append(gw)
        return gw

    async def device(self, at: Gateway, binding: str = "U", ep: str = EP) -> Device:
        dev = await start_device(ep, binding, server_uri=at.udp_uri, time_resolution=0.05)
        self.devices.append(dev)
        return dev

    async def close(self) -> None:
        for dev in self.devices:
            await dev.close(deregister=False)
        for gw in self.nodes:
            await gw.close()


@pytest.fixture
async def rig(pg_url: str) -> AsyncIterator[Rig]:
    r = Rig(pg_url)
    try:
        yield r
    finally:
        await r.close()


def held(gw: Gateway, ep: str = EP) -> Registration | None:
    """The node's copy in memory (no read of the store)."""
    return gw.server.store.get(ep)


def requests(dev: Device) -> int:
    return dev.client.stats["requests"]


# -- registrations ---------------------------------------------------------------------------


async def test_register_update_and_deregister_on_one_node_are_live_on_the_other(rig: Rig) -> None:
    first, second = await rig.node(), await rig.node()
    seen = Seen()
    second.server.add_hooks(seen)
    from lwm2m_sms.http.events import EventHub

    events = EventHub()  # the operator's event stream at node 2 shows them too
    published: list[str] = []
    events.listeners.append(lambda event: published.append(event.type))
    second.server.add_hooks(events)
    dev = await rig.device(first)
    await until(lambda: held(second) is not None, what="node 2 holds the Register made at node 1")
    assert held(second) == held(first)
    assert [r.endpoint for r in seen.changed] == [EP]

    # A Write of the lifetime through node 2: the device announces it by an Update to node 1
    updated = held(first).updated_at  # type: ignore[union-attr]
    await second.server.write(EP, "/1/0/1", 600)
    await until(lambda: held(first).updated_at > updated, what="the Update at node 1")  # type: ignore[union-attr]
    await until(lambda: held(second) == held(first), what="the Update seen at node 2")
    assert held(second).lifetime == 600  # type: ignore[union-attr]

    await dev.client.stop()  # De-register at node 1
    await until(lambda: held(second) is None, what="the De-register seen at node 2")
    assert [r.endpoint for r in seen.removed] == [EP]
    assert second.server.registrations() == [] and second.bus is not None
    assert published[0] == "changed" and published[-1] == "removed"
    assert set(published) == {"changed", "removed"}
    assert second.router.fleet is not None and second.router.fleet.stats["r_in"] >= 3


@pytest.mark.parametrize("hint", ["with the hint", "without the hint"])
async def test_any_node_serves_a_device_registered_on_another(rig: Rig, hint: str) -> None:
    first, second = await rig.node(), await rig.node()
    dev = await rig.device(first)
    await until(lambda: held(second) is not None, what="node 2 has the hint")
    if hint == "without the hint":
        second.server.store.drop(EP)  # as if the hint had been lost: a miss reads the store
    assert (await second.server.read(EP, "/3/0/0")).value == "lwm2m-sms"
    assert held(second) is not None
    await second.server.write(EP, "/3/0/14", "+02:00")
    assert (await second.server.read(EP, "/3/0/14")).value == "+02:00"
    updates = dev.client.stats["updates"]
    await second.server.execute(EP, "/1/0/8")  # the device's Update goes to its server, node 1
    await until(lambda: dev.client.stats["updates"] > updates, what="the Update triggered through node 2")
    got: asyncio.Queue[object] = asyncio.Queue()
    obs = await second.server.observe(EP, "/3/0/13", callback=got.put_nowait)
    assert isinstance(await asyncio.wait_for(got.get(), 10), int)
    obs.cancel()
    assert first.router.stats.per_endpoint.get(EP, {}).get("udp", 0) == 0  # all from node 2


async def test_a_node_that_misses_a_register_takes_the_update_from_the_store(rig: Rig) -> None:
    first, second = await rig.node(), await rig.node()
    dev = await rig.device(first)
    await until(lambda: held(second) is not None, what="node 2 has the hint")
    second.server.store.drop(EP)  # the hint lost
    for session in dev.client.registrations.sessions.values():
        session.base_uri = second.udp_uri  # a balancer sends the next Update to node 2
    await dev.client.update()
    assert (r := held(second)) is not None and r.location == held(first).location  # type: ignore[union-attr]
    await until(lambda: held(first) == held(second), what="node 1 has node 2's Update")


# -- expiry ----------------------------------------------------------------------------------


@pytest.fixture
def two_cores(pg_url: str) -> Iterator[tuple[Lwm2mServer, Lwm2mServer, FakeClock, Seen, Seen]]:
    """Two server cores on one database (no bus: what a missed hint leaves), one clock."""
    clock = FakeClock()
    cores, seen = [], []
    for _ in range(2):
        core = Lwm2mServer(StoredRegistrationStore(open_store(pg_url)), clock=clock, grace=10)
        hooks = Seen()
        core.add_hooks(hooks)
        cores.append(core)
        seen.append(hooks)
    try:
        yield cores[0], cores[1], clock, seen[0], seen[1]
    finally:
        for core in cores:
            core.store.close()


def registration(clock: FakeClock, location: str = "aaaaaaaaaa", ep: str = EP) -> Registration:
    now = clock.wall()
    return Registration(endpoint=ep, location=location, lifetime=100, version="1.0", binding="U", sms=None,
                        objects=(), remote_uri="coap://127.0.0.1:9", registered_at=now, updated_at=now)


async def test_expiry_does_not_delete_what_another_node_has_just_updated(two_cores) -> None:  # type: ignore[no-untyped-def]
    a, b, clock, seen_a, seen_b = two_cores
    reg = registration(clock)
    a.store.put(reg)
    a._schedule_expiry(reg)  # as a's Register handler does
    b.refresh([EP])  # b learns it (the hint), and its deadline
    assert b.store.get(EP) == reg and b.next_expiry() == reg.expires_at + 10
    await clock.advance(50)
    newer = dataclasses.replace(reg, updated_at=clock.wall())
    a.store.put(newer)  # an Update taken by a; b missed the hint
    await clock.advance(70)  # past the old deadline, before the new one
    assert b.expire_due() == []
    assert b.store.get(EP) == newer  # read back from the store, deadline moved with it
    assert a.store.load(EP) == newer  # the row stays
    await clock.advance(100)  # past the new deadline
    assert [r.endpoint for r in b.expire_due()] == [EP]
    assert b.store.load(EP) is None
    # a's copy: its row is gone; it drops it without expiring it a second time
    assert a.expire_due() == [] and a.store.get(EP) is None
    assert [r.endpoint for r in seen_a.removed] == [EP]


async def test_a_hint_moves_the_expiry_deadline(two_cores) -> None:  # type: ignore[no-untyped-def]
    a, b, clock, _, _ = two_cores
    reg = registration(clock)
    a.store.put(reg)
    b.refresh([EP])
    await clock.advance(50)
    a.store.put(dataclasses.replace(reg, updated_at=clock.wall()))
    b.refresh([EP])  # the Update's hint
    assert b.store.get(EP).updated_at == clock.wall()  # type: ignore[union-attr]
    await clock.advance(70)
    assert b.expire_due() == [] and b.store.get(EP) is not None


# -- locations -------------------------------------------------------------------------------


def test_a_location_another_node_holds_is_refused_and_memory_stays(pg_url: str) -> None:
    clock = FakeClock()
    one, two = StoredRegistrationStore(open_store(pg_url)), StoredRegistrationStore(open_store(pg_url))
    try:
        one.put(registration(clock, "aaaaaaaaaa", "dev-a"))
        with pytest.raises(LocationTaken):
            two.put(registration(clock, "aaaaaaaaaa", "dev-b"))
        assert two.get("dev-b") is None and two.load("dev-b") is None
        with pytest.raises(LocationTaken):  # and in memory alone, once it holds dev-a
            two.adopt(one.get("dev-a"))  # type: ignore[arg-type]
            two.put(registration(clock, "aaaaaaaaaa", "dev-b"))
    finally:
        one.close()
        two.close()


@pytest.mark.parametrize("hint", ["with the hint", "without the hint"])
async def test_two_nodes_never_hand_out_the_same_location(
        rig: Rig, monkeypatch: pytest.MonkeyPatch, hint: str) -> None:
    draws = itertools.chain(["aaaaaaaaaa", "aaaaaaaaaa", "bbbbbbbbbb"], (f"{n:010x}" for n in itertools.count(1)))
    monkeypatch.setattr("lwm2m_sms.lwm2m.server.new_location", lambda: next(draws))
    first, second = await rig.node(), await rig.node()
    await rig.device(first, ep="dev-a")
    await until(lambda: held(second, "dev-a") is not None, what="node 2 has the hint")
    if hint == "without the hint":
        second.server.store.drop("dev-a")  # only the database's unique index knows
    await rig.device(second, ep="dev-b")  # its first draw is dev-a's location
    assert held(first, "dev-a").location == "aaaaaaaaaa"  # type: ignore[union-attr]
    assert held(second, "dev-b").location == "bbbbbbbbbb"  # type: ignore[union-attr]
    await until(lambda: held(first, "dev-b") is not None, what="node 1 has dev-b")
    assert (await first.server.read("dev-a", "/3/0/0")).value == "lwm2m-sms"


# -- queue mode across nodes -----------------------------------------------------------------


def asleep(rig: Rig, ep: str = EP) -> None:
    for gw in rig.nodes:
        gw.router.presence.asleep(f"{ep} udp")


async def test_a_device_awake_on_one_node_is_awake_on_the_other(rig: Rig) -> None:
    first, second = await rig.node(), await rig.node()
    dev = await rig.device(first, "UQ")
    await until(lambda: (r := held(second)) is not None and second.router.route(r).now,
                what="node 2 knows the device is awake")
    before = requests(dev)
    assert (await second.server.read(EP, "/3/0/0")).value  # at once, from node 2's socket
    assert requests(dev) - before == 1
    assert second.router.stats.queued == 0 and second.router.stats.per_endpoint[EP]["udp"] == 1


async def test_a_request_queued_on_one_node_is_sent_by_the_node_the_device_is_awake_on(rig: Rig) -> None:
    first, second = await rig.node(), await rig.node()
    dev = await rig.device(first, "UQ")
    await until(lambda: held(second) is not None, what="node 2 has the device")
    second.router.presence.asleep(f"{EP} udp")  # node 2 has not heard that it is awake
    before = requests(dev)
    result = await asyncio.wait_for(second.server.read(EP, "/3/0/0"), 10)
    assert result.value == "lwm2m-sms"  # the whole answer, from the store
    assert requests(dev) - before == 1  # sent once, by node 1 (told there is work)
    assert second.router.stats.queued == 1 and EP not in second.router.stats.per_endpoint
    assert first.router.stats.flushed == 1
    assert second.router.fleet.stats["d_in"] == 1  # type: ignore[union-attr]


async def test_a_request_that_expires_on_the_other_node_fails_its_caller(rig: Rig) -> None:
    first, second = await rig.node(), await rig.node()
    await rig.device(first, "UQ")
    await until(lambda: held(second) is not None, what="node 2 has the device")
    asleep(rig)
    task = asyncio.create_task(second.server.read(EP, "/3/0/0"))
    await until(lambda: second.router.queue.counts().get("queued") == 1, what="the Read queued")
    expired = first.router.expire_queue(now=first.router.clock.wall() + 10 * 86400.0)
    assert [e.endpoint for e in expired] == [EP]
    with pytest.raises(DeviceUnreachable) as info:
        await asyncio.wait_for(task, 10)
    assert isinstance(info.value.cause, RequestExpired)


async def test_a_lost_done_hint_costs_only_a_delay(rig: Rig) -> None:
    first = await rig.node()
    second = await rig.node(policy=PolicySettings(expiry_interval=0.2))
    dev = await rig.device(first, "UQ")
    await until(lambda: held(second) is not None, what="node 2 has the device")
    first.router.fleet = None  # node 1's hints about requests get lost from here on
    asleep(rig)
    task = asyncio.create_task(second.server.read(EP, "/3/0/0"))
    await until(lambda: second.router.queue.counts().get("queued") == 1, what="the Read queued")
    await dev.client.update()  # wakes at node 1, which sends the Read
    assert (await asyncio.wait_for(task, 10)).value == "lwm2m-sms"  # node 2's periodic round
    assert second.router.fleet.stats["d_in"] == 0  # type: ignore[union-attr]


async def test_a_node_catches_up_on_what_it_missed_while_its_bus_was_down(pg_url: str, rig: Rig) -> None:
    import psycopg

    from lwm2m_sms.store.bus import lock_key

    first = await rig.node()
    second = await rig.node(policy=PolicySettings(expiry_interval=0.2))
    assert second.bus is not None and second.router.fleet is not None
    with psycopg.connect(pg_url, autocommit=True) as conn:
        pid, space, key = conn.execute(
            "SELECT pid, classid::bigint, objid::bigint FROM pg_locks WHERE locktype = 'advisory'"
            " AND objsubid = 2 AND objid = %s", (lock_key("node2"),)).fetchone()  # type: ignore[misc]
        signed = key - (1 << 32) if key >= 1 << 31 else key
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))  # node 2's listening session
        # Taken as soon as that session is gone: node 2 cannot listen again until released
        conn.execute("SELECT pg_advisory_lock(%s, %s)", (space, signed))
        await rig.device(first)
        assert first.bus is not None
        await first.bus.flushed()  # node 1's hint went out while nobody listened for node 2
        assert held(second) is None and second.bus.stats["reconnects"] == 0
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (space, signed))
    await until(lambda: held(second) is not None, 30, what="node 2 caught up after listening again")
    assert second.bus.stats["reconnects"] == 1 and second.router.fleet.stats["r_in"] == 0
    assert held(second) == held(first)


async def test_a_copy_a_lost_hint_left_stale_is_caught_up_within_the_period(rig: Rig) -> None:
    from lwm2m_sms.routing.fleet import CATCH_UP_EVERY

    first, second = await rig.node(), await rig.node()
    await rig.device(first)
    await until(lambda: held(second) is not None, what="node 2 has the hint")
    second.server.store.drop(EP)  # as if node 1 could not post it
    fleet, now = second.router.fleet, second.router.clock.now()
    assert fleet is not None
    fleet.catch_up(now)  # caught up at start: not again before the period
    assert held(second) is None
    fleet.catch_up(now + CATCH_UP_EVERY)
    assert held(second) == held(first)


async def test_updates_for_unknown_locations_read_the_store_within_a_budget(pg_url: str) -> None:
    """Anyone on UDP can send an Update to /rd/anything: a location not held reads the
    store at most ``location_reads`` times a second; past that it is 4.04 unread."""
    from aiocoap import Message
    from aiocoap.numbers.codes import Code

    from lwm2m_sms.lwm2m.udp import udp_context

    clock = FakeClock()
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0), store=StoredRegistrationStore(open_store(pg_url)),
                                          clock=clock, location_reads=2)
    other = StoredRegistrationStore(open_store(pg_url))  # another node
    try:
        other.put(registration(clock, "cccccccccc"))
        coap = await udp_context(("127.0.0.1", 0))

        async def update(location: str) -> Code:
            msg = Message(code=Code.POST, uri=f"coap://127.0.0.1:{server.port}/rd/{location}")
            return (await coap.request(msg).response).code

        assert await update("0000000001") == Code.NOT_FOUND
        assert await update("cccccccccc") == Code.CHANGED  # another node's Register: read, taken in
        assert server.store.get(EP) is not None
        assert [await update(f"{n:010x}") for n in range(2, 5)] == [Code.NOT_FOUND] * 3
        assert server.location_misses == {"read": 2, "skipped": 3}
        await clock.advance(1.0)  # the budget fills again
        assert await update("0000000009") == Code.NOT_FOUND
        assert server.location_misses["read"] == 3
        await coap.shutdown()
    finally:
        other.close()
        await server.close()


async def test_hints_are_batched_while_the_bus_sends(rig: Rig) -> None:
    """One event per turn of the loop (Registers spread out): each batch waits for the
    NOTIFY of the one before, so messages stay fewer than events; none is lost."""
    first, second = await rig.node(), await rig.node()
    out, into = first.router.fleet, second.router.fleet
    assert out is not None and into is not None
    for n in range(400):
        out.registration_changed(f"ep-{n:04d}-" + "x" * 40)
        await asyncio.sleep(0)  # the next event comes in the next turn
    await until(lambda: into.stats["r_in"] == 400, what="every event at node 2")
    assert out.stats["messages"] <= 200 and out.stats["dropped"] == 0 and into.stats["ignored"] == 0


@pytest.mark.parametrize("hint", ["with the hint", "without the hint"])
async def test_work_queued_on_one_node_goes_out_when_the_device_leaves_queue_mode_on_the_other(
        rig: Rig, hint: str) -> None:
    """A request queued at node 2 under UQ; the device changes to U by an Update to node 1.
    Node 1 knows there is work from node 2's "w" hint and sends it; without the hint, node
    2's periodic round sends it (the binding no longer queues). Once either way."""
    first = await rig.node()
    second = await rig.node(policy=PolicySettings(expiry_interval=0.2))
    dev = await rig.device(first, "UQ")
    await until(lambda: held(second) is not None, what="node 2 has the device")
    asleep(rig)
    fleet = second.router.fleet
    if hint == "without the hint":
        second.router.fleet = None  # the "w" of this request is lost
    task = asyncio.create_task(second.server.read(EP, "/3/0/0"))
    await until(lambda: second.router.queue.counts().get("queued") == 1, what="the Read queued")
    second.router.fleet = fleet
    before = requests(dev)
    dev.client.objects[1][0][7] = "U"  # the device changes its binding and says so, to node 1
    dev.client.trigger_update(b="U")
    assert (await asyncio.wait_for(task, 10)).value == "lwm2m-sms"
    assert requests(dev) - before == 1
    sender = first if hint == "with the hint" else second
    assert sender.router.stats.flushed == 1


@pytest.mark.parametrize("outcome", ["answered", "reset"])
async def test_an_outcome_recorded_outside_the_router_reaches_the_caller_on_another_node(
        rig: Rig, outcome: str) -> None:
    """What the cluster does with the answer to a dead node's request that reaches this
    node (lwm2m_sms.cluster): it records the outcome and tells the router, which tells the
    node whose caller waits."""
    from aiocoap import Message
    from aiocoap.numbers.codes import Code

    from lwm2m_sms.routing import FailedElsewhere
    from lwm2m_sms.store import RequestState

    first, second = await rig.node(), await rig.node()
    await rig.device(first, "UQ")
    await until(lambda: held(second) is not None, what="node 2 has the device")
    asleep(rig)
    task = asyncio.create_task(second.server.read(EP, "/3/0/0"))
    await until(lambda: second.router.queue.counts().get("queued") == 1, what="the Read queued")
    (queued,) = second.router.queue.pending(EP)
    if outcome == "answered":
        assert first.router.queue.mark(queued.id, RequestState.ANSWERED, response_code=69,
                                       response_payload=b"lwm2m-sms", response_format=0)
        first.router.answered_elsewhere(queued.id, Message(code=Code.CONTENT, payload=b"lwm2m-sms"))
        assert (await asyncio.wait_for(task, 10)).value == "lwm2m-sms"
    else:
        assert first.router.queue.mark(queued.id, RequestState.FAILED, detail="Reset by the device")
        first.router.outcome_recorded(queued.id)
        with pytest.raises(DeviceUnreachable) as info:
            await asyncio.wait_for(task, 10)
        assert isinstance(info.value.cause, FailedElsewhere) and "Reset" in str(info.value.cause)
    assert second.router.fleet is not None and second.router.fleet.stats["d_in"] == 1


async def test_hints_that_arrive_while_the_store_is_away_are_read_at_the_next_catch_up(rig: Rig) -> None:
    """Node 2's store connection drops (a database restart) just before node 1's
    Register hint arrives: reading the row fails. That must not escape into the event
    loop, nor leave node 2 without the device until the catch-up ten minutes on: its next
    round (the router's periodic call) reads the store again."""
    import psycopg

    first, second = await rig.node(), await rig.node()
    assert second.store is not None and second.router.fleet is not None
    fleet = second.router.fleet
    escaped: list[dict[str, object]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: escaped.append(context))
    pid = second.store.db._db.info.backend_pid  # type: ignore[attr-defined]
    async with await psycopg.AsyncConnection.connect(rig.pg_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    try:
        await rig.device(first)
        await until(lambda: fleet.stats["r_in"] >= 1 and not fleet._applying, what="node 2 to act on the hint")
        assert held(second) is None and escaped == []
        fleet.catch_up(second.router.clock.now())  # what the router's next round does
        assert held(second) is not None
    finally:
        asyncio.get_running_loop().set_exception_handler(None)


async def test_an_awake_window_from_another_node_is_bounded_by_this_nodes_window(rig: Rig) -> None:
    """A buggy node (or one with a wrong clock) says a device is awake until forever: this
    node holds it awake no longer than its own window, or requests that must wait in the
    queue would go out at once to a device that sleeps."""
    from lwm2m_sms.store.bus import BusMessage

    first, second = await rig.node(), await rig.node()
    await rig.device(first)
    await until(lambda: held(second) is not None, what="node 2 to hold the device")
    fleet, router = second.router.fleet, second.router
    assert fleet is not None
    for until_ in ("inf", "nan", f"{router.clock.wall() + 1e9:.3f}"):
        router.presence.asleep(f"{EP} sms")
        fleet._received(BusMessage("fleet", "node1", f"a\t{EP}\tsms\t{until_}"))
        fleet.apply()
        later = router.clock.now() + router.policy.sms_window + 1
        assert not router.presence.online(f"{EP} sms", later), until_


async def test_an_expiry_the_store_could_not_take_is_tried_again(two_cores, pg_url: str) -> None:  # type: ignore[no-untyped-def]
    """The store's connection drops (a database restart) when a registration's lifetime
    runs out: the expiry round must neither raise (its task would end for good: nothing
    would expire on this node again) nor forget the registration (it would be held, and
    trusted, for ever)."""
    import psycopg

    a, _, clock, seen_a, _ = two_cores
    reg = registration(clock)
    a.store.put(reg)
    a._schedule_expiry(reg)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (a.store.store.db._db.info.backend_pid,))
    await clock.advance(200)
    assert a.expire_due() == [] and a.store.get(EP) is not None  # not now: the store is away
    await clock.advance(60)  # the store is back (the next statement connects again)
    assert [r.endpoint for r in a.expire_due()] == [EP]
    assert a.store.load(EP) is None and a.store.get(EP) is None


async def test_work_hints_for_endpoints_this_node_does_not_hold_are_not_kept(rig: Rig) -> None:
    """``w`` hints name endpoints: a buggy node naming ones no node registered must not
    grow this node's set of endpoints with work (kept until the next catch-up)."""
    from lwm2m_sms.store.bus import BusMessage

    _, second = await rig.node(), await rig.node()
    fleet = second.router.fleet
    assert fleet is not None
    before = set(second.router._work_known)
    fleet._received(BusMessage("fleet", "node1", "\n".join(f"w\tghost-{i}" for i in range(300))))
    fleet.apply()
    assert second.router._work_known == before


def registered_again_elsewhere(a: Lwm2mServer, b: Lwm2mServer, clock: FakeClock) -> tuple[Registration, Registration]:
    """The device registered at node a (location L1 "aaaaaaaaaa"), node b learnt it; the
    device then registered again at a (L2 "bbbbbbbbbb") and b missed the hint: b holds L1."""
    old = registration(clock, location="aaaaaaaaaa")
    a.store.put(old)
    b.refresh([EP])
    new = dataclasses.replace(registration(clock, location="bbbbbbbbbb"), registered_at=clock.wall() + 1)
    a.store.put(new)
    assert b.store.get(EP) == old
    return old, new


async def test_a_late_deregister_of_an_old_registration_leaves_the_new_one(two_cores) -> None:  # type: ignore[no-untyped-def]
    # A repeat of the device's old De-register (/rd/L1) that reaches b must not delete the
    # new registration.
    from aiocoap import Message
    from aiocoap.numbers.codes import Code

    a, b, clock, _, seen_b = two_cores
    _, new = registered_again_elsewhere(a, b, clock)
    answer = await b._handle_deregister(Message(code=Code.DELETE, uri_path=("aaaaaaaaaa",)))
    assert answer.code == Code.NOT_FOUND
    assert a.store.load(EP) == new  # the row is the new registration still
    assert b.store.get(EP) == new  # b caught up with it
    assert seen_b.removed == []
    # the De-register of the current location goes through, on either node
    assert (await b._handle_deregister(Message(code=Code.DELETE, uri_path=("bbbbbbbbbb",)))).code == Code.DELETED
    assert a.store.load(EP) is None


async def test_a_late_update_of_an_old_registration_does_not_bring_it_back(two_cores) -> None:  # type: ignore[no-untyped-def]
    # A late Update of /rd/L1 at b: the row stays the new registration (an upsert by
    # endpoint put L1 back and lost the device's L2).
    from aiocoap import Message
    from aiocoap.numbers.codes import Code

    a, b, clock, _, _ = two_cores
    _, new = registered_again_elsewhere(a, b, clock)
    late = Message(code=Code.POST, uri_path=("aaaaaaaaaa",), uri_query=("lt=500",))
    assert (await b._handle_update(late)).code == Code.NOT_FOUND
    assert a.store.load(EP) == new and b.store.get(EP) == new
    current = Message(code=Code.POST, uri_path=("bbbbbbbbbb",), uri_query=("lt=500",))
    assert (await b._handle_update(current)).code == Code.CHANGED
    assert a.store.load(EP).lifetime == 500  # type: ignore[union-attr]
