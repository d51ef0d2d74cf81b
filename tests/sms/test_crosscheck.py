"""Cross-check against an independent codec: python-gsmmodem-new's ``gsmmodem.pdu``.

Our encoder -> its ``decodeSmsPdu`` must agree on number, DCS, UDH (concatenation, ports)
and data; its ``encodeSmsSubmitPdu`` -> our decoder (an SMS-SUBMIT, so Direction.MO) must
agree on number, SMSC, reference, validity, concatenation and text.

Known differences of gsmmodem, kept out of the generated input on purpose: it puts '`' where
23.038 has '§' (0x5F) and does not map the page-break escape (0x1B 0x0A); it drops a final
'@' (septet 0) that ends exactly on an octet boundary; and it reads alphanumeric address
lengths as octets, so addresses here are numbers; its tpduLength is len(pdu) - 1 even with an
SMSC address in front; its encoder crashes on 'ÿ' (its extension table maps U+00FF to an int) and sends ESC (U+001B)
as if it were a character.
"""

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

import gsmmodem.pdu as gp

from lwm2m_sms.sms import gsm7
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData, split, split_text
from lwm2m_sms.sms.tpdu import (
    DCS_8BIT,
    DCS_GSM7,
    DCS_UCS2,
    Direction,
    SmsDeliver,
    SmsSubmit,
    decode_pdu,
    encode_pdu,
    tpdu_length,
    validity_period,
)
from lwm2m_sms.sms.udh import Ports, Udh

from .strategies import GSM7_CHARS, international, timestamps

SAFE_GSM7 = [c for c in GSM7_CHARS if c not in "§`\f"]
gsm_text = st.text(st.sampled_from(SAFE_GSM7), min_size=1, max_size=400).filter(lambda t: not t.endswith("@"))


# UCS2 proper (no surrogates); without ESC, U+00FF and the backtick, which gsmmodem mishandles.
any_bmp_text = st.text(
    st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",), exclude_characters="\x1b\xff`"),
    min_size=1,
    max_size=300,
)


def _their_udh(result) -> tuple:
    out = []
    for ie in result.get("udh", []):
        if isinstance(ie, gp.Concatenation):
            out.append(("concat", ie.reference, ie.parts, ie.number))
        elif isinstance(ie, gp.PortAddress):
            out.append(("ports", ie.destination, ie.source))
        else:
            out.append(("ie", ie.id, bytes(ie.data)))
    return tuple(out)


def _our_udh(ud: UserData) -> tuple:
    if ud.udh is None:
        return ()
    out = []
    for ie in ud.udh.elements:
        udh1 = Udh((ie,))
        if udh1.concat is not None:
            c = udh1.concat
            out.append(("concat", c.reference, c.total, c.seq))
        elif udh1.ports is not None:
            out.append(("ports", udh1.ports.destination, udh1.ports.source))
        else:
            out.append(("ie", ie.iei, ie.data))
    return tuple(out)


@given(
    st.binary(max_size=700),
    international,
    st.booleans(),
    st.none() | st.builds(Ports, st.integers(256, 65535), st.integers(256, 65535)),
    st.sampled_from(["submit", "deliver"]),
    timestamps,
)
def test_gsmmodem_decodes_our_8bit_pdus(payload, addr, ref16, ports, kind, ts):
    parts = split(payload, 0x1234 if ref16 else 0x34, ports=ports, ref16=ref16)
    data = b""
    for ud in parts:
        if kind == "submit":
            t = SmsSubmit(addr, ud, DCS_8BIT, message_ref=77)
        else:
            t = SmsDeliver(addr, ud, DCS_8BIT, ts)
        raw = encode_pdu(t, smsc=parse_msisdn("+4917200000"))
        theirs = gp.decodeSmsPdu(raw.hex())
        assert theirs["type"] == ("SMS-SUBMIT" if kind == "submit" else "SMS-DELIVER")
        assert theirs["number"] == addr.e164
        assert theirs["smsc"] == "+4917200000"
        assert gp._decodeDataCoding(raw[raw[0] + 1 + 2 + 2 + (len(addr.value) + 1) // 2 + (1 if kind == "submit" else 0)]) == 1  # 8-bit
        assert _their_udh(theirs) == _our_udh(ud)
        assert theirs["text"] == ud.data.decode("latin-1")
        if kind == "deliver":
            assert theirs["time"] == ts
        data += theirs["text"].encode("latin-1")
    assert data == payload


@given(gsm_text, international, st.booleans())
def test_gsmmodem_decodes_our_gsm7_pdus(text, addr, deliver):
    dcs, parts = split_text(text, 0x5A)
    assert dcs == DCS_GSM7
    got = ""
    for ud in parts:
        t = SmsDeliver(addr, ud, dcs) if deliver else SmsSubmit(addr, ud, dcs)
        theirs = gp.decodeSmsPdu(encode_pdu(t).hex())
        assert theirs["number"] == addr.e164
        assert _their_udh(theirs) == _our_udh(ud)
        # gsmmodem unpacks the whole TP-UDL after a UDH, so it may add '@'s from the header
        # septets at the end; the text itself must agree.
        part = theirs["text"]
        if ud.udh is not None:
            part = part[: len(gsm7.decode(ud.data))]
        assert part == gsm7.decode(ud.data)
        got += part
    assert got == text


@given(
    st.one_of(gsm_text, any_bmp_text),
    international,
    st.integers(0, 255),
    st.none() | st.integers(5, 60 * 24 * 7).map(lambda m: timedelta(minutes=m)),
    st.none() | st.just("+4917200000"),
    st.booleans(),
    st.booleans(),
)
def test_our_decoder_reads_gsmmodem_submits(text, addr, reference, validity, smsc, srr, rd):
    pdus = gp.encodeSmsSubmitPdu(
        addr.e164, text, reference=reference, validity=validity, smsc=smsc,
        requestStatusReport=srr, rejectDuplicates=rd,
    )
    got = ""
    for i, theirs in enumerate(pdus, 1):
        raw = bytes(theirs.data)
        pdu = decode_pdu(raw, direction=Direction.MO)
        t = pdu.tpdu
        assert isinstance(t, SmsSubmit)
        assert pdu.tpdu_length == tpdu_length(raw)
        if smsc is None:  # gsmmodem counts len(pdu) - 1, right only for an empty SMSC field
            assert pdu.tpdu_length == theirs.tpduLength
        assert pdu.smsc == (parse_msisdn(smsc) if smsc else None)
        assert t.destination == addr
        assert t.message_ref == reference
        assert (t.status_report_request, t.reject_duplicates) == (srr, rd)
        assert t.dcs in (DCS_GSM7, DCS_UCS2)
        if validity is not None:
            assert validity_period(t.validity) == validity_period(gp._encodeRelativeValidityPeriod(validity))
        if len(pdus) > 1:
            c = t.user_data.concat
            assert (c.reference, c.total, c.seq) == (reference, len(pdus), i)
        got += t.text
    assert got == text
