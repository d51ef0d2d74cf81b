"""The two commands as a user runs them: ``lwm2m-sms modem-emulator`` in its own process
(prints the port path, stays up until SIGTERM) and ``lwm2m-sms modem-info`` against it."""

from __future__ import annotations

import signal
import subprocess
import sys

from lwm2m_sms.cli import main


def test_modem_emulator_process_and_modem_info(tmp_path, capsys):
    link = tmp_path / "ttyEMU"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lwm2m_sms.cli", "modem-emulator", "--msisdn", "+15550003333",
         "--link", str(link), "--pin", "2468", "--model", "SIMCOM_SIM800L", "--manufacturer", "SIMCOM_Ltd"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout.readline().strip() == str(link)
        assert main(["modem-info", "--port", str(link), "--pin", "2468"]) == 0
        out = capsys.readouterr().out
        assert "SIMCOM_SIM800L" in out and "imsi          001010123456789" in out
        assert "-73 dBm" in out and "storage       SM 0/30 used" in out and "2468" not in out
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert not link.exists()


def test_modem_info_on_a_missing_port(tmp_path, capsys):
    assert main(["modem-info", "--port", str(tmp_path / "nope")]) == 1
    assert "cannot open" in capsys.readouterr().err
