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
PIN_ENV = "LWM2M_SMS_PIN"
_background: set["asyncio.Task[None]"] = set()  # tasks kept alive until they end


def hostport(text: str) -> tuple[str, int]:
    """argparse type for ``HOST:PORT`` (``[::1]:5683`` too; an empty host is 127.0.0.1)."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_smpp_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("SMPP link")
    g.add_argument("--smpp", type=hostport, metavar="HOST:PORT", help="SMSC to bind to (SMPP 3.4)")
    g.add_argument("--system-id", default="lwm2m-sms", help="SMPP system_id (default lwm2m-sms)")
    add_password_options(g)
    g.add_argument("--system-type", default="", help="SMPP system_type")
    g.add_argument("--address-range", default=None,
                   help="SMPP address_range of the bind (default: the own MSISDN)")
    g.add_argument("--smpp-store", metavar="FILE",
                   help="SQLite outbox: SMS accepted while the link is down survive a restart")
    g.add_argument("--smpp-wait", type=float, default=None, metavar="S",
                   help="exit 1 if the link is not bound within S seconds (default: keep trying)")


def add_password_options(group: "argparse._ActionsContainer") -> None:
    """``--password`` and ``--password-file`` of an SMPP bind (read by :func:`smpp_password`)."""
    group.add_argument("--password", default=None,
                       help=f"SMPP password (visible in the process list: prefer --password-file or ${PASSWORD_ENV})")
    group.add_argument("--password-file", metavar="FILE", help="read the SMPP password from the first line of FILE")


def add_pin_options(group: "argparse._ActionsContainer", help: str = "SIM PIN") -> None:
    """``--pin`` and ``--pin-file`` of a modem's SIM (read by :func:`sim_pin`)."""
    group.add_argument("--pin", default=None,
                       help=f"{help} (never logged; visible in the process list: prefer --pin-file or ${PIN_ENV})")
    group.add_argument("--pin-file", metavar="FILE", help="read the SIM PIN from the first line of FILE")


def _secret(value: str | None, file: str | None, file_option: str, env: str) -> str | None:
    """``file``'s first line, else ``value``, else the environment variable ``env``, else
    None. Raises ValueError (one line, without the secret) for an unreadable file."""
    if file:
        try:
            with open(file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"{file_option} {file}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValueError(f"{file_option} {file}: not UTF-8 text") from None
    if value is not None:
        return str(value)
    return os.environ.get(env)


def smpp_password(args: argparse.Namespace) -> str:
    """The SMPP password: ``--password-file``, else ``--password``, else $LWM2M_SMS_SMPP_PASSWORD,
    else empty. Raises ValueError (one line, without the secret) for an unreadable file."""
    return _secret(args.password, args.password_file, "--password-file", PASSWORD_ENV) or ""


def sim_pin(args: argparse.Namespace) -> str | None:
    """The SIM PIN: ``--pin-file``, else ``--pin``, else $LWM2M_SMS_PIN, else None. Raises
    ValueError (one line, without the PIN) for an unreadable file."""
    return _secret(args.pin, args.pin_file, "--pin-file", PIN_ENV) or None


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
    """The modem configuration from ``--modem``, ``--pin``/``--pin-file``/$LWM2M_SMS_PIN,
    ``--modem-profile`` (ValueError for an unreadable PIN file)."""
    from modems.driver import ModemConfig

    return ModemConfig(args.modem, pin=sim_pin(args), profile=args.modem_profile)


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
