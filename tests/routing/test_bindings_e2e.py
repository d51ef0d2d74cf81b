"""Every binding end to end over UDP loopback and SMS (the loopback network, and SMPP through
the simulated SMSC): which bearer each request took and how many SMS crossed."""

import asyncio

import pytest

from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.routing.router import PolicySettings, via
from waiting import until

from .conftest import SERVER, LoopbackRig, make_device, make_server


async def test_S_registers_and_is_read_by_sms_one_sms_each_way(rig):
    stack = await make_server(rig)
    before = rig.sms()
    dev = await make_device(rig, stack, "dev-S", "S", "+15550101")
    assert rig.sms() - before == 2  # Register + 2.01, one SMS each
    reg = stack.server.registration("dev-S")
    assert str(reg.sms) == "+15550101" and reg.remote_uri == "coap+sms://+15550101"
    before = rig.sms()
    value = (await stack.server.read("dev-S", "/3/0/0")).value
    assert value == "lwm2m-sms" and rig.sms() - before == 2
    before = rig.sms()
    updates = dev.client.stats["updates"]
    await stack.server.execute("dev-S", "/1/0/8")
    await until(lambda: dev.client.stats["updates"] > updates)
    # Execute + 2.04, then the device's Update + 2.04, all by SMS
    await until(lambda: rig.sms() - before >= 4)
    assert rig.sms() - before == 4 and stack.router.stats.sent_udp == 0
    before = rig.sms()
    await dev.close()
    assert "dev-S" not in [r.endpoint for r in stack.server.registrations()]
    assert rig.sms() - before == 2  # De-register + 2.02
    await stack.close()


async def test_U_never_uses_sms(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "dev-U", "U", "+15550102")
    before = rig.sms()
    assert (await stack.server.read("dev-U", "/3/0/0")).value == "lwm2m-sms"
    assert rig.sms() == before and stack.router.stats.sent_udp == 1
    await dev.close()
    await stack.close()


async def test_US_udp_by_default_sms_when_asked(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "dev-US", "US", "+15550103")
    before = rig.sms()
    await stack.server.read("dev-US", "/3/0/0")
    assert rig.sms() == before
    with via("sms"):
        await stack.server.read("dev-US", "/3/0/0")
    assert rig.sms() - before == 2
    assert (stack.router.stats.sent_udp, stack.router.stats.sent_sms) == (1, 1)
    await dev.close()
    await stack.close()


@pytest.mark.parametrize("binding", ["SQ", "UQ"])
async def test_queued_binding_waits_for_the_device_then_sends_in_order(rig, binding):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(sms_window=30, udp_window=30))
    ep = f"dev-{binding}"
    dev = await make_device(rig, stack, ep, binding, "+15550104", queue_window=30, clock=clock.wall)
    await clock.advance(31)  # both sides: the window after the Register has closed
    before = rig.sms()
    reads = [asyncio.create_task(stack.server.read(ep, p)) for p in ("/3/0/0", "/3/0/1")]
    await until(lambda: len(stack.router.queue.pending(ep)) == 2)
    assert rig.sms() == before and not any(t.done() for t in reads)
    assert stack.router.stats.per_endpoint.get(ep, {"udp": 0, "sms": 0}) == {"udp": 0, "sms": 0}
    assert [r.path for r in stack.router.queue.pending(ep)] == ["/3/0/0", "/3/0/1"]
    await dev.client.update()  # the device wakes and says so
    assert [r.value for r in await asyncio.gather(*reads)] == ["lwm2m-sms", "SIM-1"]
    if binding == "SQ":
        # Update + 2.04, then each queued read and its answer: one SMS each
        assert rig.sms() - before == 2 + 4
        assert stack.router.stats.per_endpoint[ep] == {"udp": 0, "sms": 2}
    else:
        assert rig.sms() == before
        assert stack.router.stats.per_endpoint[ep] == {"udp": 2, "sms": 0}
    assert stack.router.queue.counts() == {"answered": 2}
    await dev.close()
    await stack.close()


async def test_UQS_wake_up_by_sms_then_queue_over_udp(rig):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(udp_window=30))
    dev = await make_device(rig, stack, "dev-UQS", "UQS", "+15550105", queue_window=30, clock=clock.wall)
    await clock.advance(31)
    before = rig.sms()
    value = (await asyncio.wait_for(stack.server.read("dev-UQS", "/3/0/0"), 10)).value
    assert value == "lwm2m-sms"
    # The trigger and its 2.04 (which may still be on its way by SMS); the rest went by UDP.
    await until(lambda: rig.sms() - before >= 2)
    assert rig.sms() - before == 2
    assert stack.router.stats.wake_ups == 1 and stack.router.stats.flushed == 1
    assert dev.client.stats["updates"] >= 1
    await dev.close()
    await stack.close()


async def test_spoofed_sms_is_refused_and_registration_unchanged(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "dev-S2", "S", "+15550106")
    reg = stack.server.registration("dev-S2")
    trust = stack.router.trust.stats

    # 1. A number no registration names: dropped silently (no reply SMS at all).
    stranger = await make_device(rig, stack, "stranger", "S", "+15550777", start=False)
    sms_before = rig.sms()
    req = Message(code=Code.POST, uri=f"coap+sms://{SERVER}/rd/{reg.location}?b=U")
    pending = stranger.context.request(req)
    await until(lambda: trust.dropped_unknown_sender == 1)
    assert not pending.response.done() and rig.sms() - sms_before == 1

    # 2. A registered device acting on another endpoint's registration: 4.03.
    mallory = await make_device(rig, stack, "mallory", "S", "+15550666")
    req = Message(code=Code.POST, uri=f"coap+sms://{SERVER}/rd/{reg.location}?b=U")
    resp = await asyncio.wait_for(mallory.context.request(req).response, 10)
    assert resp.code == Code.FORBIDDEN and trust.refused_foreign_location == 1

    # 3. A Register by SMS naming another device's number: 4.03.
    req = Message(code=Code.POST, uri=f"coap+sms://{SERVER}/rd?ep=dev-S2&b=S&sms=15550106")
    resp = await asyncio.wait_for(mallory.context.request(req).response, 10)
    assert resp.code == Code.FORBIDDEN and trust.refused_register == 1

    after = stack.server.registration("dev-S2")
    assert (after.binding, after.location, str(after.sms)) == ("S", reg.location, "+15550106")
    assert not pending.response.done()  # the stranger never got an answer, after all this
    pending.response.cancel()  # (aiocoap acts on the cancel a loop turn later: close it last)
    for d in (mallory, dev, stranger):
        await d.close(deregister=d is not stranger)
    await stack.close()


async def test_deregister_by_sms_from_another_number_is_refused(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "dev-S3", "S", "+15550107")
    mallory = await make_device(rig, stack, "mallory2", "S", "+15550667")
    loc = stack.server.registration("dev-S3").location
    resp = await asyncio.wait_for(
        mallory.context.request(Message(code=Code.DELETE, uri=f"coap+sms://{SERVER}/rd/{loc}")).response, 10
    )
    assert resp.code == Code.FORBIDDEN
    assert stack.server.registration("dev-S3").location == loc
    await mallory.close()
    await dev.close()
    assert "dev-S3" not in [r.endpoint for r in stack.server.registrations()]
    await stack.close()


async def test_queue_survives_a_server_restart(rig, tmp_path):
    db = str(tmp_path / "server.sqlite")
    policy = PolicySettings(sms_window=30)
    clock = FakeClock()
    stack = await make_server(rig, db=db, policy=policy, clock=clock)
    dev = await make_device(rig, stack, "dev-SQ2", "SQ", "+15550108", queue_window=30, clock=clock.wall)
    await clock.advance(31)
    queued = asyncio.create_task(stack.server.write("dev-SQ2", "/1/0/1", 600))
    await until(lambda: [r.path for r in stack.router.queue.pending("dev-SQ2")] == ["/1/0/1"])
    # The server goes down with the write queued; its SMS link goes with it.
    await stack.close()
    for t in stack.sms:
        await t.bearer.close()
    with pytest.raises(Exception):
        await queued  # this caller is gone with the server; the request stays queued
    stack = await make_server(rig, db=db, policy=policy, clock=clock)
    assert [r.path for r in stack.router.queue.pending("dev-SQ2")] == ["/1/0/1"]
    assert stack.server.registration("dev-SQ2").binding == "SQ"
    await dev.client.update()  # the device wakes: the queue restored from disk goes out
    await until(lambda: stack.router.queue.counts().get("answered") == 1)
    assert dev.client.objects[1][0][1] == 600
    await dev.close()
    await stack.close()


async def test_a_queued_request_past_its_time_limit_fails_for_the_caller():
    from lwm2m_sms.routing.router import RequestExpired

    rig = LoopbackRig()  # the queue's time limit does not depend on the bearer
    clock = FakeClock()
    policy = PolicySettings(sms_window=30, queue_ttl=600, expiry_interval=5)
    stack = await make_server(rig, clock=clock, policy=policy)
    # (a lifetime longer than the time limit: the device's own Updates run on real time)
    dev = await make_device(rig, stack, "dev-SQ3", "SQ", "+15550109", queue_window=30, clock=clock.wall,
                            lifetime=3600)
    await clock.advance(31)
    before = rig.sms()
    read = asyncio.create_task(stack.server.read("dev-SQ3", "/3/0/0"))
    await until(lambda: stack.router.queue.counts() == {"queued": 1})
    await clock.advance(599)
    assert not read.done() and stack.router.queue.counts() == {"queued": 1}
    await clock.advance(6)  # past the time limit, and the next expiry check with it
    try:
        await asyncio.wait_for(read, 5)
    except Exception as exc:  # the core wraps transport errors as DeviceUnreachable
        assert isinstance(exc, RequestExpired) or isinstance(getattr(exc, "cause", None), RequestExpired), exc
    else:
        raise AssertionError("a request for a sleeping device answered")
    assert stack.router.queue.counts() == {"expired": 1} and rig.sms() == before
    await dev.close()
    await stack.close()
    await rig.close()
