"""A received deliver_sm or data_sm as the SMS core's values (sans-IO): sender and recipient
as :class:`~lwm2m_sms.sms.address.Address`, the user data with its UDH, concatenation from
the UDH or from SAR TLVs, ports from the UDH or from TLVs, data in short_message or
message_payload."""

from __future__ import annotations

from dataclasses import dataclass

from lwm2m_sms.bearer import DCS_8BIT
from lwm2m_sms.errors import AddressError
from lwm2m_sms.sms.address import Address, Npi, Ton, parse_address
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.udh import Concat, Ports, Udh

from . import pdu as P

__all__ = ["MoMessage", "decode_mo", "smpp_address"]


@dataclass(frozen=True, slots=True)
class MoMessage:
    sender: Address
    recipient: Address | None
    user_data: UserData
    dcs: int  # the TP-DCS to hand up: 8-bit data for SMPP data_coding 2 and 4


def smpp_address(ton: int, npi: int, value: str, *, unknown_ton_international: bool = False) -> Address:
    """An SMPP address as our Address. With ``unknown_ton_international``, TON 0 digits of
    E.164 length (9 to 15) count as international, as many SMSCs send MO numbers. Raises
    :class:`~lwm2m_sms.errors.AddressError`."""
    if ton == Ton.INTERNATIONAL or value.startswith("+"):
        return Address(value.lstrip("+"), Ton.INTERNATIONAL, Npi.ISDN)
    if ton == Ton.UNKNOWN and unknown_ton_international and value.isascii() and value.isdigit() and 9 <= len(value) <= 15:
        return Address(value, Ton.INTERNATIONAL, Npi.ISDN)
    if ton in (0, 2, 3, 4, 5, 6):
        try:
            return Address(value, Ton(ton), Npi(npi) if npi in Npi._value2member_map_ else Npi.UNKNOWN)
        except AddressError:
            pass
    return parse_address(value)


def decode_mo(sm: P.ShortMessage, *, unknown_ton_international: bool = False) -> MoMessage:
    """Raises :class:`~lwm2m_sms.errors.DecodeError` (or EncodeError for a UDH that cannot be
    rebuilt) for what cannot be read; a retry would fail the same way."""
    sender = smpp_address(sm.source_addr_ton, sm.source_addr_npi, sm.source_addr,
                          unknown_ton_international=unknown_ton_international)
    recipient = smpp_address(sm.dest_addr_ton, sm.dest_addr_npi, sm.destination_addr,
                             unknown_ton_international=unknown_ton_international) if sm.destination_addr else None
    payload = sm.tlv(P.TLV_MESSAGE_PAYLOAD) if sm.tlvs else None
    data = payload if payload is not None else sm.short_message
    ud = UserData.decode(data, bool(sm.esm_class & P.ESM_UDHI))
    if sm.tlvs and ud.concat is None:
        ref = sm.tlv_int(P.TLV_SAR_MSG_REF_NUM)
        total = sm.tlv_int(P.TLV_SAR_TOTAL_SEGMENTS)
        seq = sm.tlv_int(P.TLV_SAR_SEGMENT_SEQNUM)
        if ref is not None and total and seq and seq <= total:
            extra = ud.udh.elements if ud.udh is not None else ()
            ud = UserData(ud.data, Udh((Concat(ref & 0xFFFF, total, seq, True).to_ie(), *extra)))
    if sm.tlvs and ud.ports is None:
        dest, src = sm.tlv_int(P.TLV_DESTINATION_PORT), sm.tlv_int(P.TLV_SOURCE_PORT)
        if dest is not None and src is not None:  # ports as TLVs (message_payload, SAR)
            extra = ud.udh.elements if ud.udh is not None else ()
            ud = UserData(ud.data, Udh((*extra, Ports(dest, src).to_ie())))
    # SMPP data_coding 2 (octet unspecified) and 4 are binary; others name text alphabets.
    dcs = DCS_8BIT if sm.data_coding in (2, 4) else sm.data_coding
    return MoMessage(sender, recipient, ud, dcs)
