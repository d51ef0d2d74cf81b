"""deliver_sm that can never be handed up go to the dead letters before they are acknowledged:
one that does not decode, and one whose receiver fails three times. Over loopback SMPP to the
simulated SMSC (which retries what is answered ESME_RX_T_APPN), dead letters in SQLite files."""

import asyncio
import json
import struct
import subprocess
import sys

from lwm2m_sms.deadletters import DeadLetterStore
from smsc import pdu as P
from waiting import Inbox, until

DEVICE = "15550002"
SERVER = "+15550001"


async def _submit_raw(port: int, short_message: bytes, *, esm_class: int = P.ESM_UDHI) -> int:
    """Bind as a device and submit one submit_sm with the given data to SERVER as is (no
    encoder in between): the submit_sm_resp status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def read_pdu() -> tuple[int, int]:
        head = await reader.readexactly(16)
        length, cid, status, _seq = struct.unpack(">LLLL", head)
        await reader.readexactly(length - 16)
        return cid, status

    try:
        writer.write(P.Bind(P.BIND_TRANSMITTER, 1, 0, "device", "", "", P.INTERFACE_VERSION, 1, 1, DEVICE).encode())
        assert await read_pdu() == (P.BIND_TRANSMITTER_RESP, P.ESME_ROK)
        writer.write(P.ShortMessage(
            P.SUBMIT_SM, 2, 0, "", 1, 1, DEVICE, 1, 1, SERVER[1:], esm_class, 0, 0, "", "", 0, 0, 4, 0,
            short_message, [],
        ).encode())
        cid, status = await read_pdu()
        assert cid == P.SUBMIT_SM_RESP
        return status
    finally:
        writer.close()


# UDHI set and a UDH length (16) past the data: decode_mo cannot read it
GARBAGE = bytes([0x10, 0x00, 0x03, 0x01])


async def test_undecodable_deliver_sm_is_a_dead_letter_then_acknowledged(smsc, make_link, tmp_path):
    db = str(tmp_path / "server.db")
    link = await make_link(smsc, SERVER, bearer={"dead_letters": db})
    inbox = Inbox()
    link.set_receiver(inbox)
    assert await _submit_raw(smsc.port, GARBAGE) == P.ESME_ROK
    await until(lambda: smsc.stats.delivered == 1, what="the SMSC got ESME_ROK for it")
    assert link.dead_lettered == 1 and link.deferred == 0 and smsc.stats.redelivered == 0
    await link.close()  # the link's own store is closed: the CLI reads the file
    out = subprocess.run(
        [sys.executable, "-m", "lwm2m_sms.cli", "dead-letters", "--db", db, "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 1
    row = rows[0]
    assert row["bearer"] == f"smpp {link.name}"
    assert row["where"].startswith(f"deliver_sm from {DEVICE} seq ")
    assert "short_message, esm_class 0x40, data_coding 0x04, source TON 1 NPI 1" in row["where"]
    assert row["pdu"] == GARBAGE.hex()
    assert row["reason"].startswith("undecodable")
    # the next, good message still goes up
    await link.start()
    assert await _submit_raw(smsc.port, b"fine", esm_class=0) == P.ESME_ROK
    assert [sms.payload for sms in await inbox.wait(1)] == [b"fine"]


async def test_dead_letter_write_failure_is_answered_for_a_retry(smsc, make_link, tmp_path):
    store = DeadLetterStore(str(tmp_path / "server.db"))
    store._db.execute("PRAGMA query_only = ON")  # every write now fails with sqlite3.Error
    link = await make_link(smsc, SERVER, bearer={"dead_letters": store})
    link.set_receiver(Inbox())
    assert await _submit_raw(smsc.port, GARBAGE) == P.ESME_ROK
    # answered ESME_RX_T_APPN, retried by the SMSC, answered again: still held there
    await until(lambda: link.deferred >= 2, what="a second ESME_RX_T_APPN (the SMSC's retry)")
    assert link.dead_lettered == 0 and smsc.stats.delivered == 0 and store.count() == 0
    store._db.execute("PRAGMA query_only = OFF")
    await until(lambda: smsc.stats.delivered == 1, what="the retry taken once the store writes")
    assert smsc.stats.redelivered == 1 and link.dead_lettered == 1 and store.count() == 1
    assert store.list()[0].pdu_hex == GARBAGE.hex()
    await link.close()
    store.close()


async def test_receiver_failing_three_times_makes_a_dead_letter(smsc, make_link, tmp_path):
    db = str(tmp_path / "server.db")
    link = await make_link(smsc, SERVER, bearer={"dead_letters": db})
    calls = []

    async def failing(sms):
        calls.append(sms.payload)
        raise RuntimeError("application bug")

    link.set_receiver(failing)
    assert await _submit_raw(smsc.port, b"poison", esm_class=0) == P.ESME_ROK
    await until(lambda: smsc.stats.delivered == 1, what="the third try acknowledged")
    assert calls == [b"poison"] * 3
    assert link.deferred == 2 and link.dead_lettered == 1 and smsc.stats.redelivered == 1
    await link.close()
    store = DeadLetterStore(db)
    (row,) = store.list()
    assert row.pdu_hex == b"poison".hex() and row.bearer == f"smpp {link.name}"
    assert row.reason == "receiver failed 3 times: RuntimeError: application bug"
    store.close()


async def test_failures_are_remembered_per_message_and_bounded(smsc, make_link):
    """A message that recovers before its third try is forgotten; the failure map keeps at
    most max_entries messages (here 1: two failing messages evict each other's count)."""
    link = await make_link(smsc, SERVER)
    link._handler_failures.max_entries = 1
    fail = {"a": True, "b": True}

    async def handler(sms):
        if fail[sms.payload.decode()]:
            raise RuntimeError("not now")

    link.set_receiver(handler)
    sizes = []
    assert await _submit_raw(smsc.port, b"a", esm_class=0) == P.ESME_ROK
    assert await _submit_raw(smsc.port, b"b", esm_class=0) == P.ESME_ROK
    await until(lambda: sizes.append(len(link._handler_failures)) or link.deferred >= 6)
    assert max(sizes) == 1 and link.dead_lettered == 0
    fail["a"] = fail["b"] = False
    await until(lambda: smsc.stats.delivered == 2)
    assert link.dead_lettered == 0 and not link._handler_failures


async def test_the_gateways_smpp_link_writes_dead_letters_to_its_db(smsc, tmp_path):
    from lwm2m_sms import Gateway, GatewayConfig
    from smsc import SmppLinkConfig

    db = str(tmp_path / "server.sqlite")
    gateway = Gateway(GatewayConfig(udp=("127.0.0.1", 0), msisdn=SERVER, db=db, smpp_bind_timeout=10,
                                    smpp=SmppLinkConfig(port=smsc.port, system_id="lwm2m")))
    async with gateway:
        assert await _submit_raw(smsc.port, GARBAGE) == P.ESME_ROK
        await until(lambda: smsc.stats.delivered == 1, what="the gateway's link acknowledged it")
    store = DeadLetterStore(db)
    (row,) = store.list()
    assert row.bearer == "smpp lwm2m" and row.pdu_hex == GARBAGE.hex()
    store.close()


async def test_a_long_message_its_receiver_fails_on_is_kept_whole_and_its_parts_forgotten(smsc, make_link, tmp_path):
    db = str(tmp_path / "server.db")
    link = await make_link(smsc, SERVER, bearer={"dead_letters": db, "parts_db": db})
    calls = []

    async def failing(sms):
        calls.append(sms.payload)
        raise RuntimeError("application bug")

    link.set_receiver(failing)
    chunks = [b"first part ", b"second part ", b"third part"]
    for seq, chunk in enumerate(chunks, 1):  # UDH concatenation, reference 42, 3 parts
        assert await _submit_raw(smsc.port, bytes([5, 0, 3, 42, 3, seq]) + chunk) == P.ESME_ROK
    await until(lambda: smsc.stats.delivered == 3, what="every part acknowledged at last")
    assert calls == [b"".join(chunks)] * 3 and link.dead_lettered == 1
    assert len(link._reassembler) == 0 and link.part_store.count() == 0  # nothing held any more
    await link.close()
    store = DeadLetterStore(db)
    (row,) = store.list()
    assert row.payload == b"".join(chunks)
    assert row.reason == ("receiver failed 3 times (message of 3 parts, reference 42, payload kept): "
                          "RuntimeError: application bug")
    store.close()
