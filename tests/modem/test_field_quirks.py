"""Modem sessions with what real modems and SIMs do, replayed through the driver and the pty
emulator: padded and quoted PDU lines, SMS-SUBMITs saved on the SIM (stat 2/3, and one a
buggy firmware files under stat 1), garbage PDUs, status reports stored in "SR" memory.

The shapes follow 3GPP TS 27.005 (+CMGL/+CMGR: ``<index>,<stat>,[<alpha>],<length>`` then
the PDU line; +CDSI: ``<mem>,<index>``) and what gammu / python-gsmmodem accept from the
field (trailing octets after the user data, a quoted PDU line). Each test asserts what
reached the application, what is left on the SIM and what is in the dead-letter table.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lwm2m_sms.bearer import DeliveryState, SmsSegment
from lwm2m_sms.deadletters import DeadLetterStore
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.tpdu import SmsDeliver, SmsSubmit, encode_pdu
from modems.driver import ModemDriver
from modems.emulator_core import EmulatorCore, Quirks

from waiting import until

from .conftest import MODEM, PEER, Inbox, bounded, config

SMSC = parse_msisdn("+15550000000")
LWM2M_SMS = str(Path(sys.executable).with_name("lwm2m-sms"))  # the command as operators run it


def lwm2m_sms(*argv: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([LWM2M_SMS, *argv], capture_output=True, text=True, timeout=60)


@pytest.fixture
async def drivers(tmp_path):
    made: list[ModemDriver] = []

    async def make(path: str, **kw) -> ModemDriver:
        kw.setdefault("dead_letters", str(tmp_path / "gateway.db"))
        drv = ModemDriver(config(path), MODEM, **kw)
        drv.inbox = Inbox()
        drv.set_receiver(drv.inbox)
        made.append(drv)
        await drv.start()
        return drv

    yield make
    for drv in made:
        await bounded(drv.close(), "driver")


def deliver_pdu(payload: bytes) -> bytes:
    ts = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    return encode_pdu(SmsDeliver(parse_msisdn(PEER), UserData(payload), 0x04, ts), smsc=SMSC)


def submit_pdu(text: str) -> bytes:
    return encode_pdu(SmsSubmit.from_text(parse_msisdn(PEER), text))


@pytest.mark.parametrize("cmt", [True, False], ids=["+CMT", "+CMTI"])
@pytest.mark.parametrize("quirk", [
    Quirks(pdu_padding=b"\x00\x00\x00\x00"),
    Quirks(pdu_padding=b"\xff"),
    Quirks(quote_pdu=True),
    Quirks(quote_pdu=True, pdu_padding=b"\x00\x00"),
], ids=["padded-00", "padded-ff", "quoted", "quoted-padded"])
async def test_padded_and_quoted_pdu_lines_are_handed_up(make_emulator, drivers, peer, quirk, cmt):
    q = Quirks(pdu_padding=quirk.pdu_padding, quote_pdu=quirk.quote_pdu, supports_cmt=cmt)
    emu = await make_emulator(EmulatorCore(MODEM, quirks=q))
    drv = await drivers(emu.path)
    await peer.send(MODEM, b"\x40\x01\x00\x01one part")
    await peer.send(MODEM, bytes(range(256)) + bytes(44))  # 3 parts
    got = await drv.inbox.wait(2)
    assert sorted(s.payload for s in got) == sorted([b"\x40\x01\x00\x01one part", bytes(range(256)) + bytes(44)])
    await peer.network.drain()
    await until(lambda: emu.core.store == {}, what="SIM empty")  # all taken, deleted / acknowledged
    assert drv.dead_letters.count() == 0
    if q.pdu_padding:
        assert drv.counters["padded_pdus"] == 4


async def test_stored_submits_stay_on_the_sim_and_received_ones_are_handed_up(make_emulator, drivers, peer):
    core = EmulatorCore(MODEM)
    unsent = core.store_pdu(2, submit_pdu("draft: meet at 6"))
    sent = core.store_pdu(3, submit_pdu("sent: ok"))
    odd = core.store_pdu(1, submit_pdu("a SUBMIT filed under REC READ"))
    received = core.store_pdu(0, deliver_pdu(b"\x40\x02\x00\x07for the app"), sender=PEER)
    emu = await make_emulator(core)
    drv = await drivers(emu.path)  # start() drains
    got = await drv.inbox.wait(1)
    assert [s.payload for s in got] == [b"\x40\x02\x00\x07for the app"]
    assert sorted(emu.core.store) == sorted([unsent, sent, odd]) and received not in emu.core.store
    assert emu.core.store[unsent].stat == 2 and emu.core.store[sent].stat == 3
    assert drv.dead_letters.count() == 0 and drv.counters["left_on_sim"] == 1
    # a later drain (new receiver, reconnect) leaves them too
    await drv._drain()
    assert sorted(emu.core.store) == sorted([unsent, sent, odd])


async def test_garbage_pdu_becomes_a_dead_letter_then_is_deleted(make_emulator, drivers, peer, tmp_path):
    core = EmulatorCore(MODEM)
    garbage = core.store_pdu(0, bytes.fromhex("07911326040000F0040B911346610089F60004"))  # cut short
    good = core.store_pdu(0, deliver_pdu(b"fine"), sender=PEER)
    emu = await make_emulator(core)
    drv = await drivers(emu.path)
    assert [s.payload for s in await drv.inbox.wait(1)] == [b"fine"]
    assert emu.core.store == {} and good not in emu.core.store
    (letter,) = drv.dead_letters.list()
    assert letter.storage_index == garbage and letter.pdu_hex == "07911326040000F0040B911346610089F60004"
    assert letter.where == f"SIM index {garbage}" and "truncated" in letter.reason
    # a garbage +CMT (the network delivered it; the modem shows it): dead letter, then +CNMA
    emu.inject(b'\r\n+CMT: ,9\r\n"00040B91FFFFFFFF"\r\n')
    await until(lambda: drv.dead_letters.count() == 2, what="the +CMT dead letter")
    assert [d.where for d in drv.dead_letters.list()] == [f"SIM index {garbage}", "+CMT"]
    # the operator lists and exports them
    db = str(tmp_path / "gateway.db")
    listed = lwm2m_sms("dead-letters", "--db", db, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["pdu"] for r in rows] == ["07911326040000F0040B911346610089F60004", "00040B91FFFFFFFF"]
    assert rows[0]["storage_index"] == garbage and rows[0]["reason"]
    listed = lwm2m_sms("dead-letters", "--db", db)
    assert listed.returncode == 0 and "2 dead letter(s)" in listed.stdout
    missing = lwm2m_sms("dead-letters", "--db", str(tmp_path / "nope.db"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


async def test_status_reports_stored_in_sr_memory_are_read_and_matched(make_emulator, drivers, peer):
    emu = await make_emulator(EmulatorCore(MODEM, quirks=Quirks(status_reports_stored=True)))
    drv = await drivers(emu.path)
    assert emu.core.cnmi[3] == 2
    sub = await drv.send(PEER, b"report please", report=True)
    outcome = await asyncio.wait_for(sub.outcome, 10)
    assert outcome.state is DeliveryState.DELIVERED
    await until(lambda: emu.core.sr_store == {} and emu.core.read_memory == "SM", what="SR read, deleted, SM back")
    # receiving still works from the SIM memory afterwards
    await peer.send(MODEM, b"after")
    assert (await drv.inbox.wait(1))[0].payload == b"after"
