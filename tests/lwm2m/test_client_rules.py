"""The client simulator's reception rules, without a network: queue-mode sleep and SMS
channel trust (an SMS request is accepted only from a server's number)."""

from types import SimpleNamespace

import aiocoap
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.lwm2m.client import Lwm2mClient
from lwm2m_sms.sms.address import parse_msisdn


def sms_request(number):
    msg = Message(code=Code.GET, uri_path=("3", "0", "0"))
    msg.remote = SimpleNamespace(msisdn=parse_msisdn(number), uri_base=f"coap+sms://{number}")
    return msg


async def test_sms_request_only_from_the_servers_number():
    client = Lwm2mClient(aiocoap.Context(serversite=None), "t", server="coap://127.0.0.1:5683",
                         server_sms="+15550000", binding="UQS")
    assert client.accepts(sms_request("+15550000"))
    assert not client.accepts(sms_request("+15559999"))
    assert client.stats["dropped_untrusted"] == 1


async def test_coap_sms_server_uri_names_a_trusted_number():
    client = Lwm2mClient(aiocoap.Context(serversite=None), "t", server="coap+sms://+15550001", binding="S")
    assert client.accepts(sms_request("15550001"))
    assert not client.accepts(sms_request("+15550002"))


async def test_no_server_number_means_no_sms_request_gets_in():
    client = Lwm2mClient(aiocoap.Context(serversite=None), "t", server="coap://127.0.0.1:5683")
    assert not client.accepts(sms_request("+15550000"))
    udp = Message(code=Code.GET)
    udp.remote = SimpleNamespace(uri_base="coap://127.0.0.1:5683")
    assert client.accepts(udp)


async def test_queue_mode_window():
    now = [100.0]
    client = Lwm2mClient(aiocoap.Context(serversite=None), "q", server="coap://127.0.0.1:5683", binding="UQ",
                         queue_window=10, clock=lambda: now[0])
    client._sent_message()
    udp = Message(code=Code.GET)
    now[0] = 109.0
    assert client.accepts(udp)
    now[0] = 111.0
    assert not client.accepts(udp) and client.stats["dropped_asleep"] == 1
    client._sent_message()  # any message the device sends opens the window again
    assert client.accepts(udp)


async def test_sms_from_a_stranger_is_dropped_below_the_message_layer():
    """The one trust check runs as the SMS transport's accept_filter: a request from a
    number no account names gets nothing back (no ACK, no RST, no answer)."""
    from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
    from lwm2m_sms.coap import add_sms_transport

    net = LoopbackNetwork()
    device, stranger, server = (LoopbackBearer(net, n) for n in ("+15550101", "+15557777", "+15550000"))
    for b in (device, stranger, server):
        await b.start()
    ctx = aiocoap.Context(serversite=None)
    transport = await add_sms_transport(ctx, device)
    client = Lwm2mClient(ctx, "g", server="coap://127.0.0.1:5683", server_sms="+15550000", binding="US")
    assert transport.accept_filter == client.trust.accept_filter

    async def nothing_expected(sms):
        raise AssertionError(f"unexpected SMS {sms}")

    for b in (stranger, server):
        b.set_receiver(nothing_expected)
    msg = Message(code=Code.GET, uri_path=("3", "0", "0"), mtype=aiocoap.CON, mid=1, token=b"\x01")  # noqa: raw wire message
    await stranger.send("+15550101", msg.encode())
    await net.drain()
    assert client.stats["dropped_untrusted"] == 1 and transport.stats().total.dropped_untrusted == 1
    assert client.stats["requests"] == 0 and net.sms_carried == 1  # nothing went back
    await ctx.shutdown()


async def test_the_sleep_gate_sits_in_front_of_the_udp_message_layer(contexts):
    now = [100.0]
    ctx = await contexts()
    client = Lwm2mClient(ctx, "g", server="coap://127.0.0.1:5683", binding="UQ", queue_window=10,
                         clock=lambda: now[0])
    client._sent_message()
    now[0] = 200.0
    mman = ctx.request_interfaces[0].token_interface
    msg = Message(code=Code.GET, uri_path=("3", "0", "0"), mtype=aiocoap.CON, mid=1, token=b"\x01")  # noqa: raw wire message
    msg.remote = SimpleNamespace(uri_base="coap://127.0.0.1:5683")
    assert mman.dispatch_message(msg) is None   # dropped before aiocoap sees it: no ACK
    assert client.stats["dropped_asleep"] == 1


# --- whatever a server sends, the device answers with a code ---------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from lwm2m_sms.lwm2m.client import Refused  # noqa: E402

segments = st.one_of(st.sampled_from(["0", "1", "3", "5", "bs", "", "65536", "x"]), st.integers(0, 30).map(str))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=int(__import__("os").environ.get("FUZZ_N", "300")))
@given(
    code=st.sampled_from([Code.GET, Code.PUT, Code.POST, Code.DELETE, Code.FETCH]),
    path=st.lists(segments, max_size=5),
    payload=st.binary(max_size=40),
    cf=st.sampled_from([None, 0, 40, 42, 1541, 1542, 11542, 11543, 60]),
    accept=st.sampled_from([None, 0, 40, 42, 11542, 50]),
    query=st.lists(st.sampled_from(["pmin=1", "pmax=x", "gt=2.5", "lt", "foo=1"]), max_size=3),
    bootstrapping=st.booleans(),
)
async def test_request_handler_answers_with_a_code_whatever_it_gets(code, path, payload, cf, accept, query, bootstrapping):
    client = Lwm2mClient(aiocoap.Context(serversite=None), "fuzz", server="coap://127.0.0.1:5683",
                         bootstrap="coap://127.0.0.1:5783")
    if bootstrapping:
        client.bootstrap_state.begin("client", "coap://127.0.0.1:5783")
    msg = Message(code=code, uri_path=tuple(path), payload=payload, content_format=cf, accept=accept)
    msg.remote = SimpleNamespace(uri_base="coap://127.0.0.1:5783")  # the bootstrap server
    msg.opt.uri_query = tuple(query)
    try:
        response = client.handler.handle(msg)
    except Refused as exc:
        assert not exc.code.is_successful()
    else:
        assert response.code.is_successful()
