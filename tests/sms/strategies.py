"""Hypothesis strategies for SMS values shared by the tests of lwm2m_sms.sms."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from lwm2m_sms.sms import gsm7
from lwm2m_sms.sms.address import Address, Npi, Ton
from lwm2m_sms.sms.udh import Concat, InformationElement, Ports, Udh

GSM7_CHARS = [c for c in gsm7.DEFAULT_ALPHABET if c != "\x1b"] + list(gsm7.EXTENSION_TABLE.values())

international = st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True).map(Address.international)
dialled = st.builds(
    Address,
    st.from_regex(r"[0-9*#abc]{1,20}", fullmatch=True),
    st.sampled_from([Ton.UNKNOWN, Ton.NATIONAL, Ton.NETWORK_SPECIFIC, Ton.SUBSCRIBER, Ton.ABBREVIATED]),
    st.sampled_from(list(Npi)),
)
alphanumeric = st.builds(
    Address,
    st.text(st.sampled_from(GSM7_CHARS), min_size=1, max_size=11).filter(
        lambda t: len(gsm7.encode(t)) <= 11
    ),
    st.just(Ton.ALPHANUMERIC),
    st.sampled_from(list(Npi)),
)
addresses = st.one_of(international, dialled, alphanumeric)
numbers = st.one_of(international, dialled)

timestamps = st.builds(
    lambda dt, q: dt.replace(tzinfo=timezone(timedelta(minutes=15 * q))),
    st.datetimes(min_value=datetime(1969, 1, 1), max_value=datetime(2068, 12, 31, 23, 59, 59)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(-79, 79),
)

ports = st.one_of(
    st.builds(Ports, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.just(True)),
    st.builds(Ports, st.integers(0, 0xFF), st.integers(0, 0xFF), st.just(False)),
)


@st.composite
def concats(draw) -> Concat:
    ref16 = draw(st.booleans())
    total = draw(st.integers(1, 255))
    return Concat(
        draw(st.integers(0, 0xFFFF if ref16 else 0xFF)), total, draw(st.integers(1, total)), ref16
    )


unknown_ies = st.builds(
    InformationElement,
    st.integers(0, 255).filter(lambda i: i not in (0x00, 0x04, 0x05, 0x08)),
    st.binary(max_size=6),
)
udhs = st.builds(
    lambda c, p, extra: Udh.build(concat=c, ports=p, extra=extra),
    st.none() | concats(),
    st.none() | ports,
    st.lists(unknown_ies, max_size=2),
)
