"""``lwm2m-sms modem-info --port /dev/ttyUSB0``: identify a GSM modem and print its state
(model, IMEI, IMSI, signal in dBm, registration, operator, SMSC number, storage use)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the modem's AT interface (or an emulator's pty)")
    parser.add_argument("--baudrate", type=int, default=115200)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per AT command")
    parser.add_argument("--pin", default=None, help="unlock the SIM with this PIN if it asks (never printed)")


async def run(args: argparse.Namespace) -> int:
    from lwm2m_sms.errors import BearerError
    from modems.channel import AtChannel
    from modems.info import format_table, query_info

    ch = AtChannel(args.port, baudrate=args.baudrate, default_timeout=args.timeout)
    try:
        await ch.open()
        await ch.command("AT", timeout=3.0)
        await ch.command("ATE0", check=False)
        await ch.command("AT+CMEE=1", check=False)
        if args.pin:
            state = (await ch.command("AT+CPIN?", check=False)).args("+CPIN") or ""
            if state.upper() == "SIM PIN":
                await ch.command(f'AT+CPIN="{args.pin}"', timeout=15.0, log_as="AT+CPIN=<hidden>")
        info = await query_info(ch)
    except BearerError as exc:
        print(f"modem-info: {exc}", file=sys.stderr)
        return 1
    finally:
        await ch.close()
    print(format_table(info))
    return 0
