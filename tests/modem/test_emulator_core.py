"""The emulator's sans-IO core, fed bytes: the AT conversation real modem software has."""

from __future__ import annotations

from hypothesis import given, strategies as st

from lwm2m_sms.bearer import SmsSegment
from lwm2m_sms.sms.address import parse_msisdn
from lwm2m_sms.sms.segmentation import UserData
from lwm2m_sms.sms.tpdu import Direction, SmsDeliver, SmsSubmit, decode_pdu, encode_pdu
from modems.at import AtParser, Final, Info, Prompt, Urc
from modems.emulator_core import EmulatorCore, MemoryFull, Quirks, SubmitSegment
from modems.info import csq_to_dbm
from modems.profiles import profile_for

import pytest

MSISDN = "+15550001111"
PEER = "+15550002222"


def talk(core: EmulatorCore, command: str, parser: AtParser | None = None) -> list:
    p = parser or AtParser()
    p.command_sent(command)
    core.receive_data(command.encode() + b"\r")
    p.receive_data(core.data_to_send())
    return p.events()


def test_identity_echo_and_errors():
    core = EmulatorCore(MSISDN)
    ev = talk(core, "ATI")
    assert [e.line for e in ev if isinstance(e, Info)] == ["Quectel", "EC25", "Revision: EC25EFAR06A06M4G"]
    assert ev[0].__class__.__name__ == "Echo" and ev[-1] == Final("OK")
    talk(core, "ATE0")
    assert talk(core, "AT+CGSN") == [Info("867962041234567"), Final("OK")]
    assert talk(core, "AT+FOO") == [Final("ERROR")]
    talk(core, "AT+CMEE=1")
    assert talk(core, "AT+FOO") == [Final("+CME ERROR", 4, "4")]
    talk(core, "AT+CMEE=2")
    assert talk(core, "AT+CPIN=\"1\"")[-1].text == "operation not allowed"


def test_pin_state():
    core = EmulatorCore(MSISDN, pin="1234")
    talk(core, "ATE0")
    talk(core, "AT+CMEE=1")
    assert talk(core, "AT+CPIN?") == [Info("+CPIN: SIM PIN"), Final("OK")]
    assert talk(core, "AT+CIMI") == [Final("+CME ERROR", 11, "11")]
    assert talk(core, "AT+CMGL=4") == [Final("+CMS ERROR", 311, "311")]
    assert talk(core, 'AT+CPIN="0000"') == [Final("+CME ERROR", 16, "16")]
    assert talk(core, 'AT+CPIN="1234"') == [Final("OK")]
    assert talk(core, "AT+CPIN?") == [Info("+CPIN: READY"), Final("OK")]
    assert talk(core, "AT+CREG?") == [Info("+CREG: 0,2"), Final("OK")]  # searching


def test_cmgs_pdu_mode_prompt_and_effect():
    core = EmulatorCore(MSISDN, quirks=Quirks(prompt=b">"))
    talk(core, "ATE0")
    pdu = encode_pdu(SmsSubmit(parse_msisdn(PEER), UserData(b"\x01\x02\x03"), status_report_request=True))
    p = AtParser()
    assert talk(core, f"AT+CMGS={len(pdu) - 1}", p) == [Prompt()]
    core.receive_data(pdu.hex().encode() + b"\x1a")
    (eff,) = core.take_effects()
    assert isinstance(eff, SubmitSegment) and eff.report and eff.segment.user_data.data == b"\x01\x02\x03"
    assert core.data_to_send() == b""  # waiting for the network
    core.submit_result(eff.token)
    p.receive_data(core.data_to_send())
    assert p.events() == [Info(f"+CMGS: {eff.message_ref}"), Final("OK")]
    core.cnmi = [2, 2, 0, 1, 0]
    core.status_report(eff.message_ref, parse_msisdn(PEER), True)
    p.receive_data(core.data_to_send())
    (urc,) = p.events()
    assert urc.name == "+CDS" and decode_pdu(urc.body).tpdu.delivered


def test_cmgs_bad_length_escape_and_injected_errors():
    core = EmulatorCore(MSISDN)
    talk(core, "ATE0")
    talk(core, "AT+CMGS=20")
    core.receive_data(b"0011\x1a")
    p = AtParser()
    p.command_sent("AT+CMGS=20")
    p.receive_data(core.data_to_send())
    assert p.events() == [Final("+CMS ERROR", 304, "304")]
    talk(core, "AT+CMGS=20")
    core.receive_data(b"00\x1b")
    assert core.data_to_send() == b"\r\nOK\r\n"
    core.fail_next_sends(1, 500)
    talk(core, "AT+CMGS=20")
    core.receive_data(b"00\x1a")
    assert b"+CMS ERROR: 500" in core.data_to_send()


def test_store_cmti_cmgl_cmgd_and_full():
    core = EmulatorCore(MSISDN, sim_capacity=2)
    talk(core, "ATE0")
    talk(core, "AT+CNMI=2,1,0,0,0")
    seg = SmsSegment(parse_msisdn(PEER), parse_msisdn(MSISDN), UserData(b"\xca\xfe"))
    core.deliver(seg)
    core.deliver(seg)
    p = AtParser()
    p.receive_data(core.data_to_send())
    assert p.events() == [Urc("+CMTI", '"SM",1', '+CMTI: "SM",1'), Urc("+CMTI", '"SM",2', '+CMTI: "SM",2')]
    with pytest.raises(MemoryFull):
        core.deliver(seg)
    ev = talk(core, "AT+CMGL=4")
    assert [e.line for e in ev[:-1]] == ["+CMGL: 1,0,,21", "+CMGL: 2,0,,21"]
    tpdu = decode_pdu(ev[0].body).tpdu
    assert isinstance(tpdu, SmsDeliver) and tpdu.user_data.data == b"\xca\xfe"
    assert talk(core, "AT+CPMS?")[0].line == '+CPMS: "SM",2,2,"SM",2,2,"SM",2,2'
    talk(core, "AT+CMGD=1")
    assert talk(core, "AT+CMGR=1") == [Final("+CMS ERROR", 321, "321")]
    talk(core, "AT+CMGD=1,4")
    assert core.store == {}


def test_text_mode_send_and_read():
    core = EmulatorCore(MSISDN)
    talk(core, "ATE0")
    talk(core, "AT+CMGF=1")
    talk(core, f'AT+CMGS="{PEER}"')
    core.receive_data(b"hello there\x1a")
    (eff,) = core.take_effects()
    assert SmsSubmit(eff.segment.recipient, eff.segment.user_data, eff.segment.dcs).text == "hello there"
    deliver = SmsDeliver.from_text(PEER, "hi back")
    core.deliver(SmsSegment(deliver.originator, parse_msisdn(MSISDN), deliver.user_data, deliver.dcs))
    core.submit_result(eff.token)
    core.data_to_send()
    ev = talk(core, "AT+CMGR=1")
    assert ev[0].line.startswith(f'+CMGR: "REC UNREAD","{PEER}",,"') and ev[0].body == "hi back"


def test_registration_urc_when_enabled():
    core = EmulatorCore(MSISDN, registered=False)
    talk(core, "ATE0")
    talk(core, "AT+CREG=1")
    core.registration = 5
    p = AtParser()
    p.receive_data(core.data_to_send())
    assert p.events() == [Urc("+CREG", "5", "+CREG: 5")]


def test_unacked_cmt_is_stored_after_timeout():
    core = EmulatorCore(MSISDN, ack_timeout=5)
    talk(core, "ATE0")
    talk(core, "AT+CSMS=1")
    talk(core, "AT+CNMI=2,2,0,1,0")
    core.deliver(SmsSegment(parse_msisdn(PEER), parse_msisdn(MSISDN), UserData(b"x")))
    assert b"+CMT: ,20" in core.data_to_send()
    core.tick(4.9)
    assert core.store == {}
    core.tick(5.0)
    assert len(core.store) == 1 and b'+CMTI: "SM",1' in core.data_to_send()


@given(st.lists(st.binary(max_size=200), max_size=20))
def test_core_survives_any_input(chunks):
    core = EmulatorCore(MSISDN)
    for c in chunks:
        core.receive_data(c)
        for eff in core.take_effects():
            core.submit_result(eff.token, 500)
        core.data_to_send()
    assert len(core._in) <= 2048 + 200


def test_profiles_and_csq():
    assert profile_for("Quectel", "EC25").name == "quectel"
    assert profile_for("SIMCOM_Ltd", "SIMCOM_SIM800L").name == "simcom"
    assert profile_for("huawei", "E3372").use_cmt is False
    assert profile_for("ACME", "X1").name == "generic"
    assert csq_to_dbm(0) == -113 and csq_to_dbm(20) == -73 and csq_to_dbm(31) == -51 and csq_to_dbm(99) is None


def test_text_mode_shows_binary_as_hex():
    core = EmulatorCore(MSISDN)
    talk(core, "ATE0")
    talk(core, "AT+CMGF=1")
    talk(core, "AT+CNMI=2,2,0,0,0")
    core.deliver(SmsSegment(parse_msisdn(PEER), parse_msisdn(MSISDN), UserData(b"\x00\xff")))
    assert b"\r\n00FF\r\n" in core.data_to_send()
