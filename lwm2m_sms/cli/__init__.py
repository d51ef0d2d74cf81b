"""The ``lwm2m-sms`` command line: the one place that composes bearers, transport and LwM2M.

Each subcommand lives in its own module of this package with ``add_arguments(parser)`` and
``run(args) -> int`` (a coroutine function is run with asyncio). Those modules import their
heavy dependencies (aiocoap, smpplib, serial) inside ``run``, so building the parser is cheap.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sys

# subcommand -> (module in this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "pdu": ("pdu", "encode and decode 3GPP TS 23.040 SMS PDUs"),
    "smsc": ("smsc", "run the simulated SMSC (SMPP 3.4 server)"),
    "modem-emulator": ("modem_emulator", "run an AT modem emulator on a pty"),
    "modem-info": ("modem_info", "identify a GSM modem and print its state"),
    "server": ("server", "run the LwM2M server (UDP, plus SMS over SMPP or a modem)"),
    "client": ("client", "run simulated LwM2M clients"),
    "bootstrap": ("bootstrap", "a bootstrap server: serve requests, or push a bootstrap to a device"),
    "demo": ("demo", "every binding end to end on loopback, with a table"),
    "bench": ("bench", "benchmarks that print figures"),
}


def add_commands(sub: "argparse._SubParsersAction", commands: dict[str, tuple[str, str]]) -> None:
    """One sub-parser per entry of ``commands`` (name -> (module of this package, help)); the
    module's ``run`` becomes the parsed arguments' ``_run`` (nested tables, as ``bench``
    has, override their parent's)."""
    for name, (module, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"{__name__}.{module}")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lwm2m-sms", description="CoAP over SMS and the LwM2M 1.0.2 SMS bindings: gateway, simulators, benchmarks."
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    add_commands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True), COMMANDS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run = args._run
    try:
        result = asyncio.run(run(args)) if inspect.iscoroutinefunction(run) else run(args)
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
