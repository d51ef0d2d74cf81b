"""Concatenation references across a sender restart: a long message half delivered, the
sender restarted, a new long message sent. The device must receive the new one intact,
never a mix of the two (the bug: references restarted at 0 in every process, so the new
message's last part completed the old half-received one)."""

from __future__ import annotations

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork, SmsSegment
from lwm2m_sms.sms.reassembly import Reassembler
from lwm2m_sms.sms.segmentation import ReferenceAllocator

SERVER, DEVICE = "+15550009999", "+15550002222"
OLD = b"O" * 390  # 3 parts
NEW = b"N" * 390


async def _scenario(tmp_path, parts_db):
    net = LoopbackNetwork()
    device = LoopbackBearer(net, DEVICE)
    got: list[bytes] = []

    async def rx(sms) -> None:
        got.append(sms.payload)

    device.set_receiver(rx)
    await device.start()
    lose_last = True

    def tap(seg: SmsSegment):
        concat = seg.user_data.concat
        if lose_last and concat is not None and concat.seq == concat.total:
            return []  # half delivered: parts 1 and 2 of 3 arrive
        return [seg]

    net.tap = tap
    first = LoopbackBearer(net, SERVER, parts_db=parts_db)
    await first.start()
    await first.send(DEVICE, OLD)
    await net.drain()
    await first.close()
    assert got == [] and device.reassembly_stats.open == 1
    lose_last = False
    second = LoopbackBearer(net, SERVER, parts_db=parts_db)  # the sender restarted
    await second.start()
    await second.send(DEVICE, NEW)
    await net.drain()
    await second.close()
    await device.close()
    return got, device


async def test_restart_with_a_part_store_continues_the_references(tmp_path):
    got, device = await _scenario(tmp_path, str(tmp_path / "server.db"))
    assert got == [NEW]
    assert device.reassembly_stats.replaced == 0  # a fresh reference, not a reused one
    assert device.reassembly_stats.open == 1  # the old half message waits for its expiry


async def test_restart_without_a_store_still_never_mixes(tmp_path, monkeypatch):
    """Without a store the start reference is random; force the worst case (the same
    reference again, as every process used to) and the device still gets NEW intact: its
    reassembler sees part 1 with other data under a held number and starts afresh."""
    monkeypatch.setattr(ReferenceAllocator, "next", lambda self, destination: 7)
    got, device = await _scenario(tmp_path, None)
    assert got == [NEW]
    assert device.reassembly_stats.replaced == 1


def test_reassembler_of_the_old_code_would_have_mixed():
    """What the device saw before: the same reference, old parts 1-2 held, new 1-3 sent;
    new 1 and 2 used to be dropped as duplicates and new 3 completed the old message."""
    from lwm2m_sms.sms.segmentation import split

    r = Reassembler()
    old, new = split(OLD, 0), split(NEW, 0)
    r.feed(SERVER, old[0], 0)
    r.feed(SERVER, old[1], 0)
    results = [r.feed(SERVER, p, 1) for p in new]
    assert [x.payload for x in results if x is not None] == [NEW]


async def _ignore(segment: SmsSegment) -> None:
    pass


async def test_two_bearers_on_one_file_never_hand_out_one_reference_twice(tmp_path):
    """SMPP and a modem with the same MSISDN, one --db: the device sees one sender. Each
    bearer used to keep the next reference per destination in memory and overwrite the
    shared row with it, so alternating sends reused a reference at once (A: 5, B: 6, A: 6)."""
    net = LoopbackNetwork()
    net.keep_log = True
    db = str(tmp_path / "server.sqlite")
    device = LoopbackBearer(net, DEVICE)
    device.set_segment_receiver(_ignore)
    await device.start()
    a = LoopbackBearer(net, SERVER, parts_db=db)
    b = LoopbackBearer(net, SERVER, parts_db=db)
    await a.start()
    await b.start()
    for _ in range(40):
        await a.send(DEVICE, OLD)
        await b.send(DEVICE, NEW)
    await a.close()
    await b.close()
    again = LoopbackBearer(net, SERVER, parts_db=db)  # a restart goes on after the last one
    await again.start()
    await again.send(DEVICE, OLD)
    await again.close()
    await net.drain()
    await device.close()
    refs = [seg.user_data.concat.reference for seg in net.log if seg.user_data.concat.seq == 1]
    assert len(refs) == 81 and len(set(refs)) == 81
    assert all((y - x) % 256 == 1 for x, y in zip(refs, refs[1:]))
