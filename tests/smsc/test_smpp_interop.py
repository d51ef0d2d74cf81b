"""Interop beyond our own code: smpplib's stock blocking client against the simulated SMSC,
and our link against a minimal SMPP server built in this file on smpplib's PDU codec only."""

import asyncio
import struct

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from lwm2m_sms.bearer import DeliveryState
from smsc.config import Account, SmscConfig
from smsc.link import SmppBearer, SmppLinkConfig
from smsc.server import SimulatedSmsc

from waiting import Inbox, until


# -- smpplib's client against our SMSC -----------------------------------------------------


def _stock_client_session(port, results):
    """What a third-party ESME does: bind, submit a binary 2-part message with UDH and a
    receipt request, read the resps and the receipt, unbind."""
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    got = []
    client.set_message_received_handler(lambda pdu: got.append(pdu))
    sent = []
    client.set_message_sent_handler(lambda pdu: sent.append(pdu))
    client.connect()
    client.bind_transceiver(system_id="thirdparty", password="pw")
    for seq in (1, 2):
        udh = bytes([5, 0, 3, 0x11, 2, seq])
        client.send_message(
            source_addr_ton=1, source_addr_npi=1, source_addr="15550009",
            dest_addr_ton=1, dest_addr_npi=1, destination_addr="15550002",
            esm_class=0x40, data_coding=4, registered_delivery=1,
            short_message=udh + bytes([seq]) * 100,
        )
    while len(sent) < 2 or len(got) < 2:
        client.read_once()
    client.unbind()
    client.disconnect()
    results["sent"] = sent
    results["receipts"] = got


async def test_stock_smpplib_client_binds_and_submits(make_link):
    cfg = SmscConfig(accounts=[Account("thirdparty", "pw"), Account("esme0002", "")])
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        b = await make_link(smsc, "+15550002")
        inbox = Inbox()
        b.set_receiver(inbox)
        results = {}
        await asyncio.wait_for(asyncio.to_thread(_stock_client_session, smsc.port, results), 20)
        assert all(p.status == 0 and p.message_id for p in results["sent"])
        receipts = results["receipts"]
        assert all(p.esm_class == 0x04 and b"stat:DELIVRD" in p.short_message for p in receipts)
        assert {p.receipted_message_id for p in receipts} == {p.message_id for p in results["sent"]}
        (sms,) = await inbox.wait(1)
        assert sms.payload == b"\x01" * 100 + b"\x02" * 100 and str(sms.sender) == "+15550009"


def test_stock_smpplib_client_wrong_password():
    async def run():
        cfg = SmscConfig(accounts=[Account("thirdparty", "pw")])
        async with SimulatedSmsc(cfg) as smsc:
            await smsc.start("127.0.0.1", 0)

            def bind():
                client = smpplib.client.Client("127.0.0.1", smsc.port, timeout=5, allow_unknown_opt_params=True)
                client.connect()
                try:
                    client.bind_transmitter(system_id="thirdparty", password="nope")
                except smpplib.exceptions.PDUError as exc:
                    return exc.args[1]
                finally:
                    client.disconnect()

            return await asyncio.to_thread(bind)

    assert asyncio.run(run()) == smpplib.consts.SMPP_ESME_RINVPASWD


# -- our link against a minimal smpplib-codec server -------------------------------------------


class _Seq:
    sequence = 0

    def next_sequence(self):
        self.sequence += 1
        return self.sequence


class MiniSmsc:
    """A deliberately small SMPP server: smpplib parses and generates every PDU."""

    def __init__(self):
        self.seq = _Seq()
        self.submits = []
        self.hold = False
        self.held = []
        self.deliver_resps = []
        self.binds = []
        self.writer = None
        self.bound = asyncio.Event()
        self.next_id = 100
        self.enquires = 0
        self.unbinds = 0
        self.connections = 0
        self.garbage = None  # bytes to send once, right after a bind resp

    async def start(self):
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def close(self):
        self.server.close()
        if self.writer:
            self.writer.close()

    def make(self, name, seq=None, **fields):
        p = smpplib.smpp.make_pdu(name, client=self.seq, **fields)
        if seq is not None:
            p.sequence = seq
        return p

    async def _conn(self, reader, writer):
        self.writer = writer
        self.connections += 1
        try:
            while True:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">L", head)
                raw = head + await reader.readexactly(length - 4)
                pdu = smpplib.smpp.parse_pdu(raw, client=self.seq)
                self._handle(pdu, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    def send(self, pdu):
        self.writer.write(pdu.generate())

    def _handle(self, pdu, writer):
        cmd = pdu.command
        if cmd == "bind_transceiver":
            self.binds.append((pdu.system_id, pdu.password, pdu.address_range))
            self.send(self.make("bind_transceiver_resp", pdu.sequence, system_id="MINI"))
            if self.garbage is not None:
                writer.write(self.garbage)
                self.garbage = None
            self.bound.set()
        elif cmd == "submit_sm":
            self.submits.append(pdu)
            self.next_id += 1
            resp = self.make("submit_sm_resp", pdu.sequence, message_id=str(self.next_id))
            if self.hold:
                self.held.append(resp)
            else:
                self.send(resp)
        elif cmd == "enquire_link":
            self.enquires += 1
            self.send(self.make("enquire_link_resp", pdu.sequence))
        elif cmd == "unbind":
            self.unbinds += 1
            self.send(self.make("unbind_resp", pdu.sequence))
        elif cmd == "deliver_sm_resp":
            self.deliver_resps.append(pdu)

    def release(self):
        self.hold = False
        for resp in self.held:
            self.send(resp)
        self.held = []


@pytest.fixture
async def mini():
    server = MiniSmsc()
    await server.start()
    yield server
    await server.close()


async def test_link_against_smpplib_server_submit_and_receipt(mini):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", password="pw", address_range="+15550001"), "+15550001")
    await link.start()
    try:
        assert mini.binds == [(b"lwm2m", b"pw", b"15550001")]  # digits; TON/NPI say international
        sub = await link.send("+15550002", bytes(range(200)) * 2 + bytes(112), report=True)  # 4 parts
        await until(lambda: len(mini.submits) == 4)
        parts = mini.submits
        assert all(p.esm_class == 0x40 and p.data_coding == 4 and p.registered_delivery == 1 for p in parts)
        assert [p.short_message[5] for p in parts] == [1, 2, 3, 4]
        assert all(p.destination_addr == b"15550002" and p.dest_addr_ton == 1 for p in parts)
        # receipts, one with the TLV, the others by text only, as SMSCs differ
        for i, p in enumerate(parts):
            mid = str(101 + i)
            fields = dict(
                source_addr="15550002", destination_addr="15550001", esm_class=0x04,
                short_message=f"id:{mid} sub:001 dlvrd:001 submit date:2401010000 done date:2401010000 stat:DELIVRD err:000 text:".encode(),
            )
            if i == 0:
                fields["receipted_message_id"] = mid
                fields["message_state"] = 2
            mini.send(mini.make("deliver_sm", **fields))
        out = await asyncio.wait_for(sub.outcome, 5)
        assert out.state is DeliveryState.DELIVERED
        await until(lambda: len(mini.deliver_resps) == 4)
        assert all(r.status == 0 for r in mini.deliver_resps)
    finally:
        await link.close()


async def test_link_receives_mo_from_smpplib_server(mini):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m"), "+15550001")
    inbox = Inbox()
    link.set_receiver(inbox)
    await link.start()
    try:
        payload = bytes(range(256)) + bytes(range(100))  # 3 parts
        chunks = [payload[i : i + 134] for i in range(0, len(payload), 134)]
        for seq in (3, 1, 2):  # out of order, as networks deliver
            udh = bytes([5, 0, 3, 7, len(chunks), seq])
            mini.send(mini.make(
                "deliver_sm", source_addr_ton=1, source_addr_npi=1, source_addr="15550003",
                dest_addr_ton=1, dest_addr_npi=1, destination_addr="15550001",
                esm_class=0x40, data_coding=4, short_message=udh + chunks[seq - 1],
            ))
        mini.send(mini.make("deliver_sm", source_addr="15550003", destination_addr="15550001",
                            data_coding=4, short_message=b"sar!", sar_msg_ref_num=9,
                            sar_total_segments=1, sar_segment_seqnum=1))
        got = await inbox.wait(2)
        assert got[0].payload == payload and str(got[0].sender) == "+15550003" and got[0].segments == 3
        assert got[1].payload == b"sar!"
        await until(lambda: len(mini.deliver_resps) == 4)
    finally:
        await link.close()


async def test_window_full_holds_further_submits(mini):
    mini.hold = True
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", window=8), "+15550001")
    await link.start()
    try:
        subs = [await link.send("+15550002", b"%d" % i) for i in range(20)]
        await until(lambda: len(mini.submits) == 8)
        # the link writes before the server reads: had it not held them, fewer would be queued
        assert link.inflight == 8 and link.queued == 12
        mini.release()
        await until(lambda: len(mini.submits) >= 16)
        mini.release()
        await until(lambda: len(mini.submits) == 20)
        mini.release()
        outs = await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 5)
        assert all(o.state is DeliveryState.SUBMITTED for o in outs)
        assert [p.short_message for p in mini.submits] == [b"%d" % i for i in range(20)]
    finally:
        await link.close()


async def test_permanent_error_fails_outcome(mini):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m"), "+15550001")
    await link.start()
    try:
        mini.hold = True
        sub = await link.send("+15550002", b"x")
        await until(lambda: len(mini.held) == 1)
        mini.held[0].status = smpplib.consts.SMPP_ESME_RINVDSTADR
        mini.held[0].message_id = None
        mini.release()
        out = await asyncio.wait_for(sub.outcome, 5)
        assert out.state is DeliveryState.FAILED and "ESME_RINVDSTADR" in out.detail
    finally:
        await link.close()


async def test_keepalive_and_unbind_on_close(mini):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", enquire_link_interval=0.1), "+15550001")
    await link.start()
    await until(lambda: mini.enquires >= 2)
    await link.close()
    assert mini.unbinds == 1


async def test_missing_submit_resp_reconnects_and_resubmits(mini):
    mini.hold = True
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", response_timeout=0.4,
                                     reconnect_min=0.05), "+15550001")
    await link.start()
    try:
        sub = await link.send("+15550002", b"again")
        await until(lambda: mini.connections >= 2 and len(mini.submits) >= 2, timeout=10)
        mini.held = []
        mini.release()
        await until(lambda: len(mini.submits) >= 3, timeout=10)
        assert (await asyncio.wait_for(sub.outcome, 5)).state is DeliveryState.SUBMITTED
        assert all(p.short_message == b"again" for p in mini.submits)
    finally:
        await link.close()


@pytest.mark.parametrize("seed", range(12))
async def test_garbage_from_the_smsc_never_kills_the_link(mini, seed):
    import random

    rng = random.Random(seed)
    mini.garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if seed % 3 == 0:  # a well-framed PDU with a random body
        body = mini.garbage
        mini.garbage = struct.pack(">LLLL", 16 + len(body), rng.choice([5, 0x80000004, 0x103, 7]), 0, 1) + body
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", reconnect_min=0.05), "+15550001")
    await link.start()
    try:
        # the garbage follows the first bind resp; the message must get through whatever the
        # link makes of it (ignore, generic_nack, or reconnect and resubmit)
        sub = await link.send("+15550002", b"ok")
        assert (await asyncio.wait_for(sub.outcome, 5)).state is DeliveryState.SUBMITTED
    finally:
        await link.close()


async def test_temporary_error_is_retried_then_gives_up(mini):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", max_attempts=3, backoff_min=0.01), "+15550001")
    await link.start()
    try:
        mini.hold = True
        sub = await link.send("+15550002", b"retry me")
        await until(lambda: len(mini.held) == 1)
        mini.held[0].status = smpplib.consts.SMPP_ESME_RSYSERR
        mini.held[0].message_id = None
        mini.hold = False
        mini.release()  # first try fails; the retry gets an ordinary resp
        assert (await asyncio.wait_for(sub.outcome, 5)).state is DeliveryState.SUBMITTED
        assert len(mini.submits) == 2

        mini.hold = True
        sub = await link.send("+15550002", b"hopeless")
        for attempt in range(3):
            await until(lambda: len(mini.held) == 1)
            mini.held[0].status = smpplib.consts.SMPP_ESME_RSYSERR
            mini.held[0].message_id = None
            mini.release()
            mini.hold = True
        out = await asyncio.wait_for(sub.outcome, 5)
        assert out.state is DeliveryState.FAILED and "ESME_RSYSERR" in out.detail
        assert len(mini.submits) == 5
    finally:
        await link.close()


@pytest.mark.parametrize("assume", [False, True])
async def test_unknown_ton_sender(mini, assume):
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", unknown_ton_international=assume), "+15550001")
    inbox = Inbox()
    link.set_receiver(inbox)
    await link.start()
    try:
        mini.send(mini.make("deliver_sm", source_addr="4915123456789", destination_addr="15550001",
                            data_coding=4, short_message=b"hi"))
        (sms,) = await inbox.wait(1)
        assert str(sms.sender) == ("+4915123456789" if assume else "4915123456789")
    finally:
        await link.close()


async def test_a_throttling_generic_nack_backs_off_and_resubmits(mini):
    # Some SMSCs throttle with generic_nack(ESME_RTHROTTLED) rather than a submit_sm_resp.
    link = SmppBearer(SmppLinkConfig(port=mini.port, system_id="lwm2m", backoff_min=0.05), "+15550001")
    await link.start()
    try:
        mini.hold = True
        sub = await link.send("+15550002", b"x")
        await until(lambda: len(mini.held) == 1)
        seq = mini.held.pop().sequence
        mini.hold = False
        mini.send(mini.make("generic_nack", seq, status=smpplib.consts.SMPP_ESME_RTHROTTLED))
        out = await asyncio.wait_for(sub.outcome, 5)
        assert out.state is DeliveryState.SUBMITTED and len(mini.submits) == 2
        assert link.throttled == 1
    finally:
        await link.close()
