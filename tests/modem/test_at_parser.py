"""AT parser against transcripts shaped like real modem sessions.

Each transcript follows the response formats and examples published in the vendor's AT
manual (cited per test); the bytes are ours, the shapes are theirs. URCs are placed inside
responses on purpose, as modems do when an SMS arrives while a command runs.
"""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from lwm2m_sms.errors import DecodeError
from modems.at import AtParser, Echo, Final, Info, Prompt, Urc, command_prefix, split_args


def run(parser: AtParser, data: bytes, chunk: int | None = None) -> list:
    out = []
    if chunk is None:
        parser.receive_data(data)
        return parser.events()
    for i in range(0, len(data), chunk):
        parser.receive_data(data[i : i + chunk])
        out.extend(parser.events())
    return out


def test_quectel_cmti_then_cmgr_pdu_with_urc_inside():
    # Quectel M35 AT Commands Manual 1.02, AT+CMGR example ("+CMTI: "SM",3" then
    # AT+CMGR=3), manualshive.com/ru/manual/quectel/m35/772118?page=90; PDU-mode +CMGR
    # format "+CMGR: <stat>,[<alpha>],<length><CR><LF><pdu>" from the same manual.
    p = AtParser()
    assert run(p, b'\r\n+CMTI: "SM",3\r\n') == [Urc("+CMTI", '"SM",3', '+CMTI: "SM",3')]
    p.command_sent("AT+CMGR=3")
    events = run(
        p,
        b"AT+CMGR=3\r\r\n+CMGR: 0,,24\r\n07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07\r\n"
        b'\r\n+CMTI: "SM",4\r\n\r\nOK\r\n',
        chunk=7,
    )
    assert events[0] == Echo("AT+CMGR=3")
    assert isinstance(events[1], Info) and events[1].line == "+CMGR: 0,,24"
    assert events[1].body.startswith("07911326")
    assert events[2] == Urc("+CMTI", '"SM",4', '+CMTI: "SM",4')
    assert events[3] == Final("OK")


def test_telit_cmt_pdu_urc_between_cmgl_entries():
    # Telit ME310G1/ME910G1/ML865G1 AT Commands Reference Guide 80617ST10991A r11, +CNMI:
    # "<mt>=2: PDU mode +CMT: <alpha>,<length><CR><LF><PDU>" (easymanua.ls, p. 401).
    p = AtParser()
    p.command_sent("AT+CMGL=4")
    events = run(
        p,
        b"\r\n+CMGL: 1,1,,21\r\n0791448720003023240C9144872000303300004150\r\n"
        b"+CMT: ,24\r\n07914487200030230\r\n"
        b"+CMGL: 2,0,,21\r\nABCD\r\n\r\nOK\r\n",
    )
    assert [type(e).__name__ for e in events] == ["Info", "Urc", "Info", "Final"]
    assert events[1].name == "+CMT" and events[1].body == "07914487200030230"
    assert events[2].line.startswith("+CMGL: 2") and events[2].body == "ABCD"


def test_huawei_caret_urcs_pass_through_inside_csq():
    # Huawei unsolicited reports (^RSSI, ^MODE, ^BOOT, ^DSFLOWRPT) as listed in the Arch
    # Linux wiki, "3G and GPRS modems with pppd", Huawei unsolicited report command
    # reference; +CDS PDU URC per Huawei MG323 AT Command Interface Specification 02, 11.16.
    p = AtParser()
    p.command_sent("AT+CSQ")
    events = run(
        p,
        b"\r\n^RSSI:17\r\n\r\n+CSQ: 17,99\r\n\r\n^MODE:5,4\r\n\r\nOK\r\n"
        b"\r\n^BOOT:12345678,0,0,0,72\r\n\r\n+CDS: 25\r\n0791AB\r\n",
    )
    assert events[0] == Urc("^RSSI", "17", "^RSSI:17")
    assert events[1] == Info("+CSQ: 17,99")
    assert events[2].name == "^MODE"
    assert events[3] == Final("OK")
    assert events[4].name == "^BOOT"
    assert events[5].name == "+CDS" and events[5].body == "0791AB"


def test_simcom_prompt_without_space_and_cmgs():
    # SIMCom SIM800 Series AT Command Manual V1.09, AT+CMGS: "> " prompt after the command
    # line; some SIMCom firmware sends ">" alone. Response "+CMGS: <mr>" then OK.
    for prompt in (b"\r\n> ", b"\r\n>", b">"):
        p = AtParser()
        p.command_sent("AT+CMGS=23")
        assert run(p, prompt) == [Prompt()]
        p.receive_data(b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
        assert p.events() == [Info("+CMGS: 42"), Final("OK")]


def test_creg_is_response_to_query_and_urc_otherwise():
    # 3GPP TS 27.007 7.2: "+CREG: <n>,<stat>" answers AT+CREG?; "+CREG: <stat>" is the URC.
    p = AtParser()
    p.command_sent("AT+CREG?")
    assert run(p, b"\r\n+CREG: 1,2\r\n\r\nOK\r\n") == [Info("+CREG: 1,2"), Final("OK")]
    assert run(p, b"\r\n+CREG: 1\r\n") == [Urc("+CREG", "1", "+CREG: 1")]
    p.command_sent("AT+CSQ")
    assert run(p, b"\r\n+CEREG: 5\r\n+CSQ: 9,99\r\nOK\r\n") == [
        Urc("+CEREG", "5", "+CEREG: 5"), Info("+CSQ: 9,99"), Final("OK")
    ]


def test_errors_and_line_end_variants():
    p = AtParser()
    for data, final in [
        (b"\r\n+CMS ERROR: 500\r\n", Final("+CMS ERROR", 500, "500")),
        (b"\n+CME ERROR: 11\n", Final("+CME ERROR", 11, "11")),
        (b"\r+CME ERROR: SIM PIN required\r", Final("+CME ERROR", None, "SIM PIN required")),
        (b"ERROR\r\r\n", Final("ERROR")),
        (b"ok\r\n", Final("OK")),
    ]:
        p.command_sent("AT+CPIN?")
        assert run(p, data) == [final]


def test_identification_lines_and_echo():
    # Quectel EC25 ATI: "Quectel" / "EC25" / "Revision: EC25EFAR06A06M4G" then OK.
    p = AtParser()
    p.command_sent("ATI")
    assert run(p, b"ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n", chunk=1) == [
        Echo("ATI"), Info("Quectel"), Info("EC25"), Info("Revision: EC25EFAR06A06M4G"), Final("OK")
    ]


def test_telit_hash_urc_inside_a_response():
    # Telit ME910 AT Commands Reference Guide: #QSS (SIM status) URC "#QSS: <status>",
    # here arriving between +COPS? lines.
    p = AtParser()
    p.command_sent("AT+COPS?")
    assert run(p, b'\r\n#QSS: 1\r\n+COPS: 0,0,"Operator",7\r\n\r\nOK\r\n') == [
        Urc("#QSS", "1", "#QSS: 1"), Info('+COPS: 0,0,"Operator",7'), Final("OK")
    ]


def test_ring_and_unknown_lines_with_no_command_are_urcs():
    p = AtParser()
    assert run(p, b"\r\nRING\r\n\r\n+QIND: SMS DONE\r\nRDY\r\n") == [
        Urc("RING", "", "RING"), Urc("+QIND", "SMS DONE", "+QIND: SMS DONE"), Urc("RDY", "", "RDY")
    ]


def test_cmgr_header_with_empty_body_keeps_final():
    p = AtParser()
    p.command_sent("AT+CMGR=1")
    assert run(p, b"\r\n+CMGR: 0,,0\r\n\r\nOK\r\n") == [Info("+CMGR: 0,,0"), Final("OK")]


def test_pdu_echo_with_ctrl_z_is_echo():
    p = AtParser()
    p.command_sent("AT+CMGS=10")
    assert run(p, b"AT+CMGS=10\r\r\n> 0011AA\x1a\r\n+CMGS: 3\r\n\r\nOK\r\n") == [
        Echo("AT+CMGS=10"), Prompt(), Echo("0011AA\x1a"), Info("+CMGS: 3"), Final("OK")
    ]


def test_garbage_without_line_end_is_bounded():
    p = AtParser(max_line=64)
    p.command_sent("AT")
    p.receive_data(b"\r\nOK\r\n")
    for _ in range(100):
        p.receive_data(b"\xff" * 50)
    assert len(p._buf) <= 64 + 50
    assert p.next_event() == Final("OK")
    try:
        p.next_event()
    except DecodeError as exc:
        assert "no line end" in str(exc)
    else:
        raise AssertionError("garbage not reported")
    p.receive_data(b"\r\nRING\r\n")
    assert p.events()[-1] == Urc("RING", "", "RING")


def test_helpers():
    assert split_args('"SM",3') == ["SM", "3"]
    assert split_args('0,0,"Op, Inc",7') == ["0", "0", "Op, Inc", "7"]
    assert command_prefix("AT+CMGL=4") == "+CMGL"
    assert command_prefix("at^sysinfo") == "^SYSINFO"
    assert command_prefix("ATI") is None


@given(st.lists(st.binary(max_size=300), max_size=20), st.sampled_from([None, "AT+CMGL=4", "AT+CMGS=20", "ATI"]))
def test_parser_raises_only_decode_error(chunks, command):
    p = AtParser(max_line=256)
    if command:
        p.command_sent(command)
    for c in chunks:
        p.receive_data(c)
        for _ in range(1000):
            try:
                if p.next_event() is None:
                    break
            except DecodeError:
                pass
        assert len(p._buf) <= 256 + 300


def test_urc_between_cmgr_header_and_its_pdu_line():
    # A +CMTI arriving between the +CMGR header and its PDU line is a URC, and the PDU line
    # after it is still the body of the +CMGR.
    p = AtParser()
    p.command_sent("AT+CMGR=3")
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    events = run(p, b'\r\n+CMGR: 0,,24\r\n+CMTI: "SM",4\r\n' + pdu.encode() + b"\r\n\r\nOK\r\n", chunk=5)
    assert events[0] == Urc("+CMTI", '"SM",4', '+CMTI: "SM",4')
    assert isinstance(events[1], Info) and events[1].line == "+CMGR: 0,,24" and events[1].body == pdu
    assert events[2] == Final("OK")


def test_quoted_and_padded_pdu_lines_lose_their_quotes():
    # Firmware seen in the field quotes the PDU line of +CMGL / +CMT and pads it with spaces;
    # the quotes and the whitespace are not part of the PDU.
    pdu = "07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07"
    p = AtParser()
    p.command_sent("AT+CMGL=0")
    events = run(p, f'+CMGL: 1,0,,24\r\n"{pdu}"\r\n+CMGL: 2,0,,24\r\n  {pdu}   \r\nOK\r\n'.encode(), chunk=5)
    assert events == [Info("+CMGL: 1,0,,24", pdu), Info("+CMGL: 2,0,,24", pdu), Final("OK")]
    assert run(p, f'+CMT: ,24\r\n" {pdu} "\r\n'.encode()) == [Urc("+CMT", ",24", "+CMT: ,24", pdu)]


@pytest.mark.parametrize("line", [b"+CMS ERROR: \xb2\r\n", b"+CME ERROR: \xb9\xb3\r\n"])
def test_an_error_code_of_latin1_digits_is_text_not_a_crash(line):
    # "²".isdigit() is True but int("²") raises: only ASCII digits are a code
    parser = AtParser()
    parser.command_sent("AT+CMGD=1")
    (final,) = run(parser, line)
    assert isinstance(final, Final) and final.code is None
