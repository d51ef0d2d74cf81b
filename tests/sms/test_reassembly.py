"""Reassembly of concatenated SMS: order, duplicates, timeout, hard memory bounds."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import DecodeError
from lwm2m_sms.sms.reassembly import Reassembler
from lwm2m_sms.sms.segmentation import UserData, split
from lwm2m_sms.sms.udh import Concat, Ports, Udh

from .strategies import udhs

PAYLOAD = bytes(range(256)) * 3  # 768 octets: 6 parts of 134


def test_single_sms_passes_straight_through():
    r = Reassembler()
    whole = r.feed("+1", UserData(b"hi", Udh.build(ports=Ports(1, 2))), now=0)
    assert whole is not None and whole.payload == b"hi" and whole.parts == 1
    assert whole.ports == Ports(1, 2) and len(r) == 0


def test_out_of_order_and_duplicate_parts():
    r = Reassembler()
    parts = split(PAYLOAD, 42, ports=Ports(5683, 5684))
    order = [3, 0, 5, 0, 2, 4, 3]  # with two duplicates
    for i in order:
        assert r.feed("+1", parts[i], now=1.0) is None
    whole = r.feed("+1", parts[1], now=2.0)
    assert whole is not None
    assert (whole.payload, whole.parts, whole.reference, whole.ports) == (PAYLOAD, 6, 42, Ports(5683, 5684))
    assert r.stats.duplicates == 2 and r.stats.completed == 1
    assert r.stats.open == 0 and r.stats.buffered_bytes == 0
    # a late duplicate of a finished message starts a new partial, which then expires
    assert r.feed("+1", parts[2], now=3.0) is None
    assert r.expire(now=3.0 + r.timeout) == 1


def test_messages_are_kept_apart_by_sender_reference_and_total():
    r = Reassembler()
    a = split(b"A" * 300, 1)
    b = split(b"B" * 300, 1)  # same reference, other sender
    c = split(b"C" * 500, 1)  # same sender and reference, other total
    for part in (a[0], b[0], c[0], c[1], a[1], b[1]):
        r.feed("+1" if part in a or part in c else "+2", part, now=0)
    assert r.stats.completed == 0
    assert r.feed("+1", a[2], now=0).payload == b"A" * 300
    assert r.feed("+2", b[2], now=0).payload == b"B" * 300
    assert r.feed("+1", c[2], now=0) is None  # c has 4 parts
    assert r.feed("+1", c[3], now=0).payload == b"C" * 500


def test_timeout_with_injected_time():
    r = Reassembler(timeout=60)
    parts = split(PAYLOAD, 9)
    r.feed("+1", parts[0], now=100.0)
    r.feed("+1", parts[1], now=159.0)
    assert r.expire(now=159.9) == 0 and len(r) == 1
    # the next part comes too late: the partial is dropped first, the part starts afresh
    assert r.feed("+1", parts[2], now=160.0) is None
    assert r.stats.expired == 1 and len(r) == 1 and r.stats.buffered_bytes == len(parts[2].data)


def test_flood_of_never_completed_references_stays_bounded():
    r = Reassembler(max_open=100, max_bytes=100 * 134 * 2)
    part = split(PAYLOAD, 0)[0]
    for ref in range(5000):
        ud = UserData(part.data, Udh.build(concat=Concat(ref % 65536, 6, 1, ref16=True)))
        assert r.feed(f"+{ref % 7 + 1}", ud, now=float(ref)) is None
        assert len(r) <= 100 and r.stats.buffered_bytes <= r.max_bytes
    assert r.stats.evicted == 5000 - 100 and r.stats.open == 100
    # the survivors are the newest
    assert r.feed("+1", UserData(part.data, Udh.build(concat=Concat(4900 % 65536, 6, 2, True))), now=5000.0) is None


def test_byte_bound_evicts_oldest_first():
    r = Reassembler(max_open=1000, max_bytes=1000)
    for ref in range(20):
        r.feed("+1", UserData(bytes(134), Udh.build(concat=Concat(ref, 3, 1))), now=0)
        assert r.stats.buffered_bytes <= 1000
    assert len(r) == 7 and r.stats.evicted == 13
    # a message larger than the bound by itself cannot be held either
    small = Reassembler(max_open=10, max_bytes=200)
    for seq in (1, 2):
        small.feed("+1", UserData(bytes(134), Udh.build(concat=Concat(1, 3, seq))), now=0)
    assert len(small) == 0 and small.stats.evicted == 1


def test_constructor_refuses_nonsense():
    with pytest.raises(ValueError):
        Reassembler(timeout=0)
    with pytest.raises(ValueError):
        Reassembler(max_open=0)


@st.composite
def arbitrary_parts(draw):
    return draw(st.sampled_from(["+1", "+2"])), UserData(draw(st.binary(max_size=140)), draw(st.none() | udhs))


@given(st.lists(arbitrary_parts(), max_size=60), st.randoms(use_true_random=False))
def test_arbitrary_parts_never_break_the_bounds(parts, rnd):
    r = Reassembler(timeout=30, max_open=5, max_bytes=1000)
    now = 0.0
    for sender, ud in parts:
        now += rnd.random() * 10
        try:
            r.feed(sender, ud, now)
        except DecodeError:
            pass
        assert len(r) <= 5 and 0 <= r.stats.buffered_bytes <= 1000
        assert r.stats.open == len(r)


@given(st.binary(max_size=600), st.randoms(use_true_random=False))
def test_any_order_reassembles(payload, rnd):
    parts = split(payload, 3)
    rnd.shuffle(parts)
    r = Reassembler()
    dup = parts[:1] if len(parts) > 1 else []  # a single SMS has no reference to dedup by
    results = [r.feed("+1", p, now=0) for p in parts + dup]
    done = [x for x in results if x is not None]
    assert len(done) == 1 and done[0].payload == payload


def test_8_and_16_bit_references_of_the_same_value_do_not_mix():
    from lwm2m_sms.sms.reassembly import Reassembler
    from lwm2m_sms.sms.segmentation import split

    r = Reassembler()
    a = split(b"A" * 200, 7)
    b = split(b"B" * 200, 7, ref16=True)
    assert r.feed("+1", a[0], 0) is None and r.feed("+1", b[0], 0) is None
    assert r.feed("+1", a[1], 0).payload == b"A" * 200
    assert r.feed("+1", b[1], 0).payload == b"B" * 200


# -- quotas: unknown numbers cannot evict a registered device's parts --------------------


def test_untrusted_flood_never_evicts_a_trusted_message(caplog):
    r = Reassembler(untrusted_max_open=50, untrusted_max_bytes=50 * 134)
    update = split(b"U" * 350, 77)  # 3 parts from the registered device
    assert r.feed("+1000", update[0], now=0, trusted=True) is None
    part = split(PAYLOAD, 0)[0]
    with caplog.at_level("INFO", logger="lwm2m_sms.sms.reassembly"):
        for i in range(10_000):
            ud = UserData(part.data, Udh.build(concat=Concat(i % 256, 6, 1)))
            assert r.feed(f"+2{i % 1000:04d}", ud, now=0.001 * i, trusted=False) is None
            assert r.stats.open_untrusted <= 50
    assert r.feed("+1000", update[2], now=11, trusted=True) is None
    whole = r.feed("+1000", update[1], now=12, trusted=True)
    assert whole is not None and whole.payload == b"U" * 350
    assert r.stats.evicted == r.stats.evicted_untrusted == 10_000 - 50
    assert "+20999" in caplog.text and "evicted" in caplog.text


def test_one_unknown_number_gets_only_its_own_small_share():
    r = Reassembler(untrusted_max_open=10, untrusted_per_sender=2)
    first = [UserData(b"x" * 100, Udh.build(concat=Concat(ref, 3, 1))) for ref in range(5)]
    r.feed("+9", first[0], now=0, trusted=False)
    r.feed("+8", first[0], now=0, trusted=False)
    for ud in first[1:]:
        r.feed("+8", ud, now=1, trusted=False)
    assert r.stats.open_untrusted == 3 and r.stats.evicted_untrusted == 3  # +9's survives


def test_trusted_pool_bounds_still_apply_among_trusted_senders():
    r = Reassembler(max_open=3)
    for ref in range(5):
        r.feed("+1", UserData(b"x" * 100, Udh.build(concat=Concat(ref, 3, 1))), now=ref)
    assert len(r) == 3 and r.stats.evicted == 2 and r.stats.evicted_untrusted == 0


def test_a_reused_reference_with_other_data_starts_a_new_message():
    """A sender that restarted reuses reference 0: its new part 1 differs from the held
    old part 1, so the old half message is dropped, never joined with the new one."""
    r = Reassembler()
    old = split(b"O" * 400, 0)
    new = split(b"N" * 400, 0)
    assert r.feed("+1", old[0], now=0) is None
    assert r.feed("+1", old[1], now=0) is None
    assert r.feed("+1", new[0], now=1) is None
    assert r.stats.replaced == 1 and r.take_dropped() == [("+1", 0, 3)]
    assert r.feed("+1", new[1], now=1) is None
    whole = r.feed("+1", new[2], now=1)
    assert whole is not None and whole.payload == b"N" * 400


def test_held_and_dropped_name_the_messages_for_a_part_store():
    r = Reassembler(max_open=1)
    a, b = split(b"A" * 300, 1), split(b"B" * 300, 2)
    r.feed("+1", a[0], now=0)
    assert r.held == ("+1", 1, 3)
    r.feed("+1", a[0], now=0)
    assert r.held is None  # a duplicate
    r.feed("+1", b[0], now=1)
    assert r.held == ("+1", 2, 3) and r.take_dropped() == [("+1", 1, 3)] and r.take_dropped() == []
    r.feed("+1", b[1], now=1)
    whole = r.feed("+1", b[2], now=1)
    assert r.held is None and whole is not None and whole.key == ("+1", 2, 3)
    r.feed("+1", a[1], now=1 + r.timeout)
    assert ("+1", 1, 3) not in r.take_dropped()  # nothing open expired: the store has nothing stale


@given(st.lists(st.tuples(arbitrary_parts(), st.booleans()), max_size=80))
def test_arbitrary_parts_keep_both_pools_bounded(parts):
    r = Reassembler(max_open=4, max_bytes=600, untrusted_max_open=3, untrusted_max_bytes=400,
                    untrusted_per_sender=1)
    for (sender, ud), trusted in parts:
        try:
            r.feed(sender, ud, 0.0, trusted=trusted)
        except DecodeError:
            pass
        assert r.stats.open_untrusted <= 3 and len(r) - r.stats.open_untrusted <= 4
        assert 0 <= r.stats.buffered_bytes <= 1000
