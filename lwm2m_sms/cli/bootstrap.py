"""``lwm2m-sms bootstrap``: a bootstrap server of its own, by UDP and SMS.

``bootstrap serve`` runs one for Client Initiated Bootstrap (Bootstrap-Requests by UDP,
and by SMS from the numbers the configuration lists per endpoint). ``bootstrap push EP``
runs a Server Initiated Bootstrap of one device, at ``--sms +N`` (sent from the bootstrap
server's own number, ``--msisdn`` on ``--smpp`` or ``--modem``) or ``--udp HOST:PORT``, prints
each step and exits 0 when the device took it, 1 when it did not answer or refused.
Built on :func:`lwm2m_sms.gateway.start_bootstrap_server`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .bearer_options import OptionError, add_bearer_options, bearer_name, check_bearer_options, open_bearer
from .options import hostport, stop_event


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bootstrap_command", metavar="ACTION", required=True)
    serve = sub.add_parser("serve", help="run a bootstrap server (client-initiated bootstrap by UDP and SMS)",
                           description="run a bootstrap server (client-initiated bootstrap by UDP and SMS)")
    serve.set_defaults(_run=run_serve)
    push = sub.add_parser("push", help="server-initiated bootstrap of one device, by SMS or UDP",
                          description="server-initiated bootstrap of one device, by SMS or UDP")
    push.set_defaults(_run=run_push)
    push.add_argument("endpoint", metavar="EP", help="endpoint name: its bootstrap information in --config")
    target = push.add_mutually_exclusive_group(required=True)
    target.add_argument("--sms", metavar="+N", help="the device's number (needs --smpp or --modem)")
    target.add_argument("--udp", dest="device_udp", type=hostport, metavar="HOST:PORT", help="the device's UDP address")
    push.add_argument("--timeout", type=float, default=120.0, metavar="S",
                      help="give up when a step gets no answer within S seconds (default 120)")
    for p in (serve, push):
        p.add_argument("--config", required=True, metavar="JSON", help="bootstrap information (docs/bootstrap.md)")
        p.add_argument("--listen", type=hostport, default=("127.0.0.1", 5783 if p is serve else 0),
                       metavar="HOST:PORT", help="UDP address of the bootstrap server"
                       + (" (default 127.0.0.1:5783)" if p is serve else " (default: any free port)"))
        add_bearer_options(p, "the bootstrap server's own SMS number on --smpp or --modem")


def run(args: argparse.Namespace) -> int:  # pragma: no cover - an ACTION is required
    raise SystemExit("lwm2m-sms bootstrap: name an action (serve, push)")


def _fail(text: str, code: int = 2) -> int:
    print(f"lwm2m-sms: error: bootstrap: {text}", file=sys.stderr)
    return code


async def _start(args: argparse.Namespace, *, step_timeout: float = 120.0) -> Any:
    """(bootstrap stack, its bearers) as the options describe, or an int exit status
    (the error printed)."""
    from ..errors import Lwm2mSmsError
    from ..gateway import start_bootstrap_server
    from ..lwm2m.bootstrap import BootstrapConfig
    from ..lwm2m.exceptions import ConfigError

    try:
        wants_sms = check_bearer_options(args)
        config = BootstrapConfig.load(args.config)
    except OptionError as exc:
        return _fail(str(exc))
    except (ConfigError, Lwm2mSmsError) as exc:
        return _fail(f"{args.config}: {exc}")
    except OSError as exc:
        return _fail(f"--config: {exc.strerror}: {args.config}")
    bearers = []
    if wants_sms:
        try:
            bearers.append(await open_bearer(args, args.msisdn))
        except (Lwm2mSmsError, OSError, TimeoutError) as exc:
            return _fail(f"SMS bearer ({bearer_name(args)}): {exc or type(exc).__name__}", 1)
    try:
        stack = await start_bootstrap_server(config, udp=args.listen, bearers=bearers, step_timeout=step_timeout)
    except OSError as exc:
        for b in bearers:
            await b.close()
        return _fail(f"cannot bind {args.listen[0]}:{args.listen[1]}: {exc.strerror}", 1)
    return stack, bearers


async def _close(started: Any) -> None:
    stack, bearers = started
    await stack.close()
    for b in bearers:
        await b.close()


async def run_serve(args: argparse.Namespace) -> int:
    stop = stop_event()  # before anything is printed: a caller may signal right after
    started = await _start(args)
    if isinstance(started, int):
        return started
    stack = started[0]

    def finished(session: Any) -> None:
        print(f"bootstrap ep={session.endpoint} ({session.initiated_by} initiated) {session.state}"
              + (f": {session.error}" if session.error else ""), flush=True)

    stack.server.on_finished.append(finished)
    print(f"bootstrap server on {stack.udp_uri}" + (f", SMS {stack.msisdn}" if stack.msisdn else ""), flush=True)
    try:
        await stop.wait()
    finally:
        s = stack.server.stats
        print(f"stopping: {s.succeeded} bootstrap(s) done, {s.failed} failed, {s.dropped_sms} SMS dropped", flush=True)
        await _close(started)
    return 0


async def run_push(args: argparse.Namespace) -> int:
    from ..errors import Lwm2mSmsError
    from ..lwm2m.exceptions import ConfigError
    from ..sms.address import parse_msisdn

    if args.sms and not (args.smpp or args.modem):
        return _fail("--sms needs an SMS bearer: --smpp HOST:PORT --msisdn +N, or --modem PORT")
    try:
        target = f"coap+sms://{parse_msisdn(args.sms)}" if args.sms else None
    except Lwm2mSmsError as exc:
        return _fail(f"--sms: {exc}")
    if target is None:
        host, port = args.device_udp
        target = f"coap://[{host}]:{port}" if ":" in host else f"coap://{host}:{port}"
    started = await _start(args, step_timeout=args.timeout)
    if isinstance(started, int):
        return started
    stack = started[0]
    try:
        session = await stack.server.push(args.endpoint, target)
    except ConfigError as exc:
        await _close(started)
        return _fail(str(exc))
    for step in session.steps:
        print(f"  {step.step:<12} {step.code or '-'}" + (f"  {step.error}" if step.error else ""), flush=True)
    print(f"bootstrap ep={args.endpoint} at {target}: {session.state}"
          + (f" ({session.error})" if session.error else ""), flush=True)
    await _close(started)
    return 0 if session.succeeded else 1
