"""The SMSC's protocol state without sockets or sleeps: PDUs in as bytes, bytes out through a
fake transport, time from a fake clock. Windows, retries with back-off, expiry, receipts,
back-pressure."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from smsc import pdu as P
from smsc.config import SmscConfig
from smsc.smsc_connection import SmscConnection
from smsc.smsc_core import SmscCore


class FakeClock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


class FakeTransport:
    def __init__(self):
        self.data = bytearray()
        self.buffered = 0
        self.stuck = False  # the peer reads nothing: what is written stays buffered
        self.reading = True
        self.closed = False

    def write(self, data):
        self.data += data
        if self.stuck:
            self.buffered += len(data)

    def get_write_buffer_size(self):
        return self.buffered

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        self.reading = False

    def resume_reading(self):
        self.reading = True

    def close(self):
        self.closed = True

    def abort(self):
        self.closed = True

    def pdus(self):
        """Every PDU written since the last call."""
        out, buf, pos = [], bytes(self.data), 0
        while pos + 16 <= len(buf):
            (length,) = struct.unpack_from(">L", buf, pos)
            out.append(P.decode(buf[pos : pos + length]))
            pos += length
        del self.data[:pos]
        return out


def rig(**config):
    wall, mono = FakeClock(), FakeClock(100.0)
    later = []
    core = SmscCore(SmscConfig(open=True, retry_min=1.0, retry_max=8.0, **config), clock=wall, monotonic=mono)

    def connect(system_id, command=P.BIND_TRANSCEIVER, address_range=""):
        t = FakeTransport()
        conn = SmscConnection(core, t, later.append, system_id)
        conn.data_received(P.Bind(command, 1, 0, system_id, "", "", 0x34, 1, 1, address_range).encode())
        (resp,) = t.pdus()
        assert resp.status == P.ESME_ROK
        return conn, t

    return core, wall, mono, connect, later


def submit(conn, seq, dest, data=b"hi", dlr=0, validity=""):
    conn.data_received(P.ShortMessage(P.SUBMIT_SM, seq, 0, "", 1, 1, "15550001", 1, 1, dest,
                                      0, 0, 0, "", validity, dlr, 0, 4, 0, data).encode())


def test_window_retry_backoff_and_receipt():
    core, wall, mono, connect, _ = rig(deliver_window=2, deliver_timeout=5.0)
    a, ta = connect("a", address_range="15550001")
    b, tb = connect("b", address_range="15550002")
    for seq in (2, 3, 4):
        submit(a, seq, "15550002", b"m%d" % seq, dlr=1)
    assert [p.status for p in ta.pdus()] == [0, 0, 0]
    first = tb.pdus()
    assert [p.short_message for p in first] == [b"m2", b"m3"]  # the window holds two
    # b acknowledges the first only; the second times out
    b.data_received(P.MessageIdResp(P.DELIVER_SM_RESP, first[0].sequence).encode())
    (third,) = tb.pdus()
    assert third.short_message == b"m4"
    (receipt,) = ta.pdus()
    assert receipt.esm_class == P.ESM_DELIVERY_RECEIPT and b"stat:DELIVRD" in receipt.short_message
    a.data_received(P.MessageIdResp(P.DELIVER_SM_RESP, receipt.sequence).encode())
    b.data_received(P.MessageIdResp(P.DELIVER_SM_RESP, third.sequence).encode())
    mono.t += 5.5
    core.tick()  # m3 had no resp in 5 s: back to waiting, retried after retry_min
    assert tb.pdus() == []
    mono.t += 1.0
    core.tick()
    (again,) = tb.pdus()
    assert again.short_message == b"m3" and core.stats.redelivered == 0
    b.data_received(P.MessageIdResp(P.DELIVER_SM_RESP, again.sequence).encode())
    assert core.stats.delivered == 3 and core.stats.redelivered == 1


def test_no_route_waits_then_expires_with_a_receipt():
    core, wall, mono, connect, _ = rig()
    a, ta = connect("a", address_range="15550001")
    submit(a, 2, "15550009", dlr=1, validity="000000000100000R")  # one minute
    assert ta.pdus()[0].status == 0 and core.queued == 1
    for _ in range(8):  # back-off 1, 2, 4, 8, 8 ... s; the wall clock passes validity
        mono.t += 8.0
        wall.t += 8.0
        core.tick()
    (receipt,) = ta.pdus()
    assert b"stat:EXPIRED" in receipt.short_message and core.stats.expired == 1


def test_a_new_receiver_gets_what_waited_at_once():
    core, wall, mono, connect, _ = rig()
    a, _ = connect("a", address_range="15550001")
    submit(a, 2, "15550002", b"early")
    core.tick()
    b, tb = connect("b", address_range="15550002")
    core.tick()  # no clock advance: due now, not at the next back-off
    assert [p.short_message for p in tb.pdus()] == [b"early"]


def test_reading_pauses_when_the_peer_does_not_read():
    core, wall, mono, connect, _ = rig(max_write_buffer=1000)
    a, ta = connect("a")
    ta.stuck, ta.buffered = True, 990  # the transport holds almost the limit
    a.data_received(P.Bare(P.ENQUIRE_LINK, 5).encode() * 10)
    assert not ta.reading and core.stats.write_pauses == 1
    assert len(ta.pdus()) == 1  # one resp took it to the limit; nine wait in the session buffer
    ta.stuck, ta.buffered = False, 0
    a.resume_writing()
    assert ta.reading and len(ta.pdus()) == 9


def test_a_reader_yields_while_deliveries_are_backlogged():
    core, wall, mono, connect, later = rig(deliver_window=4)
    a, ta = connect("a", address_range="15550001")
    b, tb = connect("b", command=P.BIND_RECEIVER, address_range="15550002")
    burst = b"".join(P.ShortMessage(P.SUBMIT_SM, 10 + i, 0, "", 1, 1, "15550001", 1, 1, "15550002",
                                    short_message=b"x").encode() for i in range(20))
    a.data_received(burst)
    # it took a window's worth past the backlog, then handed its turn back
    assert later == [a.take_turn] and not ta.reading
    taken = len(ta.pdus())
    assert taken < 20
    later.pop()()
    assert len(ta.pdus()) > 0


def test_bind_and_idle_timeouts():
    core, wall, mono, connect, _ = rig(bind_timeout=10.0, idle_timeout=60.0)
    t = FakeTransport()
    SmscConnection(core, t, None, "silent")
    b, tb = connect("b")
    mono.t += 11.0
    core.tick()
    assert t.closed and not tb.closed
    mono.t += 60.0
    core.tick()
    assert tb.closed and tb.pdus()[-1].command_id == P.UNBIND
    assert core.stats.timeouts == 2


# -- hostile input: any PDU sequence leaves the core consistent and never raises --------------

_ADDR = st.sampled_from(["15550001", "15550002", "+15550002", "", "abc", "1" * 20])
_PDUS = st.one_of(
    st.builds(lambda d, s, n: P.ShortMessage(P.SUBMIT_SM, 0, 0, "", 1, 1, s, 1, 1, d, 0, 0, 0, "", "", 1, 0, 4, 0,
                                             bytes(n)),
              _ADDR, _ADDR, st.integers(0, 200)),
    st.builds(lambda d, n: P.ShortMessage(P.SUBMIT_SM, 0, 0, "", 1, 1, "15550001", 1, 1, d, 0, 0, 0, "", "", 1, 0, 4, 0,
                                          b"", [(P.TLV_MESSAGE_PAYLOAD, bytes(n))]),
              _ADDR, st.sampled_from([0, 100, 141, 300, 40000])),
    st.builds(lambda d, n: P.DataSm(P.DATA_SM, 0, 0, "", 1, 1, "15550001", 1, 1, d, 0, 1, 4,
                                    [(P.TLV_MESSAGE_PAYLOAD, bytes(n))]), _ADDR, st.integers(0, 400)),
    st.builds(lambda ds: P.SubmitMulti(P.SUBMIT_MULTI, 0, 0, "", 1, 1, "15550001", [(1, 1, d) for d in ds], ["dl"],
                                       short_message=b"x"), st.lists(_ADDR, min_size=1, max_size=5)),
    st.builds(lambda i: P.QuerySm(P.QUERY_SM, 0, 0, i, 1, 1, "15550001"), st.sampled_from(["", "1", "x" * 64])),
    st.builds(lambda i, d: P.CancelSm(P.CANCEL_SM, 0, 0, "", i, 1, 1, "15550001", 1, 1, d),
              st.sampled_from(["", "1", "99"]), _ADDR),
    st.builds(lambda i, n: P.ReplaceSm(P.REPLACE_SM, 0, 0, i, 1, 1, "15550001", "", "", 1, 0, bytes(n)),
              st.sampled_from(["", "1", "99"]), st.integers(0, 200)),
    st.builds(lambda s: P.MessageIdResp(P.DELIVER_SM_RESP, s, 0), st.integers(1, 5)),
    st.just(P.Bare(P.ENQUIRE_LINK)),
    st.just(P.Bare(P.GENERIC_NACK, 3, P.ESME_RSYSERR)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_PDUS, st.booleans()), max_size=25))
def test_any_pdu_sequence_keeps_the_core_consistent(steps):
    core, wall, mono, connect, later = rig(deliver_window=2)
    a, ta = connect("a", address_range="15550001")
    b, tb = connect("b", address_range="15550002")
    for seq, (pdu, tick) in enumerate(steps, start=10):
        if not pdu.is_response:
            pdu.sequence = seq
        (b if isinstance(pdu, P.MessageIdResp) else a).data_received(pdu.encode())
        if tick:
            mono.t += 3.0
            core.tick()
        while later:
            later.pop()()
    assert core.stats.internal_errors == 0 and not ta.closed
    assert core.queued >= 0 and core.backlog >= 0 and core.stored_bytes >= 0
    # every request got exactly one answer
    answered = [p for p in ta.pdus() if p.is_response]
    assert len(answered) == sum(not p.is_response for p, _ in steps)
