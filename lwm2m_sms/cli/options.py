"""Command-line pieces more than one subcommand uses: HOST:PORT values, the SMPP link
options and the link and modem configurations built from them, and waiting for Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modems.driver import ModemConfig
    from smsc.link import SmppLinkConfig

PASSWORD_ENV = "LWM2M_SMS_SMPP_PASSWORD"
_background: set["asyncio.Task[None]"] = set()  # tasks kept alive until they end


def hostport(text: str) -> tuple[str, int]:
    """argparse type for ``HOST:PORT`` (``[::1]:5683`` too; an empty host is 127.0.0.1)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_smpp_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("SMPP link")
    g.add_argument("--smpp", type=hostport, metavar="HOST:PORT", help="SMSC to bind to (SMPP 3.4)")
    g.add_argument("--system-id", default="lwm2m-sms", help="SMPP system_id (default lwm2m-sms)")
    g.add_argument("--password", default=None,
                   help=f"SMPP password (visible in the process list: prefer --password-file or ${PASSWORD_ENV})")
    g.add_argument("--password-file", metavar="FILE", help="read the SMPP password from the first line of FILE")
    g.add_argument("--system-type", default="", help="SMPP system_type")
    g.add_argument("--address-range", default=None,
                   help="SMPP address_range of the bind (default: the own MSISDN)")
    g.add_argument("--smpp-store", metavar="FILE",
                   help="SQLite outbox: SMS accepted while the link is down survive a restart")
    g.add_argument("--smpp-wait", type=float, default=None, metavar="S",
                   help="exit 1 if the link is not bound within S seconds (default: keep trying)")


def smpp_password(args: argparse.Namespace) -> str:
    """The SMPP password: ``--password-file``, else ``--password``, else the environment.
    Raises ValueError (one line, without the secret) for an unreadable file."""
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"--password-file {args.password_file}: {exc.strerror}") from None
    if args.password is not None:
        return str(args.password)
    return os.environ.get(PASSWORD_ENV, "")


def smpp_config(args: argparse.Namespace, msisdn: str) -> "SmppLinkConfig":
    """The SMPP link configuration from :func:`add_smpp_options`' options (ValueError for an
    unreadable password file)."""
    from smsc.link import SmppLinkConfig

    host, port = args.smpp
    return SmppLinkConfig(
        host=host, port=port, system_id=args.system_id, password=smpp_password(args),
        system_type=args.system_type, address_range=args.address_range or msisdn, store=args.smpp_store,
    )


async def wait_for_smsc(link: Any, args: argparse.Namespace) -> str | None:
    """Until the started link is bound, say so on one line (address and reason); with
    ``--smpp-wait`` give up after that many seconds. Returns an error line, or None."""
    host, port = args.smpp
    if link.bound:
        return None
    print(f"waiting for SMSC {host}:{port}: {link.status}", file=sys.stderr, flush=True)
    if args.smpp_wait is None:
        async def say_when_bound() -> None:
            await link.wait_bound()
            print(f"SMPP link to {host}:{port} bound", file=sys.stderr, flush=True)

        _background.add(task := asyncio.get_running_loop().create_task(say_when_bound()))
        task.add_done_callback(_background.discard)
        return None
    try:
        await link.wait_bound(args.smpp_wait)
    except asyncio.TimeoutError:
        return f"not bound within {args.smpp_wait:g} s: {link.status}"
    return None


def modem_config(args: argparse.Namespace) -> "ModemConfig":
    """The modem configuration from ``--modem``, ``--pin``, ``--modem-profile``."""
    from modems.driver import ModemConfig

    return ModemConfig(args.modem, pin=args.pin, profile=args.modem_profile)


def stop_event() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets (for loops that do work while they wait)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    return stop


async def until_stopped() -> None:
    """Return on SIGINT or SIGTERM."""
    await stop_event().wait()
