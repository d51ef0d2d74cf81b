"""kill -9 of a gateway node with requests in flight (issue 17, acceptance).

Node A is a real ``lwm2m-sms server --node A`` process on a throw-away PostgreSQL, with its
own SMPP bind to the simulated SMSC of this test; node B is a Gateway in this process with
a bind of the same account; three SQ devices in this process, each with its own bind. The
devices register at A. Operators queue a Read and an Execute per device at B while the
devices sleep; each device wakes at A (its Update reaches A's bind, the account's first),
so A takes one request per device from the store and sends it. The devices run the
requests (their counters show it) but their answers are held back, and A is killed with
SIGKILL. Then B must notice A's death, take over its work, and every request must end
answered or failed in the store: each GET answered, each Execute run on its device at most
once and, if its outcome is not known, failed "outcome unknown" (OutcomeUnknown to its
caller), none left queued or sent.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiocoap.numbers.codes import Code

from lwm2m_sms.cluster import ClusterSettings
from lwm2m_sms.lwm2m.exceptions import DeviceUnreachable
from lwm2m_sms.gateway import Device, Gateway, smpp_bearer, start_device, start_server
from lwm2m_sms.routing.router import OutcomeUnknown
from lwm2m_sms.store import RequestState, open_store
from lwm2m_sms.store.bus import LOCK_SPACE, _signed, lock_key
from smsc.link import SmppBearer
from smsc.server import SimulatedSmsc

from child_process import ChildProcess
from waiting import until

from .nodes import SERVER, cluster_smsc

DEVICES = ["+15550101", "+15550102", "+15550103"]


class HeldAnswers:
    """A device's SMPP link whose responses (CoAP code class 2 to 5) wait for :attr:`open`;
    its own requests (Register, Update) go at once."""

    def __init__(self, link: SmppBearer) -> None:
        self.open = asyncio.Event()
        self.open.set()
        self.held = 0
        send = link.send

        async def held_send(recipient: Any, payload: bytes, **options: Any) -> Any:
            if len(payload) > 1 and payload[1] >> 5 >= 2 and not self.open.is_set():
                self.held += 1
                await self.open.wait()
            return await send(recipient, payload, **options)

        link.send = held_send  # type: ignore[method-assign]


class Executions:
    """The Executes a simulated device runs: each POST to /3/0/4 its SMS transport takes
    (after its trust check), by message ID (aiocoap drops a duplicate of the same ID)."""

    def __init__(self, device: Device) -> None:
        assert device.sms is not None and device.sms.accept_filter is not None
        self.mids: set[int] = set()
        accept = device.sms.accept_filter

        def counting(remote: Any, message: Any) -> bool:
            accepted = accept(remote, message)
            if accepted and message.code == Code.POST and tuple(message.opt.uri_path) == ("3", "0", "4"):
                self.mids.add(message.mid)
            return accepted

        device.sms.accept_filter = counting

    @property
    def count(self) -> int:
        return len(self.mids)


def node_process(*args: str) -> ChildProcess:
    """``lwm2m-sms server ARGS`` in a process of its own: ready once it prints its start line."""
    return ChildProcess([sys.executable, "-m", "lwm2m_sms.cli", "server", *args], ready="LwM2M server on")


@pytest.fixture
async def smsc() -> AsyncIterator[SimulatedSmsc]:
    server = await cluster_smsc("first")
    try:
        yield server
    finally:
        await server.close()


async def lock_released(pg_url: str, node: str) -> None:
    """Return once PostgreSQL has ended the killed node's session: its name's advisory lock
    is free (taken here, which blocks until then, and given back)."""
    import psycopg

    key = (LOCK_SPACE, _signed(lock_key(node)))
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await asyncio.wait_for(conn.execute("SELECT pg_advisory_lock(%s, %s)", key), 30)
        await conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)


@pytest.mark.parametrize("answers", ["after the takeover", "before the takeover"])
async def test_kill9_of_a_node_with_requests_in_flight(smsc: SimulatedSmsc, pg_url: str, tmp_path: Path,
                                                       answers: str) -> None:
    """``answers``: when the held answers are let go. After B took A's work over, the
    answers find A's requests queued again (GET) or failed (POST) and count for nothing;
    the GETs are sent again. Before (B checks the other nodes only when the test says),
    B finds A dead and records each answer as its request's outcome: nothing is sent
    again and no outcome is unknown."""
    node_a = node_process("--udp", "127.0.0.1:0", "--db", pg_url, "--node", "A", "--local-db",
                         str(tmp_path / "a.sqlite"), "--smpp", f"127.0.0.1:{smsc.port}", "--system-id",
                         "gateway", "--password", "gpw", "--msisdn", SERVER, "--smpp-wait", "30")
    links: list[SmppBearer] = []
    devices: list[Device] = []
    b: Gateway | None = None
    store = open_store(pg_url)
    try:
        await node_a.start()
        holds, executions = [], []
        for msisdn in DEVICES:
            link = await smpp_bearer(smsc.port, "devices", msisdn, msisdn, password="dpw")
            links.append(link)
            holds.append(HeldAnswers(link))
            device = await start_device(f"dev-{msisdn[-3:]}", "SQ", server_uri=f"coap+sms://{SERVER}",
                                        server_msisdn=SERVER, bearer=link, udp=False)
            devices.append(device)
            executions.append(Executions(device))
        # Node B starts once A has every registration (B reads them at start).
        await until(lambda: len(store.registrations) == len(DEVICES), 30, "the Registers at node A")
        link_b = await smpp_bearer(smsc.port, "gateway", SERVER, SERVER, password="gpw")
        links.append(link_b)
        b = await start_server(bearers=[link_b], db=pg_url, node="B", cluster=ClusterSettings(
            check_interval=0.2 if answers == "after the takeover" else 3600))
        assert b.cluster is not None
        # Per device a GET and a POST, queued at B while the device sleeps for B; the first
        # of each device's two goes to A, where the device is awake (its Register), told by
        # B that there is work (routing.fleet); its answer is held.
        for hold in holds:
            hold.open.clear()
        calls: dict[int, tuple[str, asyncio.Task[Any]]] = {}
        for i, device in enumerate(devices):
            ep = device.client.endpoint
            b.router.presence.asleep(f"{ep} sms")
            order = ["GET", "POST"] if i == 0 else ["POST", "GET"]
            for method in order:
                before = set(r.id for r in store.requests.history(ep))
                coro = b.server.read(ep, "/3/0/0") if method == "GET" else b.server.execute(ep, "/3/0/4")
                task = asyncio.ensure_future(coro)
                await until(lambda: len(store.requests.history(ep)) == len(before) + 1, 10, "queued")
                (new,) = set(r.id for r in store.requests.history(ep)) - before
                calls[new] = (method, task)
        await until(lambda: store.requests.counts() == {"sent": 3, "queued": 3}, 30, "A sends the first three")
        for device in devices:
            await device.client.update()  # reaches A (the account's first bind): nothing more to send
        await until(lambda: all(h.held == 1 for h in holds), 30,
                    "every device ran the request A sent it, its answer held")
        in_flight = [r for r in (store.requests.get(i) for i in calls) if r is not None and r.state is RequestState.SENT]
        assert len(in_flight) == 3 and {r.owner for r in in_flight} == {"A"}
        assert [e.count for e in executions] == [0, 1, 1]

        await node_a.kill9()
        if answers == "after the takeover":
            await until(lambda: b.cluster.stats.taken_over == ["A"], 30, "node B takes over node A's work")
            for hold in holds:
                hold.open.set()  # the answers A waited for now reach B (A's bind is gone)
        else:
            await lock_released(pg_url, "A")  # A is dead to everyone
            for hold in holds:
                hold.open.set()
            await until(lambda: b.cluster.stats.outcomes == 3, 30, "B records the three answers")
            assert await b.cluster.check() == ["A"]  # nothing of A's left on the wire
        for device in devices:
            await device.client.update()  # the devices wake at B: it sends what is queued

        def settled() -> bool:
            return store.requests.counts().keys() <= {"answered", "failed"}

        await until(settled, 60, "every request answered or failed")
        for request_id, (method, task) in calls.items():
            record = store.requests.get(request_id)
            assert record is not None
            if method == "GET":
                assert record.state is RequestState.ANSWERED and record.response_code == 69  # 2.05
                assert (await asyncio.wait_for(task, 10)).value
            elif record.state is RequestState.ANSWERED:
                assert record.response_code == 68  # 2.04
            else:
                assert record.state is RequestState.FAILED and "outcome unknown" in record.detail
                with pytest.raises(DeviceUnreachable) as caught:  # the server core's error for "no answer"
                    await asyncio.wait_for(task, 10)
                assert isinstance(caught.value.__cause__, OutcomeUnknown)
        # Each device had one Execute: run once, never twice, whatever its record says.
        assert [e.count for e in executions] == [1, 1, 1]
        failed = [r for r in (store.requests.get(i) for i in calls) if r and r.state is RequestState.FAILED]
        assert all(calls[r.id][0] == "POST" for r in failed)
        if answers == "before the takeover":
            assert failed == []
    finally:
        for device in devices:
            await device.close(deregister=False)
        if b is not None:
            await b.close()
        for link in links:
            await link.close()
        await node_a.stop()
        store.close()
