"""The link's sending state without sockets or sleeps: the window, throughput, back-off on
throttling, retries, drops, validity and receipts, driven by numbers for time."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc import pdu as P
from smsc.receipt import Receipt
from smsc.submit_window import Outgoing, Part, SubmitWindow


class Outcome:
    def __init__(self, message_id="m"):
        self.message_id = message_id
        self.state = None
        self.detail = ""

    def resolve(self, state, detail=""):
        if self.state is None:
            self.state, self.detail = state, detail


def make(**kw):
    finished = []
    w = SubmitWindow(states=("SUBMITTED", "DELIVERED", "FAILED"), finished=finished.append, **kw)
    seq = itertools.count(1)
    return w, finished, lambda: next(seq)


def message(w, parts=1, report=False, expires=float("inf"), now=0.0):
    out = Outcome()
    msg = Outgoing(out, 1, parts, report, now, expires)
    w.add([Part(msg, P.ShortMessage(destination_addr="1", short_message=b"part%d" % i).body())
           for i in range(parts)])
    return msg, out


def seqs(pdus):
    return [P.decode(p).sequence for p in pdus]


def test_window_limits_what_is_in_flight():
    w, finished, seq = make(window=2)
    _, out = message(w, parts=3)
    first = w.take(0.0, seq)
    assert seqs(first) == [1, 2] and w.take(0.0, seq) == [] and w.wake_at(0.0) is None
    w.on_resp(1, P.ESME_ROK, "a", 0.1)
    assert seqs(w.take(0.1, seq)) == [3]
    w.on_resp(2, P.ESME_ROK, "b", 0.2)
    w.on_resp(3, P.ESME_ROK, "c", 0.2)
    assert out.state == "SUBMITTED" and len(finished) == 1


def test_throughput_spaces_the_submits():
    w, _, seq = make(throughput=10.0)
    message(w, parts=3)
    assert len(w.take(0.0, seq)) == 1
    assert w.wake_at(0.0) == 0.1 and w.take(0.05, seq) == []
    assert len(w.take(0.1, seq)) == 1


def test_throttling_pauses_with_doubling_backoff_and_resends_in_order():
    w, _, seq = make(backoff_min=1.0, backoff_max=4.0)
    _, out = message(w, parts=2)
    w.take(0.0, seq)
    w.on_resp(1, P.ESME_RTHROTTLED, "", 0.1)
    w.on_resp(2, P.ESME_RTHROTTLED, "", 0.1)  # sent before the pause: no second doubling
    assert w.throttled == 2 and w.take(0.5, seq) == [] and w.wake_at(0.5) == 1.1
    again = w.take(1.1, seq)
    assert [P.decode(p).short_message for p in again] == [b"part0", b"part1"] and seqs(again) == [3, 4]
    w.on_resp(3, P.ESME_RTHROTTLED, "", 1.2)  # sent after the pause began: 2 s now
    assert w.wake_at(1.2) == 3.2
    w.on_resp(4, P.ESME_ROK, "x", 1.2)
    w.take(3.2, seq)
    w.on_resp(5, P.ESME_ROK, "y", 3.3)
    assert out.state == "SUBMITTED"


def test_temporary_errors_are_retried_then_fail():
    w, finished, seq = make(backoff_min=1.0, max_attempts=2)
    _, out = message(w)
    w.take(0.0, seq)
    w.on_resp(1, P.ESME_RSYSERR, "", 0.0)
    assert w.take(0.5, seq) == [] and w.wake_at(0.5) == 1.0
    assert seqs(w.take(1.0, seq)) == [2]
    w.on_resp(2, P.ESME_RSYSERR, "", 1.0)
    assert out.state == "FAILED" and out.detail == "ESME_RSYSERR" and finished


def test_permanent_error_and_generic_nack_fail_the_message():
    w, _, seq = make()
    _, a = message(w)
    _, b = message(w)
    w.take(0.0, seq)
    w.on_resp(1, P.ESME_RINVDSTADR, "", 0.0)
    w.on_resp(2, P.ESME_RINVCMDID, "", 0.0, nack=True)
    assert (a.state, a.detail) == ("FAILED", "ESME_RINVDSTADR")
    assert (b.state, b.detail) == ("FAILED", "generic_nack ESME_RINVCMDID")


def test_a_drop_charges_the_oldest_part_and_it_fails_alone():
    w, _, seq = make(max_attempts=3)
    _, poison = message(w)
    _, good = message(w)
    for attempt in range(3):
        sent = w.take(float(attempt), seq)
        assert len(sent) == (2 if attempt < 3 else 1)
        w.connection_lost()  # the SMSC closes on the poison each time
    assert poison.state == "FAILED" and "connection lost 3 times" in poison.detail
    (last,) = w.take(3.0, seq)
    w.on_resp(P.decode(last).sequence, P.ESME_ROK, "z", 3.0)
    assert good.state == "SUBMITTED"


def test_validity_ends_before_submission():
    w, _, seq = make(window=1)
    _, first = message(w)
    _, late = message(w, expires=1000.0)
    w.take(0.0, seq)  # only the first fits the window
    assert w.tick(5.0, wall=999.0) is False and late.state is None
    w.tick(6.0, wall=1000.0)
    assert late.state == "FAILED" and "validity" in late.detail


def test_response_timeout_is_reported():
    w, _, seq = make(response_timeout=10.0)
    message(w)
    w.take(0.0, seq)
    assert w.tick(9.0, 0.0) is False and w.tick(10.5, 0.0) is True


def test_receipts_resolve_delivered_or_failed_even_when_early():
    w, _, seq = make()
    _, ok = message(w, parts=2, report=True)
    _, bad = message(w, report=True)
    w.take(0.0, seq)
    w.on_receipt(Receipt("id1", "DELIVRD"))  # before its resp (a transmitter/receiver pair)
    w.on_resp(1, P.ESME_ROK, "id1", 0.1)
    w.on_resp(2, P.ESME_ROK, "id2", 0.1)
    w.on_resp(3, P.ESME_ROK, "id3", 0.1)
    assert ok.state is None
    w.on_receipt(Receipt("id2", "DELIVRD"))
    w.on_receipt(Receipt("id3", "UNDELIV", "001"))
    assert ok.state == "DELIVERED" and (bad.state, bad.detail) == ("FAILED", "delivery receipt stat:UNDELIV err:001")


def test_no_receipt_in_time_fails():
    w, _, seq = make(receipt_timeout=60.0)
    _, out = message(w, report=True)
    w.take(0.0, seq)
    w.on_resp(1, P.ESME_ROK, "id1", 0.0)
    w.tick(30.0, 0.0)
    assert out.state is None
    w.tick(61.0, 0.0)
    assert out.state == "FAILED" and "no delivery receipt" in out.detail


_EVENTS = st.lists(st.one_of(
    st.tuples(st.just("resp"), st.sampled_from([P.ESME_ROK, P.ESME_RTHROTTLED, P.ESME_RSYSERR, P.ESME_RINVDSTADR])),
    st.tuples(st.just("lost"), st.just(0)),
    st.tuples(st.just("time"), st.integers(0, 5)),
), max_size=60)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 5), st.integers(1, 4), _EVENTS)
def test_window_invariants_under_any_sequence(window, n_messages, events):
    w, finished, seq = make(window=window, backoff_min=0.5, backoff_max=2.0, max_attempts=3)
    outs = [message(w, parts=2)[1] for _ in range(n_messages)]
    now = 0.0
    for kind, value in events:
        w.take(now, seq)
        assert len(w.inflight) <= window
        if kind == "resp" and w.inflight:
            w.on_resp(min(w.inflight), value, f"id{min(w.inflight)}", now)
        elif kind == "lost":
            w.connection_lost()
        else:
            now += value
    # drain: answer everything OK until nothing is left
    for _ in range(200):
        now += 3.0
        w.take(now, seq)
        if not w.inflight and not w.pending():
            break
        for s in list(w.inflight):
            w.on_resp(s, P.ESME_ROK, f"id{s}", now)
    assert all(o.state in ("SUBMITTED", "FAILED") for o in outs)
    assert not w.inflight and not w.pending()
