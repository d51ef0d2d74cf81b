"""What one simulated device costs (issue 17 wants 100,000 in one process), and that the
memory-saving parts behave as the plain structures they replace."""

import gc
import tracemalloc

import aiocoap
import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code
from hypothesis import given, strategies as st

from lwm2m_sms.lwm2m.client import Lwm2mClient
from lwm2m_sms.lwm2m.client.objecttree import DeviceInstance
from lwm2m_sms.lwm2m.client.stats import DeviceStats
from lwm2m_sms.lwm2m.content import decode_payload, encode_payload

from waiting import until


async def test_a_device_costs_under_5_5_kib_of_python_allocations():
    """Allocations of Lwm2mClient(...) itself, its aiocoap Context made beforehand (the
    split had it at 6.9 KB; the shared /3 template, the lazy Event and task set and the
    slotted counters brought it to 4.8 KB)."""
    n = 500
    contexts = [aiocoap.Context(serversite=None) for _ in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        clients = [Lwm2mClient(c, f"fp-{i:06d}", server="coap://127.0.0.1:5683") for i, c in enumerate(contexts)]
        gc.collect()
        grown = sum(d.size_diff for d in tracemalloc.take_snapshot().compare_to(before, "filename"))
    finally:
        tracemalloc.stop()
    assert len(clients) == n
    assert grown / n < 5.5 * 1024


_ops = st.lists(st.tuples(st.sampled_from(["set", "del"]), st.integers(0, 25), st.integers()), max_size=40)


@given(_ops)
def test_device_instance_behaves_as_a_dict(ops):
    template = {0: "lwm2m-sms", 3: "1.0.2", 13: 0, 14: "+00:00", 15: "UTC", 6: {0: 1}}
    inst, model = DeviceInstance(template, {2: "serial"}), {**template, 2: "serial"}
    for op, rid, value in ops:
        if op == "set":
            inst[rid], model[rid] = value, value
        else:
            with pytest.raises(KeyError) if rid not in model else _nothing():
                del inst[rid]
            model.pop(rid, None)
        assert dict(inst) == model and len(inst) == len(model)
        assert all((r in inst) == (r in model) for r in range(26))
    assert template == {0: "lwm2m-sms", 3: "1.0.2", 13: 0, 14: "+00:00", 15: "UTC", 6: {0: 1}}  # shared: untouched


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


async def test_replace_write_of_the_device_object_touches_only_this_device(contexts):
    """Write (replace) of /3/0 drops its writable resources (13, 14, 15) and keeps the
    rest, on this device; another device still shows the template."""
    server_peer = await contexts()
    ctx = await contexts()
    other = Lwm2mClient(await contexts(), "other", server="coap://127.0.0.1:8")
    client = Lwm2mClient(ctx, "dev", server="coap://127.0.0.1:8")
    from lwm2m_sms.lwm2m.udp import local_port
    base = f"coap://127.0.0.1:{local_port(ctx)}"
    cf, body = encode_payload((3, 0), {14: "+02:00"})
    r = await server_peer.request(Message(code=Code.PUT, uri=base + "/3/0", content_format=cf, payload=body)).response
    assert r.code == Code.CHANGED
    r = await server_peer.request(Message(code=Code.GET, uri=base + "/3/0")).response
    values = decode_payload((3, 0), r.opt.content_format, r.payload)
    assert values[14] == "+02:00" and 15 not in values and values[0] == "lwm2m-sms"
    assert other.objects[3][0][15] == "UTC" and other.objects[3][0][14] == "+00:00"


def test_device_stats_count_under_fixed_names():
    stats = DeviceStats()
    stats["registers"] += 2
    assert stats["registers"] == 2 and dict(stats)["updates"] == 0 and len(stats) == len(dict(stats))
    with pytest.raises(KeyError):
        stats["registrations"] += 1  # a misspelt counter is an error, not a new key


async def test_an_update_requested_while_none_is_awaited_is_not_lost():
    """The registration session's 'Update now' (a flag and a future while waiting, where an
    asyncio.Event of 0.8 KiB was): a request before the wait returns the wait at once, a
    request during it ends it, and without one the wait lasts its delay."""
    import asyncio

    from lwm2m_sms.lwm2m.client import ServerAccount
    from lwm2m_sms.lwm2m.client.registration import Session

    session = Session(ServerAccount("coap://127.0.0.1:5683"), "coap://127.0.0.1:5683")
    session.request_update()
    await asyncio.wait_for(session.wait_for_update(3600), 5)   # remembered
    waiting = asyncio.ensure_future(session.wait_for_update(3600))
    await until(lambda: session._wake is not None, what="the wait begun")
    session.request_update()
    await asyncio.wait_for(waiting, 5)                         # woken
    assert not session.update_requested
    await session.wait_for_update(0.01)                        # nothing asked: the delay runs out
    assert not hasattr(session, "__dict__")


async def test_nothing_of_a_stopped_device_keeps_running(contexts):
    """stop() and the context's shutdown leave no task or timer of the device behind: not
    the observation tick (the shutdown cancels observations one by one, each cancellation
    deciding again whether the tick runs), not a pmin-delayed notification."""
    import asyncio

    from lwm2m_sms.lwm2m.udp import local_port, udp_context

    ctx, peer = await udp_context(), await contexts()  # ctx: shut down here, not by the fixture
    client = Lwm2mClient(ctx, "stopper", server="coap://127.0.0.1:8", time_resolution=0.05)
    base = f"coap://127.0.0.1:{local_port(ctx)}"
    first = []
    for path in ("/3/0/13", "/3/0/9?pmin=3600", "/3/0"):
        uri, _, query = path.partition("?")
        if query:
            r = await peer.request(Message(code=Code.PUT, uri=base + uri + "?" + query)).response
            assert r.code == Code.CHANGED
        request = peer.request(Message(code=Code.GET, uri=base + uri, observe=0))
        first.append(await request.response)
    client.set_value("/3/0/9", 50)   # within pmin: a notification waits on a timer
    client.set_value("/3/0/9", 40)
    assert client.observations._tick_task is not None
    await client.stop(deregister=False)
    await ctx.shutdown()
    await until(lambda: client.observations._tick_task is None, what="the observation tick ended")
    assert not [t for t in asyncio.all_tasks() if "Observations" in getattr(t.get_coro(), "__qualname__", "")]
    assert all(w.pending is None for obs in client.observations._observers.values() for w in obs.values())


async def test_stop_returns_when_the_devices_tasks_are_gone(contexts):
    """A bootstrapped device has its account purge timer and a registration attempt
    running: stop() returns after they ended, not merely after asking them to."""
    import asyncio

    from lwm2m_sms.lwm2m.udp import local_port

    from .test_bootstrap import run_bootstrap

    ctx, peer = await contexts(), await contexts()
    client = Lwm2mClient(ctx, "tasks", bootstrap=f"coap://127.0.0.1:{local_port(peer)}", server="coap://127.0.0.1:8",
                         bootstrap_account_timeout=3600)
    base = f"coap://127.0.0.1:{local_port(ctx)}"
    assert await run_bootstrap(peer, base) == Code.CHANGED
    tasks = set(client._tasks)
    assert tasks and not all(t.done() for t in tasks)
    await client.stop(deregister=False)
    assert all(t.done() for t in tasks)
