"""Command-line pieces more than one subcommand uses: HOST:PORT values, the SMPP link
options and the link and modem configurations built from them, and waiting for Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modems.driver import ModemConfig
    from smsc.link import SmppLinkConfig


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
    g.add_argument("--password", default="", help="SMPP password")
    g.add_argument("--system-type", default="", help="SMPP system_type")
    g.add_argument("--address-range", default=None,
                   help="SMPP address_range of the bind (default: the own MSISDN)")
    g.add_argument("--smpp-store", metavar="FILE",
                   help="SQLite outbox: SMS accepted while the link is down survive a restart")


def smpp_config(args: argparse.Namespace, msisdn: str) -> "SmppLinkConfig":
    """The SMPP link configuration from :func:`add_smpp_options`' options."""
    from smsc.link import SmppLinkConfig

    host, port = args.smpp
    return SmppLinkConfig(
        host=host, port=port, system_id=args.system_id, password=args.password,
        system_type=args.system_type, address_range=args.address_range or msisdn, store=args.smpp_store,
    )


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
