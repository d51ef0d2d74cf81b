"""What several nodes read and write in the store's rows (``lwm2m_sms/routing/fleet.py``),
on SQLite and on PostgreSQL (``store`` fixture): a taken location, registrations read in
one statement and by their stamps, a delete only of an unchanged row, the origin of a
queued request and the answer kept with its outcome."""

from __future__ import annotations

import pytest

from lwm2m_sms.store import LocationTaken, RequestState, Store

from .test_store import GET, reg


def test_a_location_another_endpoint_holds_is_refused(store: Store) -> None:
    store.registrations.put(reg("a", "same"))
    with pytest.raises(LocationTaken) as info:
        store.registrations.put(reg("b", "same"))
    assert info.value.location == "same" and store.registrations.get("b") is None
    store.registrations.put(reg("a", "same", lifetime=60))  # the holder itself: an update
    assert store.registrations.get("a").lifetime == 60  # type: ignore[union-attr]


def test_registrations_read_together_and_by_stamp(store: Store) -> None:
    for n in range(600):  # more than one statement's worth of parameters on SQLite
        store.registrations.put(reg(f"ep{n}"))
    wanted = [f"ep{n}" for n in range(0, 600, 2)] + ["nobody"]
    found = store.registrations.get_many(wanted)
    assert sorted(found) == sorted(wanted[:-1]) and found["ep4"] == reg("ep4")
    stamps = store.registrations.stamps()
    assert len(stamps) == 600 and stamps["ep1"] == ("loc-ep1", 300, 1001.25)


def test_only_an_unchanged_registration_is_deleted(store: Store) -> None:
    old = reg("a")
    store.registrations.put(old)
    store.registrations.put(reg("a", updated_at=2000.0))  # another node's Update
    assert not store.registrations.remove_unchanged(old)
    assert store.registrations.get("a") is not None
    assert store.registrations.remove_unchanged(reg("a", updated_at=2000.0))
    assert store.registrations.get("a") is None
    assert not store.registrations.remove_unchanged(old)  # gone: nothing to delete


def test_a_request_keeps_its_origin_and_its_whole_answer(store: Store) -> None:
    requests = store.requests
    made = requests.add("dev", "sms", GET, "/3/0/0", origin="node2")
    other = requests.add("dev", "sms", GET, "/3/0/1")
    assert made.origin == "node2" and requests.get(made.id).origin == "node2"  # type: ignore[union-attr]
    (taken,) = requests.take("node1", lease=660)
    assert taken.id == made.id and taken.origin == "node2"
    assert requests.finished([made.id, other.id]) == []
    assert requests.mark(made.id, RequestState.ANSWERED, response_code=69, owner="node1",
                         response_payload=b"\x00lwm2m", response_format=0)
    (done,) = requests.finished([made.id, other.id, 999_999])
    assert (done.id, done.state, done.response_code, done.response_payload, done.response_format) == (
        made.id, RequestState.ANSWERED, 69, b"\x00lwm2m", 0)
    assert requests.get(other.id).response_payload == b""  # type: ignore[union-attr]
    assert requests.finished([]) == []
