"""Delivery receipts (SMPP 3.4 Appendix B): the receipt text and its parse, sans-IO.

An SMSC reports the fate of a message whose submit_sm asked for it (registered_delivery bit
0) with a deliver_sm whose esm_class has type 0x04, short_message the de facto text format
``id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD
err:E text:...`` and, in SMPP 3.4, the TLVs receipted_message_id and message_state. Real
SMSCs differ (some omit the TLVs, some write ids in hex, some in decimal, some pad them),
so :func:`parse_receipt` prefers the TLVs and falls back to the text, and accepts the
fields in any order and case.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from . import pdu as P

__all__ = ["Receipt", "receipt_text", "parse_receipt", "STATS"]

# stat: values (Appendix B) -> message_state
STATS = {
    "DELIVRD": P.STATE_DELIVERED,
    "EXPIRED": P.STATE_EXPIRED,
    "DELETED": P.STATE_DELETED,
    "UNDELIV": P.STATE_UNDELIVERABLE,
    "ACCEPTD": P.STATE_ACCEPTED,
    "UNKNOWN": P.STATE_UNKNOWN,
    "REJECTD": P.STATE_REJECTED,
}
_STAT_BY_STATE = {v: k for k, v in STATS.items()}

_FIELD = re.compile(r"(id|stat|err|sub|dlvrd):\s*(\S*)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Receipt:
    message_id: str
    stat: str  # DELIVRD, UNDELIV, EXPIRED, ...
    error: str = "000"

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"

    @property
    def final(self) -> bool:
        return self.stat not in ("ACCEPTD", "ENROUTE")


def receipt_text(message_id: str, stat: str, *, submitted: float, done: float, error: int = 0) -> bytes:
    fmt = "%y%m%d%H%M"
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{time.strftime(fmt, time.gmtime(submitted))}"
        f" done date:{time.strftime(fmt, time.gmtime(done))} stat:{stat} err:{error:03d} text:"
    ).encode("ascii")


def receipt_tlvs(message_id: str, stat: str) -> list[tuple[int, bytes]]:
    return [
        P.tlv_cstr(P.TLV_RECEIPTED_MESSAGE_ID, message_id),
        P.tlv_u8(P.TLV_MESSAGE_STATE, STATS.get(stat, P.STATE_UNKNOWN)),
    ]


def is_receipt(sm: P.ShortMessage) -> bool:
    return (sm.esm_class & P.ESM_TYPE_MASK) == P.ESM_DELIVERY_RECEIPT


def parse_receipt(sm: P.ShortMessage) -> Receipt | None:
    """The receipt a deliver_sm carries, or None if it names no message id."""
    fields = {k.lower(): v for k, v in _FIELD.findall(sm.short_message.decode("latin-1"))}
    mid_tlv = sm.tlv(P.TLV_RECEIPTED_MESSAGE_ID)
    message_id = mid_tlv.rstrip(b"\0").decode("latin-1") if mid_tlv else fields.get("id", "")
    if not message_id:
        return None
    state = sm.tlv_int(P.TLV_MESSAGE_STATE)
    stat = fields.get("stat", "").upper()
    if state is not None and state in _STAT_BY_STATE:
        stat = _STAT_BY_STATE[state]
    return Receipt(message_id, stat or "UNKNOWN", fields.get("err", "000"))
