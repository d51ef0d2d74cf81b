"""``lwm2m-sms demo``: every LwM2M 1.0.2 binding end to end on loopback, with a table.

Starts, in this process and on 127.0.0.1 only: the simulated SMSC; the LwM2M server and
bootstrap server on UDP, with SMS over an SMPP bind to the SMSC; a modem emulator on a pty
(its network side an SMPP bind for its number) with the modem driver on it, carrying the
first S device; and one simulated device per binding U, UQ, S, SQ, US, UQS (``--devices N``
cycles through the bindings for N devices), all other SMS devices on one fleet bind.

Each device bootstraps (UDP), registers, is read, written, executed (/1/0/8: the device
answers with an Update), observed; queue-mode devices are then left to fall asleep and read
again (UQ and SQ: the request waits until the device wakes on its own; UQS: the router
wakes it by SMS and the queue goes over UDP); US is also read by SMS on request; then the
device de-registers. A table per binding shows, for each operation, the bearer used, the
result, the latency and the SMS the server sent and received for it. Exit status 0 only
if every row passed.

What is measured: the SMS columns are the server's SMS transport counters for the device's
number; the bearer of a request the server sends is the router's count of UDP requests
plus those SMS counters; the bearer of a Register is the address the server recorded for
it. The server does not count UDP messages it receives, so the bearer of the other
device-initiated rows (bootstrap, de-register) with no SMS counted is inferred to be UDP
and marked ``udp*`` (``bearer_inferred`` in JSON).

``--seed`` seeds the simulated SMSC's impairment decisions (which SMS are lost or
duplicated) and nothing else: the devices run concurrently, so the order in which their SMS
reach the SMSC, and with it which SMS an impairment hits, varies between runs. Without
impairments two runs give the same rows (bearers, results, SMS counts), apart from times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Optional

if TYPE_CHECKING:
    from ..gateway import BootstrapStack, Device, Gateway

BINDING_ORDER = ("U", "UQ", "S", "SQ", "US", "UQS")
SERVER_MSISDN = "+15550000"
BOOTSTRAP_MSISDN = "+15550009"  # the bootstrap server's own number
# The first device of these bindings bootstraps this way (the others: client-initiated by UDP)
BOOTSTRAP_MODES = {"S": "server-initiated by SMS", "SQ": "client-initiated by SMS", "U": "smartcard"}
FLEET_RANGE = r"^\+?1555[1-9].*"  # device numbers are +1555 1xxxxxx and up

log = logging.getLogger(__name__)


@dataclass
class Row:
    endpoint: str
    binding: str
    operation: str
    bearer: str = ""
    ok: bool = False
    result: str = ""
    ms: float = 0.0
    sms_out: int = 0
    sms_in: int = 0
    bearer_inferred: bool = False  # True: no counter saw it; UDP by elimination


@dataclass
class DemoOptions:
    devices: int = 6
    loss: float = 0.0
    duplicate: float = 0.0
    seed: int = 1
    window: float | None = None  # None: 1 s, or 5 s on an impaired network
    modem: bool = True
    timeout: float = 60.0
    security: str = "nosec"  # SMS security mode of every device (cli/secured.py)


@dataclass
class DemoResult:
    rows: list[Row] = field(default_factory=list)
    wall: float = 0.0
    smsc: dict[str, int] = field(default_factory=dict)
    trust: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.rows) and all(r.ok for r in self.rows)


def device_msisdn(i: int) -> str:
    return f"+1555{1000000 + i}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=6, metavar="N",
                        help="simulated devices, cycling through U UQ S SQ US UQS (default 6)")
    parser.add_argument("--loss", type=float, default=0.0, metavar="PCT",
                        help="SMSC drops this %% of SMS (turns on CoAP retransmission over SMS)")
    parser.add_argument("--duplicate", type=float, default=0.0, metavar="PCT",
                        help="SMSC delivers this %% of SMS twice")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the SMSC's impairment decisions only (which SMS are lost or "
                             "duplicated); concurrent devices make impaired runs differ anyway")
    parser.add_argument("--window", type=float, default=None, metavar="S",
                        help="queue-mode online window of devices and server, seconds "
                             "(default 1; 5 with --loss/--duplicate, to outlast retransmissions)")
    parser.add_argument("--no-modem", dest="modem", action="store_false",
                        help="put the S device on the SMPP fleet bind instead of the modem emulator")
    parser.add_argument("--json", action="store_true",
                        help="print the result as JSON on stdout (and nothing else: progress goes to stderr)")
    parser.add_argument("--security", choices=["nosec", "dtls", "packet", "oscore"], default="nosec",
                        help="SMS security mode of every device, written by the bootstrap server; "
                             "the run is repeated in NoSec for the SMS per operation side by side")


async def run(args: argparse.Namespace) -> int:
    opts = DemoOptions(devices=args.devices, loss=args.loss, duplicate=args.duplicate,
                       seed=args.seed, window=args.window, modem=args.modem, security=args.security)
    if opts.devices < 1:
        print("lwm2m-sms: error: demo: --devices must be at least 1", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    progress(f"lwm2m-sms demo: {opts.devices} device(s), SMSC loss {opts.loss:g}% duplicate "
             f"{opts.duplicate:g}%")
    nosec = None
    if opts.security != "nosec":
        progress("first in NoSec, for comparison")
        nosec = await run_demo(DemoOptions(**{**asdict(opts), "security": "nosec"}))
        progress(f"then with SMS security {opts.security}")
    result = await run_demo(opts, progress=progress)
    failed = [r for r in result.rows if not r.ok]
    summary = (f"demo: {len(result.rows) - len(failed)}/{len(result.rows)} operations passed, "
               f"{sum(r.sms_out for r in result.rows)} SMS out, {sum(r.sms_in for r in result.rows)} SMS in, "
               f"{result.wall:.1f} s")
    if args.json:
        print(json.dumps(result_json(result), indent=1))
        progress(summary)
    else:
        print(format_tables(result))
        if nosec is not None:
            from .secured import format_comparison

            print(format_comparison(nosec.rows, result.rows, opts.security))
        print(summary)
    return 0 if result.passed else 1


# -- presentation ------------------------------------------------------------------------


def result_json(result: DemoResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "rows": [asdict(r) for r in result.rows],
        "smsc": result.smsc,
        "trust": result.trust,
        "wall_seconds": round(result.wall, 3),
    }


def format_tables(result: DemoResult) -> str:
    from .table import format_table

    out = []
    by_binding: dict[str, list[Row]] = {}
    for r in result.rows:
        by_binding.setdefault(r.binding, []).append(r)
    for binding in BINDING_ORDER:
        rows = by_binding.get(binding, [])
        if not rows:
            continue
        first = rows[0].endpoint
        detail = [r for r in rows if r.endpoint == first]
        out.append(f"\nbinding {binding}: {first}" + (f" (+{len({r.endpoint for r in rows}) - 1} more devices)"
                                                     if len({r.endpoint for r in rows}) > 1 else ""))
        out.append(format_table(
            ["operation", "bearer", "result", "ms", "SMS out", "SMS in"],
            [[r.operation, r.bearer + ("*" if r.bearer_inferred else ""), "ok" if r.ok else "FAIL: " + r.result,
              f"{r.ms:.1f}", str(r.sms_out), str(r.sms_in)]
             for r in detail],
            right={3, 4, 5},
        ))
        if any(r.bearer_inferred for r in detail):
            out.append("* inferred: sent by the device, no SMS counted, so UDP (the server does not count UDP it receives)")
    devices = {r.endpoint for r in result.rows}
    if len(devices) > len(by_binding):
        summary = []
        for binding in BINDING_ORDER:
            rows = by_binding.get(binding, [])
            if rows:
                eps = {r.endpoint for r in rows}
                ok_eps = {e for e in eps if all(r.ok for r in rows if r.endpoint == e)}
                summary.append([binding, str(len(eps)), str(len(ok_eps)), f"{statistics.median(r.ms for r in rows):.1f}",
                                str(sum(r.sms_out for r in rows)), str(sum(r.sms_in for r in rows))])
        out.append("\nfleet")
        out.append(format_table(["binding", "devices", "passed", "median ms", "SMS out", "SMS in"], summary, right={1, 2, 3, 4, 5}))
    out.append(f"\nSMSC: {result.smsc}")
    out.append(f"trust: {result.trust}")
    return "\n".join(out)


# -- the run -----------------------------------------------------------------------------


async def run_demo(opts: DemoOptions, progress: Callable[[str], None] = lambda _t: None) -> DemoResult:
    from aiocoap import resource

    from smsc.config import Impairments, SmscConfig
    from smsc.server import SimulatedSmsc

    from ..coap import SmsSettings
    from ..lwm2m.bootstrap import BootstrapConfig
    from ..lwm2m.client import ServerAccount, Smartcard
    from ..sms.address import parse_msisdn
    from ..multiplex import SegmentMux
    from ..routing.router import PolicySettings
    from ..gateway import smpp_bearer, start_bootstrap_server, start_device, start_server
    from . import secured

    started = time.monotonic()
    result = DemoResult()
    closers: list[Callable[[], Awaitable[Any]]] = []
    impaired = opts.loss > 0 or opts.duplicate > 0
    if opts.window is None:
        opts.window = 5.0 if impaired else 1.0
    # Impaired network: opt in to CoAP retransmission over SMS (DESIGN: timing), with a short
    # ACK timeout since the simulated SMSC delivers in milliseconds. A queue-mode device
    # must stay awake through the retransmissions: the window (5 s) outlasts 4 tries
    # (0.3 + 0.6 + 1.2 s, times the random factor of at most 1.5).
    sms_settings = SmsSettings(ack_timeout=0.3, max_retransmit=3) if impaired else SmsSettings(ack_timeout=20.0)

    try:
        impairments = Impairments(loss=opts.loss, duplicate=opts.duplicate, seed=opts.seed)
        smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.5, impairments=impairments))
        await smsc.start("127.0.0.1", 0)
        closers.append(smsc.close)
        progress(f"simulated SMSC on 127.0.0.1:{smsc.port}")

        async def link(system_id: str, address_range: str, msisdn: Optional[str]) -> Any:
            b = await smpp_bearer(smsc.port, system_id, address_range, msisdn)
            closers.append(b.close)
            return b

        server_link = await link("lwm2m-server", SERVER_MSISDN, SERVER_MSISDN)
        site = resource.Site()
        policy = PolicySettings(udp_window=opts.window, sms_window=opts.window, udp_timeout=5.0)
        security = {device_msisdn(i): secured.demo_security(opts.security, device_msisdn(i))
                    for i in range(opts.devices)}
        if opts.security == "nosec":
            stack = await start_server(bearers=[server_link], site=site, policy=policy, sms_settings=sms_settings)
        else:
            tmp = tempfile.TemporaryDirectory(prefix="lwm2m-sms-demo-")
            oscore_dir = Path(tmp.name)
            stack, _, release = await secured.secured_server(
                server_link, security, oscore_dir, site=site, policy=policy, sms_settings=sms_settings)
            closers.append(_as_coroutine(tmp.cleanup))
            if release is not None:
                closers.append(_as_coroutine(release))
        closers.append(stack.close)
        hooks = _update_hooks()
        stack.server.add_hooks(hooks)

        bindings = [BINDING_ORDER[i % len(BINDING_ORDER)] for i in range(opts.devices)]
        endpoints = [f"demo-{b.lower()}-{i}" for i, b in enumerate(bindings)]
        bs_config = BootstrapConfig.from_dict({"endpoints": {
            ep: {"servers": [{"uri": stack.udp_uri, "short_server_id": 1, "lifetime": 300, "binding": b,
                              "sms_number": SERVER_MSISDN,
                              **secured.bootstrap_fields(security[device_msisdn(i)])}]}
            for i, (ep, b) in enumerate(zip(endpoints, bindings))
        }})
        modes = {endpoints[bindings.index(b)]: mode for b, mode in BOOTSTRAP_MODES.items() if b in bindings}
        for ep, mode in modes.items():  # a Bootstrap-Request by SMS only from the device's own number
            if mode == "client-initiated by SMS":
                bs_config.endpoints[ep].sms = frozenset({parse_msisdn(device_msisdn(endpoints.index(ep)))})
        bootstrap = await start_bootstrap_server(
            bs_config, bearers=[await link("bootstrap", BOOTSTRAP_MSISDN, BOOTSTRAP_MSISDN)],
            sms_settings=sms_settings, step_timeout=opts.timeout)
        closers.append(bootstrap.close)
        progress(f"LwM2M server on {stack.udp_uri}, SMS {SERVER_MSISDN} over SMPP; bootstrap server on "
                 f"{bootstrap.udp_uri}, SMS {BOOTSTRAP_MSISDN}")

        mux = SegmentMux(await link("fleet", FLEET_RANGE, None))
        devices = []
        modem_used = False
        for i, (ep, binding) in enumerate(zip(endpoints, bindings)):
            msisdn = device_msisdn(i)
            if opts.modem and binding == "S" and not modem_used:
                bearer = await _modem_bearer(link, msisdn, closers)
                modem_used = True
                progress(f"{ep}: on the modem emulator ({msisdn})")
            else:
                bearer = mux.channel(msisdn)
                await bearer.start()
                closers.append(bearer.close)
            extra: dict[str, Any] = {}
            if opts.security != "nosec":
                bearer, hook = secured.device_bearer(bearer, ep, oscore_dir, nosec_peers=(BOOTSTRAP_MSISDN,))
                extra["on_sms_security"] = hook
                closers.append(_as_coroutine(hook.release))
            how: dict[str, Any] = {"bootstrap_uri": bootstrap.udp_uri}
            if modes.get(ep) == "server-initiated by SMS":  # waits for the server's push
                how = {"bootstrap_uri": bootstrap.sms_uri, "bootstrap_sms": BOOTSTRAP_MSISDN, "hold_off": 3600}
            elif modes.get(ep) == "client-initiated by SMS":
                how = {"bootstrap_uri": bootstrap.sms_uri}
            elif modes.get(ep) == "smartcard":
                how = {"bootstrap_uri": None, "smartcard": Smartcard.from_accounts(
                    [secured.with_sms_security(ServerAccount(stack.udp_uri, 1, 300, binding, parse_msisdn(SERVER_MSISDN)),
                                               security[msisdn])])}
            dev = await start_device(
                ep, binding, server_msisdn=SERVER_MSISDN, bearer=bearer,
                sms_settings=sms_settings, start=False, queue_window=opts.window, time_resolution=0.2, **how, **extra,
            )
            closers.append(dev.context.shutdown)
            devices.append((ep, binding, msisdn, dev))

        progress(f"running the scenario on {len(devices)} device(s)")
        per_device = await asyncio.gather(*(
            _scenario(stack, hooks, ep, binding, msisdn, dev, opts, bootstrap, modes.get(ep))
            for ep, binding, msisdn, dev in devices
        ))
        for rows in per_device:
            result.rows.extend(rows)
        st = smsc.stats
        result.smsc = {k: getattr(st, k) for k in ("submitted", "delivered", "lost", "duplicated")}
        result.trust = dict(vars(stack.router.trust.stats))
    finally:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(close(), 10)
        result.wall = time.monotonic() - started
    return result


def _as_coroutine(fn: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def call() -> Any:
        return fn()

    return call


async def _modem_bearer(link: Callable[[str, str, Optional[str]], Awaitable[Any]], msisdn: str,
                        closers: list[Callable[[], Awaitable[Any]]]) -> Any:
    from ..gateway import emulated_modem

    emulator, driver = await emulated_modem(await link("modem" + msisdn[-4:], msisdn, msisdn), msisdn)
    closers.append(emulator.close)
    closers.append(driver.close)
    return driver


def _update_hooks() -> Any:
    """Server hooks with an event per endpoint that fires on its next Update."""
    from ..lwm2m.server import ServerHooks

    class Updates(ServerHooks):
        def __init__(self) -> None:
            self.events: dict[str, asyncio.Event] = {}

        def event(self, ep: str) -> asyncio.Event:
            return self.events.setdefault(ep, asyncio.Event())

        def on_updated(self, reg: Any) -> None:
            self.event(reg.endpoint).set()

    return Updates()


async def _scenario(stack: "Gateway", hooks: Any, ep: str, binding: str, msisdn: str, dev: "Device",
                    opts: DemoOptions, bootstrap: "BootstrapStack", mode: Optional[str]) -> list[Row]:
    from ..routing.router import via

    server, router = stack.server, stack.router
    client = dev.client
    rows: list[Row] = []

    def sms_counts() -> tuple[int, int]:
        # The bearer's own counters: they include SMS below CoAP (DTLS handshakes, PoRs).
        total_out = total_in = 0
        for transport in [*stack.sms, *bootstrap.sms]:
            c = transport.bearer.stats.per_peer.get(msisdn, {})
            total_out += c.get("sms_sent", 0)
            total_in += c.get("sms_received", 0)
        return total_out, total_in

    async def op(name: str, work: Callable[[], Awaitable[Any]], server_initiated: bool = True,
                 check: Optional[Callable[[Any], bool]] = None,
                 recorded_bearer: Optional[Callable[[], str]] = None) -> Any:
        row = Row(ep, binding, name)
        out0, in0 = sms_counts()
        udp0 = router.stats.per_endpoint.get(ep, {}).get("udp", 0)
        t0 = time.perf_counter()
        value = None
        try:
            value = await asyncio.wait_for(work(), opts.timeout)
            row.ok = check(value) if check is not None else True
            row.result = "ok" if row.ok else f"unexpected {value!r}"[:60]
        except Exception as exc:  # a demo row reports the failure and the run goes on
            row.result = f"{type(exc).__name__}: {exc}"[:80]
        row.ms = (time.perf_counter() - t0) * 1000
        await asyncio.sleep(0.05 if not (opts.loss or opts.duplicate) else 0.3)  # answers still in flight
        out1, in1 = sms_counts()
        row.sms_out, row.sms_in = out1 - out0, in1 - in0
        used_udp = router.stats.per_endpoint.get(ep, {}).get("udp", 0) > udp0
        used_sms = row.sms_out + row.sms_in > 0
        if recorded_bearer is not None and row.ok:
            row.bearer = recorded_bearer()
        else:
            if not server_initiated and not used_sms:
                used_udp = row.bearer_inferred = True
            row.bearer = "+".join(b for b, used in (("sms", used_sms), ("udp", used_udp)) if used) or "-"
        rows.append(row)
        return value

    if mode == "server-initiated by SMS":
        async def pushed() -> None:
            waiting = asyncio.ensure_future(client.bootstrap(timeout=opts.timeout))  # in its hold-off
            session = await bootstrap.server.push(ep, msisdn)
            if not session.succeeded:
                waiting.cancel()
                raise RuntimeError(session.error)
            await waiting

        await op(f"bootstrap: {mode}", pushed)
    elif mode == "smartcard":
        async def from_card() -> None:
            assert client.smartcard is not None  # given by run_demo for this mode
            client.apply_smartcard(client.smartcard)

        await op(f"bootstrap: {mode}", from_card)  # no bearer: "-"
    else:
        await op("bootstrap" + (f": {mode}" if mode else ""), lambda: client.bootstrap(timeout=opts.timeout),
                 server_initiated=False)

    def registered_by() -> str:
        # the address the server recorded for the Register: coap://... or coap+sms://...
        return "sms" if server.registration(ep).remote_uri.startswith("coap+sms:") else "udp"

    await op("register", client.register_all, server_initiated=False,
             check=lambda _v: server.registration(ep).binding == binding, recorded_bearer=registered_by)
    async def read(path: str) -> Any:
        return (await server.read(ep, path)).value

    await op("read /3/0", lambda: read("/3/0"), check=lambda v: isinstance(v, dict) and v.get(0) == "lwm2m-sms")
    await op("write /1/0/1 = 600 (-> Update)", lambda: server.write(ep, "/1/0/1", 600),
             check=lambda _v: client.objects[1][0][1] == 600)

    async def execute_and_update() -> None:
        event = hooks.event(ep)
        event.clear()
        await server.execute(ep, "/1/0/8")
        await event.wait()

    await op("execute /1/0/8 -> Update", execute_and_update)

    async def observe_one() -> Any:
        obs = await server.observe(ep, "/3/0/13")
        try:
            async for value in obs:
                return value
        finally:
            obs.cancel()

    await op("observe /3/0/13 (1 notification)", observe_one, check=lambda v: isinstance(v, int))

    if binding in ("UQ", "SQ", "UQS"):
        assert opts.window is not None  # set by run_demo
        await asyncio.sleep(opts.window + 0.5)  # both sides: the device has gone to sleep

        async def queued_read() -> Any:
            task = asyncio.ensure_future(read("/3/0/0"))
            try:
                if binding != "UQS":
                    await asyncio.sleep(0.3)
                    if task.done():
                        raise RuntimeError("answered while the device was asleep")
                    await client.update()  # the device wakes on its own and says so
                return await task
            finally:
                task.cancel()  # no-op when done; else the caller gave up (timeout)

        name = "read while asleep: SMS wake-up" if binding == "UQS" else "read while asleep: waits for wake"
        await op(name, queued_read, check=lambda v: v == "lwm2m-sms")
    if binding == "US":
        async def read_by_sms() -> Any:
            with via("sms"):
                return await read("/3/0/0")

        await op("read /3/0/0 by SMS (asked)", read_by_sms, check=lambda v: v == "lwm2m-sms")

    await op("de-register", lambda: client.stop(deregister=True), server_initiated=False,
             check=lambda _v: server.store.get(ep) is None)
    return rows
