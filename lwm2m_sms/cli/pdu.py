"""``lwm2m-sms pdu``: decode and encode 3GPP TS 23.040 PDUs as AT+CMGS / +CMGR carry them.

``pdu decode HEX`` prints every field of an SMS-DELIVER, SMS-STATUS-REPORT or SMS-SUBMIT
(told apart by TP-MTI; ``--mo`` forces SMS-SUBMIT), as an aligned table or JSON.
``pdu encode`` builds the SMS-SUBMIT PDUs for a binary payload or a text, one per segment,
each after the ``AT+CMGS=<length>`` line a modem wants before it.

Bad input raises the project's DecodeError or EncodeError: ``lwm2m_sms.cli.main`` prints
it as one line on stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..sms.address import Address
    from ..sms.tpdu import Pdu
    from ..sms.udh import Ports

def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pdu_command", metavar="ACTION", required=True)
    dec = sub.add_parser(
        "decode",
        help="print every field of a PDU",
        description="Decode a PDU given in hex (as +CMGR/+CMGL/+CMT print it or AT+CMGS takes it).",
    )
    dec.add_argument("hex", metavar="HEX", help="the PDU in hex (spaces allowed)")
    dec.add_argument("--mo", action="store_true",
                     help="force reading it as an SMS-SUBMIT (default: the direction is read from TP-MTI)")
    dec.add_argument("--no-smsc", action="store_true", help="the PDU has no SMSC address octets in front")
    dec.add_argument("--json", action="store_true", help="print JSON instead of a table")

    enc = sub.add_parser(
        "encode",
        help="build SMS-SUBMIT PDUs for AT+CMGS",
        description="Build the SMS-SUBMIT PDUs (one per segment) that AT+CMGS sends.",
    )
    enc.add_argument("--to", required=True, metavar="MSISDN", help="destination: +E.164, national number, short code")
    enc.add_argument("--alphanumeric", action="store_true",
                     help="--to is an alphanumeric address (TON 5), not a number; without it, "
                          "anything but digits is refused")
    what = enc.add_mutually_exclusive_group(required=True)
    what.add_argument("--data-hex", metavar="HEX", help="binary payload in hex: 8-bit SMS (DCS 0x04)")
    what.add_argument("--text", metavar="TEXT", help="text: GSM 7-bit when it can be, else UCS2")
    enc.add_argument("--smsc", metavar="NUMBER", help="SMSC address to put in front (default: 00, the SIM's SMSC)")
    enc.add_argument("--no-smsc", action="store_true", help="no SMSC octets at all (for modems that want none)")
    enc.add_argument("--srr", action="store_true", help="request a status report (TP-SRR)")
    enc.add_argument("--ref16", action="store_true", help="16-bit concatenation reference (UDH IEI 0x08)")
    enc.add_argument("--ref", type=int, default=0, metavar="N", help="concatenation reference (default 0)")
    enc.add_argument("--mr", type=int, default=0, metavar="N", help="TP-MR message reference (default 0; most modems set their own)")
    enc.add_argument("--validity", type=int, metavar="MINUTES", help="relative validity period (rounded up to what TP-VP can say)")
    enc.add_argument("--port", metavar="DEST[:SRC]", help="16-bit application ports (UDH IEI 0x05); SRC defaults to DEST")


def run(args: argparse.Namespace) -> int:
    from ..errors import DecodeError, EncodeError, Lwm2mSmsError

    try:
        if args.pdu_command == "decode":
            return _decode(args)
        return _encode(args)
    except Lwm2mSmsError:
        raise
    except ValueError as exc:  # a value refused by a dataclass of the codec, e.g. a port
        raise (DecodeError if args.pdu_command == "decode" else EncodeError)(str(exc)) from exc


# -- decode ------------------------------------------------------------------------------------


def _hex(text: str, what: str) -> bytes:
    cleaned = "".join(text.split()).rstrip("\x1a").strip('"')
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise ValueError(f"{what} is not hex: {text[:40]!r}") from None


def _decode(args: argparse.Namespace) -> int:
    from ..errors import DecodeError
    from ..sms.tpdu import Direction, decode_pdu

    raw = _hex(args.hex, "PDU")
    # A modem's store holds both ways (stored SMS-SUBMITs too): TP-MTI says which it is.
    direction = Direction.MO if args.mo else Direction.AUTO
    pdu = decode_pdu(raw, direction=direction, with_smsc=not args.no_smsc)
    rows = describe(pdu)
    if args.json:
        print(json.dumps({key: value for key, _label, value, _text in rows}, indent=2, ensure_ascii=False))
    else:
        width = max(len(label) for _key, label, _value, _text in rows)
        for _key, label, _value, text in rows:
            print(f"{label:<{width}}  {text}")
    return 0


def _address(addr: "Address | None") -> tuple[dict[str, str] | None, str]:
    if addr is None:
        return None, "(none: the SIM's SMSC)"
    return (
        {"address": str(addr), "ton": addr.ton.name.lower(), "npi": addr.npi.name.lower()},
        f"{addr}  (TON {addr.ton.name.lower()}, NPI {addr.npi.name.lower()})",
    )


def _time(ts: datetime) -> tuple[str, str]:
    return ts.isoformat(), ts.isoformat(sep=" ")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def describe(pdu: "Pdu") -> list[tuple[str, str, object, str]]:
    """Rows of (JSON key, table label, JSON value, table text) for every field of ``pdu``."""
    from ..sms.tpdu import (
        Alphabet,
        SmsDeliver,
        SmsSubmit,
        alphabet_of,
        message_class,
        validity_period,
    )

    t = pdu.tpdu
    rows: list[tuple[str, str, object, str]] = []

    def row(key: str, label: str, value: Any, text: str | None = None) -> None:
        rows.append((key, label, value, str(value) if text is None else text))

    smsc, smsc_text = _address(pdu.smsc)
    row("smsc", "SMSC", smsc, smsc_text)
    kind = {SmsSubmit: "SMS-SUBMIT", SmsDeliver: "SMS-DELIVER"}.get(type(t), "SMS-STATUS-REPORT")
    row("type", "type", kind)
    row("tpdu_length", "TPDU length", pdu.tpdu_length, f"{pdu.tpdu_length} octets (AT+CMGS={pdu.tpdu_length})")
    if isinstance(t, SmsSubmit):
        row("message_ref", "TP-MR", t.message_ref)
        row("destination", "TP-DA", *_address(t.destination))
        row("reject_duplicates", "TP-RD", t.reject_duplicates, _yes(t.reject_duplicates))
        row("status_report_request", "TP-SRR", t.status_report_request, _yes(t.status_report_request))
        row("reply_path", "TP-RP", t.reply_path, _yes(t.reply_path))
        v = t.validity
        if v is None:
            row("validity", "TP-VP", None, "none")
        elif isinstance(v, datetime):
            iso, shown = _time(v)
            row("validity", "TP-VP", iso, f"absolute, until {shown}")
        elif isinstance(v, timedelta):
            row("validity", "TP-VP", v.total_seconds(), f"enhanced, {v}")
        else:
            row("validity", "TP-VP", v, f"relative {v:#04x} = {validity_period(v)}")
    elif isinstance(t, SmsDeliver):
        row("originator", "TP-OA", *_address(t.originator))
        row("more_messages_to_send", "TP-MMS", t.more_messages_to_send,
            "more messages waiting" if t.more_messages_to_send else "no more messages waiting")
        row("status_report_indication", "TP-SRI", t.status_report_indication, _yes(t.status_report_indication))
        row("reply_path", "TP-RP", t.reply_path, _yes(t.reply_path))
        row("timestamp", "TP-SCTS", *_time(t.timestamp))
    else:
        row("message_ref", "TP-MR", t.message_ref)
        row("recipient", "TP-RA", *_address(t.recipient))
        row("timestamp", "TP-SCTS", *_time(t.timestamp))
        row("discharge_time", "TP-DT", *_time(t.discharge_time))
        outcome = "delivered" if t.delivered else "pending" if t.temporary_failure else "failed"
        row("status", "TP-ST", t.status, f"{t.status:#04x} {outcome}: {t.status_text}")
        row("outcome", "outcome", outcome)
        return rows

    row("pid", "TP-PID", t.pid, f"{t.pid:#04x}")
    alphabet = alphabet_of(t.dcs)
    klass = message_class(t.dcs)
    names = {Alphabet.GSM7: "GSM 7-bit", Alphabet.DATA8: "8-bit data", Alphabet.UCS2: "UCS2"}
    row("dcs", "TP-DCS", t.dcs, f"{t.dcs:#04x} ({names[alphabet]}" + (f", class {klass})" if klass is not None else ")"))
    row("alphabet", "alphabet", alphabet.value)
    ud = t.user_data
    row("udhi", "TP-UDHI", ud.udh is not None, _yes(ud.udh is not None))
    if ud.udh is not None:
        ies = []
        texts = []
        for ie in ud.udh.elements:
            ies.append({"iei": ie.iei, "data": ie.data.hex()})
            texts.append(f"IEI {ie.iei:#04x} [{ie.data.hex()}]")
        row("udh", "UDH", ies, "; ".join(texts) or "(empty)")
        c = ud.concat
        if c is not None:
            row("concat", "concatenation",
                {"reference": c.reference, "total": c.total, "seq": c.seq, "ref16": c.ref16},
                f"part {c.seq} of {c.total}, reference {c.reference} ({16 if c.ref16 else 8}-bit)")
        p = ud.ports
        if p is not None:
            row("ports", "ports", {"destination": p.destination, "source": p.source},
                f"destination {p.destination}, source {p.source} ({16 if p.wide else 8}-bit)")
    unit = "septets" if alphabet is Alphabet.GSM7 else "octets"
    where = " after the UDH" if ud.udh is not None else ""
    row("data_length", "data length", len(ud.data), f"{len(ud.data)} {unit}{where}")
    row("data", "data (hex)", ud.data.hex(), ud.data.hex().upper() or "(empty)")
    if alphabet is not Alphabet.DATA8:
        row("text", "text", t.text, repr(t.text))
    return rows


# -- encode ------------------------------------------------------------------------------------


def _ports(spec: str) -> "Ports":
    from ..sms.udh import Ports

    dest, _, src = spec.partition(":")
    try:
        d = int(dest)
        s = int(src) if src else d
    except ValueError:
        raise ValueError(f"--port {spec!r}: expected DEST or DEST:SRC, numbers 0..65535") from None
    return Ports(d, s)


def _encode(args: argparse.Namespace) -> int:
    from ..errors import EncodeError
    from ..sms.address import Ton, parse_address
    from ..sms.segmentation import split, split_text
    from ..sms.tpdu import DCS_8BIT, SmsSubmit, encode_pdu, relative_validity, tpdu_length

    to = _destination(args.to, args.alphanumeric)
    smsc = parse_address(args.smsc) if args.smsc else None
    if smsc is not None and smsc.ton is Ton.ALPHANUMERIC:
        raise EncodeError(f"--smsc {args.smsc!r}: an SMSC address is a number")
    if smsc is not None and args.no_smsc:
        raise EncodeError("--smsc and --no-smsc contradict each other")
    ports = _ports(args.port) if args.port else None
    validity = None
    if args.validity is not None:
        if args.validity <= 0:
            raise EncodeError(f"--validity {args.validity}: must be a positive number of minutes")
        validity = relative_validity(timedelta(minutes=args.validity))
    if args.data_hex is not None:
        dcs, parts = DCS_8BIT, split(_hex(args.data_hex, "--data-hex"), args.ref, ports=ports, ref16=args.ref16)
    else:
        dcs, parts = split_text(args.text, args.ref, ports=ports, ref16=args.ref16)
    for ud in parts:
        tpdu = SmsSubmit(to, ud, dcs, message_ref=args.mr, status_report_request=args.srr, validity=validity)
        raw = encode_pdu(tpdu, smsc=smsc, with_smsc=not args.no_smsc)
        print(f"AT+CMGS={tpdu_length(raw, with_smsc=not args.no_smsc)}")
        print(raw.hex().upper())
    return 0


def _destination(text: str, alphanumeric: bool) -> "Address":
    """TP-DA from ``--to``: a number unless ``--alphanumeric`` says otherwise, so that a typo
    (the letter O for a zero) is refused instead of becoming an alphanumeric address."""
    from ..errors import EncodeError
    from ..sms.address import Address, Npi, Ton, parse_address

    if alphanumeric:
        return Address(text, Ton.ALPHANUMERIC, Npi.UNKNOWN)
    to = parse_address(text)
    if to.ton is Ton.ALPHANUMERIC:
        raise EncodeError(
            f"--to {text!r} is not a phone number (characters other than digits); "
            "add --alphanumeric if it is meant as an alphanumeric address"
        )
    return to
