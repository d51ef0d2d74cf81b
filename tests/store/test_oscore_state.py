"""OSCORE's sequence numbers and replay windows in the store (``lwm2m_sms/store/oscore.py``,
``lwm2m_sms/security/oscore_shared.py``), on SQLite and PostgreSQL: reserved numbers are
never handed out twice, an accepted number is refused again (by any node), the window's
rows stay bounded; two nodes' copies of one context protect with distinct sequence numbers
and refuse each other's replays; and on PostgreSQL, several connections at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiocoap import CON, POST, Message
from aiocoap.message import Direction
from aiocoap.oscore import ReplayError

from lwm2m_sms.security.oscore import OscoreContexts, load_context, release_context, write_context
from lwm2m_sms.security.oscore_shared import SharedReplayWindow
from lwm2m_sms.security.policy import OscoreKeys
from lwm2m_sms.store import Store, open_store

from .nodes import at_once

DEVICE = "+15550111"
KEYS = OscoreKeys(sender_id=b"\x01", recipient_id=b"", master_secret=bytes(range(16)))  # the device's view
CTX = "+15550111/abc"
LIMIT = 2**40 - 1


def test_reserved_numbers_are_handed_out_once(store: Store) -> None:
    table = store.oscore
    assert table.reserve(CTX, 1, limit=LIMIT) is None  # no row yet
    table.open(CTX, next_to_send=5, high=-1, seen=[])
    assert [table.reserve(CTX, 1, limit=LIMIT) for _ in range(3)] == [5, 6, 7]
    assert table.reserve(CTX, 10, limit=LIMIT) == 8 and table.reserve(CTX, 1, limit=LIMIT) == 18
    table.open(CTX, next_to_send=100, high=None, seen=[1])  # a copy used alone before: numbers raised
    table.open(CTX, next_to_send=3, high=None, seen=[])  # an older copy: nothing lowered
    assert table.reserve(CTX, 1, limit=LIMIT) == 100
    assert table.reserve(CTX, 1, limit=101) is None  # exhausted


def test_an_accepted_number_is_a_replay_and_the_window_stays_bounded(store: Store) -> None:
    table = store.oscore
    table.open(CTX, next_to_send=0, high=-1, seen=[])
    assert table.accept(CTX, 0, window=4) == 0
    assert table.accept(CTX, 0, window=4) is None  # replay
    assert table.accept(CTX, 2, window=4) == 2 and table.accept(CTX, 1, window=4) == 2  # out of order: fine
    assert table.accept(CTX, 9, window=4) == 9
    assert table.accept(CTX, 5, window=4) is None  # below the window: too old to tell
    assert table.accept(CTX, 7, window=4) == 9 and table.accept(CTX, 7, window=4) is None
    for n in range(10, 200):
        table.accept(CTX, n, window=4)
    assert table.state(CTX) == (0, 199, [196, 197, 198, 199])  # a window's worth of rows


def test_a_window_whose_state_was_lost_starts_from_the_first_fresh_number(store: Store) -> None:
    table = store.oscore
    table.open(CTX, next_to_send=0, high=None, seen=[])  # "unknown" in sequence.json
    assert table.accept(CTX, 40, window=32) == 40 and table.accept(CTX, 40, window=32) is None


def test_the_window_of_a_copy_that_comes_second_still_counts(store: Store) -> None:
    # Node B (a fresh copy) made the row first; node A used its copy alone before and
    # accepted up to 40: those requests are replays on every node.
    table = store.oscore
    table.open(CTX, next_to_send=0, high=-1, seen=[])  # node B
    table.open(CTX, next_to_send=50, high=40, seen=[37, 38, 40])  # node A
    assert table.accept(CTX, 40, window=4) is None and table.accept(CTX, 38, window=4) is None
    assert table.accept(CTX, 12, window=4) is None  # below A's window: too old to tell
    assert table.accept(CTX, 39, window=4) == 40  # never seen, in the window
    assert table.reserve(CTX, 1, limit=LIMIT) == 50
    table.open(CTX, next_to_send=0, high=-1, seen=[])  # a fresh copy again: nothing lowered
    assert table.state(CTX) == (51, 40, [37, 38, 39, 40])


def _protected(device: Any, payload: bytes = b"</1/0>") -> bytes:
    """An OSCORE-protected request from the device, on the wire."""
    request = Message(code=POST, uri_path=["rd"], payload=payload)
    request.direction = Direction.OUTGOING
    protected, _ = device.protect(request)
    protected.mtype, protected.mid = CON, 1
    return bytes(protected.encode())


def _copy(wire: bytes) -> Message:
    """The request as a node receives it."""
    received = Message.decode(wire)
    received.direction = Direction.INCOMING
    return received


def test_two_nodes_copies_of_one_context_share_its_numbers_and_window(store: Store, tmp_path: Path) -> None:
    write_context(tmp_path / "device", KEYS)
    device = load_context(tmp_path / "device")
    nodes = [OscoreContexts(tmp_path / f"node{i}", shared=store.oscore) for i in (1, 2)]
    for n in nodes:
        n.provision(DEVICE, KEYS.swapped())  # the same keys on every node, from one configuration
    first, second = (n.get(DEVICE) for n in nodes)
    try:
        taken = [(first, second)[i % 3 % 2].new_sequence_number() for i in range(12)]
        assert taken == list(range(12))  # each number once, rising in the order they were taken

        request = _protected(device)
        unprotected, _ = first.unprotect(_copy(request))
        assert unprotected.payload == b"</1/0>"
        with pytest.raises(ReplayError):
            second.unprotect(_copy(request))  # the same request at the other node
        with pytest.raises(ReplayError):
            first.unprotect(_copy(request))
        assert (first.recipient_replay_window.accepted, second.recipient_replay_window.refused) == (1, 1)
        later = _protected(device, b"later")
        assert second.unprotect(_copy(later))[0].payload == b"later"
    finally:
        for n in nodes:
            n.release()
        release_context(device)
    # released: the node's files say what it reserved, so a node alone never goes back
    alone = load_context(tmp_path / "node1" / DEVICE.lstrip("+"))
    assert alone.sender_sequence_number >= 12
    release_context(alone)
    # a node that starts again goes on where the store is, its window included
    again = OscoreContexts(tmp_path / "node1", shared=store.oscore)
    try:
        assert again.get(DEVICE).new_sequence_number() == 12
        with pytest.raises(ReplayError):
            again.get(DEVICE).unprotect(_copy(later))
    finally:
        again.release()


def test_the_aiocoap_internals_the_shared_context_relies_on(store: Store, tmp_path: Path) -> None:
    """SharedSecurityContext subclasses aiocoap's FilesystemSecurityContext and replaces
    parts of it by name (new_sequence_number, _store, post_seqnoincrease, the replay
    window object) and reads its files' window (ReplayWindow._size and persist()). An
    aiocoap that renames or bypasses one of them would reuse nonces across nodes or
    accept replays without an error: this test fails loudly instead."""
    import json

    from aiocoap.oscore import FilesystemSecurityContext, ReplayWindow

    from lwm2m_sms.security.oscore_shared import SharedSecurityContext

    for name in ("new_sequence_number", "post_seqnoincrease", "_replay_window_changed", "_store", "_destroy"):
        assert callable(getattr(FilesystemSecurityContext, name, None)), name
    files = ReplayWindow(32, lambda: None)
    files.initialize_from_persisted({"index": 3, "bitfield": 5})
    assert files._size == 32 and files.persist() == {"index": 3, "bitfield": 5}

    # A node's copy that has used the context alone: its window (index 10, 10 and 12 seen)
    # and its next number come into the store.
    node = tmp_path / "node"
    write_context(node, KEYS.swapped())
    (node / "sequence.json").write_text(json.dumps({"next-to-send": 7, "received": {"index": 10, "bitfield": 5}}))
    ctx = SharedSecurityContext(str(node), store.oscore, DEVICE)
    try:
        assert store.oscore.state(ctx.name) == (7, 12, list(range(0, 11)) + [12])
        # aiocoap's protect takes its partial IV from new_sequence_number: from the store
        ivs = []
        for _ in range(3):
            request = Message(code=POST, uri_path=["3", "0"])
            request.direction = Direction.OUTGOING
            _, request_id = ctx.protect(request)
            ivs.append(int.from_bytes(request_id.partial_iv, "big"))
        assert ivs == [7, 8, 9] and store.oscore.state(ctx.name)[0] == 10  # type: ignore[index]
        # aiocoap's unprotect asks the replay window the store decides for
        assert isinstance(ctx.recipient_replay_window, SharedReplayWindow)
    finally:
        release_context(ctx)  # aiocoap's _destroy, through our _store
    assert json.loads((node / "sequence.json").read_text()) == {"next-to-send": 10, "received": "unknown"}


def test_a_released_context_never_lowers_its_files_next_number(store: Store, tmp_path: Path) -> None:
    # A copy used alone up to 7 that this node loads and releases without sending: its
    # files must still say 7 (a database restored from a backup, or the copy used alone
    # again, would otherwise protect with 0..6 a second time: nonce reuse).
    import json

    from lwm2m_sms.security.oscore_shared import SharedSecurityContext

    node = tmp_path / "node"
    write_context(node, KEYS.swapped())
    (node / "sequence.json").write_text(json.dumps({"next-to-send": 7, "received": "unknown"}))
    release_context(SharedSecurityContext(str(node), store.oscore, DEVICE))
    assert json.loads((node / "sequence.json").read_text())["next-to-send"] == 7


def test_nodes_reserving_and_accepting_at_once(pg_url: str) -> None:
    open_store(pg_url).close()
    stores = [open_store(pg_url) for _ in range(4)]
    try:
        stores[0].oscore.open(CTX, next_to_send=0, high=-1, seen=[])
        taken = at_once(4, lambda i: [stores[i].oscore.reserve(CTX, 1, limit=LIMIT) for _ in range(50)])
        assert sorted(n for got in taken for n in got) == list(range(200))
        for seqno in range(30):  # one request delivered to every node at once: accepted once
            verdicts = at_once(4, lambda i: stores[i].oscore.accept(CTX, seqno, window=32))
            assert sum(v is not None for v in verdicts) == 1, (seqno, verdicts)
    finally:
        for s in stores:
            s.close()
