"""JSON values of the API <-> LwM2M values: untrusted input raises only BadValue."""

import json

import pytest

from hypothesis import given, strategies as st

from lwm2m_sms.errors import Lwm2mSmsError
from lwm2m_sms.http.values import BadValue, from_json, to_json
from lwm2m_sms.lwm2m.datatypes import ObjLink

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_any_json_is_a_value_or_bad_value(value):
    try:
        from_json(value)
    except BadValue as exc:
        assert isinstance(exc, Lwm2mSmsError) and str(exc)


def test_round_trip_of_every_kind():
    value = {3: {0: "x", 1: 7, 2: 1.5, 3: True, 4: b"\x00\xff", 5: ObjLink(3, 0), 6: {0: "a", 1: "b"}}}
    assert from_json(json.loads(json.dumps(to_json(value)))) == value


@pytest.mark.parametrize("key", ["\u00b2", "\u0663", "1\u00b9"])
def test_a_key_of_non_ascii_digits_is_bad_value(key):
    # hypothesis found "\u00b2": str.isdigit() is True for it, int() refuses it
    with pytest.raises(BadValue, match="not an LwM2M id"):
        from_json({key: 1})
