"""The ``lwm2m-sms`` command line: the one place that composes bearers, transport and LwM2M.

Each subcommand lives in its own module of this package with ``add_arguments(parser)`` and
``run(args) -> int`` (a coroutine function is run with asyncio). Those modules import their
heavy dependencies (aiocoap, smpplib, serial) inside ``run``, so building the parser is cheap.

Errors: a subcommand raises the project's own errors (``lwm2m_sms.errors``), ``OSError`` or
``sqlite3.Error`` for anything the user can fix; :func:`main` turns each into one line on
stderr, ``lwm2m-sms: error: ...``, and exit status 1 (2 for bad input, as argparse uses for
bad options). A traceback is shown only with ``-vv``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import logging
import sqlite3
import sys
import traceback

# subcommand -> (module in this package, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "pdu": ("pdu", "encode and decode 3GPP TS 23.040 SMS PDUs"),
    "smsc": ("smsc", "run the simulated SMSC (SMPP 3.4 server)"),
    "modem-emulator": ("modem_emulator", "run an AT modem emulator on a pty"),
    "modem-info": ("modem_info", "identify a GSM modem and print its state"),
    "server": ("server", "run the LwM2M server (UDP, plus SMS over SMPP or a modem)"),
    "client": ("client", "run simulated LwM2M clients"),
    "device": ("device", "read, write, execute, observe devices through a server's HTTP API"),
    "bootstrap": ("bootstrap", "a bootstrap server: serve requests, or push a bootstrap to a device"),
    "demo": ("demo", "every binding end to end on loopback, with a table"),
    "bench": ("bench", "benchmarks that print figures"),
    "dead-letters": ("dead_letters", "list or export received SMS that could not be decoded"),
}


def add_commands(sub: "argparse._SubParsersAction[argparse.ArgumentParser]", commands: dict[str, tuple[str, str]]) -> None:
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


# argparse destinations of the options that name SQLite files, in any subcommand
SQLITE_OPTIONS = ("db", "local_db", "store", "smpp_store")


def error_line(exc: BaseException, args: argparse.Namespace | None = None) -> str:
    """The one line that names what went wrong (without the ``lwm2m-sms: error:`` prefix)."""
    from ..store import StoreError
    from ..store.postgres import redact

    if isinstance(exc, StoreError):
        # The store names itself (without a password); say which option gave it.
        options = [f"--{name.replace('_', '-')}" for name in SQLITE_OPTIONS
                   if isinstance(getattr(args, name, None), str)
                   and redact(getattr(args, name)) == exc.store]
        return f"{options[0]} {exc.store}: {exc.detail}" if options else str(exc)
    if isinstance(exc, sqlite3.Error):
        # sqlite3 does not say which file: name the SQLite options the command was given.
        given = [f"--{name.replace('_', '-')} {getattr(args, name)}" for name in SQLITE_OPTIONS
                 if isinstance(getattr(args, name, None), str)]
        return f"{', '.join(given) or 'database'}: {exc}"
    if isinstance(exc, OSError):
        if exc.filename is not None and exc.strerror:
            names = f"{exc.filename}" + (f" -> {exc.filename2}" if exc.filename2 is not None else "")
            return f"{names}: {exc.strerror}"
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


def exit_status(exc: BaseException) -> int:
    """2 for input the user gave that does not parse or encode (as argparse), else 1."""
    from ..errors import DecodeError, EncodeError

    return 2 if isinstance(exc, (DecodeError, EncodeError)) else 1


def main(argv: list[str] | None = None) -> int:
    from ..errors import Lwm2mSmsError

    parser = build_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)  # for options re-read with a config file
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run = args._run
    try:
        result = asyncio.run(run(args)) if inspect.iscoroutinefunction(run) else run(args)
    except KeyboardInterrupt:
        return 130
    except (Lwm2mSmsError, OSError, sqlite3.Error) as exc:
        if args.verbose >= 2:
            traceback.print_exc()
        print(f"lwm2m-sms: error: {error_line(exc, args)}", file=sys.stderr)
        return exit_status(exc)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
