"""``lwm2m-sms bench fleet --devices N``: N S-binding devices register by SMS through the
simulated SMSC and the server reads /3/0 from each, by SMS.

Three processes, so that each one's memory is its own:

- the simulated SMSC (``lwm2m-sms smsc --open``, a child process), an SMPP server on TCP
  loopback;
- the LwM2M server: server core, router and SMS transport on its own SMPP bind for its
  number (this is what an operator runs);
- the simulator: the N devices, each an aiocoap context with the SMS transport and an LwM2M
  client, all on one SMPP bind whose address range covers the fleet (multiplexed by MSISDN).

This process only starts them and prints. Each process reports its own peak RSS
(``getrusage`` ``ru_maxrss``, or ``VmHWM`` for the SMSC); the per-device figure of the server
and the simulator is the growth of that process's resident set from before the first
Register to after the last read, divided by N (for the server also after the last Register).

The server process also reports, per phase, its CPU seconds (``time.process_time``) and the
CPU seconds its garbage collector ran (``gc.callbacks``, with the number of full collections
and the longest one): on a machine shared with other work these say where the server's time goes
when the wall time does not. ``--profile FILE`` runs the server process under cProfile from
its start-up to the last read and writes the statistics to FILE (``python -m pstats FILE``).
The server process runs with the GC set-up of ``lwm2m-sms server``
(:func:`lwm2m_sms.gc_tuning.tune_for_server`) unless ``--gc default`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection
from typing import Any, Coroutine, Iterator

SERVER_MSISDN = "+15550000"
FLEET_RANGE = r"^\+?1556.*"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=10_000, help="devices in the fleet (default 10000)")
    parser.add_argument("--concurrency", type=int, default=64,
                        help="operations in flight at once, in the simulator and in the server (default 64)")
    parser.add_argument("--gc", choices=("server", "default"), default="server",
                        help="the server process's garbage collector set-up: the one `lwm2m-sms server` uses "
                             "(default) or Python's defaults")
    parser.add_argument("--profile", metavar="FILE",
                        help="profile the server process (cProfile) and write its statistics to FILE")


def device_msisdn(i: int) -> str:
    return f"+1556{i:07d}"


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


# -- the server process ------------------------------------------------------------------


def server_process(port: int, concurrency: int, conn: Connection, gc_mode: str = "server",
                   profile: str | None = None) -> None:
    """Entry point of the server's process: started by ``multiprocessing`` (spawn)."""
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        _child(conn, _server(port, concurrency, conn, gc_mode))
    finally:
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)


async def _server(port: int, concurrency: int, conn: Connection, gc_mode: str = "server") -> None:
    from ..coap import SmsSettings
    from ..gateway import smpp_bearer, start_server
    from ..gc_tuning import tune_for_server

    timer = GcTimer()
    gc.callbacks.append(timer)
    link = await smpp_bearer(port, "server", SERVER_MSISDN, SERVER_MSISDN, window=64)
    stack = await start_server(bearers=[link], sms_settings=SmsSettings(ack_timeout=60.0))
    if gc_mode == "server":
        tune_for_server()
    try:
        conn.send(("ready", _rss_kib()))
        t_ready = timer.snapshot()
        await _recv(conn)  # "read": every device has registered
        t_registered = timer.snapshot()
        rss_registered = _rss_kib()
        registered = stack.sms[0].stats().total
        endpoints = [reg.endpoint for reg in stack.server.registrations()]
        failures: list[str] = []

        async def read(ep: str) -> None:
            try:
                value = (await stack.server.read(ep, "/3/0")).value
                if not (isinstance(value, dict) and value.get(0) == "lwm2m-sms"):
                    raise ValueError(f"unexpected {value!r}"[:80])
            except Exception as exc:  # counted and reported; the bench goes on
                failures.append(f"read {ep}: {exc!r}")

        t0 = time.perf_counter()
        await _pool(concurrency, (read(ep) for ep in endpoints))
        elapsed = time.perf_counter() - t0
        total = stack.sms[0].stats().total
        conn.send(("read", {
            "registrations": len(endpoints), "reads": len(endpoints) - len(failures), "seconds": elapsed,
            "failures": failures[:3], "failed": len(failures),
            "register_sms_in": registered.sms_received, "register_sms_out": registered.sms_sent,
            "read_sms_in": total.sms_received - registered.sms_received,
            "read_sms_out": total.sms_sent - registered.sms_sent,
            "rss_kib": _rss_kib(), "rss_registered_kib": rss_registered,
            "register_phase": _phase(t_ready, t_registered), "read_phase": _phase(t_registered, timer.snapshot()),
        }))
        await _recv(conn)  # "stop"
    finally:
        await stack.close()
        await link.close()
    conn.send(("done", _peak_mb()))


# -- the simulator process ---------------------------------------------------------------


def simulator_process(port: int, n: int, concurrency: int, conn: Connection) -> None:
    """Entry point of the simulator's process: started by ``multiprocessing`` (spawn)."""
    _child(conn, _simulator(port, n, concurrency, conn))


async def _simulator(port: int, n: int, concurrency: int, conn: Connection) -> None:
    from ..coap import SmsSettings
    from ..gateway import Device, smpp_bearer, start_device
    from ..multiplex import SegmentMux

    settings = SmsSettings(ack_timeout=60.0)
    link = await smpp_bearer(port, "fleet", FLEET_RANGE, window=64)
    mux = SegmentMux(link)
    devices: list[Device] = []
    failures: list[str] = []
    rss0 = _rss_kib()

    async def register(i: int) -> None:
        bearer = mux.channel(device_msisdn(i))
        await bearer.start()
        try:
            devices.append(await start_device(
                f"fleet-{i}", "S", server_uri="coap://127.0.0.1:9", server_msisdn=SERVER_MSISDN,
                bearer=bearer, udp=False, sms_settings=settings,
            ))
        except Exception as exc:  # counted and reported; the bench goes on
            failures.append(f"register fleet-{i}: {exc!r}")

    try:
        conn.send(("ready", rss0))
        t0 = time.perf_counter()
        await _pool(concurrency, (register(i) for i in range(n)))
        conn.send(("registered", {
            "registered": len(devices), "seconds": time.perf_counter() - t0,
            "failures": failures[:3], "failed": len(failures),
        }))
        await _recv(conn)  # "stop": the server has read every device
        rss1 = _rss_kib()
    finally:
        for dev in devices:
            await dev.context.shutdown()
        await link.close()
    conn.send(("done", {"peak_mb": _peak_mb(), "rss_kib": rss1}))


# -- plumbing ----------------------------------------------------------------------------


async def _pool(workers: int, jobs: Iterator[Coroutine[Any, Any, None]]) -> None:
    """Run ``jobs`` with at most ``workers`` at once. A coroutine is made only when a worker
    takes it (not N tasks up front, whose frames would count as the process's memory per
    device)."""

    async def worker() -> None:
        for job in jobs:
            await job

    await asyncio.gather(*(worker() for _ in range(workers)))


def _child(conn: Connection, work: Any) -> None:
    try:
        asyncio.run(work)
    except BaseException as exc:  # the parent prints it; a child has no terminal of its own
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


async def _recv(conn: Connection, expect: str | None = None, timeout: float | None = None) -> Any:
    """The next message from the other end, without blocking the event loop."""
    loop = asyncio.get_running_loop()
    if timeout is not None and not await loop.run_in_executor(None, conn.poll, timeout):
        raise TimeoutError(f"no {expect or 'message'} from a bench process within {timeout} s")
    kind, value = await loop.run_in_executor(None, conn.recv)
    if kind == "error":
        raise RuntimeError(f"bench process failed: {value}")
    if expect is not None and kind != expect:
        raise RuntimeError(f"bench process sent {kind!r}, expected {expect!r}")
    return value


async def run(args: argparse.Namespace) -> int:
    from .bench_smpp import start_smsc, stop_smsc
    from .table import format_table

    n = args.devices
    smsc_args = argparse.Namespace(smsc_process=True)
    smsc, port = await start_smsc(smsc_args)
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: its RSS is its own
    server_end, server_child = spawn.Pipe()
    sim_end, sim_child = spawn.Pipe()
    server = spawn.Process(target=server_process, args=(port, args.concurrency, server_child, args.gc, args.profile),
                           name="fleet-server")
    simulator = spawn.Process(target=simulator_process, args=(port, n, args.concurrency, sim_child),
                              name="fleet-simulator")
    print(f"fleet: {n} S devices; processes: SMSC (pid {smsc.pid}), server, simulator "
          f"({n} devices on one SMPP bind); SMPP over TCP loopback; {args.concurrency} operations in flight",
          flush=True)
    smsc_peak: float | None = None
    try:
        server.start()
        server_child.close()
        server_base = await _recv(server_end, "ready", 60)
        simulator.start()
        sim_child.close()
        sim_base = await _recv(sim_end, "ready", 60)
        registered = await _recv(sim_end, "registered")
        print(f"  registered {registered['registered']}/{n} in {registered['seconds']:.1f} s", flush=True)
        server_end.send(("read", None))
        reads = await _recv(server_end, "read")
        print(f"  read /3/0 from {reads['reads']}/{reads['registrations']} in {reads['seconds']:.1f} s", flush=True)
        hwm = _status_kib("VmHWM", smsc.pid)
        smsc_peak = hwm / 1024 if hwm is not None else None
        sim_end.send(("stop", None))
        server_end.send(("stop", None))
        sim_done = await _recv(sim_end, "done", 60)
        server_peak = await _recv(server_end, "done", 60)
    finally:
        for proc in (simulator, server):
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
        await stop_smsc(smsc, True)

    t_reg, t_read = registered["seconds"], reads["seconds"]
    rows = [
        ("register by SMS", str(registered["registered"]), f"{t_reg:.1f}",
         f"{registered['registered'] / t_reg:,.0f}", str(reads["register_sms_in"]), str(reads["register_sms_out"])),
        ("read /3/0 by SMS", str(reads["reads"]), f"{t_read:.1f}", f"{reads['reads'] / max(t_read, 1e-9):,.0f}",
         str(reads["read_sms_in"]), str(reads["read_sms_out"])),
    ]
    print(format_table(("operation", "done", "s", "ops/s", "SMS to server", "SMS from server"), rows))
    for failure in registered["failures"] + reads["failures"]:
        print(f"  failed: {failure}")
    server_per_device = (reads["rss_kib"] - server_base) / max(1, n)
    registered_per_device = (reads["rss_registered_kib"] - server_base) / max(1, n)
    sim_per_device = (sim_done["rss_kib"] - sim_base) / max(1, n)
    print(f"server RSS: peak {server_peak:.0f} MB, {server_per_device:.1f} KiB per device "
          f"(the server process: core, router, SMS transport, SMPP link); {registered_per_device:.1f} KiB "
          "per device after the last Register")
    for name, phase in (("register", reads["register_phase"]), ("read", reads["read_phase"])):
        cpu = phase["cpu_s"]
        print(f"server CPU, {name} phase: {cpu:.1f} s, {1000 * cpu / max(1, n):.2f} ms per device; "
              f"GC {phase['gc_s']:.1f} s ({100 * phase['gc_s'] / max(cpu, 1e-9):.0f}% of CPU), "
              f"{phase['gc_all']} collections, {phase['gc_full']} full, longest pause {phase['gc_longest_s']:.2f} s "
              f"(GC set-up: {args.gc})")
    if args.profile:
        print(f"server profile (cProfile, start-up to last read): {args.profile}")
    print(f"simulator RSS: peak {sim_done['peak_mb']:.0f} MB, {sim_per_device:.1f} KiB per device "
          "(the simulated devices: aiocoap context, SMS transport, LwM2M client; their SMPP bind)")
    if smsc_peak is not None:
        print(f"SMSC RSS: peak {smsc_peak:.0f} MB")
    ops = registered["registered"] + reads["reads"]
    wall = t_reg + t_read
    failed = registered["failed"] + reads["failed"]
    print(f"fleet: {registered['registered']} devices, {wall:.1f} s, {ops / wall:,.0f} ops/s, "
          f"server RSS {server_peak:.0f} MB ({server_per_device:.1f} KiB/device), "
          f"simulator RSS {sim_done['peak_mb']:.0f} MB")
    return 0 if failed == 0 else 1
