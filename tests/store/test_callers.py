"""The callers' codecs on each store: registrations (lwm2m/store.py) and queued requests
(routing/queue.py) keep their values through the store's plain records."""

from __future__ import annotations

from lwm2m_sms.lwm2m import linkformat
from lwm2m_sms.lwm2m.registration import Registration
from lwm2m_sms.lwm2m.store import StoredRegistrationStore
from lwm2m_sms.routing.binding import Transport
from lwm2m_sms.routing.queue import RequestQueue, RequestState
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.store import open_store

POST, GET = 2, 1


def test_registration_round_trip(store_url: str) -> None:
    reg = Registration(
        endpoint="dev-1", location="a1b2", lifetime=600, version="1.0", binding="UQS",
        sms=parse_msisdn("+15550101"), objects=tuple(linkformat.parse('</1/0>,</3/0>,</5>')),
        remote_uri="coap://127.0.0.1:5700", registered_at=10.5, updated_at=20.25, root_path="/",
    )
    regs = StoredRegistrationStore(open_store(store_url))
    regs.put(reg)
    regs.close()
    again = StoredRegistrationStore(open_store(store_url))
    try:
        assert again.get("dev-1") == reg and again.by_location("a1b2") == reg
        assert again.remove("dev-1") == reg
    finally:
        again.close()
    empty = StoredRegistrationStore(open_store(store_url))
    assert len(empty) == 0
    empty.close()


def test_a_row_this_code_cannot_use_is_skipped(store_url: str) -> None:
    store = open_store(store_url)
    store.db.execute(
        "INSERT INTO registrations (endpoint, location, lifetime, version, binding, sms, objects,"
        " root_path, remote_uri, registered_at, updated_at)"
        " VALUES ('bad', 'x', 60, '1.0', 'S', 'not a number', '</3/0>', '/', 'coap+sms://+1', 0, 0)"
    )
    regs = StoredRegistrationStore(store)
    try:
        assert regs.get("bad") is None and len(regs) == 0
    finally:
        regs.close()


def test_queue_take_and_lease_end(store_url: str) -> None:
    a = RequestQueue(store_url, owner="node-a", lease=30)
    b = RequestQueue(store_url, owner="node-b", lease=30)
    try:
        execute = a.add("ep", Transport.SMS, POST, "/1/0/8", now=100)
        read = a.add("ep", Transport.UDP, GET, "/3/0", query=("x",), now=100)
        taken = a.take("ep", now=100)
        assert taken is not None and (taken.id, taken.transport, taken.state) == (
            execute.id, Transport.SMS, RequestState.SENT)
        assert b.take("ep", now=110) is None  # node-a's Execute is in flight
        # node-a dies; after its lease the Execute is reported, the Read goes via node-b.
        (failed,) = b.expire(now=131)
        assert (failed.id, failed.state) == (execute.id, RequestState.FAILED)
        got = b.take("ep", now=131)
        assert got is not None and (got.id, got.query) == (read.id, ("x",))
        assert b.mark(got.id, RequestState.ANSWERED, response_code=69, taken=True)
        assert b.counts() == {"failed": 1, "answered": 1}
    finally:
        a.close()
        b.close()
