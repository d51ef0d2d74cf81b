"""``lwm2m-sms bench NAME``: benchmarks that print figures (no pass/fail on time).

Each benchmark is a module ``bench_NAME`` in this package with ``add_arguments(parser)`` and
``run(args) -> int``; its last printed line is a one-line summary (``NAME: ...``).
"""

from __future__ import annotations

import argparse

BENCHES: dict[str, tuple[str, str]] = {
    "codec": ("bench_codec", "TPDU encode/decode rates, 1-part and 4-part 8-bit messages"),
    "coap": ("bench_coap", "GET over UDP vs coap+sms through SMPP links and the simulated SMSC (TCP loopback), sequential and 16 in flight"),
    "smpp": ("bench_smpp", "submit_sm through the SMPP link to the simulated SMSC and back"),
    "smsc": ("bench_smsc", "a flood of raw and smpplib submit_sm: what the simulated SMSC accepts and delivers per second"),
    "modem": ("bench_modem", "binary SMS through driver -> modem emulator -> simulated SMSC"),
    "fleet": ("bench_fleet", "a fleet of S devices registers and is read by SMS; the SMSC, each server node (--nodes) and the simulator in their own processes"),
    "api": ("bench_api", "reads through the HTTP API beside the same reads through the Python API, by SMS"),
    "clients": ("bench_clients", "many simulated LwM2M devices in one process: Register rate, memory per device"),
    "store": ("bench_store", "one store operation (Register write, queue, take, outbox) on SQLite or PostgreSQL"),
    "fleet-sync": ("bench_fleet_sync", "two nodes on PostgreSQL: how fast one takes in the other's registrations from hints, memory per copy"),
    "secure": ("bench_secure", "SMS per handshake and per read for NoSec, DTLS, secured packet and OSCORE"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from . import add_commands

    add_commands(parser.add_subparsers(dest="bench", metavar="NAME", required=True), BENCHES)


def run(args: argparse.Namespace) -> int:  # pragma: no cover - a NAME is required
    raise SystemExit("lwm2m-sms bench: name a benchmark")
