"""``lwm2m-sms bench codec``: TPDU encode and decode rates for 8-bit messages.

Measures the two hot paths of a modem bearer on one core: the send path (segment a payload,
build SMS-SUBMITs, encode them with the SMSC octet as AT+CMGS takes them) and the receive path
(decode SMS-DELIVERs as +CMT/+CMGR give them and feed the reassembler). Each figure runs for
``--seconds`` seconds. Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=1.0, metavar="S", help="time per figure (default 1.0)")


def _rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls of ``fn`` per second over about ``seconds`` seconds."""
    fn()  # warm caches (address field cache, timezone objects)
    calls = 0
    batch = 50
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            fn()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return calls / (now - start)


def run(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from ..sms.address import parse_msisdn
    from ..sms.reassembly import Reassembled, Reassembler
    from ..sms.segmentation import split
    from ..sms.tpdu import DCS_8BIT, Direction, SmsDeliver, SmsSubmit, decode_pdu, encode_pdu
    from .table import format_table

    if args.seconds <= 0:
        print("bench codec: --seconds must be positive")
        return 2
    peer = parse_msisdn("+4915123456789")
    smsc = parse_msisdn("+4917200000")
    ts = datetime(2024, 5, 17, 10, 30, 5, tzinfo=timezone.utc)
    rows = []
    for label, size in (("1-part", 100), ("4-part", 500)):
        payload = bytes(i & 0xFF for i in range(size))
        parts = split(payload, 7)
        n = len(parts)

        def encode(payload: bytes = payload) -> list[bytes]:
            return [encode_pdu(SmsSubmit(peer, ud, DCS_8BIT), smsc=smsc) for ud in split(payload, 7)]

        delivers = [encode_pdu(SmsDeliver(peer, ud, DCS_8BIT, ts), smsc=smsc) for ud in parts]
        reassembler = Reassembler()
        clock = iter(range(1 << 62))

        def decode(delivers: list[bytes] = delivers) -> Reassembled:
            now = next(clock)
            whole = None
            for raw in delivers:
                t = decode_pdu(raw, direction=Direction.MT).tpdu
                assert isinstance(t, SmsDeliver)
                whole = reassembler.feed(str(t.originator), t.user_data, now)
            assert whole is not None and len(whole.payload) == size
            return whole

        enc = _rate(encode, args.seconds)
        dec = _rate(decode, args.seconds)
        rows.append((f"{label} ({size} octets)", n, enc * n, dec * n, enc, dec))

    print(f"TPDU codec, 8-bit data, one core, {args.seconds:g} s per figure")
    print("encode = split + SMS-SUBMIT + PDU with SMSC; decode = SMS-DELIVER PDU + reassembly")
    header = ("message", "parts", "encode PDUs/s", "decode PDUs/s", "encode msgs/s", "decode msgs/s")
    print(format_table(header, [
        (label, str(n), f"{e:,.0f}", f"{d:,.0f}", f"{em:,.0f}", f"{dm:,.0f}")
        for label, n, e, d, em, dm in rows
    ]))
    _, _, enc1, dec1, _, _ = rows[0]
    print(f"codec: {enc1:.0f} encode PDUs/s, {dec1:.0f} decode PDUs/s (1-part)")
    return 0
