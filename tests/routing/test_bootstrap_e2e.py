"""The four bootstrap modes of LwM2M 1.0.2 (5.2.3) end to end, on every SMS network of the
rig (loopback, the simulated SMSC over SMPP, the modem emulator) and over UDP: the objects
the device holds afterwards, that it then registers, and the SMS each mode costs."""

import asyncio

import pytest

from lwm2m_sms.coap import SmsSettings
from lwm2m_sms.gateway import start_bootstrap_server, start_device
from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig
from lwm2m_sms.lwm2m.client import BootstrapSchedule, ServerAccount, Smartcard
from lwm2m_sms.lwm2m.exceptions import ConfigError
from lwm2m_sms.lwm2m.udp import local_port
from lwm2m_sms.sms.address import parse_msisdn

from .conftest import SERVER, make_server

BS = "+15550009"  # the bootstrap server's own number (outside the devices' range)


async def bootstrap_stack(rig, stack, endpoints, *, sms=True, **kw):
    """A bootstrap server for ``endpoints`` ({ep: (binding, listed numbers)}) that hands out
    the LwM2M server of ``stack``, on its own number when ``sms``."""
    config = BootstrapConfig.from_dict({"endpoints": {
        ep: {"sms": numbers, "servers": [{"uri": stack.udp_uri, "binding": binding, "sms_number": SERVER,
                                          "lifetime": 300, "short_server_id": 7}]}
        for ep, (binding, numbers) in endpoints.items()}})
    bearers = [await rig.bearer(BS, server=True)] if sms else []
    bs = await start_bootstrap_server(config, bearers=bearers, **kw)
    rig.closers.append(bs.close)
    return bs


def assert_bootstrapped(client, binding):
    """/0 keeps the bootstrap account and holds the server account the bootstrap server
    wrote; /1 holds its Server instance."""
    sec = client.objects[0][1]
    assert (sec[0], sec[1], sec[2], sec[6], sec[9], sec[10]) == (sec[0], False, 3, 3, SERVER.lstrip("+"), 7)
    assert client.objects[1][0][0] == 7 and client.objects[1][0][7] == binding
    assert client.objects[0][0][1] is True


async def test_server_initiated_bootstrap_by_sms(rig):
    stack = await make_server(rig)
    bs = await bootstrap_stack(rig, stack, {"si-s": ("S", [])})
    dev = await start_device("si-s", "S", bootstrap_uri=bs.sms_uri, bootstrap_sms=BS, udp=False,
                             bearer=await rig.bearer("+15550401"), start=False, hold_off=3600)
    booting = asyncio.ensure_future(dev.client.start())  # waits its hold-off for the server
    before = rig.sms()
    session = await bs.server.push("si-s", "+15550401")
    assert session.state == "succeeded", session.steps
    await asyncio.wait_for(booting, 20)
    # Delete, Discover, Write /0/1, Write /1/0, Finish, then Register: one SMS each way
    assert rig.sms() - before == 12
    assert_bootstrapped(dev.client, "S")
    assert dev.client.bootstrap_state.completed == ["server"]
    assert dev.client.stats["bootstrap_requests"] == 0
    assert stack.server.registration("si-s").binding == "S"
    assert (await asyncio.wait_for(stack.server.read("si-s", "/3/0/0"), 20)).value == "lwm2m-sms"
    await dev.close()
    await stack.close()


async def test_client_initiated_bootstrap_by_sms(rig):
    stack = await make_server(rig)
    bs = await bootstrap_stack(rig, stack, {"ci-sq": ("SQ", ["+15550402"])})
    dev = await start_device("ci-sq", "SQ", bootstrap_uri=bs.sms_uri, udp=False,
                             bearer=await rig.bearer("+15550402"), start=False)
    before = rig.sms()
    await asyncio.wait_for(dev.client.start(), 30)
    session = await asyncio.wait_for(bs.server.sessions["ci-sq"].done, 10)
    assert session.initiated_by == "client" and session.succeeded
    assert_bootstrapped(dev.client, "SQ")
    assert stack.server.registration("ci-sq").binding == "SQ"
    # Bootstrap-Request + 2.04, five steps each one SMS each way, Register + 2.01
    assert rig.sms() - before == 14
    await dev.close()
    await stack.close()


async def test_a_bootstrap_request_from_an_unlisted_number_is_dropped(rig):
    stack = await make_server(rig)
    bs = await bootstrap_stack(rig, stack, {"listed": ("SQ", ["+15550403"])})
    dev = await start_device("listed", "SQ", bootstrap_uri=bs.sms_uri, udp=False,
                             bearer=await rig.bearer("+15550404"), start=False,
                             sms_settings=SmsSettings(ack_timeout=0.2, max_retransmit=0),
                             bootstrap_schedule=BootstrapSchedule(attempts=1))
    dropped = asyncio.Event()
    trust = bs.sms[0].accept_filter

    def watched(remote, message):
        accepted = trust(remote, message)
        if not accepted:
            dropped.set()
        return accepted

    bs.sms[0].accept_filter = watched
    before = rig.sms()
    objects = {k: dict(v) for k, v in dev.client.objects.items()}
    with pytest.raises(ConfigError, match="no answer to 1 Bootstrap-Request"):
        await dev.client.start()
    await asyncio.wait_for(dropped.wait(), 10)
    assert bs.server.stats.dropped_sms == 1 and bs.server.sessions == {}
    assert rig.sms() - before == 1  # the request; nothing went back
    assert {k: dict(v) for k, v in dev.client.objects.items()} == objects
    await dev.close(deregister=False)
    await stack.close()


async def test_push_to_a_number_that_does_not_answer_fails_after_the_wait(rig):
    stack = await make_server(rig)
    bs = await bootstrap_stack(rig, stack, {"ghost": ("S", [])}, step_timeout=0.5)
    session = await bs.server.push("ghost", "+15550499")  # no device has this number
    assert session.state == "failed" and bs.server.sessions["ghost"].state == "failed"
    assert session.steps[0].step == "Delete /" and session.steps[0].code is None
    assert bs.server.stats.failed == 1
    await stack.close()


async def test_smartcard_bootstrap(rig):
    stack = await make_server(rig)
    card = Smartcard.from_accounts([
        ServerAccount("coap://127.0.0.1:9", bootstrap=True),
        ServerAccount(stack.udp_uri, 7, 300, "S", parse_msisdn(SERVER)),
    ])
    dev = await start_device("card-s", "S", smartcard=card, udp=False, bearer=await rig.bearer("+15550405"))
    assert_bootstrapped(dev.client, "S")
    assert dev.client.bootstrap_state.completed == ["smartcard"]
    assert stack.server.registration("card-s").binding == "S"
    assert (await asyncio.wait_for(stack.server.read("card-s", "/3/0/0"), 20)).value == "lwm2m-sms"
    await dev.close()
    await stack.close()


async def test_factory_bootstrap(rig):
    stack = await make_server(rig)
    dev = await start_device("factory", "SQ", server_uri=stack.udp_uri, server_msisdn=SERVER, udp=False,
                             bearer=await rig.bearer("+15550406"))
    assert dev.client.objects[0][1][9] == SERVER.lstrip("+") and dev.client.objects[1][0][7] == "SQ"
    assert dev.client.bootstrap_state.completed == []
    assert stack.server.registration("factory").binding == "SQ"
    await dev.close()
    await stack.close()


# --- over UDP --------------------------------------------------------------------------


async def test_server_initiated_bootstrap_by_udp_of_a_registered_device(rig):
    """A running device is bootstrapped again by the server: it takes the new accounts and
    registers with them."""
    stack = await make_server(rig)
    bs = await bootstrap_stack(rig, stack, {"si-u": ("U", [])}, sms=False)
    old = await make_server(rig)
    dev = await start_device("si-u", "U", server_uri=old.udp_uri, bootstrap_uri=bs.udp_uri)
    assert old.server.registration("si-u") is not None
    session = await bs.server.push("si-u", f"coap://127.0.0.1:{local_port(dev.context)}")
    assert session.state == "succeeded", session.steps
    await asyncio.wait_for(dev.client.registered.wait(), 10)  # registered anew
    assert stack.server.registration("si-u").binding == "U"
    leaving = [t for t in dev.client._tasks if t.get_coro().__qualname__.endswith("deregister")]
    await asyncio.wait_for(asyncio.gather(*leaving), 10)
    assert old.server.registrations() == []  # de-registered there, not left to expire
    assert_bootstrapped(dev.client, "U")
    assert 1 in dev.client.objects[0] and list(dev.client.objects[1]) == [0]
    await dev.close()
    await stack.close()
    await old.close()
