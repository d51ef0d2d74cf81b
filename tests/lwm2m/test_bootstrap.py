"""Bootstrap interface: each command on the client side (Delete on / and on objects and
instances, Write of /0 and /1, Discover on / and on an object, Finish), and the bootstrap
server's sequence, its error reports and its configuration checks."""

import asyncio
import socket

import pytest
from aiocoap import Message, resource
from aiocoap.numbers.codes import Code

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.lwm2m import linkformat
from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from lwm2m_sms.lwm2m.client import BootstrapSchedule, Lwm2mClient, ServerAccount
from lwm2m_sms.lwm2m.content import encode_payload
from lwm2m_sms.lwm2m.exceptions import ConfigError
from lwm2m_sms.lwm2m.server import Lwm2mServer
from lwm2m_sms.sms.address import parse_msisdn


from lwm2m_sms.lwm2m.udp import local_port as port_of
from waiting import until


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


def bootstrap_commands(base, account=None):
    """What a bootstrap server sends a device at ``base`` (coap://...): Delete /, Write
    /0/1 and /1/0 of ``account`` (default: a server at coap://127.0.0.1:8), Finish."""
    account = account or ServerAccount("coap://127.0.0.1:8")
    commands = [Message(code=Code.DELETE, uri=base + "/")]
    for path, inst in (((0, 1), account.security_instance()), ((1, 0), account.server_instance())):
        cf, body = encode_payload(path, inst)
        commands.append(Message(code=Code.PUT, uri=base + "/%d/%d" % path, content_format=cf, payload=body))
    return commands + [Message(code=Code.POST, uri=base + "/bs")]


async def run_bootstrap(peer, base, account=None):
    """``peer`` bootstraps the device at ``base``; the Finish's answer code."""
    for command in bootstrap_commands(base, account):
        response = await peer.request(command).response
    return response.code


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
        # discovered after the Delete, before the Writes: what the device kept
        assert session.succeeded and {l.target for l in session.discovered} >= {"/", "/0/0", "/3/0"}
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

        async def render_get(self, request):
            return Message(code=Code.CONTENT, content_format=40, payload=b"</0/0>")

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
        assert [(s.step, s.code) for s in session.steps] == [
            ("Delete /", Code.DELETED), ("Discover /", Code.CONTENT), ("Write /0/1", Code.UNAUTHORIZED)]
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

FINISH_WAIT = 60  # start()'s bootstrap_timeout: the silence a session may have before it is given up


async def _until_cancelled():
    await asyncio.get_running_loop().create_future()


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
        if seconds == FINISH_WAIT:
            return await _until_cancelled()
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
        if seconds == FINISH_WAIT:
            return await _until_cancelled()
        waits.append(seconds)
        await release.wait()

    client = Lwm2mClient(await contexts(), "purge", bootstrap=f"coap://127.0.0.1:{bs.port}",
                         bootstrap_account_timeout=90, sleep=sleep)
    try:
        await client.start()
        assert waits == [90] and client.objects[0][0][1] is True  # kept while the timeout runs
        release.set()
        await asyncio.wait_for(client._purge, 5)  # the purge's own task, not a polling loop
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


def test_bootstrap_retries_with_jitter_leave_lockstep_but_not_the_hold_off():
    s = BootstrapSchedule(hold_off=10, first_retry=2, max_retry=10, attempts=4, jitter=0.5)
    assert [s.delay_before(i, rand=lambda: 0.999999) for i in range(4)] == pytest.approx([10, 1, 2, 4], abs=1e-4)
    assert [s.delay_before(i, rand=lambda: 0.0) for i in range(5)] == [10, 2, 4, 8, None]
    with pytest.raises(ConfigError, match="jitter"):
        BootstrapSchedule(jitter=1.5)


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



def _answering(gate=None):
    """A send() standing in for a device that answers every bootstrap command with
    success (after ``gate`` is set, when given)."""
    codes = {Code.DELETE: Code.DELETED, Code.PUT: Code.CHANGED, Code.GET: Code.CONTENT, Code.POST: Code.CHANGED}

    async def send(remote, request):
        if gate is not None:
            await gate.wait()
        return Message(code=codes[request.code], payload=b"</0/0>" if request.code == Code.GET else b"")
    return send


async def test_session_history_is_bounded_and_a_number_is_trusted_only_while_its_session_runs():
    """With a default configuration any endpoint name starts a session: the finished ones
    kept are bounded; the device number of an SMS session is let in only while it runs."""
    config = BootstrapConfig.from_dict({
        "default": {"servers": [{"uri": "coap://127.0.0.1:5683"}]},
        "endpoints": {"listed": {"sms": "+15550101", "servers": [{"uri": "coap://127.0.0.1:5683"}]}}})
    gate = asyncio.Event()
    bs = BootstrapServer(config, send=_answering(gate), max_history=3)
    device = parse_msisdn("+15550199")
    running = asyncio.ensure_future(bs.push("ep0", "+15550199"))
    await until(lambda: "ep0" in bs.sessions, what="the push's session open")
    assert bs.sessions["ep0"].state == "running" and bs.knows_sms(device)
    with pytest.raises(ConfigError, match="running"):
        await bs.push("ep0", "+15550198")     # one session per endpoint, pushed or not
    gate.set()
    assert (await running).state == "succeeded"
    assert not bs.knows_sms(device)
    for i in range(1, 5):
        assert (await bs.push(f"ep{i}", "+15550199")).state == "succeeded"
    assert list(bs.sessions) == ["ep2", "ep3", "ep4"]
    assert not bs.knows_sms(device) and bs.knows_sms(parse_msisdn("+15550101"))
    assert bs.stats.pushed == 5 and bs.stats.succeeded == 5


async def test_push_beyond_max_sessions_is_refused():
    gate = asyncio.Event()
    bs = BootstrapServer(config_for("a"), send=_answering(gate), max_sessions=1)
    bs.config = BootstrapConfig.from_dict({"default": {"servers": [{"uri": "coap://127.0.0.1:5683"}]}})
    first = asyncio.ensure_future(bs.push("a", "coap://127.0.0.1:9"))
    await until(lambda: "a" in bs.sessions, what="the first push's session open")
    with pytest.raises(ConfigError, match="1 bootstraps are running"):
        await bs.push("b", "coap://127.0.0.1:9")
    gate.set()
    assert (await first).state == "succeeded"


def test_sms_numbers_in_the_default_are_refused():
    with pytest.raises(ConfigError, match="per endpoint"):
        BootstrapConfig.from_dict({"default": {"sms": "+15550101", "servers": [{"uri": "coap://127.0.0.1:5683"}]}})


async def test_bootstrap_write_of_an_instance_replaces_it_and_the_old_number_is_no_longer_trusted(bootstrapping):
    client, send = bootstrapping
    old = parse_msisdn("+15550000")
    for account in (ServerAccount("coap://127.0.0.1:5683", 1, 60, "UQS", old), ServerAccount("coap://127.0.0.1:5683")):
        cf, body = encode_payload((0, 1), account.security_instance())
        assert (await send(Code.PUT, "/0/1", content_format=cf, payload=body)).code == Code.CHANGED
    assert 9 not in client.objects[0][1] and not client.trust.known(old)


async def test_a_bootstrap_request_answered_5_03_is_asked_again_with_back_off(contexts):
    """5.03 (the bootstrap server has too many sessions running) is not a refusal: the
    device asks again after the back-off, and bootstraps when the server has room."""
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    bs = BootstrapServer(BootstrapConfig.from_dict(
        {"endpoints": {"busy": {"servers": [{"uri": f"coap://127.0.0.1:{server.port}"}]}}}))
    answers = []

    class Busy(resource.Resource):
        async def render_post(self, request):
            answers.append(request)
            if len(answers) == 1:
                return Message(code=Code.SERVICE_UNAVAILABLE, payload=b"too many bootstraps running")
            return bs._handle_request(request)

    ctx = await contexts()
    site = resource.Site()
    site.add_resource(["bs"], Busy())
    ctx.serversite = site
    bs.start(ctx)
    delays = []

    async def sleep(seconds):
        if seconds == FINISH_WAIT:
            return await _until_cancelled()
        delays.append(seconds)

    client = Lwm2mClient(await contexts(), "busy", bootstrap=f"coap://127.0.0.1:{port_of(ctx)}", sleep=sleep)
    try:
        await asyncio.wait_for(client.start(), 20)
        assert delays == [2.0] and len(answers) == 2
        assert client.stats["bootstrap_unanswered"] == 1 and server.registration("busy") is not None
    finally:
        await client.stop()
        await server.close()


async def test_a_server_initiated_bootstrap_that_stalls_is_left(contexts):
    """The bootstrap server opens a session (Delete /) and goes away: the device leaves
    the session after session_timeout without a command (a command restarts the wait),
    serves other peers again, and, its server accounts deleted, bootstraps on its own."""
    ctx, peer, other = await contexts(), await contexts(), await contexts()
    base = f"coap://127.0.0.1:{port_of(ctx)}"
    sleeps = []

    async def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 1:  # the session moves once during the first wait
            r = await peer.request(Message(code=Code.GET, uri=base + "/", accept=40)).response
            assert r.code == Code.CONTENT

    client = Lwm2mClient(ctx, "stall", bootstrap=f"coap://127.0.0.1:{port_of(peer)}", server="coap://127.0.0.1:8",
                         sleep=sleep, bootstrap_schedule=BootstrapSchedule(session_timeout=30, attempts=1))
    before = set(client._tasks or ())
    assert (await peer.request(Message(code=Code.DELETE, uri=base + "/")).response).code == Code.DELETED
    assert (await other.request(Message(code=Code.GET, uri=base + "/3/0/0")).response).code == Code.UNAUTHORIZED
    await asyncio.wait_for(asyncio.gather(*(set(client._tasks) - before)), 10)
    assert sleeps == [30, 30] and client.stats["bootstrap_abandoned"] == 1
    assert not client.bootstrap_state.active
    assert client.stats["bootstrap_requests"] == 1  # then it asked for a bootstrap itself (the peer has no /bs)
    assert (await other.request(Message(code=Code.GET, uri=base + "/3/0/0")).response).code == Code.CONTENT
    await client.stop(deregister=False)


async def test_the_account_timeout_runs_from_the_last_bootstrap(contexts):
    """Two server-initiated bootstraps: the first one's account timeout, when it ends,
    no longer purges the bootstrap account; the second one's does."""
    ctx, peer = await contexts(), await contexts()
    base = f"coap://127.0.0.1:{port_of(ctx)}"
    calls: asyncio.Queue = asyncio.Queue()

    async def sleep(seconds):
        gate = asyncio.get_running_loop().create_future()
        await calls.put((seconds, gate))
        await gate

    async def purge_wait():
        while True:  # the session watchdog's waits (300 s) stay pending; they end with Finish
            seconds, gate = await asyncio.wait_for(calls.get(), 10)
            if seconds == 60:
                return gate

    client = Lwm2mClient(ctx, "twice", bootstrap=f"coap://127.0.0.1:{port_of(peer)}", bootstrap_account_timeout=60,
                         sleep=sleep)

    assert await run_bootstrap(peer, base) == Code.CHANGED
    first = await purge_wait()
    assert await run_bootstrap(peer, base) == Code.CHANGED
    second = await purge_wait()
    assert first.cancelled()  # cancelled, not left to purge at the first one's time
    second.set_result(None)
    await asyncio.wait_for(client._purge, 5)
    assert 0 not in client.objects[0] and 1 in client.objects[0]
    await client.stop(deregister=False)


class _SmsRemote:
    def __init__(self, number):
        self.msisdn = number
        self.uri_base = f"coap+sms://{number}"


def _bs_request(ep):
    msg = Message(code=Code.POST, uri_path=("bs",))
    msg.opt.uri_query = (f"ep={ep}",)
    return msg


async def test_sms_filter_ties_each_number_to_its_endpoint_and_sessions_to_their_device():
    """A number listed for one endpoint cannot ask for another (not even one the default
    covers); while a session runs only its device's number gets other SMS in, and not
    once the session ended."""
    config = BootstrapConfig.from_dict({
        "default": {"servers": [{"uri": "coap://127.0.0.1:5683"}]},
        "endpoints": {"a": {"sms": "+15550101", "servers": [{"uri": "coap://127.0.0.1:5683"}]},
                      "b": {"sms": "+15550102", "servers": [{"uri": "coap://127.0.0.1:5683"}]}}})
    gate = asyncio.Event()
    bs = BootstrapServer(config, send=_answering(gate))
    a, b, stranger = _SmsRemote("+15550101"), _SmsRemote("+15550102"), _SmsRemote("+15550666")
    assert bs.sms_accept_filter(a, _bs_request("a"))
    for remote, ep in ((a, "b"), (a, "anything"), (stranger, "a"), (b, "a")):
        assert not bs.sms_accept_filter(remote, _bs_request(ep))
    ack = Message(code=Code.CHANGED)
    assert not bs.sms_accept_filter(a, ack)  # no session with a yet
    pushed = asyncio.ensure_future(bs.push("a", "+15550101"))
    await until(lambda: "a" in bs.sessions, what="the push's session open")
    assert bs.sms_accept_filter(a, ack) and not bs.sms_accept_filter(stranger, ack)
    gate.set()
    await pushed
    assert not bs.sms_accept_filter(a, ack)
    assert bs.stats.dropped_sms == 7


async def test_an_endpoint_is_not_bootstrapped_again_within_min_interval(contexts):
    """Each session costs about ten SMS: a Bootstrap-Request right after the endpoint's
    last session ended is answered 5.03 with Max-Age (the device asks again later)."""
    clock = FakeClock()
    bs = BootstrapServer(config_for("again"), send=_answering(), min_interval=30, clock=clock)
    server_ctx, peer = await contexts(), await contexts()
    server_ctx.serversite = bs.site

    async def ask():
        msg = Message(code=Code.POST, uri=f"coap://127.0.0.1:{port_of(server_ctx)}/bs")
        msg.opt.uri_query = ("ep=again",)
        return await peer.request(msg).response

    assert (await ask()).code == Code.CHANGED
    await asyncio.wait_for(bs.sessions["again"].done, 5)
    await clock.advance(29)
    refused = await ask()
    assert refused.code == Code.SERVICE_UNAVAILABLE and refused.opt.max_age == 1
    await clock.advance(1)
    assert (await ask()).code == Code.CHANGED
    assert bs.stats.requests == 2 and bs.stats.refused == 1
    await bs.close()


async def test_server_accounts_are_written_clear_of_the_bootstrap_account(contexts):
    """A device that keeps its bootstrap account at /0/1 (not /0/0): the bootstrap server
    learns it from the Discover and writes the server account at /0/2, so the device keeps
    its bootstrap server."""
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    bs = await BootstrapServer.create_udp(config_for("at-one", sms_number="+15550000"), ("127.0.0.1", 0))
    bs.config = BootstrapConfig.from_dict({"endpoints": {"at-one": {"servers": [
        {"uri": f"coap://127.0.0.1:{server.port}", "short_server_id": 4}]}}})
    client = Lwm2mClient(await contexts(), "at-one", bootstrap=f"coap://127.0.0.1:{bs.port}")
    client.objects[0][1] = client.objects[0].pop(0)
    try:
        await client.start()
        assert client.objects[0][1][1] is True and client.objects[0][1][0] == f"coap://127.0.0.1:{bs.port}"
        assert client.objects[0][2][10] == 4 and server.registration("at-one") is not None
        assert [s.step for s in bs.sessions["at-one"].steps] == ["Delete /", "Discover /", "Write /0/2", "Write /1/0", "Finish"]
    finally:
        await client.stop()
        await bs.close()
        await server.close()


@pytest.mark.parametrize("ep", ["dev\nINFO forged log line", "x" * 129, "nul\x00"])
async def test_an_unprintable_or_overlong_endpoint_name_is_refused(contexts, caplog, ep):
    bs = BootstrapServer(BootstrapConfig.from_dict({"default": {"servers": [{"uri": "coap://127.0.0.1:5683"}]}}),
                         send=_answering())
    server_ctx, peer = await contexts(), await contexts()
    server_ctx.serversite = bs.site
    msg = Message(code=Code.POST, uri=f"coap://127.0.0.1:{port_of(server_ctx)}/bs")
    msg.opt.uri_query = (f"ep={ep}",)
    assert (await peer.request(msg).response).code == Code.BAD_REQUEST
    assert bs.sessions == {} and bs.stats.refused == 1
    assert all("\n" not in r.getMessage() and "\x00" not in r.getMessage() for r in caplog.records)
    # by SMS from an unlisted number the drop's log line is escaped too
    bs.sms_accept_filter(_SmsRemote("+15550666"), _bs_request(ep))
    assert all("\n" not in r.getMessage() and "\x00" not in r.getMessage() for r in caplog.records)


async def test_a_client_initiated_session_is_given_up_on_silence_not_on_its_length(contexts):
    """The bootstrap timeout is the silence allowed between commands: a session that takes
    four waits but moves in each finishes; one that does not move is given up."""
    ctx, peer = await contexts(), await contexts()

    class Accepts(resource.Resource):
        async def render_post(self, request):
            return Message(code=Code.CHANGED)

    site = resource.Site()
    site.add_resource(["bs"], Accepts())
    peer.serversite = site
    base = f"coap://127.0.0.1:{port_of(ctx)}"
    commands = bootstrap_commands(base)
    waits = []

    async def sleep(seconds):
        waits.append(seconds)
        if commands:  # one command per wait: the session moves
            await peer.request(commands.pop(0)).response

    client = Lwm2mClient(ctx, "slow", bootstrap=f"coap://127.0.0.1:{port_of(peer)}", sleep=sleep)
    await asyncio.wait_for(client.bootstrap(timeout=FINISH_WAIT), 10)
    assert waits == [FINISH_WAIT] * 4 and client.bootstrap_state.completed == ["client"]
    with pytest.raises(ConfigError, match="no command from the bootstrap server for 60 s"):
        await asyncio.wait_for(client.bootstrap(timeout=FINISH_WAIT), 10)  # nothing comes now
    assert not client.bootstrap_state.active


async def test_a_smartcard_comes_before_the_factory_accounts(contexts):
    """LwM2M 1.0.2 5.2.3: Bootstrap from Smartcard first; Factory Bootstrap only for a
    device the card did not configure. The card's server wins over the built-in one."""
    factory = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    carded = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    card = Smartcard.from_accounts([ServerAccount(f"coap://127.0.0.1:{carded.port}", 9)])
    client = Lwm2mClient(await contexts(), "carded", server=f"coap://127.0.0.1:{factory.port}", smartcard=card)
    try:
        await client.start()
        assert carded.registration("carded") is not None and factory.registrations() == []
        assert client.bootstrap_state.completed == ["smartcard"]
    finally:
        await client.stop()
        await factory.close()
        await carded.close()


async def test_a_device_that_registers_with_none_of_its_servers_falls_back_to_bootstrap(contexts):
    """5.2.3: factory accounts whose server is gone; the device bootstraps and registers
    with the server the bootstrap server names."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    gone = probe.getsockname()[1]
    probe.close()  # nobody listens: the Register gets an ICMP error at once
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    bs = await BootstrapServer.create_udp(config_for("fallback"), ("127.0.0.1", 0))
    bs.config = BootstrapConfig.from_dict({"endpoints": {"fallback": {"servers": [
        {"uri": f"coap://127.0.0.1:{server.port}"}]}}})
    client = Lwm2mClient(await contexts(), "fallback", server=f"coap://127.0.0.1:{gone}",
                         bootstrap=f"coap://127.0.0.1:{bs.port}")
    try:
        await asyncio.wait_for(client.start(), 20)
        assert server.registration("fallback") is not None
        assert client.bootstrap_state.completed == ["client"] and client.stats["bootstrap_requests"] == 1
    finally:
        await client.stop()
        await bs.close()
        await server.close()


async def test_a_step_without_answer_fails_the_session_on_the_servers_clock():
    """step_timeout runs on the injectable clock: no real second passes here."""
    clock = FakeClock()
    bs = BootstrapServer(config_for("mute"), send=_answering(asyncio.Event()), clock=clock, step_timeout=120)
    pushed = asyncio.ensure_future(bs.push("mute", "+15550101"))
    await clock.sleeping(120)  # the first step's timer is armed
    await clock.advance(120)
    session = await asyncio.wait_for(pushed, 5)
    assert session.state == "failed" and session.error == "Delete /: no answer within 120 s"
    assert bs.stats.failed == 1 and not bs.knows_sms(parse_msisdn("+15550101"))


async def test_a_flood_from_one_stranger_is_counted_in_full_and_logged_once_a_minute(caplog):
    clock = FakeClock()
    bs = BootstrapServer(config_for("quiet"), clock=clock)
    stranger = _SmsRemote("+15550666")
    with caplog.at_level("WARNING", logger="lwm2m_sms.lwm2m.bootstrap"):
        for _ in range(100):
            assert not bs.sms_accept_filter(stranger, _bs_request("quiet"))
        await clock.advance(60)
        assert not bs.sms_accept_filter(stranger, Message(code=Code.CHANGED))
    lines = [r.getMessage() for r in caplog.records if "+15550666" in r.getMessage()]
    assert bs.stats.dropped_sms == 101 and len(lines) == 2
    assert "99 more from this number" in lines[1]
