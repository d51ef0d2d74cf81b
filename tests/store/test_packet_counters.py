"""Secured-packet counters in the store (``lwm2m_sms/store/counters.py``, schema step 6),
on SQLite and PostgreSQL: each sent counter taken once, a received one accepted only above
the stored one, a peer's first row seeded from its files; and on PostgreSQL, several
connections (nodes) taking and checking counters at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from lwm2m_sms.security.secured_packet import MAX_COUNTER, CounterPolicy, ResponseStatus
from lwm2m_sms.security.state import CounterStore, SharedCounters
from lwm2m_sms.store import Store, open_store

from .nodes import at_once

PEER = "+15550111"


def test_sent_counters_count_up_from_one_and_stop_at_the_limit(store: Store) -> None:
    table = store.packet_counters
    assert [table.take_sent(PEER, limit=MAX_COUNTER) for _ in range(3)] == [1, 2, 3]
    assert table.take_sent("+15550112", limit=MAX_COUNTER) == 1  # per peer
    assert table.take_sent(PEER, limit=4) == 4
    assert table.take_sent(PEER, limit=4) is None  # exhausted: nothing changed
    assert table.get(PEER) == (4, None)


@pytest.mark.parametrize("policy", [CounterPolicy.HIGHER, CounterPolicy.ONE_HIGHER])
def test_a_received_counter_not_above_the_stored_one_is_refused(store: Store, policy: CounterPolicy) -> None:
    ledger = SharedCounters(store.packet_counters).ledger(PEER)
    assert ledger.accept(policy, 1) is None
    assert ledger.accept(policy, 1) == ResponseStatus.CNTR_LOW  # the same packet again
    assert ledger.accept(policy, 2) is None
    if policy == CounterPolicy.ONE_HIGHER:
        assert ledger.accept(policy, 4) == ResponseStatus.CNTR_HIGH
        assert store.packet_counters.get(PEER) == (0, 2)
    else:
        assert ledger.accept(policy, 9) is None and ledger.accept(policy, 5) == ResponseStatus.CNTR_LOW
        assert store.packet_counters.get(PEER) == (0, 9)
    # the sent counter is another column: taking one leaves the received one alone
    assert ledger.take_sent() == 1 and store.packet_counters.get(PEER)[1] in (2, 9)  # type: ignore[index]


def test_unchecked_policies_record_without_refusing(store: Store) -> None:
    ledger = SharedCounters(store.packet_counters).ledger(PEER)
    assert ledger.accept(CounterPolicy.NONE, 7) is None and store.packet_counters.get(PEER) is None
    assert ledger.accept(CounterPolicy.AVAILABLE, 7) is None and ledger.accept(CounterPolicy.AVAILABLE, 3) is None
    assert store.packet_counters.get(PEER) == (0, 3)


def test_a_peer_new_to_the_store_starts_from_its_files(store: Store, tmp_path: Path) -> None:
    files = CounterStore(tmp_path)
    files.save(PEER, 41, 17)
    ledger = SharedCounters(store.packet_counters, seed=files).ledger(PEER)
    assert ledger.accept(CounterPolicy.HIGHER, 17) == ResponseStatus.CNTR_LOW  # seen before the move
    assert ledger.take_sent() == 42 and ledger.accept(CounterPolicy.HIGHER, 18) is None
    files.save(PEER, 0, None)  # the files no longer count once the row exists
    assert SharedCounters(store.packet_counters, seed=files).ledger(PEER).take_sent() == 43


def test_nodes_taking_counters_at_once_never_get_the_same_one(pg_url: str) -> None:
    open_store(pg_url).close()  # migrated once
    stores = [open_store(pg_url) for _ in range(4)]
    try:
        taken = at_once(4, lambda i: [stores[i].packet_counters.take_sent(PEER, limit=MAX_COUNTER)
                                       for _ in range(50)])
        flat = [c for got in taken for c in got]
        assert sorted(flat) == list(range(1, 201))  # each once, none skipped
        assert all(got == sorted(got) for got in taken)  # rising on each node
    finally:
        for s in stores:
            s.close()


def test_one_packet_delivered_to_every_node_at_once_is_accepted_once(pg_url: str) -> None:
    open_store(pg_url).close()
    stores = [open_store(pg_url) for _ in range(4)]
    try:
        for counter in range(1, 21):  # the first packet creates the row: the racy case too
            ledgers = [SharedCounters(s.packet_counters).ledger(PEER) for s in stores]
            verdicts = at_once(4, lambda i: ledgers[i].accept(CounterPolicy.HIGHER, counter))
            assert verdicts.count(None) == 1, (counter, verdicts)
            assert set(verdicts) == {None, ResponseStatus.CNTR_LOW}
    finally:
        for s in stores:
            s.close()


def test_files_of_a_node_that_comes_second_still_count(store: Store, tmp_path: Path) -> None:
    # Node B (no files) speaks to the peer first and makes its row; node A used files alone
    # before: its counters must still count, or A's old packets are accepted again and the
    # counters it sent are sent again.
    assert SharedCounters(store.packet_counters).ledger(PEER).take_sent() == 1  # node B
    files = CounterStore(tmp_path)
    files.save(PEER, 41, 17)
    ledger = SharedCounters(store.packet_counters, seed=files).ledger(PEER)  # node A
    assert ledger.accept(CounterPolicy.HIGHER, 17) == ResponseStatus.CNTR_LOW  # a replay of before
    assert ledger.take_sent() == 42
    assert SharedCounters(store.packet_counters).ledger(PEER).accept(CounterPolicy.HIGHER, 12) == ResponseStatus.CNTR_LOW


def test_files_that_could_not_be_brought_in_are_tried_again(store: Store, tmp_path: Path, monkeypatch) -> None:
    # The store fails the first time the files are brought in (a connection lost): the
    # next use tries again instead of going on without them.
    from lwm2m_sms.store import StoreError

    files = CounterStore(tmp_path)
    files.save(PEER, 41, 17)
    table = store.packet_counters
    SharedCounters(table).ledger(PEER).take_sent()  # another node made the row
    real = table.raise_to
    failures = [StoreError("test", "connection lost")]

    def raise_to(peer: str, seed: tuple[int, int | None]) -> None:
        if failures:
            raise failures.pop()
        real(peer, seed)

    monkeypatch.setattr(table, "raise_to", raise_to)
    ledger = SharedCounters(table, seed=files).ledger(PEER)
    with pytest.raises(StoreError):
        ledger.take_sent()
    assert ledger.accept(CounterPolicy.HIGHER, 17) == ResponseStatus.CNTR_LOW
    assert ledger.take_sent() == 42
