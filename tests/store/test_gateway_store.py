"""The gateway and ``lwm2m-sms server`` on each store: registrations and queued requests
survive a restart on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import pytest

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
from lwm2m_sms.gateway import start_device, start_server

from waiting import until

SERVER = "+15550000"


async def test_registrations_and_queue_survive_a_restart(store_url: str) -> None:
    net = LoopbackNetwork()
    bearers = [LoopbackBearer(net, SERVER), LoopbackBearer(net, "+15550108")]
    for b in bearers:
        await b.start()
    stack = await start_server(bearers=[bearers[0]], db=store_url)
    dev = await start_device("dev-SQ", "SQ", server_uri=stack.udp_uri, server_msisdn=SERVER,
                             bearer=bearers[1])
    try:
        stack.router.presence.asleep("dev-SQ sms")  # its SMS window closed: requests wait
        queued = asyncio.create_task(stack.server.write("dev-SQ", "/1/0/1", 600))
        await until(lambda: stack.router.queue.pending("dev-SQ"), what="the write to be queued")
        await stack.close()  # the server goes down with the write queued
        with pytest.raises(Exception):
            await queued  # this caller went with the server; the request stays in the store
        stack = await start_server(bearers=[bearers[0]], db=store_url)
        assert stack.server.registration("dev-SQ").binding == "SQ"
        assert [r.path for r in stack.router.queue.pending("dev-SQ")] == ["/1/0/1"]
        await dev.client.update()  # the device wakes: the stored queue goes out, once
        await until(lambda: stack.router.queue.counts().get("answered") == 1, what="the answer")
        assert dev.client.objects[1][0][1] == 600
        assert stack.router.queue.counts() == {"answered": 1}
    finally:
        await dev.close()
        await stack.close()
        for b in reversed(bearers):
            await b.close()


async def _line(proc: asyncio.subprocess.Process, pattern: str) -> re.Match[str]:
    assert proc.stdout is not None and proc.stderr is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert raw, (await proc.stderr.read()).decode()
        m = re.search(pattern, raw.decode())
        if m:
            return m


async def _server(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0


async def test_server_command_on_the_store(store_url: str) -> None:
    """``lwm2m-sms server --db URL``: a device registers; the restarted server has it."""
    proc = await _server("--db", store_url)
    try:
        m = await _line(proc, r"LwM2M server on (coap://[^\s,]+), registrations and queue in (\S+)")
        assert m.group(2) == store_url
        dev = await start_device("cli-u", "U", server_uri=m.group(1))
        await _line(proc, r"registered\s+ep=cli-u b=U")
    finally:
        await _stop(proc)
    await dev.close(deregister=False)
    proc = await _server("--db", store_url)
    try:
        uri = (await _line(proc, r"LwM2M server on (coap://[^\s,]+)")).group(1)
        await _line(proc, r"stored\s+ep=cli-u b=U")
        # The same device comes back and de-registers: the restarted server knew it.
        dev = await start_device("cli-u", "U", server_uri=uri)
        await _line(proc, r"registered\s+ep=cli-u b=U")
        await dev.close()
        await _line(proc, r"deregistered\s+ep=cli-u")
    finally:
        await _stop(proc)


async def test_server_command_needs_a_local_file_for_sms_parts(pg_url: str) -> None:
    proc = await _server("--db", pg_url, "--smpp", "127.0.0.1:1", "--msisdn", SERVER)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().count("\n") == 1 and "--local-db" in err.decode()


async def test_server_command_names_an_unreachable_database() -> None:
    proc = await _server("--db", "postgresql://gw:secret@127.0.0.1:1/fleet?connect_timeout=3")
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = err.decode()
    assert proc.returncode == 1 and text.count("\n") == 1, text
    assert "error: --db postgresql://gw:***@127.0.0.1:1/fleet" in text and "secret" not in text


async def test_gateway_needs_a_local_file_for_sms_parts(pg_url: str) -> None:
    from smsc.link import SmppLinkConfig

    from lwm2m_sms.gateway import Gateway, GatewayConfig, GatewayError

    config = GatewayConfig(udp=("127.0.0.1", 0), msisdn=SERVER, db=pg_url,
                           smpp=SmppLinkConfig(host="127.0.0.1", port=1, system_id="gw"))
    with pytest.raises(GatewayError) as err:
        await Gateway(config).start()
    assert err.value.part == "local_db" and "local_db" in err.value.detail


async def test_a_second_node_of_a_live_name_leaves_its_requests_on_the_wire_alone(pg_url: str) -> None:
    # A node started by mistake under the name of a running one is refused; before that it
    # must not do what a restart of that name does (fail its POSTs "outcome unknown",
    # queue its GETs again to be sent twice while the live node still waits for their answers).
    from lwm2m_sms.gateway import GatewayError
    from lwm2m_sms.store import RequestState, open_store
    from lwm2m_sms.store.bus import NodeBus

    store = open_store(pg_url)
    live = NodeBus(pg_url, "gw-a")
    await live.start()
    try:
        post = store.requests.add("dev", "sms", 2, "/3/0/4", now=0.0, origin="gw-a")
        get = store.requests.add("dev2", "sms", 1, "/3/0/0", now=0.0, origin="gw-a")
        assert len(store.requests.take("gw-a", lease=600, endpoint="dev", now=1.0)) == 1
        assert len(store.requests.take("gw-a", lease=600, endpoint="dev2", now=1.0)) == 1
        with pytest.raises(GatewayError, match="already running"):
            await start_server(db=pg_url, node="gw-a")
        for request in (post, get):
            row = store.requests.get(request.id)
            assert row is not None and (row.state, row.owner) == (RequestState.SENT, "gw-a")
    finally:
        await live.close()
        store.close()


async def test_a_request_taken_over_between_its_take_and_its_send_is_not_sent(pg_url: str) -> None:
    """This node takes a queued Read; before it marks it sent, another node takes its work
    over (its listening connection was down a moment: it counted as dead) and queues the
    Read again. The mark must not put the row back to 'sent' with no owner and no lease:
    no node would ever take it again, nor any later request of that device, and the
    answer could not be recorded."""
    from lwm2m_sms.store import RequestState

    net = LoopbackNetwork()
    bearers = [LoopbackBearer(net, SERVER), LoopbackBearer(net, "+15550108")]
    for b in bearers:
        await b.start()
    stack = await start_server(bearers=[bearers[0]], db=pg_url, node="gw-a")
    dev = await start_device("dev-SQ", "SQ", server_uri=stack.udp_uri, server_msisdn=SERVER, bearer=bearers[1])
    try:
        router, store = stack.router, stack.store
        assert store is not None
        router.presence.asleep("dev-SQ sms")
        router.presence.asleep("dev-SQ udp")
        queued = asyncio.ensure_future(stack.server.read("dev-SQ", "/3/0/0"))
        await until(lambda: router.queue.pending("dev-SQ"), what="the Read queued")
        entry = router.queue.take("dev-SQ", router.clock.wall())
        assert entry is not None
        store.requests.recover("gw-a", why="its node 'gw-a' died")  # what the takeover does
        requests = dev.client.stats["requests"]
        await router._deliver(stack.server.registration("dev-SQ"), entry)
        row = store.requests.get(entry.id)
        assert row is not None and row.state is RequestState.QUEUED  # taken again by whoever can
        assert dev.client.stats["requests"] == requests  # not sent by the node that lost it
        queued.cancel()
    finally:
        await dev.close()
        await stack.close()
        for b in reversed(bearers):
            await b.close()
