"""message_payload: split for handsets (or refused), passed whole between ESMEs up to the
largest legal PDU, and a poison message that fails alone. Real loopback sockets and a pty."""

import asyncio

import pytest

from lwm2m_sms.bearer import DeliveryState
from lwm2m_sms.gateway import emulated_modem, smpp_bearer
from smsc.config import Account, SmscConfig
from smsc.server import SimulatedSmsc

from waiting import Inbox

APP, HANDSET = "+15550000", "+15550101"


def _config(policy):
    return SmscConfig(
        accounts=[
            Account("app", "pw", address_range="15550000", long_payload="pass"),
            Account("handset", "pw", address_range="15550101", long_payload=policy),
        ],
        retry_min=0.05, retry_max=0.2,
    )


async def test_300_octet_message_payload_reaches_a_handset_as_3_concatenated_sms():
    async with SimulatedSmsc(_config("split")) as smsc:
        await smsc.start("127.0.0.1", 0)
        app = await smpp_bearer(smsc.port, "app", APP, APP, password="pw", concat="payload")
        network = await smpp_bearer(smsc.port, "handset", HANDSET, HANDSET, password="pw")
        emulator, modem = await emulated_modem(network, HANDSET)
        inbox = Inbox()
        modem.set_receiver(inbox)
        try:
            payload = bytes(range(256)) + b"x" * 44
            sub = await app.send(HANDSET, payload)
            assert sub.segments == 1  # one submit_sm with message_payload
            assert (await asyncio.wait_for(sub.outcome, 10)).state is DeliveryState.SUBMITTED
            (sms,) = await inbox.wait(1, timeout=20)
            assert sms.payload == payload and sms.segments == 3 and str(sms.sender) == APP
            assert smsc.stats.submitted == 3  # three SMS in the SMSC, one per part
        finally:
            await modem.close()
            await emulator.close()
            await network.close()
            await app.close()


async def test_refuse_policy_answers_esme_rinvmsglen(make_link):
    async with SimulatedSmsc(_config("refuse")) as smsc:
        await smsc.start("127.0.0.1", 0)
        app = await make_link(smsc, APP, system_id="app", password="pw", concat="payload")
        outcome = await asyncio.wait_for((await app.send(HANDSET, bytes(300))).outcome, 10)
        assert outcome.state is DeliveryState.FAILED and "ESME_RINVMSGLEN" in outcome.detail
        # a message that fits one SMS is fine
        outcome = await asyncio.wait_for((await app.send(HANDSET, bytes(100))).outcome, 10)
        assert outcome.state is DeliveryState.SUBMITTED


async def test_65535_octet_message_payload_passes_both_ways(smsc, make_link):
    a = await make_link(smsc, "+15550001", concat="payload")
    b = await make_link(smsc, "+15550002", concat="payload")
    ia, ib = Inbox(), Inbox()
    a.set_receiver(ia)
    b.set_receiver(ib)
    big = bytes(range(256)) * 255 + bytes(255)
    assert len(big) == 65535
    s1 = await a.send("+15550002", big)
    s2 = await b.send("+15550001", big[::-1])
    for s in (s1, s2):
        assert (await asyncio.wait_for(s.outcome, 20)).state is DeliveryState.SUBMITTED
    assert (await ib.wait(1, timeout=20))[0].payload == big
    assert (await ia.wait(1, timeout=20))[0].payload == big[::-1]
    assert a.connects == 1 and b.connects == 1  # no reconnects on the way


async def test_poison_message_fails_alone_and_the_next_is_delivered(smsc, make_link):
    smsc.max_pdu = 2000  # this SMSC drops the connection on anything bigger: our poison
    a = await make_link(smsc, "+15550001", concat="payload", max_attempts=3)
    b = await make_link(smsc, "+15550002")
    inbox = Inbox()
    b.set_receiver(inbox)
    poison = await a.send("+15550002", bytes(5000))
    after = await a.send("+15550002", b"next in line")
    outcome = await asyncio.wait_for(poison.outcome, 20)
    assert outcome.state is DeliveryState.FAILED and "connection lost 3 times" in outcome.detail
    assert (await asyncio.wait_for(after.outcome, 20)).state is DeliveryState.SUBMITTED
    (m,) = await inbox.wait(1)
    assert m.payload == b"next in line"
    assert len(a.outbox) == 0


@pytest.mark.parametrize("with_store", [False, True])
async def test_poison_fails_alone_across_restarts_with_a_store(smsc, make_link, tmp_path, with_store):
    smsc.max_pdu = 2000
    store = str(tmp_path / "outbox.db") if with_store else None
    a = await make_link(smsc, "+15550001", concat="payload", max_attempts=2, store=store)
    poison = await a.send("+15550002", bytes(5000))
    outcome = await asyncio.wait_for(poison.outcome, 20)
    assert outcome.state is DeliveryState.FAILED
    assert len(a.outbox) == 0  # not sent again at the next start
