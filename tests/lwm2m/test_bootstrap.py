"""Bootstrap interface: each command on the client side (Delete on / and on objects and
instances, Write of /0 and /1, Discover on / and on an object, Finish), and the bootstrap
server's sequence, its error reports and its configuration checks."""

import asyncio

import pytest
from aiocoap import Message, resource
from aiocoap.numbers.codes import Code

from lwm2m_sms.lwm2m import linkformat
from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from lwm2m_sms.lwm2m.client import Lwm2mClient, ServerAccount
from lwm2m_sms.lwm2m.content import encode_payload
from lwm2m_sms.lwm2m.exceptions import ConfigError
from lwm2m_sms.lwm2m.server import Lwm2mServer
from lwm2m_sms.sms.address import parse_msisdn


from lwm2m_sms.lwm2m.udp import local_port as port_of


@pytest.fixture
async def bootstrapping(contexts):
    """A client in the middle of a bootstrap (as after its Bootstrap-Request), with a
    bootstrap account /0/0, a server account /0/1 + /1/0, and a raw CoAP peer to drive it."""
    ctx = await contexts()
    client = Lwm2mClient(ctx, "bsc", bootstrap="coap://127.0.0.1:9", server="coap://127.0.0.1:8")
    client._bootstrapping = True
    client._bootstrap_finished = asyncio.get_running_loop().create_future()
    peer = await contexts()
    base = f"coap://127.0.0.1:{port_of(ctx)}"

    async def send(code, path="", **kw):
        msg = Message(code=code, uri=base + path, **kw)
        return await peer.request(msg).response

    return client, send


async def test_delete_root_keeps_bootstrap_account_and_device(bootstrapping):
    client, send = bootstrapping
    client.objects[1][3] = {0: 3}
    assert (await send(Code.DELETE, "/")).code == Code.DELETED
    assert list(client.objects[0]) == [0] and client.objects[0][0][1] is True
    assert client.objects[1] == {}
    assert 0 in client.objects[3]


async def test_delete_object_and_instance(bootstrapping):
    client, send = bootstrapping
    assert (await send(Code.DELETE, "/0/1")).code == Code.DELETED
    assert list(client.objects[0]) == [0]
    client.objects[1][4] = {0: 4}
    assert (await send(Code.DELETE, "/1")).code == Code.DELETED
    assert client.objects[1] == {}
    assert (await send(Code.DELETE, "/3")).code == Code.BAD_REQUEST


async def test_write_security_and_server_instances(bootstrapping):
    client, send = bootstrapping
    await send(Code.DELETE, "/")
    account = ServerAccount("coap://127.0.0.1:5683", 5, 90, "UQS", parse_msisdn("+15550000"))
    cf, body = encode_payload((0, 2), account.security_instance())
    assert (await send(Code.PUT, "/0/2", content_format=cf, payload=body)).code == Code.CHANGED
    cf, body = encode_payload((1,), {0: account.server_instance()})  # object-level write
    assert (await send(Code.PUT, "/1", content_format=cf, payload=body)).code == Code.CHANGED
    assert client.objects[0][2][9] == "15550000" and client.objects[0][2][6] == 3
    assert client.objects[1][0][7] == "UQS"
    accounts = client._server_accounts()
    assert [(a.uri, a.short_server_id, a.binding, a.lifetime, a.sms_number) for a in accounts] == [
        ("coap://127.0.0.1:5683", 5, "UQS", 90, parse_msisdn("15550000"))]


@pytest.mark.parametrize("resources,words", [
    ({2: 0}, "security mode 0 (PSK)"),
    ({2: 2}, "security mode 2"),
    ({6: 1}, "SMS security mode 1 (DTLS)"),
    ({6: 2}, "SMS security mode 2 (secure packet"),
])
async def test_write_of_a_security_mode_other_than_nosec_is_refused(bootstrapping, resources, words):
    client, send = bootstrapping
    inst = ServerAccount("coap://127.0.0.1:5683").security_instance() | resources
    cf, body = encode_payload((0, 4), inst)
    r = await send(Code.PUT, "/0/4", content_format=cf, payload=body)
    assert r.code == Code.BAD_REQUEST
    assert words in r.payload.decode() and "only NoSec (3)" in r.payload.decode()
    assert 4 not in client.objects[0]


async def test_discover_root_and_object(bootstrapping):
    client, send = bootstrapping
    r = await send(Code.GET, "/", accept=40)
    links = linkformat.parse(r.payload)
    assert links[0] == linkformat.Link("/", {"lwm2m": "1.0"})
    assert [(l.target, l.attributes.get("ssid")) for l in links[1:]] == [
        ("/0/0", None), ("/0/1", 1), ("/1/0", 1), ("/3/0", None)]
    r = await send(Code.GET, "/1", accept=40)
    assert [l.target for l in linkformat.parse(r.payload)] == ["/1/0"]


async def test_finish_needs_a_server_account(bootstrapping):
    client, send = bootstrapping
    await send(Code.DELETE, "/")
    assert (await send(Code.POST, "/bs")).code == Code.NOT_ACCEPTABLE
    assert not client._bootstrap_finished.done()
    account = ServerAccount("coap://127.0.0.1:5683")
    for path, inst in (((0, 1), account.security_instance()), ((1, 0), account.server_instance())):
        cf, body = encode_payload(path, inst)
        await send(Code.PUT, "/%d/%d" % path, content_format=cf, payload=body)
    assert (await send(Code.POST, "/bs")).code == Code.CHANGED
    assert client._bootstrap_finished.done()


async def test_commands_outside_bootstrap(bootstrapping):
    client, send = bootstrapping
    client._bootstrapping = False
    assert (await send(Code.POST, "/bs")).code == Code.METHOD_NOT_ALLOWED
    assert (await send(Code.DELETE, "/")).code == Code.METHOD_NOT_ALLOWED


# --- the bootstrap server --------------------------------------------------------------

def config_for(ep, **server):
    return BootstrapConfig.from_dict({"endpoints": {ep: {"servers": [{"uri": "coap://127.0.0.1:5683", **server}]}}})


async def test_sms_server_account_goes_into_0_9_and_1_7(contexts):
    bs = await BootstrapServer.create_udp(
        config_for("smsdev", binding="UQS", sms_number="+15550000", lifetime=77, short_server_id=3), ("127.0.0.1", 0))
    try:
        client = Lwm2mClient(await contexts(), "smsdev", bootstrap=f"coap://127.0.0.1:{bs.port}")
        await client.bootstrap(timeout=10)
        sec = client.objects[0][1]
        assert (sec[0], sec[1], sec[2], sec[6], sec[9], sec[10]) == ("coap://127.0.0.1:5683", False, 3, 3, "15550000", 3)
        assert client.objects[1][0] == {0: 3, 1: 77, 6: False, 7: "UQS", 4: None, 8: None}
        session = await asyncio.wait_for(bs.sessions["smsdev"].done, 10)  # Finish's answer is in
        assert session.succeeded and {l.target for l in session.discovered} >= {"/", "/0/0", "/0/1", "/1/0", "/3/0"}
    finally:
        await bs.close()


async def test_unknown_endpoint_and_missing_ep_refused(contexts):
    bs = await BootstrapServer.create_udp(config_for("known"), ("127.0.0.1", 0))
    try:
        client = Lwm2mClient(await contexts(), "stranger", bootstrap=f"coap://127.0.0.1:{bs.port}")
        with pytest.raises(ConfigError, match="4.00"):
            await client.bootstrap(timeout=5)
        peer = await contexts()
        r = await peer.request(Message(code=Code.POST, uri=f"coap://127.0.0.1:{bs.port}/bs")).response
        assert r.code == Code.BAD_REQUEST
        assert bs.sessions == {}
    finally:
        await bs.close()


async def test_a_failing_step_is_reported_and_ends_the_session(contexts):
    class Grumpy(resource.Resource):
        """A 'client' that accepts Delete but refuses every Write."""

        async def render_delete(self, request):
            return Message(code=Code.DELETED)

        async def render_put(self, request):
            return Message(code=Code.UNAUTHORIZED, payload=b"no writes here")

    site = resource.Site()
    site.add_resource([], Grumpy())
    site.add_resource(["0", "1"], Grumpy())
    bs = await BootstrapServer.create_udp(config_for("grumpy"), ("127.0.0.1", 0))
    try:
        peer = await contexts()
        peer.serversite = site
        msg = Message(code=Code.POST, uri=f"coap://127.0.0.1:{bs.port}/bs")
        msg.opt.uri_query = ("ep=grumpy",)
        assert (await peer.request(msg).response).code == Code.CHANGED
        session = await asyncio.wait_for(bs.sessions["grumpy"].done, 10)
        assert not session.succeeded
        assert [(s.step, s.code) for s in session.steps] == [("Delete /", Code.DELETED), ("Write /0/1", Code.UNAUTHORIZED)]
        assert session.steps[-1].error == "no writes here"
    finally:
        await bs.close()


@pytest.mark.parametrize("server,match", [
    ({"security_mode": 0}, "security mode 0"),
    ({"sms_security_mode": 4}, "SMS security mode 4"),  # reserved (1, 2, 204 are built)
    ({"binding": "S"}, "needs the server's sms_number"),
    ({"binding": "UQSQ"}, "binding"),
    ({"sms_number": "12x"}, "sms_number"),
    ({"colour": "red"}, "unknown server settings"),
])
def test_configuration_refused(server, match):
    with pytest.raises(ConfigError, match=match):
        config_for("x", **server)


async def test_client_registers_with_every_server_it_was_given(contexts):
    first = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    second = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    config = BootstrapConfig.from_dict({"endpoints": {"two": {"servers": [
        {"uri": f"coap://127.0.0.1:{first.port}", "short_server_id": 1, "lifetime": 100},
        {"uri": f"coap://127.0.0.1:{second.port}", "short_server_id": 2, "lifetime": 200, "binding": "UQ"},
    ]}}})
    bs = await BootstrapServer.create_udp(config, ("127.0.0.1", 0))
    try:
        client = Lwm2mClient(await contexts(), "two", bootstrap=f"coap://127.0.0.1:{bs.port}")
        await client.start()
        assert (first.registration("two").lifetime, first.registration("two").binding) == (100, "U")
        assert (second.registration("two").lifetime, second.registration("two").binding) == (200, "UQ")
        await first.execute("two", "/1/0/8")   # each server triggers its own Update
        await client.stop()
        assert first.registrations() == [] and second.registrations() == []
    finally:
        await bs.close()
        await first.close()
        await second.close()
