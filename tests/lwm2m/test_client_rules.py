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


async def test_the_gate_in_front_of_the_message_layer_applies_the_rules(contexts):
    ctx = await contexts()
    client = Lwm2mClient(ctx, "g", server="coap://127.0.0.1:5683", server_sms="+15550000", binding="US")
    mman = ctx.request_interfaces[0].token_interface
    msg = sms_request("+15557777")
    msg.mtype, msg.mid, msg.token = aiocoap.CON, 1, b"\x01"
    assert mman.dispatch_message(msg) is None   # dropped before aiocoap sees it: no ACK
    assert client.stats["dropped_untrusted"] == 1
