"""The part store's bounds and lifetime (review of issue 12): bearers sharing one file keep
their parts apart, the reference table stays bounded, a closed store's connection is
released and opened again on use, and a file written by the first version still opens."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
from lwm2m_sms.deadletters import DeadLetterStore
from lwm2m_sms.partstore import PartStore
from lwm2m_sms.sms.reassembly import part_key
from lwm2m_sms.sms.segmentation import split

SENDER = "+15550003333"


def test_two_bearers_in_one_file_never_touch_each_others_parts(tmp_path: Path) -> None:
    path = str(tmp_path / "gw.db")
    modem, smpp = PartStore(path, scope="modem"), PartStore(path, scope="smpp")
    ud = split(bytes(300), 9)[0]
    key = part_key(SENDER, ud)
    assert key is not None
    modem.add(key, ud, True)
    assert smpp.load(600.0) == [] and smpp.count() == 0
    smpp.delete([key])  # the same sender and reference in the other bearer: its own rows only
    assert modem.count() == 1 and [p.key for p in modem.load(600.0)] == [key]


def test_a_bearer_loads_only_its_own_scope(tmp_path: Path) -> None:
    path = str(tmp_path / "gw.db")
    PartStore(path, scope="smpp").add(("+15550004444", 9, 2), split(bytes(200), 9)[0], True)
    net = LoopbackNetwork()
    bearer = LoopbackBearer(net, "+15550001111", parts_db=path)
    assert bearer.part_store is not None and bearer.part_store.scope == "loopback"
    assert len(bearer._reassembler) == 0


def test_the_reference_table_is_bounded(tmp_path: Path) -> None:
    clock = iter(range(1, 10_000))
    store = PartStore(str(tmp_path / "gw.db"), max_reference_rows=10, wall_clock=lambda: float(next(clock)))
    for i in range(3000):
        store.save_reference(f"+1666{i:07d}", i % 256)
    (rows,) = store._db.execute("SELECT COUNT(*) FROM sms_references").fetchone()
    assert rows < 10 + 1024  # pruned every 1024 writes
    store.prune_references()
    (rows,) = store._db.execute("SELECT COUNT(*) FROM sms_references").fetchone()
    assert rows == 10
    assert store.load_reference("+16660002999") == 2999 % 256  # the most recent stay
    assert store.load_reference("+16660000000") is None  # the oldest went


async def test_close_releases_the_connection_and_a_restart_opens_it_again(tmp_path: Path) -> None:
    net = LoopbackNetwork()
    a = LoopbackBearer(net, "+15550001111", parts_db=str(tmp_path / "a.db"))
    b = LoopbackBearer(net, "+15550002222")
    got: list[bytes] = []

    async def rx(sms):  # type: ignore[no-untyped-def]
        got.append(sms.payload)

    b.set_receiver(rx)
    for bearer in (a, b):
        await bearer.start()
    await a.close()
    assert a.part_store is not None and a.part_store._conn is None
    await a.start()
    await a.send("+15550002222", bytes(400))  # a long message: takes a stored reference
    await net.drain()
    assert got == [bytes(400)]
    await a.close()
    await b.close()
    assert a.part_store._conn is None


def test_a_closed_dead_letter_store_opens_again(tmp_path: Path) -> None:
    store = DeadLetterStore(str(tmp_path / "gw.db"))
    store.add("modem x", "+CMT", "00", "garbage")
    store.close()
    assert store.count() == 1


def test_a_file_of_the_first_schema_opens_and_takes_parts(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE sms_parts (sender TEXT NOT NULL, reference INTEGER NOT NULL,"
        " total INTEGER NOT NULL, seq INTEGER NOT NULL, user_data BLOB NOT NULL,"
        " trusted INTEGER NOT NULL, received REAL NOT NULL, PRIMARY KEY (sender, reference, total, seq))"
    )
    db.execute("CREATE TABLE sms_references (destination TEXT PRIMARY KEY, next_reference INTEGER NOT NULL)")
    db.execute("INSERT INTO sms_references VALUES ('+15550002222', 17)")
    db.commit()
    db.close()
    store = PartStore(path, scope="modem")
    ud = split(bytes(300), 5)[0]
    key = part_key(SENDER, ud)
    assert key is not None
    store.add(key, ud, False)
    assert [p.key for p in store.load(600.0)] == [key]
    assert store.load_reference("+15550002222") == 17
    store.save_reference("+15550002222", 18)
    assert store.load_reference("+15550002222") == 18


def test_a_failed_delete_names_the_sender_and_reference(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    store = PartStore(str(tmp_path / "gw.db"), scope="modem")
    ud = split(bytes(300), 9)[0]
    key = part_key(SENDER, ud)
    assert key is not None
    store.add(key, ud, True)
    store._db.execute("PRAGMA query_only=ON")  # the file refuses writes
    store.delete([key])
    (line,) = [r.getMessage() for r in caplog.records if "not deleted" in r.getMessage()]
    assert f"{SENDER} reference 9" in line


def test_the_dead_letter_table_keeps_the_newest_max_entries(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    store = DeadLetterStore(str(tmp_path / "gw.db"), max_entries=3)
    ids = [store.add("modem x", f"SIM index {i}", f"{i:02X}", "garbage", i) for i in range(10)]
    assert store.count() == 3
    assert [d.id for d in store.list()] == ids[-3:]
    assert [d.storage_index for d in store.list()] == [7, 8, 9]
    assert sum("oldest dropped" in r.getMessage() for r in caplog.records) == 7
