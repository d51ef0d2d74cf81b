"""Delivery receipt text and its parse, as different SMSCs write it."""

from smsc import pdu as P
from smsc.receipt import is_receipt, parse_receipt, receipt_text, receipt_tlvs


def _dlr(text: bytes, tlvs=()):
    return P.ShortMessage(P.DELIVER_SM, esm_class=P.ESM_DELIVERY_RECEIPT, short_message=text, tlvs=list(tlvs))


def test_round_trip_with_tlvs():
    sm = _dlr(receipt_text("abc1", "DELIVRD", submitted=0, done=60), receipt_tlvs("abc1", "DELIVRD"))
    assert is_receipt(sm)
    r = parse_receipt(sm)
    assert (r.message_id, r.stat, r.delivered, r.final) == ("abc1", "DELIVRD", True, True)
    assert sm.short_message.startswith(b"id:abc1 sub:001 dlvrd:001 submit date:7001010000 done date:7001010001 stat:DELIVRD")


def test_text_only_any_case_and_order():
    r = parse_receipt(_dlr(b"ID:0A1B stat:undeliv ERR:034 submit date:2401010000 Text:hello"))
    assert (r.message_id, r.stat, r.error, r.delivered) == ("0A1B", "UNDELIV", "034", False)


def test_tlv_wins_over_text():
    sm = _dlr(b"id:wrong stat:DELIVRD", [P.tlv_cstr(P.TLV_RECEIPTED_MESSAGE_ID, "right"), P.tlv_u8(P.TLV_MESSAGE_STATE, 3)])
    r = parse_receipt(sm)
    assert (r.message_id, r.stat) == ("right", "EXPIRED")


def test_not_a_receipt_or_no_id():
    assert not is_receipt(P.ShortMessage(P.DELIVER_SM, esm_class=0x40))
    assert parse_receipt(_dlr(b"stat:DELIVRD")) is None
    assert not parse_receipt(_dlr(b"id:1 stat:ACCEPTD")).final
