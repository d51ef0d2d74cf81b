"""Reassembly quotas against a hostile *trusted* sender (review of issue 12): any number may
register when the server has no allow-list, and a registered device's firmware may loop, so
one trusted number must not be able to evict the other trusted numbers' parts. A message
restored after a failed hand-up goes back to the pool it came from."""

from __future__ import annotations

from lwm2m_sms.sms.reassembly import Reassembler
from lwm2m_sms.sms.segmentation import UserData, split
from lwm2m_sms.sms.udh import Concat, Udh

DEVICE, FLOODER = "+15550001", "+15550666"


def first_part(ref: int) -> UserData:
    return UserData(b"f" * 130, Udh.build(concat=Concat(ref % 65536, 4, 1, ref16=True)))


def test_one_trusted_number_flooding_evicts_only_its_own_parts() -> None:
    r = Reassembler(max_open=32)
    update = split(b"U" * 300, 7)
    assert r.feed(DEVICE, update[0], now=0.0) is None
    for ref in range(5000):
        r.feed(FLOODER, first_part(ref), now=1.0)
        assert len(r) <= 32
    assert r.stats.evicted == 5000 - 31  # the flooder's own oldest, every time
    r.feed(DEVICE, update[1], now=2.0)
    whole = r.feed(DEVICE, update[2], now=2.0)
    assert whole is not None and whole.payload == b"U" * 300


def test_a_single_sender_alone_still_gets_the_whole_pool() -> None:
    r = Reassembler(max_open=32)
    for ref in range(32):
        r.feed(FLOODER, first_part(ref), now=0.0)
    assert len(r) == 32 and r.stats.evicted == 0
    r.feed(FLOODER, first_part(32), now=0.0)
    assert len(r) == 32 and r.stats.evicted == 1
    assert r.take_dropped() == [(FLOODER, 0x10000, 4)]  # its oldest


def test_with_one_message_each_the_oldest_goes() -> None:
    r = Reassembler(max_open=3)
    for i in range(4):
        r.feed(f"+1555000{i}", first_part(i), now=float(i))
    assert r.take_dropped() == [("+15550000", 0x10000, 4)] and len(r) == 3


def test_a_restored_message_goes_back_to_the_untrusted_pool() -> None:
    r = Reassembler(untrusted_max_open=4)
    parts = split(b"R" * 300, 3)
    r.feed(FLOODER, parts[0], now=0.0, trusted=False)
    r.feed(FLOODER, parts[1], now=0.0, trusted=False)
    whole = r.feed(FLOODER, parts[2], now=0.0, trusted=False)
    assert whole is not None and not whole.trusted
    r.restore(parts[2], whole, now=1.0)  # the hand-up failed
    assert r.stats.open_untrusted == 1 and r.stats.open == 1
    again = r.feed(FLOODER, parts[2], now=2.0, trusted=False)
    assert again is not None and again.payload == b"R" * 300
    assert r.stats.open == 0 and r.stats.buffered_bytes == 0


def test_dropped_keys_stay_bounded_when_nobody_takes_them() -> None:
    """A bearer without a part store never calls take_dropped(): a flood must not grow the
    list of dropped keys for good (it did: one key per eviction, forever)."""
    r = Reassembler(max_open=8, untrusted_max_open=4)
    for ref in range(10_000):
        r.feed(f"+1666{ref % 500:07d}", first_part(ref), now=0.0, trusted=ref % 2 == 0)
    assert r.stats.evicted > 9_000
    assert len(r.take_dropped()) <= 8 + 4 + 1


def test_one_expiry_of_every_open_message_is_taken_whole() -> None:
    r = Reassembler(timeout=10, max_open=8, untrusted_max_open=4)
    for ref in range(8):
        r.feed(f"+1555{ref:07d}", first_part(ref), now=0.0)
    for ref in range(4):
        r.feed(f"+1666{ref:07d}", first_part(ref), now=0.0, trusted=False)
    r.take_dropped()
    r.feed("+15559999999", first_part(99), now=11.0)  # expires all 12
    assert len(r.take_dropped()) == 12


def part(ref: int, seq: int, total: int, size: int = 134) -> UserData:
    return UserData(bytes([seq % 256]) * size, Udh.build(concat=Concat(ref, total, seq)))


def test_one_unknown_number_cannot_fill_the_untrusted_pool_with_bytes() -> None:
    """Two open messages of 254 parts (about 68 KB) from one number used to fill the 64 KiB
    pool shared by every unknown number; now a number holds at most 1/8 of it, and past that
    its own oldest message goes first."""
    r = Reassembler()
    assert r.untrusted_sender_bytes == 64 * 1024 // 8
    register = split(b"R" * 400, 9)  # another unknown number's Register, 3 parts
    assert r.feed(DEVICE, register[0], now=0.0, trusted=False) is None
    for ref in (1, 2):
        for seq in range(1, 254):  # all but the last part of each
            r.feed(FLOODER, part(ref, seq, 254), now=1.0, trusted=False)
            assert r._sender_bytes.get(FLOODER, 0) <= r.untrusted_sender_bytes
    assert r._untrusted_bytes <= r.untrusted_sender_bytes + len(register[0].data)
    r.feed(DEVICE, register[1], now=2.0, trusted=False)
    whole = r.feed(DEVICE, register[2], now=2.0, trusted=False)
    assert whole is not None and whole.payload == b"R" * 400
    assert r.stats.evicted_untrusted >= 2


def test_past_its_byte_quota_a_number_loses_its_own_oldest_first() -> None:
    r = Reassembler(untrusted_max_bytes=64 * 1024, untrusted_sender_bytes=1000)
    for seq in (1, 2, 3):
        r.feed(FLOODER, part(1, seq, 10, size=130), now=0.0, trusted=False)  # 390 octets
    for seq in (1, 2, 3, 4):
        r.feed(FLOODER, part(2, seq, 10, size=130), now=1.0, trusted=False)  # 520 more: 910
    assert r.stats.evicted_untrusted == 0
    r.feed(FLOODER, part(2, 5, 10, size=130), now=1.0, trusted=False)  # 1040 > 1000
    assert r.take_dropped() == [(FLOODER, 1, 10)]  # its older message, not the one it feeds
    assert r._sender_bytes[FLOODER] == 650
    # one message alone past the quota goes too
    for seq in range(6, 9):  # 650 + 390: this message alone is past 1000
        r.feed(FLOODER, part(2, seq, 10, size=130), now=1.0, trusted=False)
    assert (FLOODER, 2, 10) in r.take_dropped() and len(r) == 0 and FLOODER not in r._sender_bytes
    # trusted senders are not under this quota
    for seq in range(1, 10):
        r.feed(DEVICE, part(3, seq, 10, size=130), now=2.0, trusted=True)
    assert len(r) == 1
