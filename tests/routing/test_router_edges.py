"""The router's edge cases (found in review): numbers shared or taken over, callers that give
up, US without a UDP address or with UDP down, binding changes with work queued, observe on
a sleeping device. Loopback SMS network; the behaviour does not depend on the bearer."""

import asyncio
import socket

import pytest
from aiocoap import Message
from aiocoap.message import UndecidedRemote
from aiocoap.numbers.codes import Code

from lwm2m_sms.clock import FakeClock
from lwm2m_sms.routing.router import PolicySettings
from waiting import until

from .conftest import SERVER, LoopbackRig, make_device, make_server


@pytest.fixture
async def rig():
    r = LoopbackRig()
    yield r
    await r.close()


async def test_a_register_by_sms_cannot_take_over_another_numbers_endpoint(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "victim", "S", "+15550301")
    mallory = await make_device(rig, stack, "mallory", "S", "+15550666")
    req = Message(code=Code.POST, uri=f"coap+sms://{SERVER}/rd?ep=victim&b=S", payload=b"</3/0>")
    resp = await asyncio.wait_for(mallory.context.request(req).response, 10)
    assert resp.code == Code.FORBIDDEN
    assert str(stack.server.registration("victim").sms) == "+15550301"
    assert (await stack.server.read("victim", "/3/0/0")).value == "lwm2m-sms"
    await mallory.close()
    await dev.close()
    await stack.close()


async def test_a_number_named_by_two_registrations_stays_known_while_one_remains(rig):
    stack = await make_server(rig)
    a = await make_device(rig, stack, "dev-a", "S", "+15550302")
    # another registration, over UDP, naming the same number, comes and goes
    b = await make_device(rig, stack, "dev-b", "U", "+15550303", start=False)
    b.client.sms = a.client.sms
    await b.client.start()
    assert stack.server.registration("dev-b").sms == stack.server.registration("dev-a").sms
    await b.close()
    assert (await asyncio.wait_for(stack.server.read("dev-a", "/3/0/0"), 10)).value == "lwm2m-sms"
    assert stack.router.trust.stats.dropped_unknown_sender == 0
    await a.close()
    await stack.close()


async def test_a_caller_that_gives_up_takes_its_request_out_of_the_queue(rig):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(sms_window=20))
    dev = await make_device(rig, stack, "dev-sq", "SQ", "+15550304", queue_window=20, clock=clock.wall)
    await clock.advance(30)  # both sides: the window after the Register has closed
    execute = asyncio.create_task(stack.server.execute("dev-sq", "/1/0/8"))
    await until(lambda: stack.router.queue.counts() == {"queued": 1})
    execute.cancel()
    with pytest.raises(asyncio.CancelledError):
        await execute
    assert stack.router.queue.counts() == {"failed": 1}
    updates = dev.client.stats["updates"]
    await dev.client.update()  # the device wakes: the abandoned Execute must not reach it
    assert (await stack.server.read("dev-sq", "/3/0/0")).value == "lwm2m-sms"
    assert stack.router.stats.per_endpoint["dev-sq"] == {"udp": 0, "sms": 1}  # the read only
    assert dev.client.stats["updates"] == updates + 1  # its own Update only, no triggered one
    await dev.close()
    await stack.close()


async def test_US_registered_by_sms_is_reached_by_sms(rig):
    stack = await make_server(rig)
    dev = await make_device(rig, stack, "dev-us-sms", "US", "+15550305", start=False)
    dev.client._sessions.clear()
    # register by SMS: point the account at the server's number
    account = dev.client.objects[0][1]
    account[0] = f"coap+sms://{SERVER}"
    await dev.client.start()
    assert stack.server.registration("dev-us-sms").remote_uri == "coap+sms://+15550305"
    assert (await stack.server.read("dev-us-sms", "/3/0/0")).value == "lwm2m-sms"
    assert stack.router.stats.per_endpoint["dev-us-sms"] == {"udp": 0, "sms": 1}
    await dev.close()
    await stack.close()


async def test_US_falls_back_to_sms_for_a_read_but_never_runs_a_post_twice(rig):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(udp_timeout=30))
    dev = await make_device(rig, stack, "dev-us", "US", "+15550306")
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # takes datagrams, never answers
    dead.bind(("127.0.0.1", 0))
    stack.router._udp_remote["dev-us"] = UndecidedRemote.from_pathless_uri(
        f"coap://127.0.0.1:{dead.getsockname()[1]}"
    )
    read = asyncio.create_task(stack.server.read("dev-us", "/3/0/0"))
    await clock.sleeping(30)  # the router waits udp_timeout for the UDP answer
    assert stack.router.stats.per_endpoint["dev-us"] == {"udp": 1, "sms": 0}
    await clock.advance(30)
    assert (await read).value == "lwm2m-sms"
    assert stack.router.stats.us_fallbacks == 1
    assert stack.router.stats.per_endpoint["dev-us"] == {"udp": 1, "sms": 1}
    # An Execute that may have arrived over UDP is not sent again by SMS: it waits for its
    # UDP answer with no fallback timer armed, however long that takes.
    execute = asyncio.create_task(stack.server.execute("dev-us", "/1/0/8"))
    await until(lambda: stack.router.stats.per_endpoint["dev-us"]["udp"] == 2)
    assert all(seconds != 30 for _, seconds in clock.timers())
    await clock.advance(300)
    assert not execute.done()
    assert stack.router.stats.us_fallbacks == 1
    assert stack.router.stats.per_endpoint["dev-us"] == {"udp": 2, "sms": 1}
    execute.cancel()
    dead.close()
    await dev.close()
    await stack.close()


async def test_work_queued_under_UQ_goes_out_after_a_change_to_U(rig):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(udp_window=20))
    dev = await make_device(rig, stack, "dev-uq", "UQ", "+15550307", queue_window=20, clock=clock.wall)
    await clock.advance(30)
    read = asyncio.ensure_future(stack.server.read("dev-uq", "/3/0/0"))
    await until(lambda: stack.router.queue.counts() == {"queued": 1})
    assert not read.done()
    dev.client.objects[1][0][7] = "U"  # the device changes its binding and says so
    dev.client.trigger_update(b="U")
    assert (await asyncio.wait_for(read, 5)).value == "lwm2m-sms"
    assert stack.server.registration("dev-uq").binding == "U"
    assert (await stack.server.read("dev-uq", "/3/0/1")).value == "SIM-1"
    await dev.close()
    await stack.close()


async def test_an_abandoned_observe_on_a_sleeping_device_is_never_set_up(rig):
    clock = FakeClock()
    stack = await make_server(rig, clock=clock, policy=PolicySettings(sms_window=20))
    dev = await make_device(rig, stack, "dev-sq-obs", "SQ", "+15550308", queue_window=20, clock=clock.wall)
    await clock.advance(30)
    observe = asyncio.create_task(stack.server.observe("dev-sq-obs", "/3/0/13"))
    # (the router keeps no public list of observations waiting for a device)
    await until(lambda: stack.router._observe_waiting.get("dev-sq-obs"))
    observe.cancel()
    await dev.client.update()  # the device wakes: the waiting work goes out, in order
    assert (await stack.server.read("dev-sq-obs", "/3/0/0")).value == "lwm2m-sms"
    assert stack.router.stats.per_endpoint["dev-sq-obs"] == {"udp": 0, "sms": 1}  # the read only
    assert dev.client.site.observed_paths() == []
    await dev.close()
    await stack.close()


async def test_the_wake_up_waits_its_delay_and_is_retried_when_no_update_follows(rig, monkeypatch):
    clock = FakeClock()
    policy = PolicySettings(udp_window=30, wake_up=120, wake_up_retry=600)
    stack = await make_server(rig, clock=clock, policy=policy)
    # (a lifetime beyond the fake hours below: the device's own Updates run on real time)
    dev = await make_device(rig, stack, "dev-uqs", "UQS", "+15550309", queue_window=30,
                            clock=clock.wall, lifetime=86400)
    await clock.advance(31)
    triggered = []
    loop_class = type(dev.client.registrations)  # slotted: patched on the class, for this test
    update = loop_class.trigger_update

    def first_trigger_missed(self, *args, **kwargs):  # a device that answers 2.04 and then sleeps on
        triggered.append(args)
        if len(triggered) > 1:
            update(self, *args, **kwargs)

    monkeypatch.setattr(loop_class, "trigger_update", first_trigger_missed)
    read = asyncio.create_task(stack.server.read("dev-uqs", "/3/0/0"))
    await clock.sleeping(120)  # it may wake by itself: the trigger waits wake_up seconds
    await clock.advance(119)
    assert stack.router.stats.wake_ups == 0
    await clock.advance(1)
    await until(lambda: len(triggered) == 1)
    await clock.sleeping(600)  # answered, but no Update: the next try waits wake_up_retry
    assert not read.done() and stack.router.stats.wake_ups == 1
    await clock.advance(600)
    assert (await asyncio.wait_for(read, 10)).value == "lwm2m-sms"
    assert stack.router.stats.wake_ups == 2 and len(triggered) == 2
    assert stack.router.stats.per_endpoint["dev-uqs"] == {"udp": 1, "sms": 2}  # the read by UDP
    await dev.close()
    await stack.close()
