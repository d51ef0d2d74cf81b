"""Sans-IO routing: the bindings table, presence, the persistent queue and the trust rule."""

import pytest

from lwm2m_sms.routing.binding import BINDINGS, Binding, BindingError, Route, Transport, decide
from lwm2m_sms.routing.presence import Presence
from lwm2m_sms.routing.queue import RequestQueue, RequestState
from lwm2m_sms.routing.trust import TrustPolicy
from lwm2m_sms.sms.address import parse_msisdn

UDP, SMS = Transport.UDP, Transport.SMS


@pytest.mark.parametrize(
    "binding, online, prefer, expected",
    [
        ("U", False, None, Route(UDP, True)),
        ("UQ", False, None, Route(UDP, False)),
        ("UQ", True, None, Route(UDP, True)),
        ("S", False, None, Route(SMS, True)),
        ("SQ", False, None, Route(SMS, False)),
        ("SQ", True, None, Route(SMS, True)),
        ("US", False, None, Route(UDP, True)),
        ("US", False, SMS, Route(SMS, True)),
        ("UQS", False, None, Route(UDP, False, wake_up=True)),
        ("UQS", True, None, Route(UDP, True)),
        ("UQS", False, SMS, Route(SMS, True)),
    ],
)
def test_bindings_table(binding, online, prefer, expected):
    assert decide(Binding.parse(binding), online=online, prefer=prefer) == expected


@pytest.mark.parametrize("bad", ["UQSQ", "USQ", "UQT", "T", "", "u", None])
def test_other_binding_values_are_refused(bad):
    with pytest.raises(BindingError):
        Binding.parse(bad)


def test_a_transport_the_binding_lacks_is_refused():
    with pytest.raises(BindingError, match="no SMS"):
        decide(BINDINGS["UQ"], online=True, prefer=SMS)
    with pytest.raises(BindingError, match="no UDP"):
        decide(BINDINGS["SQ"], online=True, prefer=UDP)


def test_presence_window_restarts_with_each_message():
    p = Presence(window=10)
    assert not p.online("ep", 0)
    assert p.seen("ep", 0) is True  # woke up
    assert p.online("ep", 9.9)
    assert p.seen("ep", 9) is False  # still online; window restarts
    assert p.online("ep", 18.9) and not p.online("ep", 19.0)
    p.asleep("ep")
    assert not p.online("ep", 10)


def test_queue_survives_reopen_and_keeps_order(tmp_path):
    db = str(tmp_path / "q.sqlite")
    q = RequestQueue(db)
    a = q.add("ep1", UDP, 1, "/3/0", now=0)
    b = q.add("ep1", UDP, 3, "/1/0/1", payload=b"\x01", content_format=0, now=1)
    q.add("ep2", SMS, 1, "/3/0", now=2, ttl=5)
    q.mark(a.id, RequestState.SENT)
    q.close()
    q = RequestQueue(db)  # a restart: the GET that was on the wire is queued again
    assert [r.path for r in q.pending("ep1")] == ["/3/0", "/1/0/1"]
    assert q.get(b.id).payload == b"\x01" and q.get(b.id).content_format == 0
    assert q.endpoints_waiting() == {"ep1", "ep2"}
    expired = q.expire(now=7)
    assert [r.endpoint for r in expired] == ["ep2"] and q.pending("ep2") == []
    assert q.counts() == {"queued": 2, "expired": 1}


def test_an_execute_on_the_wire_at_a_crash_is_not_sent_twice(tmp_path):
    db = str(tmp_path / "q.sqlite")
    q = RequestQueue(db)
    e = q.add("ep", UDP, 2, "/1/0/8", now=0)
    q.mark(e.id, RequestState.SENT)
    q.close()
    q = RequestQueue(db)
    assert q.pending("ep") == [] and q.get(e.id).state is RequestState.FAILED


def test_trust_rule():
    t = TrustPolicy()
    me, other = parse_msisdn("+15550001"), parse_msisdn("+15550002")
    assert t.accept_sms(me, is_register=True)
    assert not t.accept_sms(me, is_register=False)  # nobody registered with this number
    assert t.register_refusal(me, other) is not None  # spoof: sms= names another number
    assert t.register_refusal(me, None) is None and t.register_refusal(me, me) is None
    t.directory.bind("ep", me)
    assert t.accept_sms(me, is_register=False)
    assert t.location_refusal(other, "ep") is not None and t.location_refusal(me, "ep") is None
    assert t.stats.dropped_unknown_sender == 1 and t.stats.refused_register == 1
    allow = TrustPolicy(register_allow_list=frozenset({other}))
    assert not allow.accept_sms(me, is_register=True) and allow.accept_sms(other, is_register=True)
