"""The ESME link against the simulated SMSC over loopback sockets."""

import asyncio

import pytest

from lwm2m_sms.bearer import DeliveryState, SmsSegment
from lwm2m_sms.clock import FakeClock
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.udh import Ports
from smsc.config import Account, SmscConfig
from smsc.link import BindRefused, SmppBearer, SmppLinkConfig
from smsc.server import SimulatedSmsc

from waiting import Inbox, until

A, B = "+15550001", "+15550002"
LONG = bytes(range(256)) * 2  # 512 octets: 4 parts of 134


async def pair(smsc, make_link, **kw):
    a = await make_link(smsc, A, **kw)
    b = await make_link(smsc, B, **kw)
    ia, ib = Inbox(), Inbox()
    a.set_receiver(ia)
    b.set_receiver(ib)
    return a, b, ia, ib


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
async def test_one_and_four_parts_both_ways_with_receipts(smsc, make_link, concat):
    a, b, ia, ib = await pair(smsc, make_link, concat=concat)
    s1 = await a.send(B, b"\x40\x01\x00\x01", report=True)
    s4 = await a.send(B, LONG, report=True)
    r1 = await b.send(A, b"reply")
    r4 = await b.send(A, LONG[::-1])
    assert s4.segments == (1 if concat == "payload" else 4)
    for s in (s1, s4):
        assert (await asyncio.wait_for(s.outcome, 10)).state is DeliveryState.DELIVERED
    for s in (r1, r4):
        assert (await asyncio.wait_for(s.outcome, 10)).state is DeliveryState.SUBMITTED
    got_b = await ib.wait(2)
    got_a = await ia.wait(2)
    assert sorted(m.payload for m in got_b) == sorted([b"\x40\x01\x00\x01", LONG])
    assert sorted(m.payload for m in got_a) == sorted([b"reply", LONG[::-1]])
    assert {m.sender for m in got_b} == {parse_msisdn(A)}
    assert a.stats.delivered == 2 and smsc.stats.receipts == (2 if concat == "payload" else 5)


@pytest.mark.parametrize("concat", ["udh", "sar", "payload"])
async def test_ports_survive(smsc, make_link, concat):
    a, b, ia, ib = await pair(smsc, make_link, concat=concat)
    await a.send(B, LONG, ports=Ports(5684, 5683))
    (m,) = await ib.wait(1)
    assert m.payload == LONG and m.ports == Ports(5684, 5683)
    assert m.segments == (1 if concat == "payload" else 4)


def test_bind_fields_too_long_for_smpp_are_refused_at_configuration():
    with pytest.raises(ValueError, match="password"):
        SmppLinkConfig(password="longpassword")  # SMPP 3.4: at most 8 characters
    with pytest.raises(ValueError, match="system_id"):
        SmppLinkConfig(system_id="x" * 16)


async def test_wrong_password_and_unknown_system_id():
    cfg = SmscConfig(accounts=[Account("server", "secret")])
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="server", password="wrong"))
        with pytest.raises(BindRefused) as e:
            await link.start()
        assert "ESME_RINVPASWD" in str(e.value)
        link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="nobody", password="secret"))
        with pytest.raises(BindRefused) as e:
            await link.start()
        assert "ESME_RINVSYSID" in str(e.value)
        link = SmppBearer(SmppLinkConfig(port=smsc.port, system_id="server", password="secret"))
        await link.start()
        assert link.bound
        await link.close()


async def test_throttling_backs_off_and_delivers_everything(smsc, make_link):
    smsc.impairments.throttle = 200  # submit_sm/s per bind
    a, b, ia, ib = await pair(smsc, make_link)
    subs = [await a.send(B, b"%d" % i) for i in range(150)]
    await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 20)
    assert all(s.outcome.result().state is DeliveryState.SUBMITTED for s in subs)
    got = await ib.wait(150)
    assert sorted(int(m.payload) for m in got) == list(range(150))
    assert smsc.stats.throttled > 0 and a.throttled > 0


async def test_link_throughput_limit_and_window(smsc, make_link):
    a, b, ia, ib = await pair(smsc, make_link, window=3, throughput=500)
    subs = [await a.send(B, b"%d" % i) for i in range(40)]
    await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 10)
    await ib.wait(40)
    assert 1 <= a.max_inflight <= 3


async def test_queue_full_backs_off_until_receiver_binds(make_link):
    async with SimulatedSmsc(SmscConfig(open=True, max_queue=5, retry_min=0.05, retry_max=0.1)) as smsc:
        await smsc.start("127.0.0.1", 0)
        a = await make_link(smsc, A)
        subs = [await a.send(B, b"%d" % i) for i in range(12)]
        await until(lambda: smsc.stats.rejected > 0 and a.throttled > 0)
        ib = Inbox()
        b = await make_link(smsc, B, start=False)
        b.set_receiver(ib)
        await b.start()
        await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 20)
        got = await ib.wait(12)
        assert sorted(int(m.payload) for m in got) == list(range(12))


async def test_no_route_is_stored_and_delivered_when_receiver_binds(smsc, make_link):
    a = await make_link(smsc, A)
    sub = await a.send(B, LONG, report=True)
    await until(lambda: smsc.queued == 4)
    assert not sub.outcome.done()
    ib = Inbox()
    b = await make_link(smsc, B, start=False)
    b.set_receiver(ib)
    await b.start()
    assert (await asyncio.wait_for(sub.outcome, 10)).state is DeliveryState.DELIVERED
    assert (await ib.wait(1))[0].payload == LONG


async def test_validity_expiry_gives_failed_outcome(make_link):
    clock = FakeClock()  # the SMSC's validity runs on it; its retry back-off on real time
    async with SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2), clock=clock.wall) as smsc:
        await smsc.start("127.0.0.1", 0)
        a = await make_link(smsc, A, validity_period="000000000001000R")  # 1 s
        sub = await a.send(B, b"nobody home", report=True)
        await until(lambda: smsc.queued == 1)  # no route: stored, retried
        assert not sub.outcome.done()
        await clock.advance(1)
        out = await asyncio.wait_for(sub.outcome, 10)
        assert out.state is DeliveryState.FAILED and "EXPIRED" in out.detail
        assert smsc.stats.expired == 1


async def test_accepted_while_down_is_sent_on_reconnect(make_link, tmp_path):
    async with SimulatedSmsc(SmscConfig(open=True)) as probe:
        await probe.start("127.0.0.1", 0)
        port = probe.port
    store = str(tmp_path / "outbox.db")
    a = await make_link(port, A, store=store)
    assert not a.bound
    subs = [await a.send(B, b"queued %d" % i) for i in range(3)]
    await a.close()  # the outbox file keeps them
    # still accepted, not failed: a caller that saw FAILED would send them again
    assert {(await s.outcome).state for s in subs} == {DeliveryState.ACCEPTED}
    a2 = await make_link(port, A, store=store)
    subs.append(await a2.send(B, b"queued 3"))
    async with SimulatedSmsc(SmscConfig(open=True, retry_min=0.05)) as smsc:
        await smsc.start("127.0.0.1", port)
        ib = Inbox()
        b = await make_link(smsc, B, start=False)
        b.set_receiver(ib)
        await b.start()
        got = await ib.wait(4)
        assert sorted(m.payload for m in got) == [b"queued %d" % i for i in range(4)]
        assert (await asyncio.wait_for(subs[-1].outcome, 5)).state is DeliveryState.SUBMITTED
        assert len(a2.outbox) == 0


async def test_forced_disconnect_reconnects_and_resubmits(smsc, make_link):
    a, b, ia, ib = await pair(smsc, make_link)
    subs = [await a.send(B, b"%d" % i) for i in range(300)]
    await until(lambda: smsc.stats.submitted > 0)  # cut the line with the rest in flight
    smsc.disconnect()
    await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 20)
    got = await ib.wait(300, timeout=20)
    assert {int(m.payload) for m in got} == set(range(300))  # duplicates allowed, no loss
    assert a.connects >= 2


async def test_receive_handler_failure_means_redelivery(smsc, make_link):
    a, b, ia, ib = await pair(smsc, make_link)
    calls = []

    async def flaky(sms):
        calls.append(sms.payload)
        if len(calls) == 1:
            raise RuntimeError("app crashed")

    b.set_receiver(flaky)
    await a.send(B, b"important")
    await until(lambda: len(calls) >= 2)
    assert calls == [b"important", b"important"]


async def test_oversize_short_message_fails_outcome(smsc, make_link):
    a = await make_link(smsc, A)
    seg = SmsSegment(parse_msisdn(A), parse_msisdn(B), UserData(b"x" * 160), dcs=4)
    sub = await a.send_segment(seg)
    out = await asyncio.wait_for(sub.outcome, 5)
    assert out.state is DeliveryState.FAILED and "ESME_RINVMSGLEN" in out.detail


@pytest.mark.parametrize("dcs,data", [(0, bytes([0x48, 0x69, 0x1B, 0x65])), (8, "Hé€".encode("utf-16-be")), (4, b"\x00\xff")])
async def test_segment_link_keeps_data_coding(smsc, make_link, dcs, data):
    a = await make_link(smsc, A)
    b = await make_link(smsc, B)
    segs = []

    async def on_segment(seg):
        segs.append(seg)

    b.set_segment_receiver(on_segment)
    sub = await a.send_segment(SmsSegment(parse_msisdn(A), parse_msisdn(B), UserData(data), dcs=dcs), report=True)
    assert (await asyncio.wait_for(sub.outcome, 5)).state is DeliveryState.DELIVERED
    await until(lambda: segs)
    (seg,) = segs
    assert seg.dcs == dcs and seg.user_data.data == data and seg.sender == parse_msisdn(A)
    assert seg.recipient == parse_msisdn(B)


async def test_one_bind_serves_a_farm_by_regex(smsc, make_link):
    farm = await make_link(smsc, "+16660000", system_id="farm", address_range=r"^\+?1666")
    got = Inbox()
    farm.set_segment_receiver(got)
    a = await make_link(smsc, A)
    for i in range(20):
        await a.send(f"+1666000{i:04d}", b"hi")
    segs = await got.wait(20)
    assert {str(s.recipient) for s in segs} == {f"+1666000{i:04d}" for i in range(20)}


async def test_transmitter_receiver_pair(smsc, make_link):
    a = await make_link(smsc, A, bind="pair")
    b = await make_link(smsc, B, bind="pair")
    ib = Inbox()
    b.set_receiver(ib)
    sub = await a.send(B, LONG, report=True)
    assert (await asyncio.wait_for(sub.outcome, 10)).state is DeliveryState.DELIVERED
    assert (await ib.wait(1))[0].payload == LONG
    states = sorted(s for _, s, _ in smsc.binds)
    assert states == ["bound_rx", "bound_rx", "bound_tx", "bound_tx"]


async def test_impairments_loss_duplication_latency(smsc, make_link):
    a, b, ia, ib = await pair(smsc, make_link)
    smsc.impairments.duplicate = 100
    await a.send(B, b"twice")
    await ib.wait(2)
    smsc.impairments.duplicate = 0
    smsc.impairments.loss = 100
    await (await a.send(B, b"lost")).outcome  # send() only accepts: wait for the submit
    smsc.impairments.loss = 0
    smsc.impairments.latency = 0.2
    smsc.impairments.jitter = 0.1
    await a.send(B, b"late")
    got = await ib.wait(3)
    assert [m.payload for m in got] == [b"twice", b"twice", b"late"]
    assert smsc.stats.lost == 1 and smsc.stats.duplicated == 1


async def test_close_unbinds(smsc, make_link):
    a = await make_link(smsc, A)
    assert len(smsc.binds) == 1
    await a.close()
    await until(lambda: smsc.binds == [])


async def test_reordering_impairment(smsc, make_link):
    smsc.impairments.reorder = 50
    smsc.impairments.reorder_delay = 0.2
    smsc.impairments.seed = 7
    a, b, ia, ib = await pair(smsc, make_link)
    for i in range(40):
        await a.send(B, b"%02d" % i)
    got = await ib.wait(40)
    order = [int(m.payload) for m in got]
    assert sorted(order) == list(range(40)) and order != list(range(40))


async def test_periodic_forced_disconnects(smsc, make_link):
    a, b, ia, ib = await pair(smsc, make_link)
    smsc.impairments.disconnect_every = 0.3
    await until(lambda: a.connects >= 3)
    smsc.impairments.disconnect_every = 0
    await a.wait_bound(5)
    await b.wait_bound(5)
    await a.send(B, b"still works")
    assert (await ib.wait(1))[0].payload == b"still works"


async def test_outbox_is_bounded_while_down(make_link):
    from lwm2m_sms.outbox import OutboxFull

    async with SimulatedSmsc(SmscConfig(open=True)) as probe:
        await probe.start("127.0.0.1", 0)
        port = probe.port
    a = await make_link(port, A, outbox_max=3)
    for i in range(3):
        await a.send(B, b"%d" % i)
    with pytest.raises(OutboxFull):
        await a.send(B, b"one too many")


async def test_no_receiver_yet_means_the_smsc_keeps_it(smsc, make_link, caplog):
    caplog.set_level("INFO", logger="smsc.link")
    a = await make_link(smsc, A)
    b = await make_link(smsc, B)  # bound, but no receiver set yet
    await (await a.send(B, b"wait for me")).outcome
    await until(lambda: "no receiver set; deliver_sm refused for a retry" in caplog.text)
    assert smsc.stats.delivered == 0 and smsc.queued == 1
    ib = Inbox()
    b.set_receiver(ib)
    assert (await ib.wait(1))[0].payload == b"wait for me"


async def test_smsc_store_survives_a_restart(make_link, tmp_path):
    store = str(tmp_path / "smsc.db")
    smsc = SimulatedSmsc(SmscConfig(open=True, store=store, retry_min=0.05))
    await smsc.start("127.0.0.1", 0)
    port = smsc.port
    a = await make_link(smsc, A)
    subs = [await a.send(B, LONG, report=True), await a.send(B, b"short")]
    await until(lambda: smsc.stats.submitted == 5)
    await smsc.close()  # nobody took them: 5 SMS in the store
    smsc = SimulatedSmsc(SmscConfig(open=True, store=store, retry_min=0.05))
    await smsc.start("127.0.0.1", port)
    try:
        assert smsc.queued == 5
        ib = Inbox()
        b = await make_link(smsc, B, start=False)
        b.set_receiver(ib)
        await b.start()
        got = await ib.wait(2)
        assert sorted(m.payload for m in got) == sorted([LONG, b"short"])
        # the receipts find the submitter once it is back
        assert (await asyncio.wait_for(subs[0].outcome, 10)).state is DeliveryState.DELIVERED
    finally:
        await smsc.close()


def test_links_started_in_the_same_millisecond_make_different_message_ids(monkeypatch):
    import time as time_module

    monkeypatch.setattr(time_module, "time", lambda: 1_700_000_000.123)
    ids = {SmppBearer(SmppLinkConfig(port=1), "+15550000")._new_message_id() for _ in range(50)}
    assert len(ids) == 50
