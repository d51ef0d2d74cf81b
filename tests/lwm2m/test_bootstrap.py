"""Bootstrap interface: each command on the client side (Delete on / and on objects and
instances, Write of /0 and /1, Discover on / and on an object, Finish), and the bootstrap
server's sequence, its error reports and its configuration checks."""

import asyncio
import socket

import pytest
from aiocoap import Message, resource
from aiocoap.numbers.codes import Code

from lwm2m_sms.lwm2m import linkformat
from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from lwm2m_sms.lwm2m.client import BootstrapSchedule, Lwm2mClient, ServerAccount
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
    peer = await contexts()
    client = Lwm2mClient(ctx, "bsc", bootstrap=f"coap://127.0.0.1:{port_of(peer)}", server="coap://127.0.0.1:8")
    client.bootstrap_state.begin("client")
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
    accounts = client.server_accounts()
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
    assert not client.bootstrap_state.finished.done()
    account = ServerAccount("coap://127.0.0.1:5683")
    for path, inst in (((0, 1), account.security_instance()), ((1, 0), account.server_instance())):
        cf, body = encode_payload(path, inst)
        await send(Code.PUT, "/%d/%d" % path, content_format=cf, payload=body)
    assert (await send(Code.POST, "/bs")).code == Code.CHANGED
    assert client.bootstrap_state.finished.done()


async def test_while_bootstrapping_only_the_bootstrap_server_is_served(bootstrapping, contexts):
    client, _send = bootstrapping
    other = await contexts()
    base = f"coap://127.0.0.1:{port_of(client.context)}"
    for code, path in ((Code.DELETE, "/"), (Code.GET, "/3/0/0"), (Code.POST, "/bs")):
        r = await other.request(Message(code=code, uri=base + path)).response
        assert r.code == Code.UNAUTHORIZED
    assert 1 in client.objects[0] and client.bootstrap_state.active


async def test_commands_outside_bootstrap(bootstrapping, contexts):
    client, send = bootstrapping
    client.bootstrap_state.end()
    other = await contexts()
    base = f"coap://127.0.0.1:{port_of(client.context)}"
    assert (await send(Code.POST, "/bs")).code == Code.METHOD_NOT_ALLOWED
    # from anyone but the bootstrap server, Delete / is no bootstrap command
    assert (await other.request(Message(code=Code.DELETE, uri=base + "/")).response).code == Code.METHOD_NOT_ALLOWED
    assert 1 in client.objects[0]
    # from the bootstrap server it opens a Server Initiated Bootstrap
    assert (await send(Code.DELETE, "/")).code == Code.DELETED
    assert client.bootstrap_state.active and client.bootstrap_state.initiated_by == "server"
    assert 1 not in client.objects[0]


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


# --- client timers: hold-off, retry back-off, account timeout (on the client's sleep) ---


async def test_bootstrap_request_retried_with_back_off_after_the_hold_off(contexts):
    """No answer (nobody listens yet: ICMP unreachable): the request is retried after 2, 4,
    ... s on the client's sleep; the bootstrap server comes up during the third wait."""
    from lwm2m_sms.lwm2m.bootstrap import BootstrapServer
    from lwm2m_sms.lwm2m.server import Lwm2mServer

    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    config = BootstrapConfig.from_dict({"endpoints": {"late": {"servers": [{"uri": f"coap://127.0.0.1:{server.port}"}]}}})
    delays, started = [], []

    async def sleep(seconds):
        delays.append(seconds)
        if len(delays) == 3:
            started.append(await BootstrapServer.create_udp(config, ("127.0.0.1", port)))

    client = Lwm2mClient(await contexts(), "late", bootstrap=f"coap://127.0.0.1:{port}", hold_off=30, sleep=sleep)
    try:
        await asyncio.wait_for(client.start(), 20)
        assert delays == [30, 2.0, 4.0]
        assert client.stats["bootstrap_requests"] == 3 and client.stats["bootstrap_unanswered"] == 2
        assert server.registration("late") is not None
    finally:
        await client.stop()
        for bs in started:
            await bs.close()
        await server.close()


async def test_bootstrap_account_purged_after_its_timeout(contexts):
    from lwm2m_sms.lwm2m.bootstrap import BootstrapServer
    from lwm2m_sms.lwm2m.server import Lwm2mServer

    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    config = BootstrapConfig.from_dict({"endpoints": {"purge": {"servers": [{"uri": f"coap://127.0.0.1:{server.port}"}]}}})
    bs = await BootstrapServer.create_udp(config, ("127.0.0.1", 0))
    waits, release = [], asyncio.Event()

    async def sleep(seconds):
        waits.append(seconds)
        await release.wait()

    client = Lwm2mClient(await contexts(), "purge", bootstrap=f"coap://127.0.0.1:{bs.port}",
                         bootstrap_account_timeout=60, sleep=sleep)
    try:
        await client.start()
        assert waits == [60] and client.objects[0][0][1] is True  # kept while the timeout runs
        release.set()
        for _ in range(100):
            if 0 not in client.objects[0]:
                break
            await asyncio.sleep(0)
        assert 0 not in client.objects[0] and 1 in client.objects[0]
        assert server.registration("purge") is not None
    finally:
        await client.stop()
        await bs.close()
        await server.close()


def test_bootstrap_schedule():
    s = BootstrapSchedule(hold_off=10, first_retry=2, max_retry=10, attempts=6)
    assert [s.delay_before(i) for i in range(7)] == [10, 2, 4, 8, 10, 10, None]
    assert BootstrapSchedule(attempts=None).delay_before(1000) == 300


@pytest.mark.parametrize("endpoint,match", [
    ({"sms": 15550101}, "a number or a list"),
    ({"sms": ["+15550101", "12x"]}, "sms"),
    ({"phone": "+15550101"}, "unknown endpoint settings"),
])
def test_endpoint_configuration_refused(endpoint, match):
    with pytest.raises(ConfigError, match=match):
        BootstrapConfig.from_dict({"endpoints": {"x": {"servers": [{"uri": "coap://127.0.0.1:5683"}], **endpoint}}})


def test_endpoint_sms_numbers_in_either_form():
    config = BootstrapConfig.from_dict({"endpoints": {
        "one": {"sms": "15550101", "servers": [{"uri": "coap://127.0.0.1:5683"}]},
        "two": {"sms": ["+15550102", "tel:+15550103"], "servers": [{"uri": "coap://127.0.0.1:5683"}]}}})
    assert config.endpoints["one"].sms == {parse_msisdn("+15550101")}
    assert config.endpoints["two"].sms == {parse_msisdn("+15550102"), parse_msisdn("+15550103")}


from hypothesis import given, strategies as st  # noqa: E402

from lwm2m_sms.lwm2m.client import Smartcard  # noqa: E402


@given(security=st.binary(max_size=80) | st.sampled_from([b"\x08\x00\x03\xc1\x02\x03", b"\xc1\x00\x05"]),
       server=st.binary(max_size=80))
def test_a_smartcard_with_any_content_is_read_or_refused_clearly(security, server):
    try:
        sec, srv = Smartcard(security, server).instances()
    except ConfigError:
        return
    assert all(isinstance(inst, dict) for inst in (*sec.values(), *srv.values()))


async def test_requests_cannot_pile_up_sessions(contexts):
    """A device that never answers holds its endpoint's session: another peer asking for
    the same endpoint is refused, and past max_sessions everyone is."""
    config = BootstrapConfig.from_dict({"default": {"servers": [{"uri": "coap://127.0.0.1:5683"}]}})
    hang = asyncio.Event()

    async def send(remote, request):
        await hang.wait()

    bs = BootstrapServer(config, send=send, max_sessions=2)
    peers = [await contexts() for _ in range(3)]
    server_ctx = await contexts()
    server_ctx.serversite = bs.site
    uri = f"coap://127.0.0.1:{port_of(server_ctx)}/bs"

    async def ask(peer, ep):
        msg = Message(code=Code.POST, uri=uri)
        msg.opt.uri_query = (f"ep={ep}",)
        return (await peer.request(msg).response).code

    assert await ask(peers[0], "a") == Code.CHANGED
    assert await ask(peers[0], "a") == Code.CHANGED        # the same device again: no new session
    assert await ask(peers[1], "a") == Code.BAD_REQUEST    # someone else for the same endpoint
    assert await ask(peers[1], "b") == Code.CHANGED
    assert await ask(peers[2], "c") == Code.SERVICE_UNAVAILABLE
    assert bs.stats.requests == 2 and bs.stats.refused == 2
    await bs.close()

