"""Splitting payloads and text into SMS user data."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import PayloadTooLarge
from lwm2m_sms.sms import gsm7
from lwm2m_sms.sms.segmentation import (
    MAX_PARTS,
    ReferenceAllocator,
    max_payload,
    segment_count,
    split,
    split_text,
)
from lwm2m_sms.sms.udh import Concat, Ports


def test_single_sms_has_no_udh():
    [ud] = split(bytes(140), 9)
    assert ud.udh is None and len(ud) == 140


@pytest.mark.parametrize("ref16,per_part", [(False, 134), (True, 133)])
def test_per_part_capacity(ref16, per_part):
    payload = bytes(range(256)) * 2
    parts = split(payload, 300 if ref16 else 30, ref16=ref16)
    assert [len(p.data) for p in parts] == [per_part] * 3 + [len(payload) - 3 * per_part]
    assert all(len(p) <= 140 for p in parts)
    assert [p.concat for p in parts] == [Concat(300 if ref16 else 30, 4, i, ref16) for i in range(1, 5)]
    assert segment_count(len(payload), ref16=ref16) == 4
    assert b"".join(p.data for p in parts) == payload


def test_ports_overhead():
    ports = Ports(5683, 5683)
    assert max_payload(1, ports=ports) == 140 - 7  # UDHL + 0x05 IE (6)
    [single] = split(bytes(133), ports=ports)
    assert single.ports == ports and single.concat is None
    parts = split(bytes(134), 5, ports=ports)
    assert len(parts) == 2
    assert all(len(p.data) <= 140 - 12 for p in parts)  # UDHL + concat (5) + ports (6)
    assert all(p.ports == ports for p in parts)
    assert max_payload(2, ports=Ports(1, 2, wide=False)) == 2 * (140 - 10)


def test_255_parts_limit():
    assert len(split(bytes(max_payload()), 1)) == MAX_PARTS == 255
    with pytest.raises(PayloadTooLarge, match="256 SMS; at most 255"):
        split(bytes(max_payload() + 1), 1)
    with pytest.raises(PayloadTooLarge, match="at most 3"):
        split(bytes(500), 1, max_parts=3)


class _Refs:
    def __init__(self) -> None:
        self.saved: dict[str, int] = {}

    def load_reference(self, destination: str) -> int | None:
        return self.saved.get(destination)

    def save_reference(self, destination: str, next_reference: int) -> None:
        self.saved[destination] = next_reference

    def take_reference(self, destination: str, first: int, modulo: int) -> int:
        ref = self.saved.get(destination, first) % modulo
        self.saved[destination] = (ref + 1) % modulo
        return ref


def test_reference_allocator_per_destination():
    store = _Refs()
    store.saved = {"+1": 0, "+2": 0}
    refs = ReferenceAllocator(store=store)
    assert [refs.next("+1"), refs.next("+1"), refs.next("+2")] == [0, 1, 0]
    for _ in range(254):
        refs.next("+1")
    assert refs.next("+1") == 0  # wraps at 256
    store.saved["+3"] = 0xFFFF
    wide = ReferenceAllocator(ref16=True, store=store)
    assert (wide.next("+3"), wide.next("+3")) == (0xFFFF, 0)


def test_references_survive_a_restart_with_a_store():
    store = _Refs()
    first = ReferenceAllocator(store=store)
    used = [first.next("+1") for _ in range(3)]
    again = ReferenceAllocator(store=store)  # the process restarted
    assert again.next("+1") == (used[-1] + 1) % 256


def test_without_a_store_each_start_begins_at_a_random_reference():
    import random

    starts = {ReferenceAllocator(rng=random.Random(seed)).next("+1") for seed in range(50)}
    assert len(starts) > 30  # not 0 every time, as it was
    refs = ReferenceAllocator(rng=random.Random(1))
    a = refs.next("+1")
    assert refs.next("+1") == (a + 1) % 256


@given(st.binary(max_size=3000), st.booleans(), st.none() | st.builds(Ports, st.integers(0, 65535), st.integers(0, 65535)))
def test_split_reassembles(payload, ref16, ports):
    parts = split(payload, 7, ports=ports, ref16=ref16)
    assert b"".join(p.data for p in parts) == payload
    assert len(parts) == segment_count(len(payload), ports=ports, ref16=ref16)
    assert all(len(p) <= 140 for p in parts)


def test_text_gsm7_capacity():
    dcs, [single] = split_text("x" * 160)
    assert dcs == 0x00 and single.data == b"x" * 160 and single.udh is None
    dcs, parts = split_text("x" * 161)
    assert [len(p.data) for p in parts] == [153, 8]
    _, parts = split_text("x" * 161, ref16=True)
    assert len(parts[0].data) == 152
    _, [single] = split_text("x" * 152, ports=Ports(1, 2))  # 7 UDH octets = 8 septets
    assert single.ports == Ports(1, 2)


def test_text_never_cuts_an_escape_pair():
    text = "x" * 152 + "€" + "y" * 10
    _, parts = split_text(text)
    assert parts[0].data == b"x" * 152  # the euro's two septets do not fit after it
    assert gsm7.decode(b"".join(p.data for p in parts)) == text


def test_text_ucs2_capacity_and_surrogates():
    dcs, [single] = split_text("Ж" * 70)
    assert dcs == 0x08 and len(single.data) == 140
    _, parts = split_text("Ж" * 71)
    assert [len(p.data) for p in parts] == [134, 8]
    text = "Ж" * 66 + "😀"  # the pair would straddle the 134-octet boundary
    _, parts = split_text(text + "Ж" * 10)
    assert len(parts[0].data) == 132
    assert gsm7.decode_ucs2(b"".join(p.data for p in parts)) == text + "Ж" * 10


def test_text_too_long():
    with pytest.raises(PayloadTooLarge, match="at most 255"):
        split_text("x" * (153 * 255 + 1))
