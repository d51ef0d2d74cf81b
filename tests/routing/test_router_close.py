"""Closing the router with work waiting for a sleeping device: every waiting caller gets an
error, nothing crashes (mypy found ``close()`` unpacking the observe entries wrongly)."""

import asyncio

import pytest

from lwm2m_sms.lwm2m.exceptions import DeviceUnreachable
from lwm2m_sms.routing.router import PolicySettings

from waiting import until

from .conftest import LoopbackRig, make_device, make_server


async def test_close_fails_an_observe_waiting_for_a_sleeping_device():
    rig = LoopbackRig()
    # A zero-length UDP window: the UQ device is asleep as soon as its Register is in.
    stack = await make_server(rig, policy=PolicySettings(udp_window=0.0, wake_up="never"))
    dev = await make_device(rig, stack, "dev-uq-close", "UQ", "+15550311")
    observe = asyncio.ensure_future(stack.server.observe("dev-uq-close", "/3/0/13"))
    await until(lambda: stack.router.waiting("dev-uq-close") > 0, what="observe() waiting in the router")
    assert not observe.done()
    await stack.router.close()
    with pytest.raises(DeviceUnreachable):
        await asyncio.wait_for(observe, 5)
    await dev.close(deregister=False)
    await stack.server.close()
    stack.router.queue.close()
    await rig.close()
