"""The sans-IO SMPP session: framing, sequence numbers, bind state, answers to bad PDUs."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import DecodeError
from smsc import pdu as P
from smsc.session import BadPdu, FramingError, SessionState, SmppSession


def test_frames_split_across_reads_and_batched():
    s = SmppSession("smsc")
    data = b"".join(P.Bare(P.ENQUIRE_LINK, i).encode() for i in range(1, 6))
    for i in range(0, len(data), 7):
        s.receive_data(data[i : i + 7])
    seqs = []
    while (ev := s.next_event()) is not None:
        seqs.append(ev.sequence)
    assert seqs == [1, 2, 3, 4, 5] and s.buffered == 0


def test_bad_length_is_fatal():
    s = SmppSession("smsc")
    s.receive_data(struct.pack(">LLLL", 8, P.ENQUIRE_LINK, 0, 1))
    with pytest.raises(FramingError):
        s.next_event()
    s = SmppSession("smsc", max_pdu=1000)
    s.receive_data(struct.pack(">L", 100_000))
    with pytest.raises(FramingError):
        s.next_event()


def test_unknown_command_gets_generic_nack_and_stream_continues():
    s = SmppSession("smsc")
    s.receive_data(struct.pack(">LLLL", 16, 0x77, 0, 9) + P.Bare(P.ENQUIRE_LINK, 10).encode())
    ev = s.next_event()
    assert isinstance(ev, BadPdu)
    assert ev.reply.command_id == P.GENERIC_NACK and ev.reply.status == P.ESME_RINVCMDID and ev.reply.sequence == 9
    assert s.next_event().command_id == P.ENQUIRE_LINK


def test_submit_before_bind_is_rinvbndsts():
    s = SmppSession("smsc")
    s.receive_data(P.ShortMessage(P.SUBMIT_SM, 4, destination_addr="1").encode())
    ev = s.next_event()
    assert isinstance(ev, BadPdu)
    assert ev.reply.command_id == P.SUBMIT_SM_RESP and ev.reply.status == P.ESME_RINVBNDSTS


def test_truncated_submit_gets_submit_resp_with_status():
    s = SmppSession("smsc")
    s.receive_data(P.Bind(P.BIND_TRANSMITTER, 1, 0, "a", "b").encode())
    bind = s.next_event()
    s.send(P.BindResp(P.BIND_TRANSMITTER_RESP, bind.sequence, 0, "X"))
    assert s.state is SessionState.BOUND_TX
    raw = struct.pack(">LLLL", 20, P.SUBMIT_SM, 0, 2) + b"\0\1\1x"
    s.receive_data(raw)
    ev = s.next_event()
    assert isinstance(ev, BadPdu) and ev.reply.command_id == P.SUBMIT_SM_RESP
    assert ev.reply.status == P.ESME_RINVCMDLEN and ev.reply.sequence == 2
    # a second bind on a bound session
    s.receive_data(P.Bind(P.BIND_TRANSMITTER, 3).encode())
    ev = s.next_event()
    assert isinstance(ev, BadPdu) and ev.reply.status == P.ESME_RALYBND


def test_esme_state_follows_bind_resp_and_sequence_wraps():
    s = SmppSession("esme")
    out = s.send(P.Bind(P.BIND_TRANSCEIVER, 0, 0, "a", "b"))
    assert struct.unpack(">L", out[12:16])[0] == 1
    s.receive_data(P.BindResp(P.BIND_TRANSCEIVER_RESP, 1, 0, "X").encode())
    s.next_event()
    assert s.state is SessionState.BOUND_TRX and s.can_transmit and s.can_receive
    s._seq = 0x7FFFFFFF
    assert s.next_sequence() == 1


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_session_raises_only_decode_errors(chunks):
    s = SmppSession("smsc", max_pdu=4096)
    try:
        for c in chunks:
            s.receive_data(c)
            while s.next_event() is not None:
                pass
    except DecodeError:
        pass
