"""``lwm2m-sms client``: simulated LwM2M devices over UDP (one socket each) and over SMS,
through an SMPP link to an SMSC (``--smpp``, one bind for all devices) or a GSM modem
(``--modem``, one device). Built on :mod:`lwm2m_sms.gateway`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any, Optional

from .bearer_options import OptionError, add_bearer_options, bearer_name, check_bearer_options, open_bearer
from .options import stop_event

BINDINGS = ["U", "UQ", "S", "SQ", "US", "UQS"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ep", required=True, metavar="NAME",
                        help="endpoint name (with --count N: NAME-0001 ... NAME-N)")
    parser.add_argument("--server", metavar="URI",
                        help="LwM2M server, e.g. coap://127.0.0.1:5683 (binding S/SQ: default coap+sms://SERVER-SMS)")
    parser.add_argument("--bootstrap", metavar="URI",
                        help="bootstrap server (coap://... or coap+sms://+N); bootstraps first")
    parser.add_argument("--bootstrap-sms", metavar="+N",
                        help="the bootstrap server's SMS number (/0/x/9 of the bootstrap account): a "
                             "server-initiated bootstrap by SMS is accepted from it")
    parser.add_argument("--hold-off", type=int, metavar="S",
                        help="Client Hold Off Time (/0/x/11): seconds to wait for a server-initiated "
                             "bootstrap before sending a Bootstrap-Request")
    parser.add_argument("--binding", default="U", choices=BINDINGS, help="binding sent on Register (default U)")
    parser.add_argument("--lifetime", type=int, default=300, metavar="S", help="registration lifetime (default 300)")
    parser.add_argument("--sms", metavar="MSISDN",
                        help="UDP devices: the number sent as sms= (with --count: the first); "
                             "SMS devices use --msisdn")
    parser.add_argument("--server-sms", metavar="MSISDN", help="the server's SMS number (/0/x/9)")
    parser.add_argument("--queue-window", type=float, default=93.0, metavar="S",
                        help="queue mode: seconds online after each message (default 93)")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="number of devices (default 1)")
    parser.add_argument("--duration", type=float, metavar="S", help="de-register and exit after S seconds")
    add_bearer_options(parser, "the device's own number on --smpp or --modem (with --count: the first)")
    lean = parser.add_argument_group("lean devices (docs/client.md, \"Lean devices\")")
    lean.add_argument("--lean", action="store_true",
                      help="binding S devices on --smpp as compact records (a few hundred octets each, for "
                           "fleets of 100,000): Register, Update, De-register, Read of /3/0")
    lean.add_argument("--concurrency", type=int, default=64, metavar="N",
                      help="--lean: Registers and Updates in flight at once (default 64)")
    g = parser.add_argument_group("SMS channel security (docs/security.md)")
    g.add_argument("--sms-security", metavar="JSON",
                   help='/0/x/6..8 of the --server account, from a file: {"mode": "packet", "params": HEX, '
                        '"secret": HEX} (or "dtls" with "identity", "psk"; "oscore" with "sender_id", '
                        '"recipient_id", "secret"); every device of --count gets the same')
    g.add_argument("--security-state", metavar="DIR",
                   help="each device's secured-packet counters and OSCORE contexts (DIR/EP/); with it, "
                        "SMS security written by a bootstrap server is used too")


def _numbers(first: str, count: int) -> list[str]:
    from ..sms.address import parse_msisdn

    base = parse_msisdn(first)
    if not base.value.isdigit():
        raise OptionError(f"{first!r} is not an international number")
    width = len(base.value)
    numbers = [f"+{int(base.value) + i:0{width}d}" for i in range(count)]
    if len(numbers[-1]) - 1 > 15:
        raise OptionError(f"--count {count} from {first} runs past 15 digits")
    return numbers


def _address_range(numbers: list[str]) -> str:
    """An SMPP address_range (a regular expression, 41 octets at most) covering
    ``numbers``: the number itself, or their common prefix."""
    if len(numbers) == 1:
        return numbers[0]
    digits = [n.lstrip("+") for n in numbers]
    prefix = digits[0]
    for d in digits[1:]:
        while not d.startswith(prefix):
            prefix = prefix[:-1]
    return rf"^\+?{prefix}"


def _check(args: argparse.Namespace) -> None:
    sms_binding = "S" in args.binding
    if args.count < 1:
        raise OptionError("--count must be at least 1")
    check_bearer_options(args)
    if args.modem and args.count > 1:
        raise OptionError("a modem has one number: --modem runs one device (use --smpp for --count)")
    if args.binding in ("S", "SQ") and not (args.smpp or args.modem):
        # (US and UQS devices without a bearer run on UDP alone: their SMS side is deaf)
        raise OptionError(f"binding {args.binding} needs an SMS bearer: --smpp HOST:PORT --msisdn +N, or --modem PORT")
    if sms_binding and (args.smpp or args.modem) and not args.server_sms and not args.bootstrap:
        raise OptionError(f"binding {args.binding} needs --server-sms (the server's number)")
    if not args.server and not args.bootstrap:
        if args.binding in ("S", "SQ") and args.server_sms:
            args.server = f"coap+sms://{args.server_sms}"
        else:
            raise OptionError("give --server, --bootstrap or both")


async def _bearers(args: argparse.Namespace, numbers: list[str], closers: list[Any]) -> list[Any]:
    """One started bearer per device number: MuxBearer channels on one SMPP bind, or the
    modem driver."""
    from ..multiplex import SegmentMux

    link = await open_bearer(args, numbers[0] if len(numbers) == 1 else None, _address_range(numbers))
    closers.append(link.close)
    if len(numbers) == 1:
        return [link]
    mux = SegmentMux(link)
    channels = []
    for n in numbers:
        channel = mux.channel(n)
        await channel.start()
        closers.append(channel.close)
        channels.append(channel)
    return channels


def _load_security(path: str) -> Any:
    """The device's view of its SMS security, from a JSON file (keys stay off the command
    line, where ``ps`` shows them)."""
    import json

    from ..security.policy import SecurityConfigError, peer_from_dict

    try:
        return peer_from_dict(json.loads(open(path).read()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SecurityConfigError(f"--sms-security {path}: {exc}") from None


def _secured(bearer: Any, endpoint: str, state: Optional[str]) -> Any:
    """``bearer`` under the security layer, configured by the device's Security object."""
    from pathlib import Path

    from ..security.bearer import SecureBearer
    from ..security.policy import SecurityPolicy
    from ..security.setup import DeviceSmsSecurity
    from ..security.state import CounterStore

    directory = Path(state) / endpoint if state else None
    secure = SecureBearer(bearer, SecurityPolicy(default=None),
                          counters=CounterStore(directory / "counters") if directory else None)
    return secure, DeviceSmsSecurity(secure, directory / "oscore" if directory else None)


async def run(args: argparse.Namespace) -> int:
    from ..errors import Lwm2mSmsError
    from ..gateway import start_device
    from ..lwm2m.client import BootstrapSchedule
    from ..lwm2m.exceptions import ConfigError

    def fail(text: str, code: int = 2) -> int:
        print(f"lwm2m-sms: error: client: {text}", file=sys.stderr)
        return code

    try:
        _check(args)
        if args.lean:
            from . import client_lean

            client_lean.check(args)
        sms_security = _load_security(args.sms_security) if args.sms_security else None
        if (sms_security is not None or args.security_state) and not (args.smpp or args.modem):
            raise OptionError("--sms-security and --security-state need an SMS bearer (--smpp or --modem)")
        own = args.msisdn or args.sms
        numbers: list[Optional[str]] = list(_numbers(own, args.count)) if own else [None] * args.count
    except (OptionError, Lwm2mSmsError) as exc:
        return fail(str(exc))

    stop = stop_event()  # before anything is printed: a caller may signal right after
    if args.lean:
        from . import client_lean

        sms_numbers = [n for n in numbers if n is not None]
        return await client_lean.run(args, sms_numbers, _address_range(sms_numbers), stop, fail)
    closers: list[Any] = []
    bearers: list[Any] = [None] * args.count
    if args.smpp or args.modem:
        try:
            bearers = await _bearers(args, [n for n in numbers if n is not None], closers)
        except (Lwm2mSmsError, OSError, asyncio.TimeoutError) as exc:
            for close in reversed(closers):
                await close()
            return fail(f"SMS bearer ({bearer_name(args)}): {exc or type(exc).__name__}", 1)
    uses_udp = "U" in args.binding or any(
        (uri or "").lower().startswith("coap://") for uri in (args.server, args.bootstrap))
    devices = []
    try:
        for i in range(args.count):
            ep = args.ep if args.count == 1 else f"{args.ep}-{i + 1:04d}"
            extra: dict[str, Any] = {}
            if bearers[i] is None and numbers[i] is not None:
                extra["own_sms"] = numbers[i]  # a UDP device that names a number in sms=
            if args.count > 1:
                # a fleet that finds its bootstrap server down retries out of lockstep
                extra["bootstrap_schedule"] = BootstrapSchedule(jitter=0.5)
            bearer = bearers[i]
            if bearer is not None and (sms_security is not None or args.security_state):
                bearer, extra["on_sms_security"] = _secured(bearer, ep, args.security_state)
                closers.append(extra["on_sms_security"].release_async)
                if sms_security is not None and sms_security.keys is not None:
                    extra["sms_security"] = (int(sms_security.mode), sms_security.keys.key_parameters(),
                                             sms_security.keys.secret())
            devices.append(await start_device(
                ep, args.binding, server_uri=args.server, bootstrap_uri=args.bootstrap,
                server_msisdn=args.server_sms, bearer=bearer, udp=uses_udp, start=False,
                lifetime=args.lifetime, queue_window=args.queue_window, bootstrap_sms=args.bootstrap_sms,
                hold_off=args.hold_off, **extra,
            ))
    except (ConfigError, Lwm2mSmsError) as exc:
        for d in devices:
            await d.close(deregister=False)
        for close in reversed(closers):
            await close()
        return fail(str(exc))
    if bearers[0] is not None:
        print(f"{len(devices)} SMS device(s) from {numbers[0]} on {bearer_name(args)}", flush=True)
    # A start can take long (hold-off, bootstrap back-off): a signal meanwhile stops it.
    starts = [asyncio.ensure_future(d.client.start()) for d in devices]
    all_started: "asyncio.Future[list[Any]]" = asyncio.gather(*starts, return_exceptions=True)
    stopping: "asyncio.Future[Any]" = asyncio.ensure_future(stop.wait())
    await asyncio.wait([all_started, stopping], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not all_started.done():
        for task in starts:
            task.cancel()
    results = await all_started
    stopped = sum(isinstance(r, asyncio.CancelledError) for r in results)
    failed = [(d.client.endpoint, r) for d, r in zip(devices, results)
              if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
    for ep, error in failed[:10]:
        print(f"{ep}: registration failed: {error}", file=sys.stderr)
    print(f"{len(devices) - len(failed) - stopped} of {len(devices)} device(s) registered"
          + (f", {stopped} stopped before registering" if stopped else ""), flush=True)
    try:
        await asyncio.wait_for(stop.wait(), args.duration)
    except asyncio.TimeoutError:
        pass
    await asyncio.gather(*(d.close() for d in devices), return_exceptions=True)
    for close in reversed(closers):
        await close()
    print(f"{len(devices)} device(s) de-registered", flush=True)
    return 1 if failed else 0
