"""Client simulator <-> server core over UDP loopback: bootstrap, register, read, write,
execute /1/0/8 -> Update, observe /3/0/13, de-register; queue mode; restart on SQLite."""

import asyncio

import pytest

from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig, BootstrapServer
from lwm2m_sms.lwm2m.client import Lwm2mClient
from lwm2m_sms.lwm2m.exceptions import DeviceUnreachable, RequestFailed
from lwm2m_sms.lwm2m.server import Lwm2mServer
from lwm2m_sms.lwm2m.store import SqliteRegistrationStore
from waiting import until


async def test_bootstrap_register_read_write_execute_observe_deregister(server, recorder, contexts):
    config = BootstrapConfig.from_dict({"endpoints": {"dev-1": {"servers": [
        {"uri": f"coap://127.0.0.1:{server.port}", "short_server_id": 7, "lifetime": 120, "binding": "U"}]}}})
    bs = await BootstrapServer.create_udp(config, ("127.0.0.1", 0))
    try:
        client = Lwm2mClient(await contexts(), "dev-1", bootstrap=f"coap://127.0.0.1:{bs.port}", time_resolution=0.05)
        await client.start()
        session = await asyncio.wait_for(bs.sessions["dev-1"].done, 10)
        assert session.succeeded
        assert [s.step for s in session.steps] == ["Delete /", "Discover /", "Write /0/1", "Write /1/0", "Finish"]
        _, reg = await recorder.next("registered")
        assert (reg.endpoint, reg.lifetime, reg.binding) == ("dev-1", 120, "U")
        assert reg.remote_uri.startswith("coap://127.0.0.1:")

        device = (await server.read("dev-1", "/3/0")).value
        assert device[0] == "lwm2m-sms" and device[16] == "U" and isinstance(device[13], int)
        assert (await server.read("dev-1", "/1/0/1")).value == 120

        await server.write("dev-1", "/1/0/1", 300)
        _, reg = await recorder.next("updated")  # a new lifetime is announced by an Update
        assert reg.lifetime == 300
        assert (await server.read("dev-1", "/1/0/1")).value == 300

        await server.execute("dev-1", "/1/0/8")
        _, reg = await recorder.next("updated")
        assert reg.endpoint == "dev-1"

        obs = await server.observe("dev-1", "/3/0/13")
        seen = []
        async for value in obs:
            seen.append(value)
            if len(seen) == 3:
                break
        obs.cancel()
        assert seen == sorted(seen) and all(isinstance(v, int) for v in seen)
        # Cancel Observation: the next notification is answered with a Reset, after which
        # the device stops observing
        await until(lambda: not client.site.observed_paths())
        assert server.observations("dev-1") == []

        got = asyncio.Queue()
        watched = await server.observe("dev-1", "/3/0/13", callback=got.put_nowait)  # callback style
        assert isinstance(await asyncio.wait_for(got.get(), 10), int)
        assert server.cancel_observation("dev-1", "/3/0/13") == 1 and watched.cancelled

        with pytest.raises(RequestFailed) as info:
            await server.write("dev-1", "/3/0/0", "x")
        assert info.value.code.dotted == "4.05"

        await client.stop()
        _, reg = await recorder.next("deregistered")
        assert reg.endpoint == "dev-1" and server.registrations() == []
    finally:
        await bs.close()


async def test_management_operations(server, recorder, contexts):
    client = Lwm2mClient(await contexts(), "ops", server=f"coap://127.0.0.1:{server.port}")
    await client.start()
    await recorder.next("registered")
    assert (await server.read("ops", "/3/0/6")).value == {0: 1, 1: 5}
    assert (await server.read("ops", "/3/0/6/1")).value == 5
    assert (await server.read("ops", "/3")).value[0][1] == "SIM-1"
    await server.write("ops", "/1/0", {2: 5, 3: 50}, partial=True)
    assert (await server.read("ops", "/1/0")).value[3] == 50
    links = await server.discover("ops", "/3/0")
    assert {"/3/0/4", "/3/0/13"} <= {l.target for l in links}
    await server.write_attributes("ops", "/3/0/13", pmin=2, pmax=30)
    links = await server.discover("ops", "/3/0/13")
    assert links[0].attributes == {"pmin": 2, "pmax": 30}
    new = await server.create("ops", "/1", {0: 9, 1: 60, 6: False, 7: "U"}, instance_id=5)
    assert new == (1, 5)
    await recorder.next("updated")  # the object list changed, and the Update carries it
    assert "/1/5" in {l.target for l in server.registration("ops").objects}
    assert (await server.read("ops", "/1/5")).value[0] == 9
    await server.delete("ops", "/1/5")
    await recorder.next("updated")
    assert "/1/5" not in {l.target for l in server.registration("ops").objects}
    with pytest.raises(RequestFailed):
        await server.read("ops", "/1/5")
    with pytest.raises(RequestFailed):  # Security is off limits to a DM server
        await server.read("ops", "/0")
    await client.stop()


async def test_queue_mode_device_sleeps_after_its_window(server, recorder, contexts):
    now = [1_000_000.0]
    client = Lwm2mClient(await contexts(), "sleepy", server=f"coap://127.0.0.1:{server.port}",
                         binding="UQ", queue_window=30, clock=lambda: now[0])
    await client.start()
    await recorder.next("registered")
    assert (await server.read("sleepy", "/3/0/0")).value == "lwm2m-sms"   # online window
    now[0] += 31                                                 # window over: radio off
    server.request_timeout = 0.5
    with pytest.raises(DeviceUnreachable):
        await server.read("sleepy", "/3/0/0")
    assert client.stats["dropped_asleep"] >= 1
    await client.update()                                        # it wakes and sends an Update
    # (the dropped CON is still being retransmitted by the server's message layer; the
    # next read waits behind it, NSTART 1, and both are answered now that it is awake)
    server.request_timeout = None
    assert (await server.read("sleepy", "/3/0/0")).value == "lwm2m-sms"
    await client.stop()


async def test_restart_on_the_same_sqlite_file(tmp_path, contexts):
    db = tmp_path / "reg.sqlite"
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0), store=SqliteRegistrationStore(db))
    client = Lwm2mClient(await contexts(), "persist", server=f"coap://127.0.0.1:{server.port}",
                         binding="US", sms="+15550001", lifetime=600)
    await client.start()
    before = server.registration("persist")
    port = server.port
    await server.close()

    # the same address again: the client's De-register must find the restarted server
    server = await Lwm2mServer.create_udp(("127.0.0.1", port), store=SqliteRegistrationStore(db))
    try:
        after = server.registration("persist")
        assert (after.location, after.lifetime, after.binding, after.sms, after.objects, after.remote_uri,
                after.registered_at) == (before.location, before.lifetime, before.binding, before.sms,
                                         before.objects, before.remote_uri, before.registered_at)
        assert after.remote is None
        # reachable again through the recorded URI alone
        assert (await server.read("persist", "/3/0/0")).value == "lwm2m-sms"
        await client.stop()  # de-registers: gone from the file too
        assert server.registrations() == []
    finally:
        await client.stop(deregister=False)
        await server.close()
    store = SqliteRegistrationStore(db)
    assert list(store) == []
    store.close()


async def test_periodic_update_before_the_lifetime_ends(server, recorder, contexts):
    client = Lwm2mClient(await contexts(), "periodic", server=f"coap://127.0.0.1:{server.port}",
                         lifetime=1, update_margin=0.3)
    await client.start()
    await recorder.next("registered")
    first = (await recorder.next("updated"))[1].updated_at
    second = (await recorder.next("updated"))[1].updated_at
    assert first < second
    assert server.expire_due() == []
    await client.stop()


async def test_notification_attributes_pmin_pmax_st_gt(server, recorder, contexts):
    client = Lwm2mClient(await contexts(), "attrs", server=f"coap://127.0.0.1:{server.port}", time_resolution=0.05)
    await client.start()
    await recorder.next("registered")

    # st: only a move of at least 5 is worth a notification
    await server.write_attributes("attrs", "/3/0/9", st=5)
    obs = await server.observe("attrs", "/3/0/9")
    assert obs.value == 87
    it = obs.__aiter__()
    client.set_value("/3/0/9", 89)
    client.set_value("/3/0/9", 93)
    assert await asyncio.wait_for(it.__anext__(), 10) == 93
    # gt: crossing 95 counts even by a small step (st still says 5 otherwise)
    await server.write_attributes("attrs", "/3/0/9", st=None, gt=95)
    client.set_value("/3/0/9", 94)   # no crossing, no notification
    client.set_value("/3/0/9", 96)   # crosses 95
    assert await asyncio.wait_for(it.__anext__(), 10) == 96
    obs.cancel()

    # pmin: changes within pmin are held back and sent once, with the latest value
    await server.write_attributes("attrs", "/3/0/10", pmin=1)
    obs = await server.observe("attrs", "/3/0/10")
    it = obs.__aiter__()
    client.set_value("/3/0/10", 50)
    client.set_value("/3/0/10", 60)
    assert await asyncio.wait_for(it.__anext__(), 10) == 60
    obs.cancel()

    # pmax: a notification comes even without a change
    await server.write_attributes("attrs", "/3/0/21", pmax=1)
    obs = await server.observe("attrs", "/3/0/21")
    assert await asyncio.wait_for(obs.__aiter__().__anext__(), 10) == 64
    obs.cancel()
    await client.stop()
