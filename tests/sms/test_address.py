"""MSISDNs and other SMS addresses as users, URIs and LwM2M data write them."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwm2m_sms.errors import AddressError, DecodeError
from lwm2m_sms.sms.address import Address, Npi, Ton, parse_address, parse_msisdn

E164 = Address("4915123456789", Ton.INTERNATIONAL, Npi.ISDN)


@pytest.mark.parametrize(
    "text",
    [
        "+4915123456789",
        "+49 151 2345-6789",
        "+49 (151) 2345.6789",
        "%2B4915123456789",
        "%2b4915123456789",
        "tel:+4915123456789",
        "TEL:+49-151-23456789",
        "sms:+4915123456789",
        "sms:%2B4915123456789",
        "4915123456789",  # 3GPP TS 23.003 digits, as LwM2M sms= and /0/x/9 carry them
        E164,
    ],
)
def test_msisdn_forms(text):
    addr = parse_msisdn(text)
    assert addr == E164
    assert addr.e164 == "+4915123456789" and str(addr) == "+4915123456789"
    assert addr.lwm2m_digits == "4915123456789"


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("+", "empty"),
        ("tel:", "empty"),
        ("+49151x", "other than digits"),
        ("Operator", "other than digits"),
        ("+1234567890123456", "16 digits"),
        ("015123456789", "starts with 0"),
        ("0049151234567", "starts with 0"),
        (12345, "must be text"),
        (Address("12345", Ton.NETWORK_SPECIFIC), "not an MSISDN"),
    ],
)
def test_malformed_msisdn_is_refused_with_a_reason(text, match):
    with pytest.raises(AddressError, match=match):
        parse_msisdn(text)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("+4915123456789", E164),
        ("015123456789", Address("015123456789", Ton.NATIONAL, Npi.ISDN)),
        ("12345", Address("12345", Ton.NETWORK_SPECIFIC, Npi.ISDN)),  # short code
        ("123456789", Address("123456789", Ton.UNKNOWN, Npi.ISDN)),  # as dialled
        ("Operator", Address("Operator", Ton.ALPHANUMERIC, Npi.UNKNOWN)),
        ("My Bank", Address("My Bank", Ton.ALPHANUMERIC, Npi.UNKNOWN)),
    ],
)
def test_parse_address_kinds(text, expected):
    assert parse_address(text) == expected


def test_address_errors():
    assert issubclass(AddressError, DecodeError)  # decoders may raise it for a bad number
    with pytest.raises(AddressError, match="1 to 11 characters"):
        parse_address("A very long sender name")
    with pytest.raises(AddressError, match="empty"):
        parse_address("   ")
    with pytest.raises(AddressError, match="1 to 15 digits"):
        Address("12a", Ton.INTERNATIONAL)
    with pytest.raises(AddressError, match="dialled digits"):
        Address("12-3", Ton.UNKNOWN)
    with pytest.raises(AddressError, match="not an international"):
        parse_address("12345").e164
    with pytest.raises(AddressError):
        parse_address("Operator").lwm2m_digits


def test_values_hash_and_compare_by_all_fields():
    assert {parse_msisdn("+1555"), Address.international("+1555")} == {Address("1555")}
    assert Address("1555", Ton.INTERNATIONAL) != Address("1555", Ton.UNKNOWN)


@given(st.from_regex(r"\+?[1-9][0-9]{0,14}", fullmatch=True))
def test_msisdn_round_trips_through_both_forms(text):
    addr = parse_msisdn(text)
    assert parse_msisdn(addr.e164) == addr == parse_msisdn(addr.lwm2m_digits)


@given(st.text(max_size=30))
def test_parsers_raise_only_address_error(text):
    for parser in (parse_msisdn, parse_address):
        try:
            parser(text)
        except AddressError:
            pass
