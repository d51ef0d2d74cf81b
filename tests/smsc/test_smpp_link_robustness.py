"""The link against SMSC behaviour seen in the field: notification types that are not data,
address_range as digits with TON/NPI, outbox entries aged by validity, message ids unique
across restarts, and the start-up status line."""

import asyncio
import socket
import sqlite3
import struct
import time
from types import SimpleNamespace

import pytest

from lwm2m_sms.bearer import DeliveryState
from lwm2m_sms.outbox import Outbox
from smsc import pdu as P

from waiting import Inbox, until


async def test_notification_types_are_not_handed_up_as_data(smsc, make_link):
    link = await make_link(smsc, "+15550001")
    inbox = Inbox()
    link.set_receiver(inbox)
    conn = next(c for c in smsc._conns if c.system_id == "esme0001")
    for esm, text in ((P.ESM_SME_ACK, b"id:1 stat:DELIVRD"), (P.ESM_USER_ACK, b"yes"),
                      (P.ESM_INTERMEDIATE, b"id:2 stat:ENROUTE"), (0, b"\x40\x01\x00\x01data")):
        conn.write(P.ShortMessage(P.DELIVER_SM, 0, 0, "", 1, 1, "15550009", 1, 1, "15550001",
                                  esm, 0, 0, "", "", 0, 0, 4, 0, text))
    (sms,) = await inbox.wait(1)
    assert sms.payload == b"\x40\x01\x00\x01data"  # the only data among the four
    assert link.notifications == 3


async def test_bind_sends_a_plus_number_as_digits_with_ton_npi(smsc, make_link):
    await make_link(smsc, "+15550001", address_range="+15550001")
    (conn,) = [c for c in smsc._conns if c.system_id == "esme0001"]
    assert conn.matcher.text == "15550001"
    await make_link(smsc, "+15550002", address_range="+15550002", address_range_as_given=True)
    (conn,) = [c for c in smsc._conns if c.system_id == "esme0002"]
    assert conn.matcher.text == "+15550002"


async def test_outbox_entry_past_its_validity_is_not_sent(smsc, make_link, tmp_path):
    store = str(tmp_path / "outbox.db")
    box = Outbox(store)
    box.add("old-1", "+15550002", b"stale")
    box.close()
    with sqlite3.connect(store) as db:  # accepted two hours ago
        db.execute("UPDATE outbox SET created = created - 7200")
    db.close()
    box = Outbox(store)
    box.add("new-1", "+15550002", b"fresh")
    box.close()
    receiver = await make_link(smsc, "+15550002")
    inbox = Inbox()
    receiver.set_receiver(inbox)
    sender = await make_link(smsc, "+15550001", store=store, outbox_validity=3600)
    (sms,) = await inbox.wait(1)
    assert sms.payload == b"fresh" and sender.stats.failed == 1
    await until(lambda: len(sender.outbox) == 0, what="the stale entry gone from the store")


async def test_queued_message_fails_when_its_validity_ends(make_link):
    # no SMSC at all: the message waits in the outbox until its validity ends
    link = await make_link(1, "+15550001", validity_period="000000000001000R", response_timeout=0.5)
    sub = await link.send("+15550002", b"too late")
    outcome = await asyncio.wait_for(sub.outcome, 10)
    assert outcome.state is DeliveryState.FAILED and "validity" in outcome.detail
    assert not link.bound and link.status == "connect failed: Connection refused"


async def test_message_ids_are_unique_across_restarts(make_link, monkeypatch):
    import smsc.link
    from smsc.link import SmppBearer, SmppLinkConfig

    ids = set()
    for started in (1_700_000_000.000, 1_700_000_000.001):  # a restart one millisecond later
        monkeypatch.setattr(smsc.link, "time", SimpleNamespace(time=lambda: started, monotonic=time.monotonic))
        link = SmppBearer(SmppLinkConfig(port=1), "+15550001")
        ids |= {link._new_message_id() for _ in range(3)}
    assert len(ids) == 6 and all(len(i) <= 16 for i in ids)


async def test_smsc_message_ids_fit_64_bits_and_do_not_repeat_after_a_restart(tmp_path, make_link):
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    runs = []
    for _ in range(2):
        async with SimulatedSmsc(SmscConfig(open=True, store=str(tmp_path / "s.db"))) as smsc:
            await smsc.start("127.0.0.1", 0)
            a = await make_link(smsc, "+15550001")
            for i in range(3):
                sub = await a.send("+15550002", b"x%d" % i)
                await asyncio.wait_for(sub.outcome, 10)
            runs.append(set(smsc._waiting))  # no receiver: all still held (and stored)
            await a.close()
    first, second = runs[0], runs[1] - runs[0]
    assert len(first) == len(second) == 3 and runs[0] <= runs[1]  # the stored ones came back
    assert all(i.isdigit() and int(i) < 2**63 for i in first | second)
    assert min(map(int, second)) > max(map(int, first))


async def test_outbox_is_bounded_by_bytes(make_link):
    from lwm2m_sms.outbox import OutboxFull

    link = await make_link(1, "+15550001", outbox_max_bytes=1000, concat="payload")  # no SMSC
    await link.send("+15550002", bytes(600))
    with pytest.raises(OutboxFull):
        await link.send("+15550002", bytes(600))
    await link.send("+15550002", bytes(400))  # what fits still goes in


async def test_an_smsc_that_never_reads_cannot_grow_the_links_memory(make_link):
    """A hostile SMSC binds the link, then floods enquire_link and reads nothing: the link
    stops reading once its own output passes max_write_buffer."""
    flood_done, stop = asyncio.Event(), asyncio.Event()
    links = []

    async def smsc(reader, writer):
        head = await reader.readexactly(16)
        length, _cid, _status, seq = struct.unpack(">LLLL", head)
        await reader.readexactly(length - 16)
        writer.write(P.BindResp(P.BIND_TRANSCEIVER_RESP, seq, 0, "EVIL").encode())
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        chunk = P.Bare(P.ENQUIRE_LINK, 7).encode() * 4096

        def link_holds() -> bool:
            return bool(links) and links[0]._tx is not None and links[0]._tx.hold_output

        for _ in range(2000):  # up to 128 MiB
            writer.write(chunk)
            while True:
                try:
                    await asyncio.wait_for(writer.drain(), 0.5)
                    break
                except asyncio.TimeoutError:
                    if link_holds():  # TCP pushes back because the link stopped reading
                        break
            if link_holds():
                break
        flood_done.set()
        await stop.wait()
        writer.close()

    server = await asyncio.start_server(smsc, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        link = await make_link(port, "+15550001", max_write_buffer=64 * 1024)
        links.append(link)
        await asyncio.wait_for(flood_done.wait(), 60)
        conn = link._tx
        assert conn.hold_output and 0 < conn.buffered <= 64 * 1024 + 16
    finally:
        stop.set()
        server.close()
