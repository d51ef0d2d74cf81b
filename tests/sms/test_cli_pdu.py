"""``lwm2m-sms pdu decode|encode`` and ``lwm2m-sms bench codec`` through the real entry point."""

import json

import pytest

from lwm2m_sms.cli import main
from lwm2m_sms.sms.tpdu import Direction, decode_pdu

HELLO_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"  # GSM 03.40 tutorial
HELLO_DELIVER = "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37"


def test_decode_table(capsys):
    assert main(["pdu", "decode", HELLO_DELIVER]) == 0
    out = capsys.readouterr().out
    column = len("TPDU length") + 2  # the longest label, then two spaces
    assert all(line[column - 2 : column] == "  " and line[column] != " " for line in out.splitlines())
    lines = {line[:column].strip(): line[column:] for line in out.splitlines()}
    assert lines["SMSC"].startswith("+27381000015")
    assert lines["type"] == "SMS-DELIVER"
    assert lines["TP-OA"].startswith("27838890001  (TON subscriber")
    assert lines["TP-SCTS"] == "1999-03-29 15:16:59+02:00"
    assert lines["TP-DCS"] == "0x00 (GSM 7-bit)"
    assert lines["text"] == "'hellohello'"


def test_decode_json_submit(capsys):
    assert main(["pdu", "decode", "--mo", "--json", HELLO_SUBMIT]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "SMS-SUBMIT" and doc["smsc"] is None and doc["tpdu_length"] == 23
    assert doc["destination"] == {"address": "+46708251358", "ton": "international", "npi": "isdn"}
    assert doc["validity"] == 0xAA and doc["text"] == "hellohello" and doc["dcs"] == 0


def test_decode_json_concat_ports_and_status_report(capsys):
    main(["pdu", "encode", "--to", "+15550001", "--data-hex", "ab" * 200, "--port", "5683:5684", "--ref16", "--ref", "4660"])
    out = capsys.readouterr().out.split()
    assert main(["pdu", "decode", "--mo", "--json", out[1]]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["concat"] == {"reference": 4660, "total": 2, "seq": 1, "ref16": True}
    assert doc["ports"] == {"destination": 5683, "source": 5684}
    assert doc["alphabet"] == "8-bit" and "text" not in doc
    assert main(["pdu", "decode", "--json", "0006D60B911326880736F4111011719551401110117195714000"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["type"] == "SMS-STATUS-REPORT" and doc["outcome"] == "delivered" and doc["message_ref"] == 214


def test_decode_without_smsc(capsys):
    assert main(["pdu", "decode", "--mo", "--no-smsc", HELLO_SUBMIT[2:]]) == 0
    assert "hellohello" in capsys.readouterr().out


def test_encode_single_text_matches_the_tutorial(capsys):
    assert main(["pdu", "encode", "--to", "+46708251358", "--text", "hellohello", "--validity", str(4 * 24 * 60)]) == 0
    assert capsys.readouterr().out.splitlines() == ["AT+CMGS=23", HELLO_SUBMIT]


def test_encode_segments_binary_with_options(capsys):
    payload = bytes(range(256)) + bytes(200)
    assert main([
        "pdu", "encode", "--to", "+4915123456789", "--data-hex", payload.hex(),
        "--smsc", "+4917200000", "--srr", "--ref", "9", "--mr", "5",
    ]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 8  # 456 octets: 4 segments of up to 134
    data = b""
    for i in range(0, 8, 2):
        raw = bytes.fromhex(lines[i + 1])
        assert lines[i] == f"AT+CMGS={len(raw) - 1 - raw[0]}"
        pdu = decode_pdu(raw, direction=Direction.MO)
        t = pdu.tpdu
        assert str(pdu.smsc) == "+4917200000" and t.status_report_request and t.message_ref == 5
        assert t.user_data.concat.reference == 9 and t.user_data.concat.seq == i // 2 + 1
        data += t.user_data.data
    assert data == payload


def test_encode_ucs2_text(capsys):
    assert main(["pdu", "encode", "--to", "+15550001", "--text", "Привет", "--no-smsc"]) == 0
    length, hexpdu = capsys.readouterr().out.splitlines()
    t = decode_pdu(bytes.fromhex(hexpdu), direction=Direction.MO, with_smsc=False).tpdu
    assert t.dcs == 0x08 and t.text == "Привет" and length == f"AT+CMGS={len(hexpdu) // 2}"


@pytest.mark.parametrize(
    "argv,message",
    [
        (["pdu", "decode", "00zz"], "not hex"),
        (["pdu", "decode", "0004"], "truncated"),
        (["pdu", "decode", "--mo", HELLO_DELIVER], "SMS-DELIVER"),
        (["pdu", "encode", "--to", "+1555x", "--text", "hi"], "other than digits"),
        (["pdu", "encode", "--to", "+1555", "--data-hex", "0g"], "not hex"),
        (["pdu", "encode", "--to", "+1555", "--data-hex", "00" * 40000], "at most 255"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi", "--port", "x:1"], "DEST:SRC"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi", "--port", "70000"], "out of range"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi", "--mr", "256"], "TP-MR"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi" * 100, "--ref", "300"], "reference 300"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi", "--smsc", "+1", "--no-smsc"], "contradict"),
        (["pdu", "encode", "--to", "+1555", "--text", "hi", "--validity", "0"], "positive"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith("lwm2m-sms: error: ") and message in err


def test_bench_codec_prints_a_table_and_a_summary(capsys):
    assert main(["bench", "codec", "--seconds", "0.05"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("1-part") for line in lines)
    assert any(line.startswith("4-part") for line in lines)
    last = lines[-1]
    assert last.startswith("codec: ") and last.endswith(" decode PDUs/s (1-part)")
    assert int(last.split()[1]) > 0


def test_decode_detects_a_stored_sms_submit_without_mo(capsys):
    """A stored SMS-SUBMIT (+CMGL stat 2/3) decodes by its TP-MTI; --mo only forces it."""
    assert main(["pdu", "decode", "--json", HELLO_SUBMIT]) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "SMS-SUBMIT"
    assert main(["pdu", "decode", "--json", f'"{HELLO_DELIVER}00"']) == 0
    assert json.loads(capsys.readouterr().out)["type"] == "SMS-DELIVER"
