"""``lwm2m-sms modem-info --port /dev/ttyUSB0``: identify a GSM modem and print its state
(model, IMEI, IMSI, signal in dBm, registration, operator, SMSC number, storage use)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modems.channel import AtChannel


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the modem's AT interface (or an emulator's pty)")
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per AT command")
    parser.add_argument("--pin", default=None, help="unlock the SIM with this PIN if it asks (never printed)")


async def run(args: argparse.Namespace) -> int:
    from modems.channel import AtChannel
    from modems.info import format_table, query_info

    ch = AtChannel(args.port, baudrate=args.baudrate, default_timeout=args.timeout)
    try:
        await ch.open()
        await ch.command("AT", timeout=3.0)
        await ch.command("ATE0", check=False)
        await ch.command("AT+CMEE=1", check=False)
        await _unlock(ch, args.pin)
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
        raise BearerError(f"{ch.port}: the SIM wants its PIN (+CPIN: SIM PIN): give --pin")
    raise BearerError(f"{ch.port}: the SIM is locked (+CPIN: {state}); unlock it in a phone first")
