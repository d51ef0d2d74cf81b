"""The Registration interface, one test per row of the LwM2M 1.0.2 Register / Update /
De-register tables: each parameter present, absent and malformed, over UDP loopback."""

import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.lwm2m.registration import RegistrationRefused, parse_register, parse_update
from lwm2m_sms.lwm2m.server import Lwm2mServer, ServerHooks
from lwm2m_sms.sms.address import parse_msisdn

LINKS = b"</1/0>,</3/0>"


@pytest.fixture
async def coap(contexts):
    return await contexts()


async def send(coap, server, code, path, query=(), payload=b"", cf=40):
    msg = Message(code=code, uri=f"coap://127.0.0.1:{server.port}/{path}", payload=payload,
                  content_format=cf if payload else None)
    msg.opt.uri_query = tuple(query)
    return await coap.request(msg).response


async def register(coap, server, query, payload=LINKS, cf=40):
    return await send(coap, server, Code.POST, "rd", query, payload, cf)


# --- Register ----------------------------------------------------------------------

async def test_register_all_parameters(coap, server, recorder):
    r = await register(coap, server, ["ep=a", "lt=300", "lwm2m=1.0", "b=UQS", "sms=15550001"])
    assert r.code == Code.CREATED and r.opt.location_path[0] == "rd" and len(r.opt.location_path) == 2
    reg = server.registration("a")
    assert (reg.lifetime, reg.version, reg.binding, reg.sms) == (300, "1.0", "UQS", parse_msisdn("+15550001"))
    assert [l.target for l in reg.objects] == ["/1/0", "/3/0"]
    assert reg.location == r.opt.location_path[1]
    assert reg.remote_uri.startswith("coap://127.0.0.1:") and reg.remote is not None
    assert (await recorder.next())[0] == "registered"


async def test_register_defaults_when_optional_parameters_absent(coap, server):
    r = await register(coap, server, ["ep=b"])
    assert r.code == Code.CREATED
    reg = server.registration("b")
    assert (reg.lifetime, reg.version, reg.binding, reg.sms) == (86400, "1.0", "U", None)


@pytest.mark.parametrize("query,code,why", [
    (["lt=60"], Code.BAD_REQUEST, "ep missing"),
    (["ep="], Code.BAD_REQUEST, "ep empty"),
    (["ep=x", "lt=abc"], Code.BAD_REQUEST, "lt not a number"),
    (["ep=x", "lt=0"], Code.BAD_REQUEST, "lt zero"),
    (["ep=x", "lt=-5"], Code.BAD_REQUEST, "lt negative"),
    (["ep=x", "lwm2m=1.1"], Code.PRECONDITION_FAILED, "other version"),
    (["ep=x", "lwm2m=2.0"], Code.PRECONDITION_FAILED, "other version"),
    (["ep=x", "b=T"], Code.BAD_REQUEST, "binding T"),
    (["ep=x", "b=UQSQ"], Code.BAD_REQUEST, "binding UQSQ"),
    (["ep=x", "b=USQ"], Code.BAD_REQUEST, "binding USQ"),
    (["ep=x", "b=u"], Code.BAD_REQUEST, "binding lower case"),
    (["ep=x", "b=S"], Code.BAD_REQUEST, "S without sms"),
    (["ep=x", "b=UQS"], Code.BAD_REQUEST, "UQS without sms"),
    (["ep=x", "b=U", "sms=12ab"], Code.BAD_REQUEST, "sms malformed"),
    (["ep=x", "b=S", "sms=1234567890123456"], Code.BAD_REQUEST, "sms too long"),
    (["ep=x", "foo=1"], Code.BAD_REQUEST, "unknown parameter"),
    (["ep=x", "ep=y"], Code.BAD_REQUEST, "ep twice"),
    (["ep=x", "lt"], Code.BAD_REQUEST, "lt without value"),
])
async def test_register_refused(coap, server, query, code, why):
    r = await register(coap, server, query)
    assert r.code == code, why
    assert r.payload  # the diagnostic says why
    assert server.registrations() == []


@pytest.mark.parametrize("payload,cf", [
    (b"</0/0>,</1/0>", 40),        # the Security object is never registered
    (b"</1/0", 40),                # not link-format
    (b"</a/b>", 40),               # not an LwM2M path
    (b"</3/0/1>", 40),             # a resource, not an object or instance
    (b"</1/0>", 0),                # wrong content format
])
async def test_register_payload_refused(coap, server, payload, cf):
    r = await register(coap, server, ["ep=p"], payload, cf)
    assert r.code == Code.BAD_REQUEST


async def test_register_alternate_path_and_empty_payload(coap, server):
    r = await register(coap, server, ["ep=alt"], b'</lwm2m>;rt="oma.lwm2m",</lwm2m/3/0>')
    assert r.code == Code.CREATED
    reg = server.registration("alt")
    assert reg.root_path == "/lwm2m/" and [l.target for l in reg.objects] == ["/3/0"]
    assert (await register(coap, server, ["ep=empty"], b"")).code == Code.CREATED


async def test_register_version_accepted_per_config(coap, contexts):
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), accepted_versions=("1.0", "1.1"))
    try:
        assert (await register(coap, srv, ["ep=v", "lwm2m=1.1"])).code == Code.CREATED
    finally:
        await srv.close()


async def test_reregistration_replaces_the_old_one(coap, server):
    first = await register(coap, server, ["ep=same", "lt=100"])
    second = await register(coap, server, ["ep=same", "lt=200"])
    assert first.opt.location_path != second.opt.location_path
    assert len(server.registrations()) == 1 and server.registration("same").lifetime == 200
    old = "/".join(first.opt.location_path)
    assert (await send(coap, server, Code.POST, old)).code == Code.NOT_FOUND


# --- Update ------------------------------------------------------------------------

@pytest.fixture
async def registered(coap, server, recorder):
    r = await register(coap, server, ["ep=u", "lt=100", "b=U"])
    await recorder.next("registered")
    return "/".join(r.opt.location_path)


async def test_update_without_parameters_refreshes(coap, server, registered, recorder):
    before = server.registration("u")
    r = await send(coap, server, Code.POST, registered)
    assert r.code == Code.CHANGED
    _, reg = await recorder.next("updated")
    assert reg.updated_at >= before.updated_at and reg.lifetime == 100


@pytest.mark.parametrize("query,payload,check", [
    (["lt=500"], b"", lambda r: r.lifetime == 500),
    (["b=UQ"], b"", lambda r: r.binding == "UQ"),
    (["sms=+15550002"], b"", lambda r: r.sms == parse_msisdn("15550002")),
    (["b=S", "sms=15550003"], b"", lambda r: (r.binding, r.sms.lwm2m_digits) == ("S", "15550003")),
    ([], b"</1/0>,</3/0>,</5/0>", lambda r: [l.target for l in r.objects][-1] == "/5/0"),
])
async def test_update_each_parameter(coap, server, registered, recorder, query, payload, check):
    r = await send(coap, server, Code.POST, registered, query, payload)
    assert r.code == Code.CHANGED
    _, reg = await recorder.next("updated")
    assert check(reg) and check(server.registration("u"))


@pytest.mark.parametrize("query,payload", [
    (["lt=x"], b""), (["b=Q"], b""), (["b=S"], b""), (["sms=abc"], b""), (["ep=other"], b""),
    ([], b"</0/1>"),
])
async def test_update_refused(coap, server, registered, query, payload):
    r = await send(coap, server, Code.POST, registered, query, payload)
    assert r.code == Code.BAD_REQUEST
    assert server.registration("u").lifetime == 100 and server.registration("u").binding == "U"


async def test_update_unknown_location(coap, server, registered):
    assert (await send(coap, server, Code.POST, "rd/nope")).code == Code.NOT_FOUND


# --- De-register ---------------------------------------------------------------------

async def test_deregister(coap, server, registered, recorder):
    r = await send(coap, server, Code.DELETE, registered)
    assert r.code == Code.DELETED
    assert (await recorder.next())[0] == "deregistered"
    assert server.registrations() == []
    assert (await send(coap, server, Code.DELETE, registered)).code == Code.NOT_FOUND


# --- lifetime ------------------------------------------------------------------------

async def test_lifetime_expiry_with_grace(coap, contexts, recorder):
    clock = FakeClock()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=30)
    srv.add_hooks(recorder)
    try:
        await register(coap, srv, ["ep=e", "lt=60"])
        await register(coap, srv, ["ep=f", "lt=600"])
        await clock.advance(60 + 29)
        assert srv.expire_due() == []               # within the grace margin
        await clock.advance(2)                      # the server's expiry task removes it
        assert (await recorder.next("expired"))[1].endpoint == "e"
        assert [r.endpoint for r in srv.registrations()] == ["f"]
    finally:
        await srv.close()


async def test_update_postpones_expiry(coap, contexts, recorder):
    clock = FakeClock()
    srv = await Lwm2mServer.create_udp(("127.0.0.1", 0), clock=clock, grace=0)
    srv.add_hooks(recorder)
    try:
        r = await register(coap, srv, ["ep=g", "lt=60"])
        await clock.advance(50)
        await send(coap, srv, Code.POST, "/".join(r.opt.location_path))
        await clock.advance(50)
        assert srv.expire_due() == [] and len(srv.registrations()) == 1
        await clock.advance(11)
        assert (await recorder.next("expired"))[1].endpoint == "g"
        assert srv.registrations() == []
    finally:
        await srv.close()


# --- hooks ---------------------------------------------------------------------------

async def test_validation_hook_refuses_with_its_code(coap, server):
    class OnlyKnown(ServerHooks):
        def validate_registration(self, params, remote, existing):
            assert remote is not None
            return Code.FORBIDDEN if getattr(params, "endpoint", "") == "evil" else None

    server.add_hooks(OnlyKnown())
    assert (await register(coap, server, ["ep=evil"])).code == Code.FORBIDDEN
    assert (await register(coap, server, ["ep=good"])).code == Code.CREATED


async def test_message_hook_sees_every_registration_message(coap, server, recorder):
    r = await register(coap, server, ["ep=m"])
    await send(coap, server, Code.POST, "/".join(r.opt.location_path))
    await send(coap, server, Code.DELETE, "/".join(r.opt.location_path))
    assert recorder.messages == ["m", "m", "m"]


# --- sans-IO -------------------------------------------------------------------------

def test_sms_binding_by_sms_takes_the_sender_number():
    sender = parse_msisdn("+15550009")
    params = parse_register(["ep=s", "b=S"], b"", 40, sender_msisdn=sender)
    assert params.sms == sender
    with pytest.raises(RegistrationRefused):
        parse_register(["ep=s", "b=S"], b"", 40)


def test_update_parser_all_absent():
    p = parse_update([], b"", None)
    assert (p.lifetime, p.binding, p.sms, p.objects) == (None, None, None, None)


# --- hypothesis: the parsers answer with a code, whatever they get ----------------------

from hypothesis import given, strategies as st  # noqa: E402

query_items = st.lists(st.one_of(
    st.text(max_size=20),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["ep", "lt", "lwm2m", "b", "sms", "x"]), st.text(max_size=16)),
), max_size=6)


@given(query_items, st.binary(max_size=80), st.sampled_from([None, 0, 40, 42, 11542]))
def test_register_parser_raises_only_registration_refused(query, payload, cf):
    try:
        parse_register(query, payload, cf)
    except RegistrationRefused as exc:
        assert exc.code.is_response() and not exc.code.is_successful()


@given(query_items, st.binary(max_size=80), st.sampled_from([None, 0, 40]))
def test_update_parser_raises_only_registration_refused(query, payload, cf):
    try:
        parse_update(query, payload, cf)
    except RegistrationRefused as exc:
        assert not exc.code.is_successful()
