"""User Data Header: concatenation, application ports, unknown IEs kept round-trip."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import DecodeError, EncodeError
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.udh import Concat, InformationElement, Ports, Udh, split_user_data

from .strategies import udhs


def test_concat_known_answers():
    # python-gsmmodem test/test_pdu.py TestUdhConcatenation: (ref, seq, total, IE octets).
    assert Concat(23, 3, 1).to_ie().encode().hex() == "0003170301"
    assert Concat(384, 4, 2, ref16=True).to_ie().encode().hex() == "080401800402"
    assert Udh.decode(bytes.fromhex("050003170301")).concat == Concat(23, 3, 1)
    assert Udh.decode(bytes.fromhex("06080401800402")).concat == Concat(384, 4, 2, True)


def test_ports_known_answers_and_round_trip():
    # python-gsmmodem test/test_pdu.py TestUdhPortAddress: 8-bit 100/50, 16-bit 1234/5222.
    assert Ports(100, 50, wide=False).to_ie().encode().hex() == "04026432"
    assert Ports(1234, 5222).to_ie().encode().hex() == "050404d21466"
    for ports in (Ports(100, 50, wide=False), Ports(5683, 61616)):
        udh = Udh.build(ports=ports)
        assert Udh.decode(udh.encode()).ports == ports
    assert Ports(5683, 61616).swapped() == Ports(61616, 5683)


def test_unknown_ies_are_preserved_in_order():
    octets = bytes.fromhex("11" "0a0400000000" "0003ab0201" "2402c0de" "7000")
    udh = Udh.decode(octets)
    assert [ie.iei for ie in udh.elements] == [0x0A, 0x00, 0x24, 0x70]
    assert udh.elements[2] == InformationElement(0x24, b"\xc0\xde")
    assert udh.concat == Concat(0xAB, 2, 1)
    assert udh.encode() == octets and len(udh) == len(octets)


@pytest.mark.parametrize(
    "ie",
    [
        "00030a0000",  # seq 0
        "00030a0203",  # seq above total
        "00030a0000",  # total 0
        "00020a02",  # wrong length
        "0805000a020102",  # 16-bit with a spare octet
    ],
)
def test_invalid_concat_is_ignored_not_an_error(ie):
    body = bytes.fromhex(ie)
    udh = Udh.decode(bytes((len(body),)) + body)
    assert udh.concat is None
    assert udh.encode()[1:] == body  # still kept for a faithful re-encoding


def test_last_repeated_ie_wins():
    udh = Udh.decode(bytes.fromhex("0a" "0003010201" "0003020202"))
    assert udh.concat == Concat(2, 2, 2)


def test_malformed_udh_says_where():
    with pytest.raises(DecodeError, match="empty"):
        split_user_data(b"")
    with pytest.raises(DecodeError, match="UDHL 9"):
        split_user_data(bytes.fromhex("09000301"))
    with pytest.raises(DecodeError, match="claims 5 octets"):
        split_user_data(bytes.fromhex("03000501"))
    with pytest.raises(DecodeError, match="truncated"):
        split_user_data(bytes.fromhex("0100ff"))
    with pytest.raises(DecodeError, match="after the UDH"):
        Udh.decode(bytes.fromhex("00ff"))


def test_builders_refuse_out_of_range():
    with pytest.raises(EncodeError):
        Concat(256, 2, 1)
    with pytest.raises(EncodeError):
        Concat(1, 2, 3)
    with pytest.raises(EncodeError):
        Ports(256, 1, wide=False)
    with pytest.raises(EncodeError):
        InformationElement(0x70, bytes(256)).encode()


@given(udhs, st.binary(max_size=40))
def test_udh_round_trip(udh, rest):
    udh2, rest2 = split_user_data(udh.encode() + rest)
    assert (udh2, rest2) == (udh, rest)
    ud = UserData.decode(udh.encode() + rest, True)
    assert ud == UserData(rest, udh) and ud.encode() == udh.encode() + rest


@given(st.binary(max_size=60), st.booleans())
def test_udh_and_user_data_decoders_raise_only_decode_error(octets, udhi):
    try:
        ud = UserData.decode(octets, udhi)
    except DecodeError:
        return
    ud.concat, ud.ports  # properties never raise either
    assert ud.encode() == octets
