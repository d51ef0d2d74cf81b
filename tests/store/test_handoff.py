"""The sans-IO hand-off core (lwm2m_sms.cluster.handoff): decisions from plain rows, the
per-sender lookup budget on a given time, the bus envelope; and the store's takeover of a
dead node's work (PostgreSQL: liveness is a node's advisory lock), and when a node looks
(at start, then every ``check_interval`` of its clock)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

from hypothesis import given, strategies as st

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.cluster import TOPIC, ClusterSettings
from lwm2m_sms.cluster.handoff import (
    Decision, Handoff, HandoffLimiter, Verdict, by_owner, decode, encode, max_octets, owner_dead,
)
from lwm2m_sms.errors import DecodeError
from lwm2m_sms.gateway import start_server
from lwm2m_sms.store import RequestState, open_store
from lwm2m_sms.store.bus import MAX_PAYLOAD, NodeBus

from waiting import until


@dataclass
class Row:
    owner: str
    request_id: Optional[int] = None


def test_who_owns_an_answer() -> None:
    assert by_owner("a", []).verdict is Verdict.UNKNOWN
    assert by_owner("a", [Row("a")]).verdict is Verdict.MINE
    assert by_owner("a", [Row("b", 7)]) == Decision(Verdict.HAND_OVER, "b", 7, "owned by node 'b'")
    assert by_owner("a", [Row("b"), Row("c")]).verdict is Verdict.DROP  # two nodes chose the same MID
    assert by_owner("a", [Row("a"), Row("b")]).verdict is Verdict.DROP


def test_a_dead_owners_answer_is_recorded_only_for_a_queued_request() -> None:
    queued, direct = by_owner("a", [Row("b", 7)]), by_owner("a", [Row("b")])
    assert owner_dead(queued, is_answer=True).verdict is Verdict.RECORD
    assert owner_dead(queued, is_answer=False).verdict is Verdict.DROP  # an empty ACK says nothing
    assert owner_dead(direct, is_answer=True).verdict is Verdict.DROP


def test_a_sender_gets_a_burst_then_a_rate() -> None:
    limiter = HandoffLimiter(burst=3, rate=1.0, in_flight=10)
    for _ in range(3):
        assert limiter.admit("+1", 0.0) is None
        limiter.done("+1")
    assert "over 3 lookups" in (limiter.admit("+1", 0.0) or "")
    assert limiter.admit("+2", 0.0) is None  # another sender has its own budget
    assert limiter.admit("+1", 0.5) is not None  # half a token
    assert limiter.admit("+1", 1.0) is None  # one second: one more
    limiter.done("+1")
    assert limiter.admit("+1", 1.0) is not None


def test_lookups_in_flight_per_sender_are_bounded() -> None:
    limiter = HandoffLimiter(burst=100, rate=0, in_flight=2)
    assert limiter.admit("+1", 0) is None and limiter.admit("+1", 0) is None
    assert "2 lookups in flight" in (limiter.admit("+1", 0) or "")
    limiter.done("+1")
    assert limiter.admit("+1", 0) is None


def test_the_senders_tracked_are_bounded() -> None:
    limiter = HandoffLimiter(burst=1, rate=0, in_flight=1, max_senders=2)
    assert limiter.admit("+1", 0) is None and limiter.admit("+2", 0) is None  # both in flight
    assert limiter.admit("+3", 0) is not None  # nobody idle to forget
    limiter.done("+1")
    assert limiter.admit("+3", 0) is None and len(limiter) == 2  # +1 forgotten


def test_the_envelope_round_trips_and_fits_the_bus() -> None:
    h = Handoff("+15550101", (0x0B84, 0x23F0, True), bytes(range(256)))
    assert decode(encode(h)) == h
    biggest = Handoff("+123456789012345", (65535, 65535, True), b"\xff" * max_octets(MAX_PAYLOAD))
    # as the bus wraps it (NodeBus.post), from a node with a long name
    wrapped = json.dumps({"s": "n" * 64, "t": TOPIC, "d": encode(biggest)}, separators=(",", ":"))
    assert len(wrapped.encode()) <= MAX_PAYLOAD


@given(st.text(max_size=300))
def test_decoding_anything_raises_only_decode_error(data: str) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.sampled_from("fpbx"), c, max_size=4)))
def test_decoding_any_json_raises_only_decode_error(value: object) -> None:
    try:
        decode(json.dumps(value))
    except DecodeError:
        pass


async def test_one_live_node_takes_a_dead_nodes_work_over(pg_url: str) -> None:
    store = open_store(pg_url)
    b = NodeBus(pg_url, "b")
    await b.start()
    try:
        store.nodes.join("a", 1.0)  # "a" joined, and holds no lock now: dead
        store.nodes.join("b", 1.0)
        get = store.requests.add("dev-1", "sms", 1, "/3/0/0")
        post = store.requests.add("dev-2", "sms", 2, "/3/0/4")
        waiting = store.requests.add("dev-1", "sms", 1, "/3/0/1")
        assert len(store.requests.take("a", lease=660, limit=5)) == 2
        store.exchanges.record("a", "+15550101", 7, b"\x01", request_id=get.id, expires=2e9)
        assert store.nodes.take_over("b") is None  # alive: its lock is held
        changed = store.nodes.take_over("a")
        assert changed is not None
        assert {(r.id, r.state) for r in changed} == {(get.id, RequestState.QUEUED), (post.id, RequestState.FAILED)}
        assert "its node 'a' died" in store.requests.get(post.id).detail  # type: ignore[union-attr]
        assert store.requests.get(waiting.id).state is RequestState.QUEUED  # type: ignore[union-attr]
        assert len(store.exchanges) == 0 and store.nodes.names() == ["b"]
        assert store.nodes.take_over("a") is None  # done once
    finally:
        await b.close()
        store.close()


def test_exchange_rows_expire_and_an_owner_that_starts_again_has_none(store_url: str) -> None:
    store = open_store(store_url)
    try:
        store.exchanges.record("a", "+1", 1, b"t1", request_id=None, expires=100.0)
        store.exchanges.record("a", "+1", 2, b"t2", request_id=5, expires=1e300)  # an observation
        store.exchanges.record("b", "+1", 1, b"t9", request_id=None, expires=100.0)
        assert {r.owner for r in store.exchanges.by_mid("+1", 1, 50.0)} == {"a", "b"}
        assert store.exchanges.by_token("+1", b"t2", 500.0)[0].request_id == 5
        assert store.exchanges.purge(100.0) == 2 and len(store.exchanges) == 1
        assert store.exchanges.release("a", "+1", b"t2") == 1
        store.exchanges.record("a", "+1", 3, b"t3", request_id=None, expires=900.0)
        store.nodes.join("a", 1.0)
        assert len(store.exchanges) == 0
    finally:
        store.close()


async def test_a_node_checks_the_others_at_start_and_then_every_interval_of_its_clock(pg_url: str) -> None:
    """Node b runs on a fake clock. A node "a" that joins after b's first check and dies with
    a GET on the wire is taken over at b's next check, when the clock has moved by
    ``check_interval``, not before."""
    clock = FakeClock()
    b = await start_server(db=pg_url, node="b", clock=clock, cluster=ClusterSettings(check_interval=2.0))
    store = open_store(pg_url)
    try:
        assert b.cluster is not None
        await clock.sleeping(2.0)  # the first check ran at start; the next one is armed
        store.nodes.join("a", 1.0)
        get = store.requests.add("dev-1", "sms", 1, "/3/0/0")
        store.requests.take("a", lease=660)
        await clock.advance(1.9)
        assert b.cluster.stats.taken_over == [] and store.requests.get(get.id).state is RequestState.SENT  # type: ignore[union-attr]
        await clock.advance(0.1)
        await until(lambda: b.cluster is not None and b.cluster.stats.taken_over == ["a"], what="b takes a over")
        assert store.requests.get(get.id).state is RequestState.QUEUED  # type: ignore[union-attr]
    finally:
        await b.close()
        store.close()
