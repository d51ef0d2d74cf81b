"""What ``lwm2m-sms modem-info`` shows: a modem's identity and state, read with plain AT.

:func:`query_info` runs the read-only queries (+CGMI, +CGMM, +CGMR, +CGSN, +CIMI, +CSQ,
+CREG?, +COPS?, +CSCA?, +CPMS?) on an open :class:`~modems.channel.AtChannel`; a query the
modem refuses shows its error instead of a value, so a locked SIM or a modem without LTE
still gives a useful table. :func:`csq_to_dbm` converts 27.007 +CSQ <rssi> to dBm.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .at import split_args
from lwm2m_sms.errors import BearerError

from .channel import AtChannel

__all__ = ["ModemInfo", "query_info", "csq_to_dbm", "format_table"]

_CREG = {0: "not registered", 1: "home network", 2: "searching", 3: "denied", 4: "unknown", 5: "roaming"}


def csq_to_dbm(rssi: int) -> int | None:
    """27.007 8.5: 0 is -113 dBm or less, 1 is -111, 2..30 are -109..-53 in 2 dB steps, 31 is
    -51 or more, 99 unknown (None)."""
    if rssi == 99 or not 0 <= rssi <= 31:
        return None
    return -113 + 2 * rssi


@dataclass
class ModemInfo:
    port: str
    manufacturer: str = ""
    model: str = ""
    revision: str = ""
    imei: str = ""
    imsi: str = ""
    signal: str = ""
    registration: str = ""
    operator: str = ""
    smsc: str = ""
    storage: str = ""


async def _value(ch: AtChannel, command: str, prefix: str | None) -> tuple[str, list[str]]:
    try:
        resp = await ch.command(command, check=False)
    except BearerError as exc:
        return f"({exc})", []
    if resp.final is None or not resp.final.ok:
        return f"({resp.final})", []
    for info in resp.lines:
        if prefix and info.line.upper().startswith(prefix):
            return info.args, split_args(info.args)
        if not prefix and info.line.strip():
            text = info.line.strip()
            if text.upper().startswith("REVISION:"):
                text = text.split(":", 1)[1].strip()
            return text, [text]
    return "", []


async def query_info(ch: AtChannel) -> ModemInfo:
    info = ModemInfo(ch.port)
    info.manufacturer, _ = await _value(ch, "AT+CGMI", None)
    info.model, _ = await _value(ch, "AT+CGMM", None)
    info.revision, _ = await _value(ch, "AT+CGMR", None)
    info.imei, _ = await _value(ch, "AT+CGSN", None)
    info.imsi, _ = await _value(ch, "AT+CIMI", None)
    raw, args = await _value(ch, "AT+CSQ", "+CSQ")
    if args and args[0].isascii() and args[0].isdigit():
        dbm = csq_to_dbm(int(args[0]))
        info.signal = f"{dbm} dBm (+CSQ {args[0]})" if dbm is not None else "unknown (+CSQ 99)"
    else:
        info.signal = raw
    raw, args = await _value(ch, "AT+CREG?", "+CREG")
    if len(args) >= 2 and args[1].isascii() and args[1].isdigit():
        info.registration = f"{_CREG.get(int(args[1]), '?')} (+CREG stat {args[1]})"
    else:
        info.registration = raw
    raw, args = await _value(ch, "AT+COPS?", "+COPS")
    info.operator = args[2] if len(args) >= 3 else ("none" if args else raw)
    raw, args = await _value(ch, "AT+CSCA?", "+CSCA")
    info.smsc = args[0] if args else raw
    raw, args = await _value(ch, "AT+CPMS?", "+CPMS")
    if len(args) >= 3:
        info.storage = f"{args[0]} {args[1]}/{args[2]} used"
    else:
        info.storage = raw
    return info


def format_table(info: ModemInfo) -> str:
    rows = [(f.name, str(getattr(info, f.name)) or "-") for f in fields(info)]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)
