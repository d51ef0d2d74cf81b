"""What the operator interface reads from the request queue, on both backends: each
request's changes of state as they happen (listeners), and a device's history."""

from lwm2m_sms.routing.binding import Transport
from lwm2m_sms.routing.queue import RequestQueue
from lwm2m_sms.store import RequestState

GET, POST = 1, 2


def test_listeners_see_every_change_and_history_is_newest_first(store, clock):
    queue = RequestQueue(store)
    seen = []
    queue.listeners.append(lambda entry: seen.append((entry.id, entry.state.value)))
    queue.listeners.append(lambda entry: 1 / 0)  # a broken listener does not stop the queue
    now = clock()
    a = queue.add("dev", Transport.SMS, GET, "/3/0/0", now=now, ttl=60)
    b = queue.add("dev", Transport.SMS, POST, "/3/0/4", now=now, ttl=60)
    queue.add("other", Transport.UDP, GET, "/3/0/0", now=now, ttl=60)
    taken = queue.take("dev", now)
    assert taken is not None and taken.id == a.id
    queue.mark(a.id, RequestState.SENT, transport=Transport.SMS)
    queue.mark(a.id, RequestState.ANSWERED, response_code=69, taken=True)
    expired = queue.expire(now + 61)
    assert sorted(e.id for e in expired if e.endpoint == "dev") == [b.id]
    assert seen[:2] == [(a.id, "queued"), (b.id, "queued")]
    assert (a.id, "sent") in seen and (a.id, "answered") in seen and (b.id, "expired") in seen
    history = queue.history("dev", limit=10)
    assert [(r.id, r.state.value) for r in history] == [(b.id, "expired"), (a.id, "answered")]
    assert [r.id for r in queue.history("dev", limit=1)] == [b.id]
