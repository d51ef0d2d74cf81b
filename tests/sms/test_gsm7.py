"""GSM 7-bit default alphabet, septet packing with fill bits, UCS2."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import DecodeError, EncodeError
from lwm2m_sms.sms import gsm7

from .strategies import GSM7_CHARS

# Known answers from python-gsmmodem's test suite (faucamp/python-gsmmodem, test/test_pdu.py,
# class TestGsm7): text, septet values, packed octets.
GSMMODEM_VECTORS = [
    ("123", b"123", bytes([49, 217, 12])),
    ("12345678", b"12345678", bytes([49, 217, 140, 86, 179, 221, 112])),
    ("123456789", b"123456789", bytes([49, 217, 140, 86, 179, 221, 112, 57])),
    ("Hello World!", b"Hello World!", bytes([200, 50, 155, 253, 6, 93, 223, 114, 54, 57, 4])),
    (
        "[{abc}]~",
        bytes([0x1B, 0x3C, 0x1B, 0x28, 0x61, 0x62, 0x63, 0x1B, 0x29, 0x1B, 0x3E, 0x1B, 0x3D]),
        bytes([27, 222, 6, 21, 22, 143, 55, 169, 141, 111, 211, 3]),
    ),
    (
        "{åΦΓΛΩΠΨΣΘ€}",
        bytes([27, 40, 15, 18, 19, 20, 21, 22, 23, 24, 25, 27, 101, 27, 41]),
        bytes([27, 212, 67, 50, 161, 84, 44, 23, 76, 102, 83, 222, 164, 0]),
    ),
    ("a[]{}€", bytes([97, 27, 60, 27, 62, 27, 40, 27, 41, 27, 101]), bytes([225, 13, 111, 227, 219, 160, 54, 169, 77, 25])),
]


@pytest.mark.parametrize("text,septets,packed", GSMMODEM_VECTORS)
def test_known_answers(text, septets, packed):
    assert gsm7.encode(text) == septets
    assert gsm7.decode(septets) == text
    assert gsm7.pack(septets) == packed
    assert gsm7.unpack(packed, len(septets)) == septets


def test_hellohello_packing():
    # The classic "hellohello" user data of the GSM 03.40 PDU tutorials (dreamfabric.com/sms).
    assert gsm7.pack(gsm7.encode("hellohello")).hex().upper() == "E8329BFD4697D9EC37"


def test_table_corners():
    # 23.038: 0x5F is the section sign, 0x60 the inverted question mark, 0x09 C cedilla.
    assert gsm7.encode("§¿Ç@£€") == bytes([0x5F, 0x60, 0x09, 0x00, 0x01, 0x1B, 0x65])
    assert not gsm7.is_gsm7("`")  # not in the default alphabet
    assert not gsm7.is_gsm7("\x1b")  # the escape itself is not a character
    assert gsm7.is_gsm7("\f") and gsm7.encode("\f") == b"\x1b\x0a"


def test_unknown_escape_and_trailing_escape_decode_leniently():
    # 23.038 6.2.1.1: an undefined extension code shows the default-table character.
    assert gsm7.decode(b"\x1bA") == "A"
    assert gsm7.decode(b"ab\x1b") == "ab "
    assert gsm7.decode(b"\x1b\x1b") == " "


def test_errors():
    with pytest.raises(EncodeError, match="U\\+4E16"):
        gsm7.encode("a世")
    with pytest.raises(DecodeError):
        gsm7.decode(b"\x80")
    with pytest.raises(DecodeError, match="need"):
        gsm7.unpack(b"\x00", 3)
    with pytest.raises(EncodeError):
        gsm7.pack(b"\xff")


@pytest.mark.parametrize("fill", range(7))
def test_fill_bits(fill):
    septets = gsm7.encode("fill bits")
    packed = gsm7.pack(septets, fill)
    assert len(packed) == gsm7.packed_length(len(septets), fill)
    assert packed[0] & ((1 << fill) - 1) == 0  # the fill bits are zero
    assert gsm7.unpack(packed, len(septets), fill) == septets


@given(st.text(st.sampled_from(GSM7_CHARS), max_size=200), st.integers(0, 6))
def test_round_trip(text, fill):
    septets = gsm7.encode(text)
    assert gsm7.is_gsm7(text)
    assert gsm7.septet_count(text) == len(septets)
    assert gsm7.decode(gsm7.unpack(gsm7.pack(septets, fill), len(septets), fill)) == text


@given(st.binary(max_size=64), st.integers(0, 80), st.integers(0, 6))
def test_unpack_and_decode_raise_only_decode_error(octets, count, fill):
    try:
        gsm7.decode(gsm7.unpack(octets, count, fill))
    except DecodeError:
        pass


def test_ucs2():
    # python-gsmmodem test/test_pdu.py TestUcs2.
    assert gsm7.encode_ucs2("あ叶葉") == bytes([0x30, 0x42, 0x53, 0xF6, 0x84, 0x49])
    assert gsm7.decode_ucs2(bytes([0x30, 0x6F, 0x30, 0x44])) == "はい"
    assert gsm7.decode_ucs2(gsm7.encode_ucs2("😀")) == "😀"  # surrogate pair


@given(st.binary(max_size=64))
def test_ucs2_decode_never_raises(octets):
    assert isinstance(gsm7.decode_ucs2(octets), str)
