"""decode_object: decode_payload for an object path, typed as {instance: {resource: value}}."""

from hypothesis import given, strategies as st

from lwm2m_sms.errors import DecodeError
from lwm2m_sms.lwm2m import content


def test_decode_object_is_decode_payload_on_an_object_path():
    values = {0: {0: "lwm2m-sms", 1: "SIM-1", 6: {0: 1, 1: 5}}, 1: {0: "other"}}
    cf, body = content.encode_payload((3,), values)
    assert content.decode_object(3, cf, body) == content.decode_payload((3,), cf, body) == values
    assert content.decode_object(3, None, body) == values  # no Content-Format: TLV


def test_decode_object_refuses_resources_without_an_instance_and_other_formats():
    _cf, resources = content.encode_payload((3, 0), {0: "lwm2m-sms"})
    for cf, body in ((content.ContentFormat.TLV, resources), (content.ContentFormat.TEXT, b"x")):
        try:
            content.decode_object(3, cf, body)
        except DecodeError:
            continue
        raise AssertionError(f"decoded {body!r} as an object")


@given(st.sampled_from([0, 1, 3, 9]), st.sampled_from([None, 0, 42, 1542, 11542, 11543, 50]),
       st.binary(max_size=200))
def test_decode_object_raises_only_decode_error(obj, cf, data):
    try:
        content.decode_object(obj, cf, data)
    except DecodeError:
        pass
