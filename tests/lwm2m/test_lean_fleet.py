"""The lean fleet simulator (lwm2m_sms.lwm2m.client.lean, lean_link): the sans-IO core
message by message, checked with aiocoap's decoder; then lean devices against the real
server (Gateway) through the simulated SMSC over TCP loopback SMPP."""

from __future__ import annotations

import random

import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type
from hypothesis import given, settings, strategies as st

from lwm2m_sms.coap import SmsSettings
from lwm2m_sms.gateway import smpp_bearer, start_server
from lwm2m_sms.lwm2m.client.lean import (
    ACK, CON, DEREGISTER, NON, REGISTER, RST, UPDATE, Completed, LeanFleet, Reply, encode_coap,
)
from lwm2m_sms.lwm2m.client.lean_link import LeanRequestFailed, LeanSimulator
from lwm2m_sms.lwm2m.content import ContentFormat, decode_payload
from lwm2m_sms.sms.address import parse_msisdn
from smsc.config import Impairments, SmscConfig
from smsc.server import SimulatedSmsc

SERVER = parse_msisdn("+15550000")
DEV = parse_msisdn("+15560000001")
OTHER = parse_msisdn("+15559999")


def fleet(**kwargs) -> LeanFleet:
    kwargs.setdefault("settings", SmsSettings(ack_timeout=10.0, ack_random_factor=1.0))
    f = LeanFleet(SERVER, lifetime=600, clock=lambda: 1_700_000_000, rng=random.Random(1), **kwargs)
    f.add("dev-1", DEV)
    return f


def answer(request: bytes, mtype: int, code: Code, **options) -> bytes:
    req = Message.decode(request)
    msg = Message(code=code, **options)
    msg.mtype, msg.mid, msg.token = Type(mtype), req.mid, req.token
    return msg.encode()


def server_request(mid: int, token: bytes, path: tuple[str, ...] = ("3", "0"), mtype: int = CON,
                   code: Code = Code.GET, accept: int | None = ContentFormat.TLV.value) -> bytes:
    msg = Message(code=code, uri_path=path)
    if accept is not None:
        msg.opt.accept = accept
    msg.mtype, msg.mid, msg.token = Type(mtype), mid, token
    return msg.encode()


def registered(f: LeanFleet) -> None:
    reply = f.receive(DEV, SERVER, answer(f.register(0, 0.0), ACK, Code.CREATED, location_path=("rd", "ab12")), 0.1)
    assert reply.done == [Completed(0, REGISTER, True)]


def test_register_is_a_con_post_to_rd_with_binding_s_and_the_sms_number():
    f = fleet()
    msg = Message.decode(f.register(0, 0.0))
    assert msg.mtype == Type.CON and msg.code == Code.POST and msg.opt.uri_path == ("rd",)
    assert msg.opt.uri_query == ("ep=dev-1", "lt=600", "lwm2m=1.0", "b=S", "sms=15560000001")
    assert msg.opt.content_format == ContentFormat.LINK_FORMAT.value
    assert msg.payload == b"</1/0>,</3/0>" and len(msg.token) == 4


def test_a_long_endpoint_name_is_encoded_as_coap_extended_lengths():
    f = fleet()
    f.add("x" * 300, parse_msisdn("+15560000002"))
    assert Message.decode(f.register(1, 0.0)).opt.uri_query[0] == "ep=" + "x" * 300


def test_piggybacked_created_gives_the_location():
    f = fleet()
    registered(f)
    assert f.devices[0].location == "/rd/ab12" and f.devices[0].pending is None


def test_separate_response_is_acknowledged_and_completes():
    f = fleet()
    request = f.register(0, 0.0)
    req = Message.decode(request)
    assert f.receive(DEV, SERVER, encode_coap(ACK, 0, req.mid, b""), 0.1).done == []
    later = Message(code=Code.CREATED, location_path=("rd", "9"))
    later.mtype, later.mid, later.token = Type.CON, 4242, req.token
    reply = f.receive(DEV, SERVER, later.encode(), 20.0)  # past ack_timeout: the ACK came first
    ack = Message.decode(reply.send[0][1])
    assert ack.mtype == Type.ACK and ack.mid == 4242 and ack.code == Code.EMPTY
    assert reply.done == [Completed(0, REGISTER, True)] and f.devices[0].location == "/rd/9"


def test_a_repeated_separate_response_gets_the_same_ack_and_a_stray_one_a_reset():
    f = fleet()
    req = Message.decode(f.register(0, 0.0))
    later = Message(code=Code.CREATED, location_path=("rd", "9"))
    later.mtype, later.mid, later.token = Type.CON, 4242, req.token
    first = f.receive(DEV, SERVER, later.encode(), 1.0)
    again = f.receive(DEV, SERVER, later.encode(), 2.0)
    assert again.send == first.send and again.done == [] and f.duplicates == 1
    stray = Message(code=Code.CREATED, location_path=("rd", "9"))
    stray.mtype, stray.mid, stray.token = Type.CON, 4343, b"none"
    (_, octets), = f.receive(DEV, SERVER, stray.encode(), 3.0).send
    assert Message.decode(octets).mtype == Type.RST and f.unmatched == 1


def test_refused_register_fails_with_the_code():
    f = fleet()
    reply = f.receive(DEV, SERVER, answer(f.register(0, 0.0), ACK, Code.BAD_REQUEST), 0.1)
    assert reply.done[0].ok is False and "4.00" in reply.done[0].detail


def test_an_answer_with_another_token_or_mid_is_not_taken():
    f = fleet()
    request = f.register(0, 0.0)
    wrong = Message(code=Code.CREATED, location_path=("rd", "1"))
    wrong.mtype, wrong.mid, wrong.token = Type.ACK, Message.decode(request).mid, b"zzzz"
    assert f.receive(DEV, SERVER, wrong.encode(), 0.1).done == [] and f.unmatched == 1
    assert f.devices[0].pending is not None


def test_read_of_3_0_is_a_piggybacked_tlv_with_token_and_mid():
    f = fleet()
    registered(f)
    reply = f.receive(DEV, SERVER, server_request(777, b"\x01\x02"), 1.0)
    (index, octets), = reply.send
    msg = Message.decode(octets)
    assert index == 0 and msg.mtype == Type.ACK and msg.mid == 777 and msg.token == b"\x01\x02"
    assert msg.code == Code.CONTENT and msg.opt.content_format == ContentFormat.TLV.value
    value = decode_payload((3, 0), msg.opt.content_format, msg.payload)
    assert isinstance(value, dict)
    assert value[0] == "lwm2m-sms" and value[2] == "dev1" and value[16] == "S" and value[13] == 1_700_000_000


def test_a_repeated_request_gets_the_same_octets_and_is_not_processed_again():
    f = fleet()
    first = f.receive(DEV, SERVER, server_request(5, b"t"), 1.0).send
    again = f.receive(DEV, SERVER, server_request(5, b"t"), 2.0).send
    assert again == first and f.duplicates == 1 and f.reads == 1


def test_a_non_request_gets_a_non_answer_with_a_new_mid():
    f = fleet()
    msg = Message.decode(f.receive(DEV, SERVER, server_request(9, b"n", mtype=NON), 1.0).send[0][1])
    assert msg.mtype == Type.NON and msg.mid != 9 and msg.token == b"n" and msg.code == Code.CONTENT


@pytest.mark.parametrize("path, code, accept, expected", [
    (("3", "0", "0"), Code.GET, None, Code.NOT_FOUND),
    (("5", "0"), Code.GET, None, Code.NOT_FOUND),
    (("3", "0"), Code.PUT, None, Code.METHOD_NOT_ALLOWED),
    (("3", "0"), Code.GET, ContentFormat.JSON.value, Code.NOT_ACCEPTABLE),
    (("3", "0"), Code.GET, 1542, Code.CONTENT),
    (("3", "0"), Code.GET, None, Code.CONTENT),
])
def test_what_a_lean_device_answers(path, code, accept, expected):
    f = fleet()
    msg = Message.decode(f.receive(DEV, SERVER, server_request(1, b"a", path, code=code, accept=accept), 1.0).send[0][1])
    assert msg.code == expected


def test_sms_from_another_number_or_to_no_device_is_dropped_silently():
    f = fleet()
    assert f.receive(DEV, OTHER, server_request(1, b"a"), 1.0).send == [] and f.untrusted == 1
    assert f.receive(OTHER, SERVER, server_request(1, b"a"), 1.0).send == [] and f.unrouted == 1


def test_a_ping_gets_a_reset():
    f = fleet()
    msg = Message.decode(f.receive(DEV, SERVER, encode_coap(CON, 0, 31, b""), 1.0).send[0][1])
    assert msg.mtype == Type.RST and msg.mid == 31


def test_one_shot_con_fails_after_the_ack_timeout():
    f = fleet()
    f.register(0, 0.0)
    assert f.next_deadline() == 10.0
    assert f.due(9.9).done == []
    reply = f.due(10.0)
    assert reply.send == [] and reply.done[0].ok is False and "timeout" in reply.done[0].detail
    assert f.devices[0].pending is None


def test_retransmission_sends_the_same_octets_with_doubling_timeouts():
    f = fleet(settings=SmsSettings(ack_timeout=2.0, ack_random_factor=1.0, max_retransmit=2))
    octets = f.register(0, 0.0)
    assert f.due(2.0).send == [(0, octets)]
    assert f.next_deadline() == 6.0 and f.due(6.0).send == [(0, octets)]
    assert f.next_deadline() == 14.0
    done = f.due(14.0).done
    assert done[0].ok is False and "3 transmission" in done[0].detail and f.retransmissions == 2


def test_a_reset_or_a_failed_send_ends_the_request():
    f = fleet()
    mid = Message.decode(f.register(0, 0.0)).mid
    assert f.receive(DEV, SERVER, encode_coap(RST, 0, mid, b""), 1.0).done[0].detail == "Reset by the server"
    mid = Message.decode(f.register(0, 2.0)).mid
    assert f.fail(0, mid + 1, "x") is None
    assert f.fail(0, mid, "bearer refused") == Completed(0, REGISTER, False, "bearer refused")


def test_a_reset_or_an_ack_that_is_not_empty_is_a_format_error_and_ignored():
    # RFC 7252 4.2/4.3: a Reset MUST be Empty; an Empty message has no token nor payload
    # (bytes after the message ID are a format error). Neither may end or advance a request.
    f = fleet()
    register = f.register(0, 0.0)
    mid = Message.decode(register).mid
    reply = f.receive(DEV, SERVER, answer(register, RST, Code.CREATED, location_path=("rd", "ab12")), 0.1)
    assert reply == Reply([], []) and f.devices[0].pending is not None and f.devices[0].location is None
    assert f.receive(DEV, SERVER, encode_coap(ACK, 0, mid, b"tk"), 0.2) == Reply([], [])
    assert f.receive(DEV, SERVER, encode_coap(ACK, 0, mid, b"", payload=b"x"), 0.3) == Reply([], [])
    assert not f.devices[0].pending.acked and f.malformed == 3  # type: ignore[union-attr]
    assert f.receive(DEV, SERVER, answer(register, ACK, Code.CREATED, location_path=("rd", "ab12")), 0.4).done[0].ok


def test_update_after_404_registers_again():
    f = fleet()
    registered(f)
    update = f.update(0, 1.0)
    assert Message.decode(update).opt.uri_path == ("rd", "ab12")
    reply = f.receive(DEV, SERVER, answer(update, ACK, Code.NOT_FOUND), 1.1)
    assert reply.done == [] and f.devices[0].location is None
    again = Message.decode(reply.send[0][1])
    assert again.opt.uri_path == ("rd",) and f.devices[0].pending is not None
    ok = f.receive(DEV, SERVER, answer(reply.send[0][1], ACK, Code.CREATED, location_path=("rd", "cd")), 1.2)
    assert ok.done == [Completed(0, REGISTER, True)] and f.devices[0].location == "/rd/cd"
    assert f.receive(DEV, SERVER, answer(f.update(0, 2.0), ACK, Code.CHANGED), 2.1).done == [Completed(0, UPDATE, True)]


def test_deregister_deletes_the_location():
    f = fleet()
    registered(f)
    octets = f.deregister(0, 1.0)
    delete = Message.decode(octets)
    assert delete.code == Code.DELETE and delete.opt.uri_path == ("rd", "ab12")
    reply = f.receive(DEV, SERVER, answer(octets, ACK, Code.DELETED), 1.1)
    assert reply.done == [Completed(0, DEREGISTER, True)] and f.devices[0].location is None
    with pytest.raises(ValueError):
        f.update(0, 2.0)


def test_one_request_at_a_time_per_device():
    f = fleet()
    f.register(0, 0.0)
    with pytest.raises(ValueError):
        f.register(0, 0.0)


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.binary(max_size=200),
    # a valid header (CON/NON/ACK, token length 0 to 8, any code) before random options
    st.builds(lambda t, tkl, code, rest: bytes([0x40 | t << 4 | tkl, code, 0, 1]) + rest,
              st.integers(0, 2), st.integers(0, 8), st.integers(0, 255), st.binary(max_size=120)),
))
def test_any_payload_from_the_server_is_taken_without_an_exception(payload):
    f = fleet()
    f.register(0, 0.0)
    reply = f.receive(DEV, SERVER, payload, 1.0)
    for _, octets in reply.send:
        Message.decode(octets)  # whatever it answers is CoAP


# -- against the real server, over the simulated SMSC --------------------------------------


@pytest.fixture
async def rig():
    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    server_link = await smpp_bearer(smsc.port, "server", "+15550000", "+15550000")
    gateway = await start_server(bearers=[server_link], sms_settings=SmsSettings(ack_timeout=5.0))
    fleet_link = await smpp_bearer(smsc.port, "fleet", r"^\+?1556.*")
    sim = LeanSimulator(fleet_link, "+15550000", lifetime=3600, settings=SmsSettings(ack_timeout=5.0))
    yield smsc, gateway, sim
    await sim.close()
    await gateway.close()
    for link in (server_link, fleet_link):
        await link.close()
    await smsc.close()


async def test_lean_devices_register_and_are_read_by_the_server(rig):
    smsc, gateway, sim = rig
    for i in range(20):
        sim.add(f"lean-{i}", f"+1556{i:07d}")
    for i in range(20):
        await sim.register(i)
    regs = {r.endpoint: r for r in gateway.server.registrations()}
    assert len(regs) == 20 and regs["lean-7"].binding == "S" and regs["lean-7"].lifetime == 3600
    assert str(regs["lean-7"].sms).lstrip("+") == "15560000007"
    for i in range(20):
        value = (await gateway.server.read(f"lean-{i}", "/3/0")).value
        assert value[0] == "lwm2m-sms" and value[2] == f"lean{i}"
    await sim.update(3)
    await sim.deregister(4)
    assert "lean-4" not in {r.endpoint for r in gateway.server.registrations()}
    assert sim.fleet.reads == 20 and sim.fleet.unmatched == 0


async def test_duplicated_sms_are_answered_from_the_duplicate_memory(rig):
    smsc, gateway, sim = rig
    sim.add("lean-dup", "+15560000100")
    await sim.register(0)
    smsc.impairments.duplicate = 100.0  # the SMSC delivers every SMS twice
    for _ in range(3):
        assert (await gateway.server.read("lean-dup", "/3/0")).value[0] == "lwm2m-sms"
    assert sim.fleet.reads == 3 and sim.fleet.duplicates >= 3


async def test_a_register_nobody_answers_fails_after_its_timeout():
    smsc = SimulatedSmsc(SmscConfig(open=True, impairments=Impairments(loss=100.0)))
    await smsc.start("127.0.0.1", 0)
    link = await smpp_bearer(smsc.port, "fleet", r"^\+?1556.*")
    sim = LeanSimulator(link, "+15550000", settings=SmsSettings(ack_timeout=0.2, ack_random_factor=1.0))
    try:
        sim.add("lean-lost", "+15560000200")
        with pytest.raises(LeanRequestFailed, match="timeout"):
            await sim.register(0)
    finally:
        await sim.close()
        await link.close()
        await smsc.close()


async def test_a_retransmission_goes_out_through_the_link_before_the_request_fails():
    """No server bound: the SMSC takes both copies of the Register (and holds them)."""
    smsc = SimulatedSmsc(SmscConfig(open=True))
    await smsc.start("127.0.0.1", 0)
    link = await smpp_bearer(smsc.port, "fleet", r"^\+?1556.*")
    sim = LeanSimulator(link, "+15550000",
                        settings=SmsSettings(ack_timeout=0.1, ack_random_factor=1.0, max_retransmit=1))
    try:
        sim.add("lean-again", "+15560000300")
        with pytest.raises(LeanRequestFailed, match="no ACK after 2 transmission"):
            await sim.register(0)
        assert smsc.stats.submitted == 2 and sim.fleet.retransmissions == 1
    finally:
        await sim.close()
        await link.close()
        await smsc.close()
