"""The SMS bearer of a command that runs on one (``client``, ``bootstrap``): the
``--smpp HOST:PORT --msisdn +N`` and ``--modem PORT`` options, their checks, and the
bearer they describe, started through :mod:`lwm2m_sms.gateway`."""

from __future__ import annotations

import argparse
from typing import Any, Optional

from .options import add_pin_options, add_smpp_options, sim_pin, smpp_password


class OptionError(Exception):
    """A command-line error: one line, exit status 2."""


def add_bearer_options(parser: argparse.ArgumentParser, msisdn_help: str) -> None:
    parser.add_argument("--msisdn", metavar="+N", help=msisdn_help)
    add_smpp_options(parser)  # with --password-file and $LWM2M_SMS_SMPP_PASSWORD
    g = parser.add_argument_group("GSM modem")
    g.add_argument("--modem", metavar="PORT", help="serial port of a GSM modem (or of the modem emulator)")
    add_pin_options(g)
    g.add_argument("--modem-profile", default=None, help="quirks profile (default: chosen by +CGMM)")


def check_bearer_options(args: argparse.Namespace) -> bool:
    """Whether the options ask for an SMS bearer; OptionError if they are inconsistent.
    Resolves the password (``--password-file``, ``--password``, the environment) into
    ``args.password`` and the PIN (``--pin-file``, ``--pin``, the environment) into ``args.pin``."""
    if args.smpp and args.modem:
        raise OptionError("give --smpp or --modem, not both")
    wanted = bool(args.smpp or args.modem)
    if wanted and not args.msisdn:
        raise OptionError("--msisdn (the own number) is needed with --smpp or --modem")
    try:
        args.password = smpp_password(args)
        args.pin = sim_pin(args)
    except ValueError as exc:
        raise OptionError(str(exc)) from None
    return wanted


def bearer_name(args: argparse.Namespace) -> str:
    return f"modem {args.modem}" if args.modem else f"SMSC {args.smpp[0]}:{args.smpp[1]}"


async def open_bearer(args: argparse.Namespace, msisdn: Optional[str], address_range: Optional[str] = None) -> Any:
    """The started bearer: the modem driver on ``--modem``, or an SMPP link bound for
    ``address_range`` (default ``--address-range``, else ``msisdn``)."""
    from ..gateway import modem_bearer, smpp_bearer

    if args.modem:
        return await modem_bearer(args.modem, msisdn, pin=args.pin, profile=args.modem_profile)
    host, port = args.smpp
    return await smpp_bearer(
        port, args.system_id, args.address_range or address_range or msisdn or "", msisdn,
        host=host, password=args.password, system_type=args.system_type, store=args.smpp_store,
        reconnect_min=0.2, reconnect_max=30.0,
    )
