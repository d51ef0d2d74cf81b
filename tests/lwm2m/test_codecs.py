"""TLV, text/plain, opaque and link-format codecs: known answers from the LwM2M spec and
hypothesis round trips; decoders raise only DecodeError."""

import math

import pytest
from hypothesis import given, strategies as st

from lwm2m_sms.errors import DecodeError, EncodeError
from lwm2m_sms.lwm2m import content, linkformat, tlv
from lwm2m_sms.lwm2m.datatypes import (
    ObjLink, ResourceType, decode_text_value, decode_tlv_value, encode_text_value, encode_tlv_value,
)
from lwm2m_sms.lwm2m.path import format_path, parse_path
from lwm2m_sms.lwm2m.tlv import Tlv, TlvKind

# OMA-TS-LightweightM2M-V1_0_2, 6.4.3.1 "Single Object Instance Request Example":
# the TLV of a Read on /3/0 (Device object instance), 121 octets.
SPEC_DEVICE_TLV = bytes.fromhex(
    "C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65"
    "C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74"
    "C8 02 09 33 34 35 30 30 30 31 32 33"
    "C3 03 31 2E 30"
    "86 06 41 00 01 41 01 05"
    "88 07 08 42 00 0E D8 42 01 13 88"
    "87 08 41 00 7D 42 01 03 84"
    "C1 09 64"
    "C1 0A 0F"
    "83 0B 41 00 00"
    "C4 0D 51 82 42 8F"
    "C6 0E 2B 30 32 3A 30 30"
    "C1 10 55"
)
SPEC_DEVICE_VALUES = {
    0: "Open Mobile Alliance", 1: "Lightweight M2M Client", 2: "345000123", 3: "1.0",
    6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000}, 8: {0: 125, 1: 900}, 9: 100, 10: 15,
    11: {0: 0}, 13: 1367491215, 14: "+02:00", 16: "U",
}
# Same section, 6.4.3.2 "Multiple Object Instance Request Example": Read on /2 (Access
# Control), instances 0 and 2; the second holds a resource instance with a 16-bit id (310).
SPEC_ACL_TLV = bytes.fromhex(
    "08 00 0E C1 00 01 C1 01 00 83 02 41 7F 07 C1 03 7F"
    "08 02 12 C1 00 03 C1 01 00 87 02 41 7F 07 61 01 36 01 C1 03 7F"
)


def test_spec_device_instance_decodes():
    assert len(SPEC_DEVICE_TLV) == 121
    assert content.decode_payload((3, 0), 11542, SPEC_DEVICE_TLV) == SPEC_DEVICE_VALUES
    # the pre-registration code 1542 means the same
    assert content.decode_payload((3, 0), 1542, SPEC_DEVICE_TLV) == SPEC_DEVICE_VALUES


def test_spec_device_instance_encodes_byte_exact():
    assert content.encode_payload((3, 0), SPEC_DEVICE_VALUES) == (11542, SPEC_DEVICE_TLV)


def test_spec_multiple_instances_raw_tree():
    entries = tlv.decode(SPEC_ACL_TLV)
    assert [(e.kind, e.id) for e in entries] == [(TlvKind.OBJECT_INSTANCE, 0), (TlvKind.OBJECT_INSTANCE, 2)]
    acl = entries[1].children[2]
    assert acl.kind is TlvKind.MULTIPLE_RESOURCE
    assert [(c.id, c.value) for c in acl.children] == [(127, b"\x07"), (310, b"\x01")]
    assert tlv.encode(entries) == SPEC_ACL_TLV
    # object 2 is not in our model: values stay opaque
    assert content.decode_payload((2,), 11542, SPEC_ACL_TLV)[2][2] == {127: b"\x07", 310: b"\x01"}


@pytest.mark.parametrize("length,length_bits", [(0, 0), (7, 0), (8, 0x08), (255, 0x08), (256, 0x10), (65535, 0x10), (65536, 0x18)])
def test_length_types(length, length_bits):
    raw = tlv.encode([Tlv(TlvKind.RESOURCE, 5, b"x" * length)])
    assert raw[0] & 0x18 == length_bits
    assert tlv.decode(raw) == [Tlv(TlvKind.RESOURCE, 5, b"x" * length)]


def test_sixteen_bit_id():
    raw = tlv.encode([Tlv(TlvKind.RESOURCE, 0x1234, b"\x01")])
    assert raw == bytes([0xE1, 0x12, 0x34, 0x01])


@pytest.mark.parametrize("value,octets", [(0, 1), (127, 1), (-128, 1), (128, 2), (-32769, 4), (2**31, 8), (-(2**63), 8)])
def test_integer_sizes(value, octets):
    enc = encode_tlv_value(ResourceType.INTEGER, value)
    assert len(enc) == octets and decode_tlv_value(ResourceType.INTEGER, enc) == value


def test_value_types_known_answers():
    assert encode_tlv_value(ResourceType.FLOAT, 1.5) == bytes.fromhex("3fc00000")
    assert len(encode_tlv_value(ResourceType.FLOAT, 0.1)) == 8
    assert encode_tlv_value(ResourceType.BOOLEAN, True) == b"\x01"
    assert encode_tlv_value(ResourceType.OBJLNK, ObjLink(3, 0)) == b"\x00\x03\x00\x00"
    assert encode_text_value(ResourceType.OBJLNK, ObjLink(3, 1)) == b"3:1"
    assert encode_text_value(ResourceType.OPAQUE, b"\x00\xff") == b"AP8="
    assert decode_text_value(ResourceType.BOOLEAN, b"1") is True
    assert decode_text_value(ResourceType.TIME, b"1367491215") == 1367491215


@pytest.mark.parametrize("rtype,data", [
    (ResourceType.INTEGER, b"\x00\x00\x00"), (ResourceType.FLOAT, b"\x00"), (ResourceType.BOOLEAN, b"\x02"),
    (ResourceType.STRING, b"\xff"), (ResourceType.OBJLNK, b"\x00"),
])
def test_malformed_tlv_values(rtype, data):
    with pytest.raises(DecodeError):
        decode_tlv_value(rtype, data)


@pytest.mark.parametrize("rtype,text", [
    (ResourceType.INTEGER, b"12a"), (ResourceType.FLOAT, b"x"), (ResourceType.BOOLEAN, b"true"),
    (ResourceType.OPAQUE, b"!!"), (ResourceType.OBJLNK, b"3"), (ResourceType.INTEGER, str(2**64).encode()),
])
def test_malformed_text_values(rtype, text):
    with pytest.raises(DecodeError):
        decode_text_value(rtype, text)


def test_wrong_nesting_refused():
    # a resource instance directly inside an object instance
    with pytest.raises(DecodeError):
        tlv.decode(bytes([0x03, 0x00, 0x41, 0x00, 0x01]))
    with pytest.raises(EncodeError):
        tlv.encode([Tlv(TlvKind.OBJECT_INSTANCE, 0, (Tlv(TlvKind.RESOURCE_INSTANCE, 0, b""),))])


def test_text_and_opaque_single_values():
    assert content.encode_payload((3, 0, 0), "ACME") == (0, b"ACME")
    assert content.encode_payload((1, 0, 1), 300) == (0, b"300")
    assert content.decode_payload((1, 0, 1), 1541, b"300") == 300
    assert content.decode_payload((5, 0, 0), 42, b"\x01\x02") == b"\x01\x02"
    assert content.decode_payload((5, 0, 0), 1544, b"\x01") == b"\x01"
    assert content.encode_payload((5, 0, 0), b"\x01") == (42, b"\x01")
    with pytest.raises(DecodeError):
        content.decode_payload((3, 0), 0, b"x")
    with pytest.raises(DecodeError):
        content.decode_payload((3, 0), 11543, b"{}")


def test_link_format_with_attributes():
    links = linkformat.parse(b'</>;rt="oma.lwm2m";ct=11542,</1/0>,</3/0/13>;pmin=10;pmax=60;gt=1.5;st=0.5;ver=1.0')
    assert links[0].attributes == {"rt": "oma.lwm2m", "ct": 11542}
    assert links[1].path == (1, 0)
    assert links[2].attributes == {"pmin": 10, "pmax": 60, "gt": 1.5, "st": 0.5, "ver": "1.0"}
    assert linkformat.parse(linkformat.serialize(links)) == links
    assert linkformat.attributes_to_query({"pmin": 10, "gt": 2.5, "lt": None}) == ["pmin=10", "gt=2.5", "lt"]
    assert linkformat.query_to_attributes(["pmin=10", "lt"]) == {"pmin": 10, "lt": None}
    for bad in (b"</1/0", b"1/0", b"</1>;pmin=x", b'</1>;rt="open', b"</1>x"):
        with pytest.raises(DecodeError):
            linkformat.parse(bad)


def test_paths():
    assert parse_path("/3/0/13") == (3, 0, 13)
    assert parse_path("/") == ()
    assert format_path((1, 0, 8)) == "/1/0/8"
    for bad in ("/a", "/1/2/3/4/5", "/70000", "/01"):
        with pytest.raises(DecodeError):
            parse_path(bad)


# --- hypothesis ----------------------------------------------------------------------

ids = st.integers(0, 0xFFFF)
leaf = st.binary(max_size=300)


@st.composite
def tlv_trees(draw):
    def resource():
        return st.one_of(
            st.builds(Tlv, st.just(TlvKind.RESOURCE), ids, leaf),
            st.builds(lambda i, ch: Tlv(TlvKind.MULTIPLE_RESOURCE, i, tuple(ch)), ids,
                      st.lists(st.builds(Tlv, st.just(TlvKind.RESOURCE_INSTANCE), ids, leaf), max_size=4)),
        )
    top = st.one_of(
        resource(),
        st.builds(lambda i, ch: Tlv(TlvKind.OBJECT_INSTANCE, i, tuple(ch)), ids, st.lists(resource(), max_size=4)),
    )
    return draw(st.lists(top, max_size=5))


@given(tlv_trees())
def test_tlv_round_trip(entries):
    assert tlv.decode(tlv.encode(entries)) == entries


@given(st.binary(max_size=400))
def test_tlv_decoder_raises_only_decode_error(data):
    try:
        tlv.decode(data)
    except DecodeError:
        pass


@given(st.sampled_from([(3,), (3, 0), (3, 0, 13), (3, 0, 6), (3, 0, 6, 1), (1, 0), (0,), (9, 9), (9, 9, 9)]),
       st.sampled_from([0, 40, 42, 1541, 1542, 1543, 1544, 11542, 11543, None, 50, 60]),
       st.binary(max_size=200))
def test_payload_decoder_raises_only_decode_error(path, cf, data):
    try:
        content.decode_payload(path, cf, data)
    except DecodeError:
        pass


@given(st.binary(max_size=200))
def test_link_format_decoder_raises_only_decode_error(data):
    try:
        linkformat.parse(data)
    except DecodeError:
        pass


@given(st.text(max_size=40))
def test_path_parser_raises_only_decode_error(text):
    try:
        parse_path(text)
    except DecodeError:
        pass


values_by_type = {
    ResourceType.INTEGER: st.integers(-(2**63), 2**63 - 1),
    ResourceType.TIME: st.integers(-(2**63), 2**63 - 1),
    ResourceType.FLOAT: st.floats(allow_nan=False),
    ResourceType.BOOLEAN: st.booleans(),
    ResourceType.STRING: st.text(max_size=50),
    ResourceType.OPAQUE: st.binary(max_size=50),
    ResourceType.OBJLNK: st.builds(ObjLink, ids, ids),
}


@given(st.data())
def test_typed_value_round_trips(data):
    rtype = data.draw(st.sampled_from(list(values_by_type)))
    value = data.draw(values_by_type[rtype])
    assert decode_tlv_value(rtype, encode_tlv_value(rtype, value)) == value
    back = decode_text_value(rtype, encode_text_value(rtype, value))
    assert back == value or (isinstance(value, float) and math.isinf(value) and back == value)


@given(st.sampled_from(list(values_by_type)), st.binary(max_size=12))
def test_typed_decoders_raise_only_decode_error(rtype, data):
    for fn in (decode_tlv_value, decode_text_value):
        try:
            fn(rtype, data)
        except DecodeError:
            pass


@given(st.dictionaries(st.integers(0, 22), st.one_of(st.integers(0, 1000), st.dictionaries(ids, st.integers(0, 99), max_size=3)), max_size=6))
def test_device_instance_round_trip_for_integer_resources(values):
    # resources 6..11 of /3 are integers; unknown ids are opaque, so restrict to integer ones
    values = {k: v for k, v in values.items() if k in (9, 10, 20, 21)} | {
        k: v for k, v in values.items() if k in (6, 7, 8, 11) and isinstance(v, dict)}
    cf, body = content.encode_payload((3, 0), values)
    assert content.decode_payload((3, 0), cf, body) == values


def test_huge_digit_strings_are_a_decode_error_not_a_crash():
    from lwm2m_sms.errors import DecodeError
    from lwm2m_sms.lwm2m import linkformat
    from lwm2m_sms.lwm2m.datatypes import ResourceType, decode_text_value
    from lwm2m_sms.lwm2m.path import parse_path

    digits = "9" * 5000  # int() raises a plain ValueError past 4,300 digits
    for call in (
        lambda: decode_text_value(ResourceType.INTEGER, digits.encode()),
        lambda: decode_text_value(ResourceType.OBJLNK, f"{digits}:1".encode()),
        lambda: linkformat.parse(f"</3/0>;pmin={digits}".encode()),
        lambda: parse_path(f"/3/{digits}"),
    ):
        with pytest.raises(DecodeError):
            call()


def test_a_huge_lifetime_is_refused_with_4_00():
    from aiocoap.numbers.codes import Code

    from lwm2m_sms.lwm2m.registration import RegistrationRefused, parse_register

    with pytest.raises(RegistrationRefused) as e:
        parse_register(["ep=a", "lt=" + "9" * 5000], b"</3/0>", 40)
    assert e.value.code == Code.BAD_REQUEST
