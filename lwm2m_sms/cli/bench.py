"""``lwm2m-sms bench NAME``: benchmarks that print figures (no pass/fail on time).

Each benchmark is a module ``bench_NAME`` in this package with ``add_arguments(parser)`` and
``run(args) -> int``; its last printed line is a one-line summary (``NAME: ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect

BENCHES: dict[str, str] = {
    "codec": "TPDU encode/decode rates, 1-part and 4-part 8-bit messages",
    "coap": "GET over UDP loopback vs the SMS transport on the loopback bearer",
    "smpp": "submit_sm through the SMPP link to the simulated SMSC and back",
    "modem": "binary SMS through driver -> modem emulator -> simulated SMSC",
    "fleet": "register and read a fleet of S-binding devices through the SMSC",
    "clients": "many simulated LwM2M devices in one process: Register rate, memory per device",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, help_text in BENCHES.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(f"{__package__}.bench_{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.bench_{name}":
                raise
            p.set_defaults(_bench=None)
            continue
        mod.add_arguments(p)
        p.set_defaults(_bench=mod.run)


def run(args: argparse.Namespace) -> int:
    if args._bench is None:
        print(f"bench {args.bench}: not built yet")
        return 2
    fn = args._bench
    return int((asyncio.run(fn(args)) if inspect.iscoroutinefunction(fn) else fn(args)) or 0)
