"""The rest of the SMPP 3.4 PDU set in the SMSC: data_sm, query_sm, cancel_sm, replace_sm and
submit_multi, each spoken by smpplib's stock client over a real socket. smpplib 2.2.4 has a
codec for data_sm and query_sm (used as is); for cancel_sm, replace_sm and submit_multi it has
none, so those PDUs are built here octet by octet from the spec (not with our codec) and sent
on smpplib's bound session. The link's data_sm, both ways, closes the file."""

import asyncio
import struct

import pytest
import smpplib.client
import smpplib.smpp

from lwm2m_sms.bearer import DeliveryState
from smsc import pdu as P

from waiting import Inbox


def _client(port):
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="thirdparty", password="")
    return client


def _c(text):
    return text.encode() + b"\0"


def _raw(client, command_id, body):
    """Send a hand-built PDU on smpplib's session; return the raw resp (header, body)."""
    seq = client.next_sequence()
    client._socket.sendall(struct.pack(">LLLL", 16 + len(body), command_id, 0, seq) + body)
    while True:
        head = b""
        while len(head) < 16:
            head += client._socket.recv(16 - len(head))
        length, cid, status, rseq = struct.unpack(">LLLL", head)
        rest = b""
        while len(rest) < length - 16:
            rest += client._socket.recv(length - 16 - len(rest))
        if rseq == seq and cid & 0x80000000:
            return (cid, status), P.decode(head + rest)


def _submit(client, dest, text=b"hello", validity=""):
    pdu = smpplib.smpp.make_pdu(
        "submit_sm", client=client, source_addr_ton=1, source_addr_npi=1, source_addr="15550009",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=dest, short_message=text,
        validity_period=validity or None, data_coding=4,  # binary: the link drops text SMS
    )
    client.send_pdu(pdu)
    resp = client.read_pdu()
    assert resp.status == 0
    return resp.message_id.decode() if isinstance(resp.message_id, bytes) else resp.message_id


async def _in_thread(fn, *args):
    return await asyncio.wait_for(asyncio.to_thread(fn, *args), 30)


async def test_data_sm_from_smpplib_reaches_a_link_and_is_acknowledged(smsc, make_link):
    b = await make_link(smsc, "+15550002")
    inbox = Inbox()
    b.set_receiver(inbox)

    def session():
        client = _client(smsc.port)
        pdu = smpplib.smpp.make_pdu(
            "data_sm", client=client, source_addr_ton=1, source_addr_npi=1, source_addr="15550009",
            dest_addr_ton=1, dest_addr_npi=1, destination_addr="15550002", data_coding=4,
            message_payload=b"\x40\x01\x00\x01 over data_sm",
        )
        ours = P.decode(pdu.generate())  # our codec reads smpplib's octets
        assert isinstance(ours, P.DataSm) and ours.destination_addr == "15550002"
        client.send_pdu(pdu)
        resp = client.read_pdu()
        client.unbind()
        client.disconnect()
        return resp.command, resp.status, resp.message_id

    command, status, mid = await _in_thread(session)
    assert (command, status) == ("data_sm_resp", 0) and mid
    (sms,) = await inbox.wait(1)
    assert sms.payload == b"\x40\x01\x00\x01 over data_sm" and str(sms.sender) == "+15550009"


async def test_query_sm_enroute_then_delivered(smsc, make_link):
    def submit_and_query():
        client = _client(smsc.port)
        mid = _submit(client, "15550002")
        query = smpplib.smpp.make_pdu("query_sm", client=client, message_id=mid, source_addr_ton=1,
                                      source_addr_npi=1, source_addr="15550009")
        client.send_pdu(query)
        resp = client.read_pdu()
        client.unbind()
        client.disconnect()
        return mid, resp.command, resp.status, resp.message_state

    mid, command, status, state = await _in_thread(submit_and_query)
    assert (command, status, state) == ("query_sm_resp", 0, P.STATE_ENROUTE)  # no receiver bound yet
    b = await make_link(smsc, "+15550002")
    inbox = Inbox()
    b.set_receiver(inbox)
    await inbox.wait(1)

    def query_again():
        client = _client(smsc.port)
        query = smpplib.smpp.make_pdu("query_sm", client=client, message_id=mid, source_addr_ton=1,
                                      source_addr_npi=1, source_addr="15550009")
        client.send_pdu(query)
        resp = client.read_pdu()
        unknown = smpplib.smpp.make_pdu("query_sm", client=client, message_id="12345", source_addr_ton=1,
                                        source_addr_npi=1, source_addr="15550009")
        client.send_pdu(unknown)
        resp2 = client.read_pdu()
        client.disconnect()
        return resp.status, resp.message_state, resp2.status

    status, state, unknown_status = await _in_thread(query_again)
    assert (status, state) == (0, P.STATE_DELIVERED)
    assert unknown_status == P.ESME_RQUERYFAIL


async def test_cancel_sm_of_a_waiting_message(smsc, make_link):
    def session():
        client = _client(smsc.port)
        mid = _submit(client, "15550002", b"cancel me")
        body = _c("") + _c(mid) + bytes((1, 1)) + _c("15550009") + bytes((1, 1)) + _c("15550002")
        first = _raw(client, P.CANCEL_SM, body)
        again = _raw(client, P.CANCEL_SM, body)  # gone already
        kept = _submit(client, "15550002", b"keep me")
        client.disconnect()
        return first[0], again[0], kept

    first, again, kept = await _in_thread(session)
    assert first == (P.CANCEL_SM_RESP, P.ESME_ROK)
    assert again == (P.CANCEL_SM_RESP, P.ESME_RCANCELFAIL)
    b = await make_link(smsc, "+15550002")
    inbox = Inbox()
    b.set_receiver(inbox)
    (sms,) = await inbox.wait(1)
    assert sms.payload == b"keep me"


async def test_replace_sm_of_a_waiting_message(smsc, make_link):
    def session():
        client = _client(smsc.port)
        mid = _submit(client, "15550002", b"old text")
        new = b"new text"
        body = (_c(mid) + bytes((1, 1)) + _c("15550009") + _c("") + _c("")
                + bytes((0, 0, len(new))) + new)
        resp = _raw(client, P.REPLACE_SM, body)
        bad = _raw(client, P.REPLACE_SM, _c("999") + body[len(_c(mid)):])
        client.disconnect()
        return resp[0], bad[0]

    resp, bad = await _in_thread(session)
    assert resp == (P.REPLACE_SM_RESP, P.ESME_ROK)
    assert bad == (P.REPLACE_SM_RESP, P.ESME_RREPLACEFAIL)
    b = await make_link(smsc, "+15550002")
    inbox = Inbox()
    b.set_receiver(inbox)
    (sms,) = await inbox.wait(1)
    assert sms.payload == b"new text"


async def test_submit_multi_to_two_numbers_and_a_distribution_list(smsc, make_link):
    b = await make_link(smsc, "+15550002")
    c = await make_link(smsc, "+15550003")
    ib, ic = Inbox(), Inbox()
    b.set_receiver(ib)
    c.set_receiver(ic)

    def session():
        client = _client(smsc.port)
        text = b"to many"
        dests = (bytes((1, 1, 1)) + _c("15550002") + bytes((1, 1, 1)) + _c("15550003")
                 + bytes((2,)) + _c("friends"))
        body = (_c("") + bytes((1, 1)) + _c("15550009") + bytes((3,)) + dests
                + bytes((0, 0, 0)) + _c("") + _c("") + bytes((0, 0, 4, 0, len(text))) + text)
        resp = _raw(client, P.SUBMIT_MULTI, body)
        client.disconnect()
        return resp

    (cid, status), resp = await _in_thread(session)
    assert (cid, status) == (P.SUBMIT_MULTI_RESP, P.ESME_ROK)
    assert isinstance(resp, P.SubmitMultiResp) and resp.message_id
    assert resp.unsuccess == [(0, 0, "friends", P.ESME_RINVDSTADR)]  # no distribution lists here
    assert (await ib.wait(1))[0].payload == b"to many"
    assert (await ic.wait(1))[0].payload == b"to many"


@pytest.mark.parametrize("direction", ["data_sm"])
async def test_link_data_sm_both_ways(smsc, make_link, direction):
    a = await make_link(smsc, "+15550001", submit_with=direction)
    b = await make_link(smsc, "+15550002", submit_with=direction)
    ia, ib = Inbox(), Inbox()
    a.set_receiver(ia)
    b.set_receiver(ib)
    long = bytes(range(200))
    s1 = await a.send("+15550002", long, report=True)
    s2 = await b.send("+15550001", b"short reply")
    assert (await asyncio.wait_for(s1.outcome, 10)).state is DeliveryState.DELIVERED
    assert (await asyncio.wait_for(s2.outcome, 10)).state is DeliveryState.SUBMITTED
    assert (await ib.wait(1))[0].payload == long
    assert (await ia.wait(1))[0].payload == b"short reply"


def test_new_pdus_round_trip_in_our_codec():
    pdus = [
        P.DataSm(P.DATA_SM, 3, 0, "", 1, 1, "1555", 1, 1, "1666", 0x40, 1, 4, [(P.TLV_MESSAGE_PAYLOAD, b"xy")]),
        P.SubmitMulti(P.SUBMIT_MULTI, 4, 0, "", 1, 1, "1555", [(1, 1, "1666"), (1, 1, "1777")], ["dl"],
                      short_message=b"hi"),
        P.SubmitMultiResp(P.SUBMIT_MULTI_RESP, 4, 0, "77", [(1, 1, "1777", P.ESME_RINVDSTADR)]),
        P.QuerySm(P.QUERY_SM, 5, 0, "77", 1, 1, "1555"),
        P.QuerySmResp(P.QUERY_SM_RESP, 5, 0, "77", "261201120000000+", P.STATE_DELIVERED, 0),
        P.CancelSm(P.CANCEL_SM, 6, 0, "", "77", 1, 1, "1555", 1, 1, "1666"),
        P.ReplaceSm(P.REPLACE_SM, 7, 0, "77", 1, 1, "1555", "", "", 1, 0, b"new"),
    ]
    for pdu in pdus:
        assert P.decode(pdu.encode()) == pdu
    # smpplib's octets for the two it knows
    seq = type("Seq", (), {"sequence": 0, "next_sequence": lambda self: 1})()
    theirs = smpplib.smpp.make_pdu("query_sm", client=seq, message_id="77", source_addr_ton=1,
                                   source_addr_npi=1, source_addr="1555")
    theirs.sequence = 5
    assert theirs.generate() == pdus[3].encode()
