"""``lwm2m-sms modem-emulator --msisdn +N --smsc HOST:PORT``: an AT modem on a pty whose
network side is an SMPP bind to the (simulated) SMSC for its MSISDN.

Prints the port path (a stable symlink to the current pty) and runs until stopped (Ctrl-C or
SIGTERM). Open the path with any modem software (``lwm2m-sms modem-info --port PATH``).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from .options import add_password_options, hostport, smpp_password, until_stopped


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--msisdn", required=True, help="the emulated SIM's number, e.g. +15550001111")
    parser.add_argument("--smsc", type=hostport, metavar="HOST:PORT", help="SMPP server for the network side (without it every send fails: no network)")
    parser.add_argument("--system-id", default=None, help="SMPP system_id (default: modem<last 6 digits>)")
    add_password_options(parser)
    parser.add_argument("--link", default=None, help="path of the port symlink (default: a temporary directory)")
    parser.add_argument("--pin", default=None, help="require this SIM PIN (+CPIN)")
    parser.add_argument("--manufacturer", default="Quectel")
    parser.add_argument("--model", default="EC25", help="+CGMM answer; drivers choose quirks by it")
    parser.add_argument("--sim-capacity", type=int, default=30, help="SIM message store size")
    parser.add_argument("--no-cmt", action="store_true", help="refuse +CNMI mt=2 (+CMT/+CNMA), as some modems do")
    parser.add_argument("--prompt-no-space", action="store_true", help="send '>' without the space after +CMGS")
    parser.add_argument("--registration-delay", type=float, default=0.0, help="seconds of 'searching' before registering")


async def run(args: argparse.Namespace) -> int:
    from lwm2m_sms.sms.address import parse_msisdn
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore, Identity, Quirks

    parse_msisdn(args.msisdn)  # a malformed number: AddressError, one line from main
    if args.link is not None:
        parent = os.path.dirname(os.path.abspath(args.link))
        if not os.path.isdir(parent):
            raise FileNotFoundError(errno.ENOENT, f"directory {parent} does not exist", args.link)
    try:
        password = smpp_password(args)
    except ValueError as exc:  # an unreadable --password-file
        print(f"lwm2m-sms modem-emulator: {exc}", file=sys.stderr)
        return 2
    link = None
    if args.smsc:
        from smsc.link import SmppBearer, SmppLinkConfig

        host, port = args.smsc
        digits = args.msisdn.lstrip("+")
        link = SmppBearer(
            SmppLinkConfig(
                host=host, port=port, system_id=args.system_id or f"modem{digits[-6:]}",
                password=password, address_range=args.msisdn,
            ),
            args.msisdn,
        )
        await link.start()
    core = EmulatorCore(
        args.msisdn,
        identity=Identity(manufacturer=args.manufacturer, model=args.model),
        quirks=Quirks(prompt=b">" if args.prompt_no_space else b"> ", supports_cmt=not args.no_cmt),
        pin=args.pin,
        sim_capacity=args.sim_capacity,
        registered=True,
    )
    emu = ModemEmulator(core, link, link_path=args.link, registration_delay=args.registration_delay)
    await emu.start()
    print(emu.path, flush=True)
    print(f"modem emulator for {args.msisdn} on {emu.path} -> {emu.pty_name}"
          f"{f', network: SMPP {args.smsc[0]}:{args.smsc[1]}' if args.smsc else ', no network'}",
          file=sys.stderr, flush=True)
    try:
        await until_stopped()
    finally:
        await emu.close()
        if link is not None:
            await link.close()
    return 0
