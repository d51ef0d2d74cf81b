"""The store's test suite: every test runs on SQLite and on PostgreSQL (``store`` fixture)."""

from __future__ import annotations

import threading

import pytest

from lwm2m_sms.sms.udh import Ports
from lwm2m_sms.store import (
    OutboxFull, RegistrationRecord, RequestState, Store, StoreError, open_store,
)

from .conftest import FakeClock

GET, POST, PUT = 1, 2, 3


def reg(ep: str, location: str = "", **kw: object) -> RegistrationRecord:
    fields: dict = dict(
        endpoint=ep, location=location or f"loc-{ep}", lifetime=300, version="1.0",
        binding="SQ", sms="15550001", objects="</1/0>,</3/0>", root_path="/",
        remote_uri="coap+sms://+15550001", registered_at=1000.5, updated_at=1001.25,
    )
    fields.update(kw)
    return RegistrationRecord(**fields)


# -- schema ---------------------------------------------------------------------------------

def test_migrations_recorded_once(store: Store, store_url: str, clock: FakeClock) -> None:
    rows = store.db.execute("SELECT version, description FROM schema_version ORDER BY version").rows
    steps = [m.version for m in store.db.migrations]
    assert steps == list(range(1, len(steps) + 1)) and [r[0] for r in rows] == steps
    store.close()
    again = open_store(store_url, clock=clock)
    try:
        assert again.schema_version == steps[-1]
        assert len(again.db.execute("SELECT * FROM schema_version").rows) == len(steps)
    finally:
        again.close()


def test_newer_schema_refused(store: Store, store_url: str) -> None:
    store.db.execute(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', 0)"
    )
    store.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        open_store(store_url)


def test_nodes_starting_at_once_migrate_once(store_url: str) -> None:
    stores: list[Store] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def node() -> None:
        start.wait()
        try:
            stores.append(open_store(store_url))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert len(stores[0].db.execute("SELECT * FROM schema_version").rows) == len(stores[0].db.migrations)
    finally:
        for s in stores:
            s.close()


# -- registrations --------------------------------------------------------------------------

def test_registrations(store: Store, store_url: str) -> None:
    regs = store.registrations
    regs.put(reg("dev-a"))
    regs.put(reg("dev-b", sms=None, binding="U", remote_uri="coap://127.0.0.1:5683"))
    assert regs.get("dev-a") == reg("dev-a")
    assert regs.by_location("loc-dev-b") == reg(
        "dev-b", sms=None, binding="U", remote_uri="coap://127.0.0.1:5683"
    )
    assert len(regs) == 2
    # A new Register of the same endpoint replaces it, location included.
    regs.put(reg("dev-a", location="new", lifetime=60))
    assert regs.by_location("loc-dev-a") is None
    assert regs.get("dev-a") == reg("dev-a", location="new", lifetime=60)
    assert [r.endpoint for r in regs.all()] == ["dev-a", "dev-b"]
    assert regs.remove("dev-b") is True
    assert regs.remove("dev-b") is False
    store.close()
    again = open_store(store_url)
    try:
        assert again.registrations.all() == [reg("dev-a", location="new", lifetime=60)]
    finally:
        again.close()


# -- request queue ----------------------------------------------------------------------------

def test_queue_round_trip(store: Store, clock: FakeClock) -> None:
    q = store.requests
    a = q.add("ep", "sms", PUT, "/3/0/14", query=("a=1", "b"), payload=b"\x00\xff+01",
              content_format=0, accept=11542, observe=None, ttl=60)
    b = q.add("ep", "udp", GET, "/3/0")
    c = q.add("other", "sms", GET, "/1/0")
    assert a.created == clock.now and a.deadline == clock.now + 60
    assert q.get(a.id) == a
    assert q.get(b.id).deadline == float("inf")  # type: ignore[union-attr]
    assert [r.id for r in q.pending("ep")] == [a.id, b.id]
    assert [r.id for r in q.pending()] == [a.id, b.id, c.id]
    assert q.endpoints_waiting() == {"ep", "other"}
    assert q.mark(a.id, RequestState.ANSWERED, response_code=68, transport="udp")
    got = q.get(a.id)
    assert got is not None and got.state is RequestState.ANSWERED
    assert (got.response_code, got.transport) == (68, "udp")
    assert q.counts() == {"answered": 1, "queued": 2}
    assert q.get(10_000) is None


def test_expire_by_deadline(store: Store, clock: FakeClock) -> None:
    q = store.requests
    short = q.add("ep", "sms", GET, "/3/0", ttl=10)
    forever = q.add("ep", "sms", GET, "/3/0/1")
    clock.advance(9)
    assert q.expire() == []
    assert q.take("n1", lease=30, endpoint="ep")[0].id == short.id  # before its deadline
    q.mark(short.id, RequestState.ANSWERED, owner="n1")
    late = q.add("ep", "sms", GET, "/3/0/2", ttl=5)
    clock.advance(5)
    expired = q.expire()
    assert [(r.id, r.state) for r in expired] == [(late.id, RequestState.EXPIRED)]
    assert q.get(late.id).detail == "time limit passed"  # type: ignore[union-attr]
    assert [r.id for r in q.pending()] == [forever.id]


def test_take_one_at_a_time_per_endpoint(store: Store) -> None:
    q = store.requests
    a1 = q.add("a", "sms", GET, "/3/0")
    a2 = q.add("a", "sms", GET, "/3/0/1")
    b1 = q.add("b", "sms", GET, "/3/0")
    taken = q.take("n1", lease=30, limit=10)
    assert [r.id for r in taken] == [a1.id, b1.id]
    assert all(r.state is RequestState.SENT and r.owner == "n1" for r in taken)
    assert q.take("n2", lease=30, limit=10) == []  # a and b each have one in flight
    assert q.mark(a1.id, RequestState.ANSWERED, response_code=69, owner="n1")
    assert [r.id for r in q.take("n2", lease=30, endpoint="a")] == [a2.id]


def test_take_skips_past_deadline(store: Store, clock: FakeClock) -> None:
    q = store.requests
    old = q.add("ep", "sms", GET, "/3/0", ttl=5)
    new = q.add("ep", "sms", GET, "/3/0/1")
    clock.advance(6)
    # The expired head does not hold the endpoint's queue back, and is not sent.
    assert [r.id for r in q.take("n1", lease=30)] == [new.id]
    assert [r.id for r in q.expire()] == [old.id]


def test_lease_expiry_retake(store: Store, clock: FakeClock) -> None:
    q = store.requests
    read = q.add("ep", "sms", GET, "/3/0")
    (first,) = q.take("node-a", lease=30)
    assert first.lease_until == clock.now + 30
    clock.advance(29)
    assert q.take("node-b", lease=30) == []  # node-a still holds it
    clock.advance(1)
    (again,) = q.take("node-b", lease=30)  # node-a's lease ended: node-b sends it again
    assert (again.id, again.owner) == (read.id, "node-b")
    # node-a comes back late with an answer: the request is node-b's now.
    assert not q.mark(read.id, RequestState.ANSWERED, response_code=69, owner="node-a")
    assert q.mark(read.id, RequestState.ANSWERED, response_code=69, owner="node-b")
    assert q.get(read.id).owner == "node-b"  # type: ignore[union-attr]


def test_lease_renewed(store: Store, clock: FakeClock) -> None:
    q = store.requests
    read = q.add("ep", "sms", GET, "/3/0")
    q.take("node-a", lease=30)
    clock.advance(20)
    assert q.renew(read.id, "node-a", lease=30)
    assert not q.renew(read.id, "node-b", lease=30)
    clock.advance(20)
    assert q.take("node-b", lease=30) == []


def test_lease_expiry_never_resends_post(store: Store, clock: FakeClock) -> None:
    q = store.requests
    execute = q.add("ep", "sms", POST, "/3/0/4")
    read = q.add("ep", "sms", GET, "/3/0")
    q.take("node-a", lease=30)
    clock.advance(31)
    # The Execute may have run: it is not sent again, and it no longer holds the queue.
    assert [r.id for r in q.take("node-b", lease=30)] == [read.id]
    (failed,) = q.expire()
    assert (failed.id, failed.state) == (execute.id, RequestState.FAILED)
    assert "outcome unknown" in failed.detail
    assert q.get(execute.id).state is RequestState.FAILED  # type: ignore[union-attr]


def test_recover_at_start(store: Store) -> None:
    q = store.requests
    read = q.add("a", "sms", GET, "/3/0")
    execute = q.add("b", "sms", POST, "/3/0/4")
    theirs = q.add("c", "sms", GET, "/3/0")
    q.take("me", lease=300, endpoint="a")
    q.take("me", lease=300, endpoint="b")
    q.take("other", lease=300, endpoint="c")
    changed = {r.id: r.state for r in q.recover("me")}
    assert changed == {read.id: RequestState.QUEUED, execute.id: RequestState.FAILED}
    assert q.get(theirs.id).state is RequestState.SENT  # type: ignore[union-attr]
    assert [r.id for r in q.pending()] == [read.id]


def test_two_takers_never_get_the_same_request(store_url: str, store: Store) -> None:
    """Two nodes (two connections) take concurrently: each request goes to exactly one of
    them, and an endpoint never has two requests in flight."""
    endpoints = [f"ep{i:03d}" for i in range(60)]
    for _ in range(3):
        for ep in endpoints:
            store.requests.add(ep, "sms", GET, "/3/0")
    total = 3 * len(endpoints)
    taken: dict[str, list[int]] = {"n1": [], "n2": []}
    in_flight: set[str] = set()
    overlap: list[str] = []
    guard = threading.Lock()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def node(owner: str) -> None:
        s = open_store(store_url)
        try:
            start.wait()
            idle = 0
            while idle < 50:
                got = s.requests.take(owner, lease=300, limit=4)
                if not got:
                    with guard:
                        if len(taken["n1"]) + len(taken["n2"]) == total:
                            return
                    idle += 1
                    continue
                with guard:
                    for r in got:
                        if r.endpoint in in_flight:
                            overlap.append(r.endpoint)
                        in_flight.add(r.endpoint)
                        taken[owner].append(r.id)
                for r in got:
                    with guard:  # out of the set before the row lets the next one go
                        in_flight.discard(r.endpoint)
                    assert s.requests.mark(r.id, RequestState.ANSWERED, owner=owner)
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=node, args=(o,)) for o in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = taken["n1"] + taken["n2"]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == total
    assert not overlap
    assert store.requests.counts() == {"answered": total}


# -- outbox --------------------------------------------------------------------------------

def test_outbox(store: Store, store_url: str, clock: FakeClock) -> None:
    box = store.outbox("smpp-1", max_entries=3)
    other = store.outbox("modem-1")
    a = box.add("m1", "+15550001", b"\x40\x01", ports=Ports(2948, 2949), report=True)
    b = box.add("m2", "+15550002", b"\x40\x02")
    c = box.add("m5", "+15550005", b"\x02\x70\x00", pid=0x7F, dcs=0xF6)  # a secured packet
    assert (c.pid, c.dcs, b.pid, b.dcs) == (0x7F, 0xF6, 0, 0x04)
    box.remove(c.id)
    other.add("m9", "+15550009", b"x")
    assert a.created == clock.now and a.ports == Ports(2948, 2949) and a.report
    assert [e.message_id for e in box.pending()] == ["m1", "m2"]
    assert [e.message_id for e in box.pending(limit=1)] == ["m1"]
    box.attempted(a.id)
    assert box.pending()[0].attempts == 1
    box.add("m3", "+15550003", b"3")
    with pytest.raises(OutboxFull):
        box.add("m4", "+15550004", b"4")
    other.remove(b.id)  # another bearer's row: not touched
    assert len(box) == 3
    box.remove(b.id)
    assert len(box) == 2 and len(other) == 1
    store.close()
    again = open_store(store_url)
    try:
        box = again.outbox("smpp-1", max_entries=3)
        assert len(box) == 2
        assert [(e.message_id, e.ports, e.attempts) for e in box.pending()] == [
            ("m1", Ports(2948, 2949), 1), ("m3", None, 0)
        ]
        again.outbox("smpp-2").add("m6", "+15550006", b"\x02\x70\x00", pid=0x7F, dcs=0xF6)
        assert [(e.pid, e.dcs) for e in again.outbox("smpp-2").pending()] == [(0x7F, 0xF6)]
    finally:
        again.close()


# -- addresses --------------------------------------------------------------------------------

def test_unknown_database_refused() -> None:
    with pytest.raises(StoreError, match="unknown database 'mysql'"):
        open_store("mysql://localhost/x")


def test_unreachable_postgresql_names_the_store_without_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql://u:secret@127.0.0.1:1/db?connect_timeout=2")
    assert "secret" not in str(err.value) and "postgresql://u:***@127.0.0.1:1/db" in str(err.value)


def test_late_answer_counts_until_someone_else_takes_it(store: Store, clock: FakeClock) -> None:
    q = store.requests
    read = q.add("ep", "sms", GET, "/3/0")
    q.take("node-a", lease=30)
    clock.advance(31)
    q.expire()  # the lease ended: queued again, nobody has taken it yet
    assert q.get(read.id).state is RequestState.QUEUED  # type: ignore[union-attr]
    assert q.mark(read.id, RequestState.ANSWERED, response_code=69, owner="node-a")
    assert q.take("node-b", lease=30) == []  # answered: not sent again


def test_a_cancel_changes_only_a_request_that_still_waits(store: Store) -> None:
    q = store.requests
    waiting = q.add("ep-1", "sms", GET, "/3/0")
    taken = q.add("ep-2", "sms", GET, "/3/0")
    assert [r.id for r in q.take("node-b", lease=30, endpoint="ep-2")] == [taken.id]
    # node A's caller gave up on both: only the one still queued is failed; the one node B
    # took (and may have sent) keeps its state, for B to record the device's answer
    assert q.mark(waiting.id, RequestState.FAILED, detail="the caller gave up", if_queued=True)
    assert not q.mark(taken.id, RequestState.FAILED, detail="the caller gave up", if_queued=True)
    assert q.get(taken.id).state is RequestState.SENT  # type: ignore[union-attr]
    assert q.mark(taken.id, RequestState.ANSWERED, response_code=69, owner="node-b")
