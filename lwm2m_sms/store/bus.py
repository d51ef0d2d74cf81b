"""Gateway nodes on one PostgreSQL database: which of them are alive, and short messages
between them (``LISTEN``/``NOTIFY``). Nothing here is a cluster protocol of our own: both
are PostgreSQL's.

**Liveness.** A running node holds a session-level advisory lock named after it, on its
listening connection. PostgreSQL drops the lock when that session ends, and a node that
is killed (``kill -9``, a power cut seen as a reset) ends it: the kernel closes the
socket and the backend reads end of file. Any node asks ``pg_locks`` whether another
still holds its lock (:meth:`NodeBus.alive`): no heartbeats and no timeout to tune; the
database's view of the session is the truth. Two live nodes cannot share a name:
:meth:`NodeBus.start` refuses the second.

**Messages.** :meth:`NodeBus.post` sends ``(topic, data)`` to one node (its own channel)
or to every other node (the broadcast channel). They ride on ``NOTIFY``: delivered after
the sending transaction commits, in order per sender, to the sessions listening at that
moment, at most 8,000 octets, and never stored. So a message on the bus is a hint or a
hand-over whose loss costs what a lost SMS costs (a wait, a timeout), never state: what
must survive is written to the store first, and a node that missed a hint finds the truth
there.

Calls from the event loop: :meth:`~NodeBus.post` never blocks (a bounded queue drained by a
writer task on a second connection); handlers run on the event loop, one message at a time,
and must not block. A lost listening connection is logged and opened again; while it is
down the node counts as dead to the others (its lock went with it), which is the safe side:
they take over its leased work, and the store's owner checks keep the two from both
recording an outcome.

The SQLite store has no bus: several nodes need PostgreSQL.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..tasks import cancel_and_wait
from .postgres import KEEPALIVES, SESSION_SETTINGS, redact
from .records import StoreError

if TYPE_CHECKING:
    import psycopg

__all__ = ["NodeBus", "BusMessage", "MAX_PAYLOAD", "lock_key", "LOCK_SPACE", "HELD_LOCKS_SQL"]

log = logging.getLogger(__name__)

#: PostgreSQL refuses a NOTIFY payload of 8,000 octets or more; the envelope takes some.
MAX_PAYLOAD = 7_900
#: The first half of every node's advisory lock (the second is a hash of its name); the
#: migrations' lock is a one-argument lock and cannot collide with these.
_LOCK_SPACE = LOCK_SPACE = 0x6C776D32  # "lwm2"
#: The node locks held now among some keys (``?``: :data:`LOCK_SPACE`, an array of
#: :func:`lock_key` values): the one liveness query, for the bus and for the store's
#: takeover of a dead node's work (:mod:`.exchanges`), which runs it in its transaction.
HELD_LOCKS_SQL = (
    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND classid = ?"
    " AND objsubid = 2 AND granted AND objid = ANY(?)"
)
_BROADCAST = "lwm2m_sms"
_QUEUE_LIMIT = 10_000
_RECONNECT_MIN, _RECONNECT_MAX = 0.5, 30.0

Handler = Callable[["BusMessage"], None]


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    sender: str  #: the sending node's name
    data: str


def lock_key(node: str) -> int:
    """The second half of ``node``'s advisory lock, as ``pg_locks.objid`` shows it."""
    return binascii.crc32(node.encode())


def _signed(key: int) -> int:
    # pg_advisory_lock(int4, int4) takes signed integers; pg_locks shows them as oid.
    return key - (1 << 32) if key >= 1 << 31 else key


def _channel(node: str) -> str:
    # A channel is an identifier of at most 63 octets: a digest keeps any node name safe.
    return f"lwm2m_sms_{hashlib.sha1(node.encode()).hexdigest()[:20]}"


class NodeBus:
    """This node's presence on a PostgreSQL database and its messages to the others."""

    def __init__(self, url: str, node: str, *, queue_limit: int = _QUEUE_LIMIT) -> None:
        if not node:
            raise ValueError("a node needs a name")
        self.url = url
        self.node = node
        self.name = redact(url)
        self._handlers: dict[str, list[Handler]] = {}
        self._outgoing: asyncio.Queue[tuple[str, str]] = asyncio.Queue(queue_limit)
        self._listener: Optional["psycopg.AsyncConnection[Any]"] = None
        self._sender: Optional["psycopg.AsyncConnection[Any]"] = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False
        self._up = asyncio.Event()
        #: counters: ``posted``, ``received``, ``dropped`` (queue full or too large),
        #: ``failed`` (the NOTIFY did not go out), ``reconnects``
        self.stats = {"posted": 0, "received": 0, "dropped": 0, "failed": 0, "reconnects": 0}

    # -- life -----------------------------------------------------------------------------

    async def start(self, *, wait_for_name: float = 5.0) -> None:
        """Connect, take this node's lock and listen. A live node of the same name is
        refused with :class:`StoreError` once ``wait_for_name`` seconds have passed (a node
        restarting after a kill may briefly still see its old session)."""
        self._sender = await self._connect()
        deadline = asyncio.get_running_loop().time() + wait_for_name
        while True:
            try:
                self._listener = await self._listen()
                break
            except _NameTaken:
                if asyncio.get_running_loop().time() >= deadline:
                    await self.close()
                    raise StoreError(self.name, f"node {self.node!r} is already running on this database")
                await asyncio.sleep(0.2)
            except BaseException:  # the database refused the second connection: close the first
                await self.close()
                raise
        self._tasks = [asyncio.create_task(self._read(), name=f"bus-read {self.node}"),
                       asyncio.create_task(self._write(), name=f"bus-write {self.node}")]
        log.info("node %s on %s: listening", self.node, self.name)

    async def close(self) -> None:
        self._closed = True
        await cancel_and_wait(self._tasks)
        listener = self._listener
        if listener is not None and not listener.closed:
            # Let go of the name before the session ends: PostgreSQL frees a closed session's
            # locks a moment after the close returns, and the others must see this node
            # gone at once (a clean stop is not a death to take over late).
            try:
                await listener.execute("SELECT pg_advisory_unlock(%s, %s)",
                                       (LOCK_SPACE, _signed(lock_key(self.node))))
            except Exception:  # the session is gone already, and its lock with it
                pass
        for conn in (self._listener, self._sender):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:  # closing a broken connection: nothing left to do
                    pass
        self._listener = self._sender = None

    async def __aenter__(self) -> "NodeBus":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- messages -------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: Handler) -> None:
        """Call ``handler`` for every message on ``topic`` from another node."""
        self._handlers.setdefault(topic, []).append(handler)

    def post(self, topic: str, data: str, *, to: Optional[str] = None) -> bool:
        """Send ``data`` on ``topic`` to node ``to``, or to every other node. Returns False
        (logged, counted as ``dropped``) if it is too large or the outgoing queue is full."""
        payload = json.dumps({"s": self.node, "t": topic, "d": data}, separators=(",", ":"))
        if len(payload.encode()) > MAX_PAYLOAD:
            self.stats["dropped"] += 1
            log.warning("node %s: %s message of %d octets not sent (bus limit %d)",
                        self.node, topic, len(payload), MAX_PAYLOAD)
            return False
        try:
            self._outgoing.put_nowait((_channel(to) if to is not None else _BROADCAST, payload))
        except asyncio.QueueFull:
            self.stats["dropped"] += 1
            log.warning("node %s: %s message not sent, %d waiting (the database is slow or gone)",
                        self.node, topic, self._outgoing.qsize())
            return False
        self.stats["posted"] += 1
        return True

    @property
    def listening(self) -> bool:
        """Whether this node holds its name now (False while its listening connection is
        being opened again: the others count it as dead meanwhile)."""
        return self._up.is_set()

    async def alive(self, node: str) -> bool:
        """Whether ``node`` holds its lock now (this node is alive while it runs)."""
        return node in await self.alive_nodes([node])

    async def alive_nodes(self, nodes: "list[str] | set[str]") -> set[str]:
        """Those of ``nodes`` that hold their lock now."""
        wanted = {lock_key(n): n for n in nodes}
        if not wanted:
            return set()
        if self._closed or not self._tasks:
            raise StoreError(self.name, "node bus not started")
        rows = await self._on_sender(HELD_LOCKS_SQL.replace("?", "%s"), (_LOCK_SPACE, list(wanted)))
        return {wanted[int(row[0])] for row in rows}

    async def flushed(self) -> None:
        """Return once every message posted so far has gone out (tests, orderly close)."""
        await self._outgoing.join()

    # -- connections ----------------------------------------------------------------------

    async def _connect(self) -> "psycopg.AsyncConnection[Any]":
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(self.name, f"PostgreSQL needs psycopg: {exc}") from exc
        try:
            conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10,
                                                         **KEEPALIVES)
            try:
                for setting in SESSION_SETTINGS:
                    await conn.execute(setting)
            except BaseException:
                await conn.close()
                raise
            return conn
        except psycopg.Error as exc:
            raise StoreError(self.name, " ".join(str(exc).split())) from exc

    async def _listen(self) -> "psycopg.AsyncConnection[Any]":
        conn = await self._connect()
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                                     (_LOCK_SPACE, _signed(lock_key(self.node))))
            row = await cur.fetchone()
            if not (row and row[0]):
                raise _NameTaken()
            await conn.execute(f'LISTEN "{_BROADCAST}"')
            await conn.execute(f'LISTEN "{_channel(self.node)}"')
        except BaseException:
            await conn.close()
            raise
        self._up.set()
        return conn

    async def _read(self) -> None:
        delay = _RECONNECT_MIN
        while not self._closed:
            conn = self._listener
            try:
                if conn is None or conn.closed:
                    conn = self._listener = await self._listen()
                    self.stats["reconnects"] += 1
                    log.warning("node %s on %s: listening again", self.node, self.name)
                delay = _RECONNECT_MIN
                async for note in conn.notifies():
                    self._dispatch(note.payload)
            except asyncio.CancelledError:
                raise
            except _NameTaken:
                log.error("node %s on %s: another session holds this node's name", self.node, self.name)
            except Exception as exc:
                log.error("node %s on %s: listening connection lost (%s); the other nodes count"
                          " this one as dead until it is back", self.node, self.name,
                          " ".join(str(exc).split()))
            self._up.clear()
            if self._listener is not None:
                try:
                    await self._listener.close()
                except Exception:
                    pass
                self._listener = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT_MAX)

    def _dispatch(self, payload: str) -> None:
        try:
            envelope = json.loads(payload)
            message = BusMessage(str(envelope["t"]), str(envelope["s"]), str(envelope["d"]))
        except (ValueError, KeyError, TypeError, RecursionError):  # nested too deep for json
            log.warning("node %s: a bus message that is not ours (%d octets) ignored", self.node, len(payload))
            return
        if message.sender == self.node:
            return  # a broadcast comes back to its sender too
        self.stats["received"] += 1
        for handler in self._handlers.get(message.topic, ()):
            try:
                handler(message)
            except Exception:
                log.exception("node %s: handler of %s from %s raised", self.node, message.topic, message.sender)

    async def _write(self) -> None:
        while True:
            channel, payload = await self._outgoing.get()
            try:
                await self._notify(channel, payload)
            finally:
                self._outgoing.task_done()

    async def _notify(self, channel: str, payload: str) -> None:
        try:
            await self._on_sender("SELECT pg_notify(%s, %s)", (channel, payload))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats["failed"] += 1
            log.error("node %s: a bus message was not sent (%s)", self.node, " ".join(str(exc).split()))

    async def _on_sender(self, sql: str, params: tuple[Any, ...]) -> "list[tuple[Any, ...]]":
        # The sending connection, opened again when it was lost (a database restart): both
        # statements run on it are safe to repeat, so a lost connection costs one retry,
        # not every NOTIFY and liveness question until something else reconnects it.
        for attempt in (1, 2):
            conn = self._sender
            try:
                if conn is None or conn.closed:
                    conn = self._sender = await self._connect()
                cur = await conn.execute(sql, params)
                return await cur.fetchall() if cur.description is not None else []
            except asyncio.CancelledError:
                raise
            except Exception:
                if attempt == 2:
                    raise
                if conn is not None:
                    try:
                        await conn.close()
                    except Exception:
                        pass
                    if self._sender is conn:
                        self._sender = None
        raise AssertionError("unreachable")


class _NameTaken(Exception):
    pass
