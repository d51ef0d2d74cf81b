"""What the driver may delete from the modem's memory, and when (review of issue 12):

* a drain and a +CMTI read of the same SIM index never hand one SMS up twice (they walk the
  memory one at a time);
* an SMS whose receiver fails every time is kept as a dead letter before it is deleted;
* a +CDSI entry that is not taken stays in SR memory.

Driver against the pty emulator; no sleeps: each wait is on an event or the inbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from lwm2m_sms.bearer import InboundSms
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.tpdu import SmsDeliver, SmsSubmit, encode_pdu
from modems.driver import ModemDriver
from modems.emulator_core import EmulatorCore, Quirks

from waiting import Inbox, until

from .conftest import MODEM, PEER, bounded, config

SMSC = parse_msisdn("+15550000000")


def deliver_pdu(payload: bytes) -> bytes:
    ts = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    return encode_pdu(SmsDeliver(parse_msisdn(PEER), UserData(payload), 0x04, ts), smsc=SMSC)


async def until_contended(lock: asyncio.Lock, got: asyncio.Queue[InboundSms]) -> None:
    """Until a second walk waits for ``lock`` (or, without the lock, handed up again)."""
    await until(lambda: getattr(lock, "_waiters", None) or not got.empty(), 20, "a second walk")


async def test_drain_and_cmti_of_the_same_index_hand_it_up_once(make_emulator: Any, peer: Any, tmp_path: Path) -> None:
    core = EmulatorCore(MODEM, quirks=Quirks(supports_cmt=False))
    index = core.store_pdu(0, deliver_pdu(b"stored while nobody listened"), sender=PEER)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=str(tmp_path / "gw.db"))
    await drv.start()  # no receiver: the drain leaves the SMS on the SIM
    assert index in emu.core.store
    release = asyncio.Event()
    got: asyncio.Queue[InboundSms] = asyncio.Queue()

    async def slow_receiver(sms: InboundSms) -> None:
        got.put_nowait(sms)
        await release.wait()

    try:
        drv.set_receiver(slow_receiver)  # starts a drain, which blocks in the receiver
        first = await asyncio.wait_for(got.get(), 20)
        # the modem announces the same index while the drain is handing it up; its read
        # waits for the drain (before the fix it read the SMS and handed it up again)
        emu.inject(f'\r\n+CMTI: "SM",{index}\r\n'.encode())
        await until_contended(drv._storage, got)
        release.set()
        # a later SMS: its +CMTI is handled after the injected one (one URC queue), so a
        # second hand-up of the first SMS would come before it
        await peer.send(MODEM, b"later")
        second = await asyncio.wait_for(got.get(), 20)
        assert (first.payload, second.payload) == (b"stored while nobody listened", b"later")
        assert got.empty() and index not in emu.core.store
    finally:
        release.set()
        await bounded(drv.close(), "driver")


async def test_an_sms_whose_receiver_always_fails_becomes_a_dead_letter(make_emulator: Any, tmp_path: Path) -> None:
    core = EmulatorCore(MODEM, quirks=Quirks(supports_cmt=False))
    pdu = deliver_pdu(b"poison")
    index = core.store_pdu(0, pdu, sender=PEER)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=str(tmp_path / "gw.db"))
    calls = 0

    async def failing(sms: InboundSms) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("bug in the application")

    drv.set_receiver(failing)
    try:
        await drv.start()  # the drain: try 1, left on the SIM
        assert calls == 1 and index in emu.core.store and drv.dead_letters.count() == 0
        await drv._drain()  # try 2
        assert index in emu.core.store
        await drv._drain()  # try 3: kept as a dead letter, then deleted
        assert calls == 3
        assert index not in emu.core.store
        (letter,) = drv.dead_letters.list()
        assert letter.pdu_hex.upper() == pdu.hex().upper() and letter.storage_index == index
        assert "receiver failed 3 times" in letter.reason and "bug in the application" in letter.reason
    finally:
        await bounded(drv.close(), "driver")


async def test_a_poison_sms_stays_on_the_sim_when_the_dead_letter_store_fails(make_emulator: Any, tmp_path: Path) -> None:
    core = EmulatorCore(MODEM, quirks=Quirks(supports_cmt=False))
    index = core.store_pdu(0, deliver_pdu(b"poison"), sender=PEER)
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=str(tmp_path / "gw.db"))

    async def failing(sms: InboundSms) -> None:
        raise RuntimeError("bug in the application")

    drv.set_receiver(failing)
    try:
        await drv.start()
        await drv._drain()
        drv.dead_letters._db.execute("PRAGMA query_only=ON")  # the file refuses writes (disk full, read-only)
        await drv._drain()
        assert index in emu.core.store  # not kept, so not deleted
    finally:
        await bounded(drv.close(), "driver")


async def test_an_sr_entry_that_is_not_taken_stays_in_sr_memory(make_emulator: Any, tmp_path: Path) -> None:
    # an SMS-SUBMIT where a status report should be: neither a report nor ours to delete
    emu = await make_emulator(EmulatorCore(MODEM, quirks=Quirks(status_reports_stored=True)))
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=str(tmp_path / "gw.db"))
    drv.set_receiver(Inbox())
    try:
        await drv.start()
        submit = encode_pdu(SmsSubmit.from_text(parse_msisdn(PEER), "not a report"))
        from modems.emulator_core import StoredSms

        now = dt.datetime.now(dt.timezone.utc)
        emu.core.sr_store[1] = StoredSms(1, 0, submit, len(submit) - 1 - submit[0], PEER, now, submit.hex().upper())
        await drv._read_status_report("SR", 1)
        assert 1 in emu.core.sr_store and emu.core.read_memory == "SM"
        assert not drv._left_on_sim  # an SR index is not a SIM index
    finally:
        await bounded(drv.close(), "driver")


async def test_cmt_without_a_part_store_says_so_at_start(make_emulator: Any, tmp_path: Path, caplog: Any) -> None:
    emu = await make_emulator(EmulatorCore(MODEM))
    for parts_db in (None, str(tmp_path / "parts.db")):
        caplog.clear()
        drv = ModemDriver(config(emu.path), MODEM, parts_db=parts_db)
        try:
            await drv.start()
            assert drv.use_cmt
            warned = [r for r in caplog.records if "no parts_db" in r.getMessage()]
            assert len(warned) == (1 if parts_db is None else 0)
        finally:
            await bounded(drv.close(), "driver")


def long_pdus(payload: bytes, ref: int) -> list[bytes]:
    from lwm2m_sms.sms.segmentation import split

    ts = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    return [encode_pdu(SmsDeliver(parse_msisdn(PEER), ud, 0x04, ts), smsc=SMSC) for ud in split(payload, ref)]


async def always_failing(sms: InboundSms) -> None:
    raise RuntimeError("bug in the application")


async def test_a_poison_long_message_keeps_every_part_and_the_payload(make_emulator: Any, tmp_path: Path) -> None:
    """Before: only the last part's PDU became a dead letter; the other parts were deleted
    from the SIM and the payload was nowhere."""
    payload = bytes(range(256)) + b"P" * 134  # 3 parts
    pdus = long_pdus(payload, 42)
    core = EmulatorCore(MODEM, quirks=Quirks(supports_cmt=False))
    indices = [core.store_pdu(0, pdu, sender=PEER) for pdu in pdus]
    emu = await make_emulator(core)
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=str(tmp_path / "gw.db"),
                      parts_db=str(tmp_path / "gw.db"))
    drv.set_receiver(always_failing)
    try:
        await drv.start()  # try 1
        await drv._drain()  # try 2
        assert all(i in emu.core.store for i in indices) and drv.dead_letters.count() == 0
        await drv._drain()  # try 3: the whole message is kept, then deleted
        assert not any(i in emu.core.store for i in indices)
        letters = drv.dead_letters.list()
        assert [bytes.fromhex(d.pdu_hex) for d in letters] == pdus
        assert [d.storage_index for d in letters] == indices
        assert letters[-1].payload == payload and all(d.payload is None for d in letters[:-1])
        assert "message of 3 parts" in letters[-1].reason and "bug in the application" in letters[-1].reason
        assert len(drv._reassembler) == 0 and drv.part_store is not None and drv.part_store.count() == 0
    finally:
        await bounded(drv.close(), "driver")


async def test_a_poison_long_message_over_cmt_keeps_the_payload(make_emulator: Any, peer: Any, tmp_path: Path) -> None:
    """+CMT: parts 1 and 2 were acknowledged (their PDUs are gone, their data is in the part
    store); the last part fails three times (refused each time, the network retries) and goes
    to the dead letters with the reassembled payload, which holds the earlier parts."""
    payload = b"C" * 300  # 3 parts
    core = EmulatorCore(MODEM, quirks=Quirks(strict_cnma=True), network_retry=0.1)
    emu = await make_emulator(core)
    db = str(tmp_path / "gw.db")
    drv = ModemDriver(config(emu.path), MODEM, dead_letters=db, parts_db=db)
    drv.set_receiver(always_failing)
    try:
        await drv.start()
        assert drv.use_cmt
        await peer.send(MODEM, payload)
        await until(lambda: drv.counters["dead_letters"] == 1, what="the poison message kept")
        (letter,) = drv.dead_letters.list()
        assert letter.payload == payload and letter.where == "+CMT"
        assert (drv.counters["cnma_negative"], core.stats["network_retries"]) == (2, 2)
        await until(lambda: drv.counters["cnma"] == 3, what="the last part acknowledged once kept")
        assert drv.part_store is not None and drv.part_store.count() == 0 and len(drv._reassembler) == 0
    finally:
        await bounded(drv.close(), "driver")
