"""The node bus on a real PostgreSQL: liveness by advisory lock, messages by NOTIFY."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import AsyncIterator

import pytest

from lwm2m_sms.store import StoreError
from lwm2m_sms.store.bus import _LOCK_SPACE, MAX_PAYLOAD, BusMessage, NodeBus, _signed, lock_key

from waiting import until


@pytest.fixture
async def buses(pg_url: str) -> AsyncIterator[tuple[NodeBus, NodeBus, NodeBus]]:
    nodes = [NodeBus(pg_url, name) for name in ("node-a", "node-b", "node-c")]
    for bus in nodes:
        await bus.start()
    try:
        yield nodes[0], nodes[1], nodes[2]
    finally:
        for bus in nodes:
            await bus.close()


class Received:
    """A bus handler that keeps what it gets, in order."""

    def __init__(self) -> None:
        self.items: list[BusMessage] = []

    def __call__(self, message: BusMessage) -> None:
        self.items.append(message)

    async def wait(self, n: int) -> list[BusMessage]:
        await until(lambda: len(self.items) >= n, what=f"{n} bus messages (have {len(self.items)})")
        return self.items


def inbox_for(bus: NodeBus, topic: str) -> Received:
    inbox = Received()
    bus.subscribe(topic, inbox)
    return inbox


async def test_a_broadcast_reaches_every_other_node_but_not_its_sender(
        buses: tuple[NodeBus, NodeBus, NodeBus]) -> None:
    a, b, c = buses
    at_a, at_b, at_c = (inbox_for(bus, "hello") for bus in buses)
    assert a.post("hello", "one")
    assert await at_b.wait(1) == [BusMessage("hello", "node-a", "one")]
    assert await at_c.wait(1) == [BusMessage("hello", "node-a", "one")]
    # b answers only a; c must not see it, a must not have seen its own broadcast
    assert b.post("hello", "two", to="node-a")
    assert await at_a.wait(1) == [BusMessage("hello", "node-b", "two")]
    assert c.post("hello", "three", to="node-b")
    assert (await at_b.wait(2))[1] == BusMessage("hello", "node-c", "three")
    await a.flushed(), await b.flushed(), await c.flushed()
    a.post("hello", "last", to="node-c")  # ordered after the others from a: c has seen all before it
    await at_c.wait(2)
    assert len(at_a.items) == 1 and len(at_b.items) == 2 and len(at_c.items) == 2


async def test_messages_from_one_node_arrive_in_order(buses: tuple[NodeBus, NodeBus, NodeBus]) -> None:
    a, b, _ = buses
    inbox = inbox_for(b, "seq")
    for i in range(200):
        a.post("seq", str(i), to="node-b")
    assert [int(m.data) for m in await inbox.wait(200)] == list(range(200))


async def test_oversize_message_and_full_queue_are_refused_and_counted(pg_url: str) -> None:
    bus = NodeBus(pg_url, "small", queue_limit=2)
    # not started: the queue fills
    assert not bus.post("t", "x" * MAX_PAYLOAD)
    assert bus.post("t", "1") and bus.post("t", "2")
    assert not bus.post("t", "3")
    assert bus.stats["dropped"] == 2 and bus.stats["posted"] == 2


async def test_a_handler_that_raises_does_not_stop_the_bus(buses: tuple[NodeBus, NodeBus, NodeBus]) -> None:
    a, b, _ = buses

    def broken(message: BusMessage) -> None:
        raise RuntimeError("handler bug")

    b.subscribe("t", broken)
    inbox = inbox_for(b, "t")
    a.post("t", "1", to="node-b")
    a.post("t", "2", to="node-b")
    assert [m.data for m in await inbox.wait(2)] == ["1", "2"]


async def test_liveness_follows_the_session(buses: tuple[NodeBus, NodeBus, NodeBus]) -> None:
    a, b, c = buses
    assert await a.alive_nodes({"node-a", "node-b", "node-c", "never-ran"}) == {"node-a", "node-b", "node-c"}
    await c.close()
    assert not await a.alive("node-c")
    assert await a.alive("node-b")


async def test_a_name_is_one_live_node(buses: tuple[NodeBus, NodeBus, NodeBus], pg_url: str) -> None:
    twin = NodeBus(pg_url, "node-a")
    with pytest.raises(StoreError, match="node 'node-a' is already running"):
        await twin.start(wait_for_name=0)


_CHILD = """
import asyncio, sys
from lwm2m_sms.store.bus import NodeBus
async def main():
    bus = NodeBus(sys.argv[1], "doomed")
    await bus.start()
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


async def test_a_killed_node_is_dead_to_the_others_and_its_name_free_again(
        buses: tuple[NodeBus, NodeBus, NodeBus], pg_url: str) -> None:
    a, _, _ = buses
    child = subprocess.Popen([sys.executable, "-c", _CHILD, pg_url], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        line = await asyncio.get_running_loop().run_in_executor(None, child.stdout.readline)
        assert line.strip() == "ready"
        assert await a.alive("doomed")
        os.kill(child.pid, signal.SIGKILL)
        await asyncio.get_running_loop().run_in_executor(None, child.wait)
        # The backend sees the socket close and releases the lock: wait for that event by
        # asking for the lock itself (blocks until it is free), then let it go again.
        import psycopg

        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await asyncio.wait_for(conn.execute(
                "SELECT pg_advisory_lock(%s, %s)", (_LOCK_SPACE, _signed(lock_key("doomed")))), 20)
            assert await a.alive("doomed")  # held by us now, for a moment
            await conn.execute("SELECT pg_advisory_unlock(%s, %s)", (_LOCK_SPACE, _signed(lock_key("doomed"))))
        assert not await a.alive("doomed")
        again = NodeBus(pg_url, "doomed")
        await again.start(wait_for_name=0)
        await again.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def _terminate(pg_url: str, conn: object) -> None:
    """End ``conn``'s backend from outside, as a database restart or a network fault would."""
    import psycopg

    pid = conn.info.backend_pid  # type: ignore[attr-defined]
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_liveness_is_answered_after_the_sending_connection_was_lost(
        buses: tuple[NodeBus, NodeBus, NodeBus], pg_url: str) -> None:
    # Nothing is posted meanwhile (a quiet cluster): the liveness question itself must open
    # the connection again, or the node stops noticing dead nodes until its next post.
    a, _, c = buses
    await _terminate(pg_url, a._sender)
    assert await a.alive_nodes({"node-b", "node-c"}) == {"node-b", "node-c"}
    await _terminate(pg_url, a._sender)
    await c.close()
    assert await a.alive_nodes({"node-b", "node-c"}) == {"node-b"}


async def test_a_deeply_nested_message_does_not_cost_a_node_its_name(
        buses: tuple[NodeBus, NodeBus, NodeBus], pg_url: str) -> None:
    # Anything on the broadcast channel reaches every node (a buggy node, any session of
    # the database): one that the JSON decoder cannot nest that deep must be ignored, not
    # end the listening connection, which would drop every node's lock and have the nodes
    # take each other's work over.
    import psycopg

    a, b, _ = buses
    inbox = inbox_for(b, "t")
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as other:
        await other.execute("SELECT pg_notify('lwm2m_sms', %s)", ("[" * 3_900 + "]" * 3_900,))
    a.post("t", "after", to="node-b")
    assert [m.data for m in await inbox.wait(1)] == ["after"]
    assert b.stats["reconnects"] == 0 and a.stats["reconnects"] == 0 and b.listening


async def test_a_start_that_fails_leaves_no_connection_open(pg_url: str) -> None:
    # The sending connection opens first; the listening one is refused (here: a role
    # allowed one connection). The start fails, and must not leave the first one open.
    import uuid

    import psycopg

    role = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1")
        try:
            bus = NodeBus(pg_url.replace("://postgres@", f"://{role}@"), "limited")
            with pytest.raises(StoreError, match="too many connections"):
                await bus.start(wait_for_name=0)
            assert bus._sender is None and bus._listener is None  # both closed
        finally:
            admin.execute(f"DROP ROLE {role}")


async def test_every_connection_has_tcp_keepalives_on_both_ends(pg_url: str) -> None:
    # A node cut off from the database must lose its session (its name, its row locks)
    # within seconds, not after TCP's default of hours: the server's keepalive settings
    # for the session, and libpq's on the client's socket.
    from lwm2m_sms.store import open_store

    store = open_store(pg_url)
    bus = NodeBus(pg_url, "kept-alive")
    await bus.start()
    try:
        assert store.db.execute("SHOW tcp_keepalives_idle").rows == [("10",)]
        assert store.db.execute("SHOW tcp_keepalives_count").rows == [("3",)]
        assert bus._sender is not None  # (the listening connection is busy in LISTEN)
        cur = await bus._sender.execute("SHOW tcp_keepalives_interval")
        assert await cur.fetchall() == [("5",)]
        for conn in (bus._sender, bus._listener):
            assert conn is not None and conn.info.get_parameters().get("keepalives_idle") == "10"
    finally:
        await bus.close()
        store.close()
