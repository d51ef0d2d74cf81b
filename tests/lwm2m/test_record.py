"""The registration record stays compact: slots, shared constants and shared object lists,
with every validation of the Register payload intact."""

import pytest

from lwm2m_sms.lwm2m import registration as registration_module
from lwm2m_sms.lwm2m.registration import Registration, RegistrationRefused, parse_register, parse_update

LINKS = b'</>;rt="oma.lwm2m",</1/0>,</3/0>,</5>'


def test_registrations_with_the_same_payload_share_one_object_list():
    a = parse_register(["ep=a", "b=U"], bytes(LINKS), 40)
    b = parse_register(["ep=b", "b=U"], bytes(LINKS), 40)
    assert a.objects is b.objects and [l.target for l in a.objects] == ["/1/0", "/3/0", "/5"]
    update = parse_update([], bytes(LINKS), 40)
    assert update.objects is a.objects


def test_binding_and_version_are_the_shared_constants():
    p = parse_register(["ep=a", "b=" + "".join(["U", "Q"]), "lwm2m=" + "1.0"[:3]], LINKS, 40)
    assert p.binding is registration_module._BINDING_TEXT["UQ"]
    assert p.version is registration_module.DEFAULT_VERSION


def test_the_record_has_no_instance_dict():
    p = parse_register(["ep=a"], LINKS, 40)
    reg = Registration(p.endpoint, "loc", p.lifetime, p.version, p.binding, p.sms, p.objects,
                       "coap://127.0.0.1:1", 1.0, 1.0)
    assert not hasattr(reg, "__dict__")


def test_the_payload_cache_is_bounded_and_refusals_are_not_cached(monkeypatch):
    monkeypatch.setattr(registration_module, "_OBJECTS_CACHE", {})
    for i in range(registration_module._OBJECTS_CACHE_SIZE * 3):
        parse_register(["ep=a"], f"</3/{i}>".encode(), 40)
        assert len(registration_module._OBJECTS_CACHE) <= registration_module._OBJECTS_CACHE_SIZE
    for _ in range(2):  # a refused payload is refused every time
        with pytest.raises(RegistrationRefused):
            parse_register(["ep=a"], b"</0/0>", 40)
    big = b",".join(f"</3/{i}>".encode() for i in range(200))  # past the cached size: parsed each time
    assert len(big) > registration_module._OBJECTS_CACHE_OCTETS
    parse_register(["ep=a"], big, 40)
    assert big not in registration_module._OBJECTS_CACHE
