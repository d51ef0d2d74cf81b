"""``lwm2m-sms bench fleet --devices N [--nodes K] [--db URL_OR_FILE]``: N S-binding devices
register by SMS through the simulated SMSC with K server nodes on one store, and every
node reads /3/0 from its share of the devices, by SMS.

Processes, so that each one's memory is its own:

- the simulated SMSC (``lwm2m-sms smsc --config``, a child process), an SMPP server on TCP
  loopback with two accounts: ``server`` (the server's number) and ``fleet`` (the devices'
  numbers). It spreads the devices' SMS to the server number round robin over the
  ``server`` account's binds, as operators do;
- K server nodes (``node1`` .. ``nodeK``): each a :class:`~lwm2m_sms.gateway.Gateway` with its
  own SMPP bind to the ``server`` account for the same number, on the one store ``--db``
  (an SQLite file, by default a new one in a temporary directory, or
  ``postgresql://...``; with PostgreSQL each node keeps its held SMS parts in a local
  SQLite file). This is what an operator runs;
- the simulator: the N devices on one SMPP bind whose address range covers the fleet.
  ``--lean`` (the default): a :class:`~lwm2m_sms.lwm2m.client.lean_link.LeanSimulator`, a
  few hundred octets per device; ``--full``: each device an aiocoap context with the SMS
  transport and an :class:`~lwm2m_sms.lwm2m.client.Lwm2mClient`, multiplexed by MSISDN
  (15 to 20 KiB per device: use it to exercise the full client at up to ~20,000).

The register phase runs from the simulator's first Register to its last answer; then node
k reads devices k, k+K, k+2K... (any node can serve any device once registrations are
shared between nodes; until then a node fails the devices it does not know, and an answer
that the SMSC hands to the other node is not matched). Every operation has a timeout
(``--timeout``): a failed one is counted and reported, never waited for forever.

Memory: each process reports its peak RSS (``getrusage`` ``ru_maxrss``, or ``VmHWM`` for the
SMSC). A node's growth is its resident set (VmRSS) after the last read minus before the
first Register, per registration it holds; the simulator's, after the last read minus
before its devices were made, per device. Each node also reports, per phase, its CPU
seconds (``time.process_time``) and its garbage collector's (``gc.callbacks``); its read
phase, its SMS counts and the answers it handed to or got from the other nodes run until
every node has done its reads (a node that is done still serves the others' hand-offs).
``--profile FILE`` runs every node under cProfile and prints the CPU per
operation by area (SMPP and SMS, CoAP, LwM2M server and router, store, event loop and
sockets, GC), and writes node k's statistics to ``FILE.nodek`` (``python -m pstats``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Coroutine, Iterator, Optional

from ..errors import Lwm2mSmsError

SERVER_MSISDN = "+15550000"
FLEET_RANGE = r"^\+?1556.*"
SERVER_PASSWORD, FLEET_PASSWORD = "srvpw", "fleetpw"
PROGRESS_EVERY = 2.0  # seconds between progress lines
SMSC_START_TIMEOUT = 60.0  # seconds the SMSC may take to say where it listens
LIFETIME = 86400  # the devices' registration lifetime: no Update falls due during a run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=10_000, help="devices in the fleet (default 10000)")
    parser.add_argument("--nodes", type=int, default=1, help="server nodes, each its own process and SMPP bind (default 1)")
    parser.add_argument("--db", metavar="URL_OR_FILE",
                        help="the nodes' store: an SQLite file or postgresql://... (default: a new SQLite file "
                             "in a temporary directory)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="operations in flight at once, in the simulator and in each node (default 64)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds an operation may take before it counts as failed (default 10)")
    sim = parser.add_mutually_exclusive_group()
    sim.add_argument("--lean", dest="simulator", action="store_const", const="lean",
                     help="lean simulated devices, a compact record each on one SMS link (the default)")
    sim.add_argument("--full", dest="simulator", action="store_const", const="full",
                     help="full simulated devices: an aiocoap context and LwM2M client each")
    parser.set_defaults(simulator="lean")
    parser.add_argument("--gc", choices=("server", "default"), default="server",
                        help="the nodes' garbage collector set-up: the one `lwm2m-sms server` uses "
                             "(default) or Python's defaults")
    parser.add_argument("--profile", metavar="FILE",
                        help="profile the nodes (cProfile), print CPU per operation by area, write FILE.nodeK")


def device_msisdn(i: int) -> str:
    return f"+1556{i:07d}"


def device_endpoint(i: int) -> str:
    return f"fleet-{i}"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_kib(field: str, pid: int | str = "self") -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU seconds of process ``pid`` so far (/proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _rss_kib() -> int:
    return _status_kib("VmRSS") or 0


class GcTimer:
    """CPU time spent in the garbage collector, from ``gc.callbacks``: process time, so
    that a machine busy with other work does not count its time slices as collection."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.longest = 0.0
        self.collections = [0, 0, 0]
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.process_time()
            return
        pause = time.process_time() - self._start
        self.seconds += pause
        self.longest = max(self.longest, pause)
        self.collections[info["generation"]] += 1

    def snapshot(self) -> dict[str, Any]:
        """The totals so far, and the longest pause since the previous snapshot."""
        snap = {"gc_s": self.seconds, "gc_longest_s": self.longest, "gc_full": self.collections[2],
                "gc_all": sum(self.collections), "cpu_s": time.process_time()}
        self.longest = 0.0
        return snap


def _phase(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    out = {k: after[k] - before[k] for k in ("gc_s", "gc_full", "gc_all", "cpu_s")}
    out["gc_longest_s"] = after["gc_longest_s"]
    return out


# -- where the CPU goes: cProfile's functions by area -------------------------------------

#: (area, substrings of a profiled function's file or built-in name), first match wins
AREAS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("store", ("/lwm2m_sms/store/", "/lwm2m_sms/lwm2m/store.py", "sqlite3", "psycopg", "/lwm2m_sms/routing/queue")),
    ("SMPP+SMS", ("/smsc/", "/lwm2m_sms/bearer.py", "/lwm2m_sms/sms/", "/lwm2m_sms/multiplex.py",
                  "/lwm2m_sms/outbox.py", "/lwm2m_sms/partstore.py", "/lwm2m_sms/deadletters.py")),
    ("CoAP", ("/aiocoap/", "/lwm2m_sms/coap/")),
    ("LwM2M+router", ("/lwm2m_sms/lwm2m/", "/lwm2m_sms/routing/", "/lwm2m_sms/gateway.py")),
    ("loop+sockets", ("/asyncio/", "selectors", "socket", "epoll", "<method 'send'", "<method 'recv'")),
)


IDLE = ("<method 'poll' of 'select.epoll' objects>", "<method 'select' of 'select.epoll' objects>")


def profile_areas(stats: dict[Any, Any]) -> dict[str, float]:
    """Seconds of ``pstats.Stats.stats`` by area. A function of an area counts its own
    time there; any other (the standard library, built-ins such as ``dict.get``) is
    charged to its callers' areas in proportion to the time each call site spent in it,
    up the call graph; what reaches no area is "other". Waiting in epoll is left out."""
    names = [name for name, _ in AREAS]
    memo: dict[Any, dict[str, float]] = {}

    def own_area(key: Any) -> Optional[str]:
        filename, _line, func = key
        where = filename if filename != "~" else func
        for name, marks in AREAS:
            if any(m in where for m in marks):
                return name
        return None

    def shares(key: Any, visiting: frozenset[Any]) -> dict[str, float]:
        if key in memo:
            return memo[key]
        area = own_area(key)
        if area is not None:
            return {area: 1.0}
        if key not in stats or len(visiting) > 40:
            return {"other": 1.0}
        inside = visiting | {key}
        # Call sites inside a recursion (deepcopy -> _reconstruct -> deepcopy) lead back
        # here: they are left out and the outer callers share the time.
        result: dict[str, float] = {}
        total = 0.0
        for caller, edge in stats[key][4].items():
            if caller in inside:
                continue
            up = shares(caller, inside)
            if not up:
                continue
            w = edge[2] or edge[1] or 1e-9
            total += w
            for a, f in up.items():
                result[a] = result.get(a, 0.0) + f * w
        if total:
            result = {a: v / total for a, v in result.items()}
        elif not visiting:
            result = {"other": 1.0}  # called from nowhere we know: the top of the stack
        if not visiting:
            memo[key] = result
        return result

    out: dict[str, float] = {name: 0.0 for name in names}
    out["other"] = 0.0
    for key, (_cc, _nc, tottime, _ct, _callers) in stats.items():
        if key[2] in IDLE:
            continue
        for a, f in shares(key, frozenset()).items():
            out[a] += tottime * f
    return out


# -- the server nodes --------------------------------------------------------------------


@dataclass
class NodeSetup:
    """What a node process is started with (pickled to a spawned interpreter)."""

    index: int  # 1..K
    nodes: int
    port: int
    db: str
    local_db: Optional[str]
    concurrency: int
    timeout: float
    max_registrations: int
    gc_mode: str = "server"
    profile: Optional[str] = None


def node_process(setup: NodeSetup, conn: Connection) -> None:
    """Entry point of a node's process: started by ``multiprocessing`` (spawn)."""
    _child(conn, _node(setup, conn))


async def _node(setup: NodeSetup, conn: Connection) -> None:
    from ..coap import SmsSettings
    from ..gateway import smpp_bearer, start_server
    from ..gc_tuning import tune_for_server
    from ..lwm2m.registration import RegistrationLimits

    timer = GcTimer()
    gc.callbacks.append(timer)
    link = await smpp_bearer(setup.port, "server", SERVER_MSISDN, SERVER_MSISDN, password=SERVER_PASSWORD, window=64)
    stack = await start_server(
        bearers=[link], db=setup.db, local_db=setup.local_db, node=f"node{setup.index}",
        sms_settings=SmsSettings(ack_timeout=setup.timeout),
        limits=RegistrationLimits(max_registrations=max(100_000, setup.max_registrations)),
    )
    if setup.gc_mode == "server":
        tune_for_server()
    profiler = _Profiler() if setup.profile else None
    try:
        conn.send(("ready", (_rss_kib(), len(stack.server.registrations()))))
        t_ready = timer.snapshot()
        if profiler:
            profiler.start()
        first, step, n = await _recv(conn, "read")  # every device has registered
        t_registered = timer.snapshot()
        register_areas = profiler.stop() if profiler else None
        rss_registered = _rss_kib()
        registered = stack.sms[0].stats().total
        handoffs_registered = _handoffs(stack)
        held = len(stack.server.registrations())
        failures: list[str] = []
        done = 0

        async def read(ep: str) -> None:
            nonlocal done
            try:
                value = (await asyncio.wait_for(stack.server.read(ep, "/3/0"), setup.timeout)).value
                if not (isinstance(value, dict) and value.get(0) == "lwm2m-sms"):
                    raise ValueError(f"unexpected {value!r}"[:80])
                done += 1
            except Exception as exc:  # counted and reported; the bench goes on
                failures.append(f"node{setup.index} read {ep}: {exc!r}"[:200])

        endpoints = range(first, n, step)
        if profiler:
            profiler.start()
        t0 = time.perf_counter()
        async with _progress(conn, f"node{setup.index} read", lambda: (done, len(failures)), len(endpoints)):
            await _pool(setup.concurrency, (read(device_endpoint(i)) for i in endpoints))
        elapsed = time.perf_counter() - t0
        conn.send(("read", {
            "node": setup.index, "held": held, "held_after": len(stack.server.registrations()),
            "reads": done, "asked": len(endpoints), "seconds": elapsed,
            "failures": failures[:3], "failed": len(failures),
            "register_sms_in": registered.sms_received, "register_sms_out": registered.sms_sent,
            "rss_kib": _rss_kib(), "rss_registered_kib": rss_registered,
            "register_phase": _phase(t_ready, t_registered), "register_areas": register_areas,
        }))
        await _recv(conn, "stop")
        read_areas = profiler.stop() if profiler else None
        t_read = timer.snapshot()
        # Counted once every node has finished: until then this node still hands over
        # answers to the others' reads.
        total = stack.sms[0].stats().total
        handed, received = (a - b for a, b in zip(_handoffs(stack), handoffs_registered))
        counts = {
            # an answer another node handed over is counted by this node's transport too
            "read_sms_in": total.sms_received - registered.sms_received - received,
            "read_sms_out": total.sms_sent - registered.sms_sent,
            "handed_over": handed, "handed_in": received,
            # the read phase's CPU runs to here: a node that has done its own reads still
            # serves the others' (hand-offs)
            "read_phase": _phase(t_registered, t_read), "read_areas": read_areas,
        }
    finally:
        if profiler and setup.profile:
            profiler.dump(f"{setup.profile}.node{setup.index}")
        await stack.close()
        await link.close()
    conn.send(("done", {"peak_mb": _peak_mb(), **counts}))


def _handoffs(stack: Any) -> tuple[int, int]:
    """Answers this node handed to their exchange's owner, and answers handed to it."""
    cluster = getattr(stack, "cluster", None)
    return (cluster.stats.handed_over, cluster.stats.received) if cluster is not None else (0, 0)


class _Profiler:
    """cProfile, one set of statistics per phase (and all phases in one file for pstats).
    Its default clock (``perf_counter``): a process-time clock is a system call per
    function call here, and its cost would bend the proportions."""

    def __init__(self) -> None:
        import cProfile

        self._all: list[Any] = []
        self._make = cProfile.Profile
        self._current: Any = None

    def start(self) -> None:
        self._current = self._make()
        self._current.enable()

    def stop(self) -> dict[str, float]:
        import pstats

        prof = self._current
        prof.disable()
        self._all.append(prof)
        return profile_areas(pstats.Stats(prof).stats)  # type: ignore[attr-defined]

    def dump(self, path: str) -> None:
        import pstats

        if self._all:
            stats = pstats.Stats(self._all[0])
            for prof in self._all[1:]:
                stats.add(prof)
            stats.dump_stats(path)


# -- the simulator process ---------------------------------------------------------------


def simulator_process(port: int, n: int, concurrency: int, timeout: float, mode: str, conn: Connection) -> None:
    """Entry point of the simulator's process: started by ``multiprocessing`` (spawn)."""
    _child(conn, _simulator(port, n, concurrency, timeout, mode, conn))


async def _simulator(port: int, n: int, concurrency: int, timeout: float, mode: str, conn: Connection) -> None:
    from ..coap import SmsSettings
    from ..gateway import smpp_bearer

    settings = SmsSettings(ack_timeout=timeout)
    link = await smpp_bearer(port, "fleet", FLEET_RANGE, password=FLEET_PASSWORD, window=64)
    gc.collect()
    rss0 = _rss_kib()
    failures: list[str] = []
    count = [0]
    sim = _LeanFleetRun(link, n, settings) if mode == "lean" else _FullFleetRun(link, settings)
    try:
        await sim.make(n)

        async def register(i: int) -> None:
            try:
                await asyncio.wait_for(sim.register(i), timeout * 2)
                count[0] += 1
            except Exception as exc:  # counted and reported; the bench goes on
                failures.append(f"register {device_endpoint(i)}: {exc!r}"[:200])

        conn.send(("ready", rss0))
        t0 = time.perf_counter()
        async with _progress(conn, "registered", lambda: (count[0], len(failures)), n):
            await _pool(concurrency, (register(i) for i in range(n)))
        conn.send(("registered", {
            "registered": count[0], "seconds": time.perf_counter() - t0,
            "failures": failures[:3], "failed": len(failures),
        }))
        await _recv(conn, "stop")  # the nodes have read every device
        rss1 = _rss_kib()
        cpu = time.process_time()
        extra = sim.counters()
    finally:
        await sim.close()
        await link.close()
    conn.send(("done", {"peak_mb": _peak_mb(), "rss_kib": rss1, "counters": extra, "cpu_s": cpu}))


class _LeanFleetRun:
    def __init__(self, link: Any, n: int, settings: Any) -> None:
        from ..lwm2m.client.lean_link import LeanSimulator

        self.sim = LeanSimulator(link, SERVER_MSISDN, lifetime=LIFETIME, settings=settings)

    async def make(self, n: int) -> None:
        for i in range(n):
            self.sim.add(device_endpoint(i), device_msisdn(i))

    async def register(self, i: int) -> None:
        await self.sim.register(i)

    def counters(self) -> dict[str, int]:
        f = self.sim.fleet
        return {"reads answered": f.reads, "duplicates": f.duplicates, "unmatched": f.unmatched,
                "untrusted": f.untrusted, "send failures": self.sim.send_failures}

    async def close(self) -> None:
        await self.sim.close()


class _FullFleetRun:
    def __init__(self, link: Any, settings: Any) -> None:
        from ..multiplex import SegmentMux

        self.mux = SegmentMux(link)
        self.settings = settings
        self.devices: list[Any] = []

    async def make(self, n: int) -> None:
        pass  # each device is made when it registers

    async def register(self, i: int) -> None:
        from ..gateway import start_device

        bearer = self.mux.channel(device_msisdn(i))
        await bearer.start()
        self.devices.append(await start_device(
            device_endpoint(i), "S", server_uri="coap://127.0.0.1:9", server_msisdn=SERVER_MSISDN,
            bearer=bearer, udp=False, sms_settings=self.settings, lifetime=LIFETIME,
        ))

    def counters(self) -> dict[str, int]:
        return {}

    async def close(self) -> None:
        for dev in self.devices:
            await dev.context.shutdown()


# -- plumbing ----------------------------------------------------------------------------


async def _pool(workers: int, jobs: Iterator[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` with at most ``workers`` at once. A coroutine is made only when a worker
    takes it (not N tasks up front, whose frames would count as the process's memory per
    device)."""

    async def worker() -> None:
        for job in jobs:
            await job

    await asyncio.gather(*(worker() for _ in range(workers)))


class _progress:
    """Send ("progress", label, done, failed, total) to the parent every PROGRESS_EVERY s."""

    def __init__(self, conn: Connection, label: str, count: Callable[[], tuple[int, int]], total: int) -> None:
        self.conn, self.label, self.count, self.total = conn, label, count, total
        self._task: Optional[asyncio.Task[None]] = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_EVERY)
            done, failed = self.count()
            self.conn.send(("progress", (self.label, done, failed, self.total)))

    async def __aenter__(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def _child(conn: Connection, work: Any) -> None:
    try:
        asyncio.run(work)
    except BaseException as exc:  # the parent prints it; a child has no terminal of its own
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
        raise
    finally:
        conn.close()


async def _recv(conn: Connection, expect: str | None = None, timeout: float | None = None,
                on_progress: Optional[Callable[[Any], None]] = None) -> Any:
    """The next message from the other end, without blocking the event loop (the pipe's
    file descriptor is watched by the loop). Progress messages go to ``on_progress``."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    loop.add_reader(conn.fileno(), ready.set)
    try:
        async with asyncio.timeout(timeout):
            while True:
                while not conn.poll():
                    ready.clear()
                    await ready.wait()
                try:
                    kind, value = conn.recv()
                except EOFError:
                    raise BenchError(f"bench fleet: a bench process ended before sending {expect or 'a message'}") from None
                if kind == "progress" and on_progress is not None:
                    on_progress(value)
                    continue
                break
    except TimeoutError:
        raise TimeoutError(f"no {expect or 'message'} from a bench process within {timeout} s") from None
    finally:
        loop.remove_reader(conn.fileno())
    if kind == "error":
        raise BenchError(f"bench fleet: a bench process failed: {value}")
    if expect is not None and kind != expect:
        raise BenchError(f"bench fleet: a bench process sent {kind!r}, expected {expect!r}")
    return value


def _print_progress(value: tuple[str, int, int, int]) -> None:
    label, done, failed, total = value
    print(f"  ... {label} {done:,}/{total:,}" + (f", {failed:,} failed" if failed else ""), flush=True)


SMSC_CONFIG = """\
[smsc]
max_queue = 200000
account_max_queue = 200000
idle_timeout = 0

[[accounts]]
system_id = "server"
password = "{server_pw}"
address_range = "{server}"
mo_distribution = "round_robin"

[[accounts]]
system_id = "fleet"
password = "{fleet_pw}"
address_range = "^\\\\+?1556.*"
"""


class BenchError(Lwm2mSmsError):
    """The bench could not run: a process did not start, failed or did not answer."""


async def _start_smsc(workdir: str) -> tuple[asyncio.subprocess.Process, int]:
    config = os.path.join(workdir, "smsc.toml")
    with open(config, "w") as f:
        f.write(SMSC_CONFIG.format(server_pw=SERVER_PASSWORD, fleet_pw=FLEET_PASSWORD,
                                   server=SERVER_MSISDN.lstrip("+")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "smsc", "--config", config, "--listen", "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None  # PIPE
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), SMSC_START_TIMEOUT)).decode()
    except TimeoutError:
        line = f"no output within {SMSC_START_TIMEOUT:g} s"
    if not line.startswith("smsc listening on"):
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
        raise BenchError(f"bench fleet: the simulated SMSC did not start: {line.strip() or 'no output'}")
    port = int(line.split()[3].rstrip(",").rsplit(":", 1)[1])
    return proc, port


async def run(args: argparse.Namespace) -> int:
    from ..store import is_store_url
    from ..store.postgres import redact
    from .table import format_table

    n, k = args.devices, args.nodes
    if n < 1 or k < 1 or args.concurrency < 1 or args.timeout <= 0:
        print("bench fleet: --devices, --nodes, --concurrency and --timeout must be positive", file=sys.stderr)
        return 2
    if k > 1 and not (args.db and is_store_url(args.db)):
        print(f"bench fleet: --nodes {k} needs --db postgresql://... (nodes share registrations and hand "
              "answers to each other through PostgreSQL; an SQLite file serves one node)", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="lwm2m-fleet-")
    db = args.db or os.path.join(workdir, "fleet.sqlite")
    postgres = is_store_url(db)
    try:
        smsc, port = await _start_smsc(workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: its RSS is its own
    nodes: list[tuple[Any, Connection]] = []
    child_ends: list[Connection] = []
    for i in range(1, k + 1):
        setup = NodeSetup(i, k, port, db, os.path.join(workdir, f"node{i}.sqlite") if postgres else None,
                          args.concurrency, args.timeout, n, args.gc, args.profile)
        end, child = spawn.Pipe()
        nodes.append((spawn.Process(target=node_process, args=(setup, child), name=f"fleet-node{i}"), end))
        child_ends.append(child)
    sim_end, sim_child = spawn.Pipe()
    simulator = spawn.Process(target=simulator_process,
                              args=(port, n, args.concurrency, args.timeout, args.simulator, sim_child),
                              name="fleet-simulator")
    store = f"PostgreSQL {redact(db)}" if postgres else f"SQLite file {db if args.db else '(temporary)'}"
    print(f"fleet: {n} S devices, {k} node(s) on {store}; processes: SMSC (pid {smsc.pid}), "
          f"{k} server node(s) each with its own SMPP bind for {SERVER_MSISDN} (the SMSC spreads the devices' "
          f"SMS round robin over them), simulator ({args.simulator}: {n} devices on one SMPP bind); "
          f"SMPP over TCP loopback; {args.concurrency} operations in flight per process, {args.timeout:g} s timeout each",
          flush=True)
    smsc_peak: float | None = None
    smsc_cpu: float | None = None
    procs = [p for p, _ in nodes] + [simulator]
    try:
        bases = []
        for (proc, end), child in zip(nodes, child_ends):
            proc.start()
            child.close()
            base, loaded = await _recv(end, "ready", 120)
            bases.append(base)
            if loaded:
                print(f"  warning: node{len(bases)} loaded {loaded} registrations from the store at start; the "
                      "figures per device assume an empty store (give a new --db)", flush=True)
        simulator.start()
        sim_child.close()
        sim_base = await _recv(sim_end, "ready", 600)
        registered = await _recv(sim_end, "registered", on_progress=_print_progress)
        print(f"  registered {registered['registered']:,}/{n:,} in {registered['seconds']:.1f} s"
              + (f" ({registered['failed']:,} failed)" if registered["failed"] else ""), flush=True)
        t0 = time.perf_counter()
        for i, (_, end) in enumerate(nodes):
            end.send(("read", (i, k, n)))
        reads = list(await asyncio.gather(*(_recv(end, "read", on_progress=_print_progress) for _, end in nodes)))
        t_read = time.perf_counter() - t0
        ok_reads = sum(r["reads"] for r in reads)
        failed_reads = sum(r["failed"] for r in reads)
        print(f"  read /3/0 from {ok_reads:,}/{n:,} in {t_read:.1f} s"
              + (f" ({failed_reads:,} failed)" if failed_reads else ""), flush=True)
        hwm = _status_kib("VmHWM", smsc.pid)
        smsc_peak = hwm / 1024 if hwm is not None else None
        smsc_cpu = _cpu_seconds(smsc.pid)
        sim_end.send(("stop", None))
        for _, end in nodes:
            end.send(("stop", None))
        sim_done = await _recv(sim_end, "done", 120)
        for r, (_, end) in zip(reads, nodes):
            r.update(await _recv(end, "done", 120))
    finally:
        # A child still waiting for its next message sees its pipe close and stops itself
        # (closing its server or devices) instead of being waited for and terminated.
        for end in [end for _, end in nodes] + [sim_end]:
            end.close()
        for proc in procs:
            if proc.pid is not None:
                proc.join(30)
                if proc.is_alive():
                    proc.terminate()
        if smsc.returncode is None:
            smsc.terminate()
            await smsc.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    t_reg = registered["seconds"]
    reg_in = sum(r["register_sms_in"] for r in reads)
    reg_out = sum(r["register_sms_out"] for r in reads)
    rows = [
        ("register by SMS", f"{registered['registered']}", str(registered["failed"]), f"{t_reg:.1f}",
         f"{registered['registered'] / max(t_reg, 1e-9):,.0f}", str(reg_in), str(reg_out)),
        ("read /3/0 by SMS", str(ok_reads), str(failed_reads), f"{t_read:.1f}",
         f"{ok_reads / max(t_read, 1e-9):,.0f}", str(sum(r["read_sms_in"] for r in reads)),
         str(sum(r["read_sms_out"] for r in reads))),
    ]
    print(format_table(("operation", "done", "failed", "s", "ops/s", "SMS to servers", "SMS from servers"), rows))
    for failure in registered["failures"] + [f for r in reads for f in r["failures"]]:
        print(f"  failed: {failure}")
    worst = 0.0
    for r, base in zip(reads, bases):
        peak = r["peak_mb"]
        held = max(1, r["held_after"])
        per_held = (r["rss_kib"] - base) / held
        worst = max(worst, per_held)
        print(f"node{r['node']}: {r['register_sms_in']} Registers taken, holds {r['held_after']} registrations; "
              f"read {r['reads']}/{r['asked']}; answers handed over to the other nodes {r['handed_over']}, "
              f"from them {r['handed_in']}; RSS peak {peak:.0f} MB, grew {(r['rss_kib'] - base) / 1024:.1f} MB: "
              f"{per_held:.2f} KiB per registration held ({(r['rss_registered_kib'] - base) / held:.2f} "
              "after the last Register)")
        for name, phase, ops in (("register", r["register_phase"], r["register_sms_in"]),
                                 ("read", r["read_phase"], r["asked"])):
            cpu = phase["cpu_s"]
            print(f"  CPU, {name} phase: {cpu:.1f} s, {1000 * cpu / max(1, ops):.2f} ms per {name}; "
                  f"GC {phase['gc_s']:.1f} s ({100 * phase['gc_s'] / max(cpu, 1e-9):.0f}% of CPU), "
                  f"{phase['gc_all']} collections, {phase['gc_full']} full, longest pause "
                  f"{phase['gc_longest_s']:.2f} s (GC set-up: {args.gc})")
    if args.profile:
        _print_profile(reads, args.profile)
    sim_per_device = (sim_done["rss_kib"] - sim_base) / n
    extra = ", ".join(f"{key} {v}" for key, v in sim_done["counters"].items())
    what = ("lean devices: a compact record each, one SMS link" if args.simulator == "lean"
            else "full devices: aiocoap context, SMS transport, LwM2M client each")
    print(f"simulator RSS: peak {sim_done['peak_mb']:.0f} MB, {sim_per_device:.2f} KiB per device ({what}; "
          f"growth from before the devices were made to after the last read)" + (f"; {extra}" if extra else ""))
    if smsc_peak is not None:
        print(f"SMSC RSS: peak {smsc_peak:.0f} MB")
    node_cpu = ", ".join(f"node{r['node']} {r['register_phase']['cpu_s'] + r['read_phase']['cpu_s']:.1f} s"
                         for r in reads)
    print(f"CPU over the run ({os.cpu_count()} cores): {node_cpu}, simulator {sim_done['cpu_s']:.1f} s (from its "
          "start)" + (f", SMSC {smsc_cpu:.1f} s (from its start)" if smsc_cpu is not None else ""))
    print("memory: resident set (VmRSS) growth of each node process from before the first Register to after "
          "the last read, per registration it holds; the final line's figure is the worst node's")
    ops = registered["registered"] + ok_reads
    wall = t_reg + t_read
    print(f"fleet: {registered['registered']} devices, {k} nodes, {wall:.1f} s, {ops / wall:,.0f} ops/s, "
          f"server {worst:.2f} KiB/device")
    return 0 if registered["failed"] + failed_reads == 0 else 1


def _print_profile(reads: list[dict[str, Any]], path: str) -> None:
    """CPU ms per operation by area, per node and phase: cProfile's own time per function
    (process time) by area, scaled to the phase's measured CPU less the GC's."""
    names = [name for name, _ in AREAS] + ["other"]
    rows = []
    for r in reads:
        for name, phase, areas, ops in (("Register", r["register_phase"], r["register_areas"], r["register_sms_in"]),
                                        ("Read", r["read_phase"], r["read_areas"], r["asked"])):
            if not areas or not ops:
                continue
            total = sum(areas.values()) or 1e-9
            gc_ms = 1000 * phase["gc_s"] / ops
            work_ms = 1000 * phase["cpu_s"] / ops - gc_ms
            rows.append((f"node{r['node']}", name, f"{1000 * phase['cpu_s'] / ops:.3f}",
                         *(f"{work_ms * areas[a] / total:.3f}" for a in names), f"{gc_ms:.3f}"))
    from .table import format_table

    print("server CPU per operation, ms (measured CPU less GC, split by areas in proportion to cProfile's time "
          "in each, built-ins and the standard library charged to their callers; GC from gc.callbacks; under "
          "the profiler, so the total is higher than without):")
    print(format_table(("node", "op", "total", *names, "GC"), rows))
    print(f"profiles: {path}.node1 ... (python -m pstats)")
