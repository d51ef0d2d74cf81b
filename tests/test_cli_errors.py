"""Every CLI error is one line on stderr, ``lwm2m-sms: error: ...``, naming the problem,
with a non-zero exit status and no traceback (``-vv`` adds the traceback)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from lwm2m_sms.cli import main


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("lwm2m-sms: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def test_db_in_a_missing_directory(tmp_path, capsys):
    db = tmp_path / "missing" / "x.sqlite"
    assert main(["server", "--udp", "127.0.0.1:0", "--db", str(db)]) == 1
    _one_line_error(capsys, f"--db {db}", "unable to open database file")


def test_db_that_is_not_sqlite(tmp_path, capsys):
    db = tmp_path / "notes.txt"
    db.write_text("not a database, but the user's notes\n" * 100)
    assert main(["server", "--udp", "127.0.0.1:0", "--db", str(db)]) == 1
    _one_line_error(capsys, f"--db {db}", "not a database")
    assert db.read_text().startswith("not a database, but the user's notes")  # nothing lost


def test_client_with_a_malformed_sms_number(capsys):
    assert main(["client", "--ep", "dev", "--server", "coap://127.0.0.1:9", "--sms", "abc"]) == 2
    _one_line_error(capsys, "'abc'", "digits")


def test_modem_emulator_link_in_a_missing_directory(tmp_path, capsys):
    link = tmp_path / "missing" / "tty"
    assert main(["modem-emulator", "--msisdn", "+15550001111", "--link", str(link)]) == 1
    _one_line_error(capsys, str(link), "does not exist")


def test_traceback_only_with_vv(tmp_path, capsys):
    db = tmp_path / "missing" / "x.sqlite"
    assert main(["-vv", "server", "--udp", "127.0.0.1:0", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("lwm2m-sms: error: --db")


def test_pdu_encode_refuses_a_letter_in_a_number(capsys):
    # The letter O for a zero must not silently become an alphanumeric address.
    assert main(["pdu", "encode", "--to", "O1715551234", "--text", "hi"]) == 2
    _one_line_error(capsys, "'O1715551234'", "--alphanumeric")


def test_pdu_encode_alphanumeric_on_request(capsys):
    assert main(["pdu", "encode", "--to", "O1715551234", "--alphanumeric", "--text", "hi"]) == 0
    hexpdu = capsys.readouterr().out.splitlines()[1]
    assert main(["pdu", "decode", "--mo", "--json", hexpdu]) == 0
    assert '"ton": "alphanumeric"' in capsys.readouterr().out


def test_modem_info_on_a_sim_that_wants_a_pin(tmp_path, capsys):
    link = tmp_path / "ttyEMU"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwm2m_sms.cli", "modem-emulator", "--msisdn", "+15550003333",
         "--link", str(link), "--pin", "2468"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == str(link)
        assert main(["modem-info", "--port", str(link)]) == 1
        _one_line_error(capsys, str(link), "SIM PIN", "--pin")
        assert main(["modem-info", "--port", str(link), "--pin", "1111"]) == 1  # a wrong PIN
        err = _one_line_error(capsys, "AT+CPIN=<hidden>")
        assert "1111" not in err
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0


def test_smsc_store_in_a_missing_directory(tmp_path, capsys):
    store = tmp_path / "missing" / "smsc.db"
    assert main(["smsc", "--listen", "127.0.0.1:0", "--store", str(store)]) == 1
    _one_line_error(capsys, f"--store {store}", "unable to open database file")
