"""``lwm2m-sms modem-info --port /dev/ttyUSB0``: identify a GSM modem and print its state
(model, IMEI, IMSI, signal in dBm, registration, operator, SMSC number, storage use)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .options import add_pin_options, sim_pin

if TYPE_CHECKING:
    from modems.channel import AtChannel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the modem's AT interface (or an emulator's pty)")
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per AT command")
    add_pin_options(parser, "unlock the SIM with this PIN if it asks")


async def run(args: argparse.Namespace) -> int:
    from modems.channel import AtChannel
    from modems.info import format_table, query_info

    try:
        pin = sim_pin(args)
    except ValueError as exc:  # an unreadable --pin-file
        print(f"lwm2m-sms modem-info: {exc}", file=sys.stderr)
        return 2
    ch = AtChannel(args.port, baudrate=args.baudrate, default_timeout=args.timeout)
    try:
        await ch.open()
        await ch.command("AT", timeout=3.0)
        await ch.command("ATE0", check=False)
        await ch.command("AT+CMEE=1", check=False)
        await _unlock(ch, pin)
        info = await query_info(ch)
    finally:
        await ch.close()
    print(format_table(info))
    return 0


async def _unlock(ch: "AtChannel", pin: str | None) -> None:
    """Enter ``pin`` if the SIM asks for it; a SIM that asks for a PIN nobody gave, or for
    its PUK, is an error (BearerError, one line from ``main``): every later query would only
    answer +CME ERROR: 11."""
    from lwm2m_sms.errors import BearerError

    response = await ch.command("AT+CPIN?", check=False)
    state = (response.args("+CPIN") or "").strip().strip('"').upper()
    if state in ("", "READY"):
        return  # READY, or a modem that does not answer +CPIN? (no SIM check possible)
    if state == "SIM PIN" and pin:
        await ch.command(f'AT+CPIN="{pin}"', timeout=15.0, log_as="AT+CPIN=<hidden>")
        return
    if state == "SIM PIN":
        raise BearerError(f"{ch.port}: the SIM wants its PIN (+CPIN: SIM PIN): give --pin-file (or --pin)")
    raise BearerError(f"{ch.port}: the SIM is locked (+CPIN: {state}); unlock it in a phone first")
