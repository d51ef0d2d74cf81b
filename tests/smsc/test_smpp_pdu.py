"""The SMPP PDU codec: cross-checked against smpplib's codec both ways, bad input gives
PduError with the right command_status, and nothing but DecodeError escapes decode()."""

import struct

import pytest
import smpplib.command
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import DecodeError
from smsc import pdu as P


class _Seq:
    sequence = 0

    def next_sequence(self):
        self.sequence += 1
        return self.sequence


def smpplib_make(name, seq, **fields):
    p = smpplib.smpp.make_pdu(name, client=_Seq(), **fields)
    p.sequence = seq
    return p.generate()


def smpplib_parse(raw):
    return smpplib.smpp.parse_pdu(raw, client=_Seq(), allow_unknown_opt_params=True)


UDH_PART = bytes([5, 0, 3, 0x2A, 4, 2]) + bytes(range(134))


@pytest.mark.parametrize("cid", [P.SUBMIT_SM, P.DELIVER_SM])
def test_short_message_ours_parsed_by_smpplib(cid):
    ours = P.ShortMessage(
        cid, 77, 0, "", 1, 1, "15550001", 1, 1, "15550002", P.ESM_UDHI, 0, 0, "",
        "000001000000000R", 1, 0, 4, 0, UDH_PART,
        [P.tlv_u16(P.TLV_SAR_MSG_REF_NUM, 300), P.tlv_u8(P.TLV_SAR_TOTAL_SEGMENTS, 4),
         P.tlv_u8(P.TLV_SAR_SEGMENT_SEQNUM, 2)],
    )
    theirs = smpplib_parse(ours.encode())
    assert theirs.command == P.command_name(cid)
    assert theirs.sequence == 77
    assert theirs.source_addr == b"15550001" and theirs.destination_addr == b"15550002"
    assert theirs.source_addr_ton == 1 and theirs.dest_addr_npi == 1
    assert theirs.esm_class == 0x40 and theirs.data_coding == 4 and theirs.registered_delivery == 1
    assert theirs.validity_period == b"000001000000000R"
    assert theirs.short_message == UDH_PART
    assert (theirs.sar_msg_ref_num, theirs.sar_total_segments, theirs.sar_segment_seqnum) == (300, 4, 2)


@pytest.mark.parametrize("name", ["submit_sm", "deliver_sm"])
def test_short_message_smpplib_decoded_by_ours(name):
    raw = smpplib_make(
        name, 9, source_addr_ton=1, source_addr_npi=1, source_addr="15550001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="15550002",
        esm_class=0x40, data_coding=4, registered_delivery=1, short_message=UDH_PART,
        user_message_reference=5,
    )
    ours = P.decode(raw)
    assert isinstance(ours, P.ShortMessage)
    assert ours.name == name and ours.sequence == 9
    assert (ours.source_addr, ours.destination_addr) == ("15550001", "15550002")
    assert ours.esm_class == 0x40 and ours.data_coding == 4 and ours.registered_delivery == 1
    assert ours.short_message == UDH_PART
    assert ours.tlv_int(P.TLV_USER_MESSAGE_REFERENCE) == 5
    # and back: octet for octet the same PDU
    assert ours.encode() == raw


def test_bind_both_ways():
    raw = smpplib_make("bind_transceiver", 1, system_id="esme", password="pw", system_type="x",
                       interface_version=0x34, addr_ton=1, addr_npi=1, address_range="^1555")
    ours = P.decode(raw)
    assert isinstance(ours, P.Bind)
    assert (ours.system_id, ours.password, ours.system_type, ours.address_range) == ("esme", "pw", "x", "^1555")
    assert ours.encode() == raw
    theirs = smpplib_parse(P.Bind(P.BIND_RECEIVER, 3, 0, "a", "b", "", 0x34, 0, 0, "").encode())
    assert theirs.command == "bind_receiver" and theirs.system_id == b"a" and theirs.password == b"b"


def test_resps_both_ways():
    resp = P.BindResp(P.BIND_TRANSCEIVER_RESP, 1, 0, "SMSC", [P.tlv_u8(P.TLV_SC_INTERFACE_VERSION, 0x34)])
    theirs = smpplib_parse(resp.encode())
    assert theirs.system_id == b"SMSC" and theirs.sc_interface_version == 0x34
    theirs = smpplib_parse(P.MessageIdResp(P.SUBMIT_SM_RESP, 5, 0, "abc123").encode())
    assert theirs.command == "submit_sm_resp" and theirs.message_id == b"abc123" and theirs.sequence == 5
    raw = smpplib_make("submit_sm_resp", 6, message_id="m-9")
    ours = P.decode(raw)
    assert isinstance(ours, P.MessageIdResp) and ours.message_id == "m-9"
    raw = smpplib_make("deliver_sm_resp", 7)
    assert P.decode(raw).command_id == P.DELIVER_SM_RESP
    for name in ("enquire_link", "enquire_link_resp", "unbind", "unbind_resp", "generic_nack"):
        raw = smpplib_make(name, 8)
        ours = P.decode(raw)
        assert ours.name == name and ours.sequence == 8 and ours.encode() == raw


def test_error_resp_has_no_body():
    assert len(P.MessageIdResp(P.SUBMIT_SM_RESP, 1, P.ESME_RTHROTTLED).encode()) == 16
    assert len(P.BindResp(P.BIND_TRANSCEIVER_RESP, 1, P.ESME_RINVPASWD).encode()) == 16


def _hdr(length, cid, seq=1, status=0):
    return struct.pack(">LLLL", length, cid, status, seq)


def test_unknown_command():
    with pytest.raises(P.PduError) as e:
        P.decode(_hdr(16, 0x00000077, 4))
    assert e.value.status == P.ESME_RINVCMDID and e.value.sequence == 4


def test_truncated_body():
    full = P.ShortMessage(P.SUBMIT_SM, 3, 0, destination_addr="15550002", short_message=b"abc").encode()
    cut = full[:30]
    cut = struct.pack(">L", len(cut)) + cut[4:]
    with pytest.raises(P.PduError) as e:
        P.decode(cut)
    assert e.value.status == P.ESME_RINVCMDLEN and e.value.command_id == P.SUBMIT_SM and e.value.sequence == 3


def test_sm_length_too_long():
    full = bytearray(P.ShortMessage(P.SUBMIT_SM, 3, 0, destination_addr="1", short_message=b"abc").encode())
    full[-4] = 200  # sm_length
    with pytest.raises(P.PduError) as e:
        P.decode(bytes(full))
    assert e.value.status == P.ESME_RINVMSGLEN


def test_address_without_nul():
    body = b"\0" + b"\1\1" + b"1" * 30
    raw = _hdr(16 + len(body), P.SUBMIT_SM) + body
    with pytest.raises(P.PduError) as e:
        P.decode(raw)
    assert e.value.status == P.ESME_RINVSRCADR


def test_bad_tlv_stream():
    raw = P.ShortMessage(P.SUBMIT_SM, 1, destination_addr="1").encode() + b"\x02\x0c\x00\x09\x01"
    raw = struct.pack(">L", len(raw)) + raw[4:]
    with pytest.raises(P.PduError) as e:
        P.decode(raw)
    assert e.value.status == P.ESME_RINVOPTPARSTREAM


def test_encode_refuses_long_fields():
    with pytest.raises(Exception) as e:
        P.Bind(system_id="x" * 16).encode()
    assert "system_id" in str(e.value)
    with pytest.raises(Exception):
        P.ShortMessage(short_message=b"x" * 255).encode()


@given(st.binary(max_size=400))
def test_decode_raises_only_decode_error(data):
    try:
        P.decode(data)
    except DecodeError:
        pass


@given(st.sampled_from([P.SUBMIT_SM, P.DELIVER_SM, P.BIND_TRANSCEIVER, P.SUBMIT_SM_RESP,
                        P.BIND_RECEIVER_RESP, P.ENQUIRE_LINK, 0x103, 0x80000000, 0x12345,
                        P.DATA_SM, P.SUBMIT_MULTI, P.SUBMIT_MULTI_RESP, P.QUERY_SM, P.QUERY_SM_RESP,
                        P.CANCEL_SM, P.REPLACE_SM, P.CANCEL_SM_RESP, P.REPLACE_SM_RESP]),
       st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_decode_framed_garbage(cid, body, status):
    try:
        pdu = P.decode(_hdr(16 + len(body), cid, 1, status) + body)
    except DecodeError:
        return
    # what decodes re-encodes without error (strings are latin-1, fields in range)
    if not (isinstance(pdu, P.ShortMessage) and len(pdu.short_message) > 254):
        pdu.encode()
