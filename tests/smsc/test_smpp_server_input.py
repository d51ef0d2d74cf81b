"""Bad input to the simulated SMSC over real sockets: the right answer, never a dead server."""

import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc import pdu as P
from smsc.config import SmscConfig
from smsc_thread import read_pdu as _read_pdu, smsc_in_thread




@pytest.fixture(scope="module")
def threaded_smsc():
    """An SMSC on its own event loop in a thread, so sync (hypothesis) tests can use it."""
    with smsc_in_thread(SmscConfig(open=True)) as smsc:
        yield smsc


def _connect(smsc):
    sock = socket.create_connection(("127.0.0.1", smsc.port), timeout=5)
    return sock


def _bind(sock, seq=1):
    sock.sendall(P.Bind(P.BIND_TRANSCEIVER, seq, 0, "probe", "pw").encode())
    resp = _read_pdu(sock)
    assert resp.command_id == P.BIND_TRANSCEIVER_RESP and resp.status == 0


def test_unknown_command_gets_generic_nack_and_session_goes_on(threaded_smsc):
    with _connect(threaded_smsc) as s:
        s.sendall(struct.pack(">LLLL", 16, 0x00000077, 0, 5))
        r = _read_pdu(s)
        assert (r.command_id, r.status, r.sequence) == (P.GENERIC_NACK, P.ESME_RINVCMDID, 5)
        s.sendall(struct.pack(">LLLL", 16, P.ALERT_NOTIFICATION, 0, 6))  # an SMSC's PDU, not an ESME's
        r = _read_pdu(s)
        assert (r.command_id, r.status, r.sequence) == (P.GENERIC_NACK, P.ESME_RINVCMDID, 6)
        _bind(s, 7)


def test_submit_before_bind_and_truncated_submit(threaded_smsc):
    with _connect(threaded_smsc) as s:
        s.sendall(P.ShortMessage(P.SUBMIT_SM, 2, destination_addr="1", short_message=b"x").encode())
        r = _read_pdu(s)
        assert (r.command_id, r.status, r.sequence) == (P.SUBMIT_SM_RESP, P.ESME_RINVBNDSTS, 2)
        _bind(s, 3)
        s.sendall(struct.pack(">LLLL", 21, P.SUBMIT_SM, 0, 4) + b"\0\1\1ab")
        r = _read_pdu(s)
        assert (r.command_id, r.status, r.sequence) == (P.SUBMIT_SM_RESP, P.ESME_RINVCMDLEN, 4)
        s.sendall(P.ShortMessage(P.SUBMIT_SM, 5, destination_addr="1", short_message=b"x" * 141).encode())
        r = _read_pdu(s)
        assert (r.command_id, r.status) == (P.SUBMIT_SM_RESP, P.ESME_RINVMSGLEN)
        s.sendall(P.Bare(P.ENQUIRE_LINK, 6).encode())
        assert _read_pdu(s).command_id == P.ENQUIRE_LINK_RESP


def test_bad_command_length_gets_generic_nack_and_close(threaded_smsc):
    with _connect(threaded_smsc) as s:
        s.sendall(struct.pack(">LLLL", 12, P.ENQUIRE_LINK, 0, 1))
        r = _read_pdu(s)
        assert (r.command_id, r.status) == (P.GENERIC_NACK, P.ESME_RINVCMDLEN)
        assert s.recv(100) == b""  # closed


@settings(max_examples=100)
@given(st.lists(st.binary(min_size=1, max_size=80), min_size=1, max_size=6), st.booleans())
def test_arbitrary_bytes_never_take_the_server_down(threaded_smsc, chunks, bind_first):
    with _connect(threaded_smsc) as s:
        if bind_first:
            _bind(s)
        try:
            for c in chunks:
                s.sendall(c)
        except OSError:
            pass  # the SMSC may close on a bad length; that is an answer too
    with _connect(threaded_smsc) as s:  # still serving
        _bind(s)
    assert threaded_smsc.stats.internal_errors == 0


def test_refused_delivery_gives_undeliv_receipt_only_when_asked(threaded_smsc):
    with _connect(threaded_smsc) as rx, _connect(threaded_smsc) as tx:
        rx.sendall(P.Bind(P.BIND_RECEIVER, 1, 0, "phone", "", "", 0x34, 1, 1, "+19990001").encode())
        assert _read_pdu(rx).status == 0
        tx.sendall(P.Bind(P.BIND_TRANSCEIVER, 1, 0, "app", "").encode())
        assert _read_pdu(tx).status == 0

        def submit(seq, text, reg):
            tx.sendall(P.ShortMessage(P.SUBMIT_SM, seq, 0, "", 1, 1, "15550001", 1, 1, "19990001",
                                      registered_delivery=reg, data_coding=4, short_message=text).encode())
            resp = _read_pdu(tx)
            assert resp.status == 0
            return resp.message_id

        ok_id = submit(2, b"fine", 2)  # receipt on failure only: none for this one
        d = _read_pdu(rx)
        assert d.short_message == b"fine"
        rx.sendall(P.MessageIdResp(P.DELIVER_SM_RESP, d.sequence).encode())
        bad_id = submit(3, b"refused", 2)
        d = _read_pdu(rx)
        assert d.short_message == b"refused"
        rx.sendall(P.MessageIdResp(P.DELIVER_SM_RESP, d.sequence, P.ESME_RX_P_APPN).encode())
        receipt = _read_pdu(tx)
        assert receipt.esm_class == P.ESM_DELIVERY_RECEIPT and ok_id != bad_id
        assert receipt.tlv(P.TLV_RECEIPTED_MESSAGE_ID) == bad_id.encode() + b"\0"
        assert b"stat:UNDELIV" in receipt.short_message and receipt.tlv_int(P.TLV_MESSAGE_STATE) == 5
        tx.sendall(P.MessageIdResp(P.DELIVER_SM_RESP, receipt.sequence).encode())
