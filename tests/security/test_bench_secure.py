"""``lwm2m-sms bench secure`` runs every mode and ends with its summary line."""

import re

from lwm2m_sms.cli import main


def test_bench_secure_prints_every_mode_and_the_summary(capsys):
    assert main(["bench", "secure", "--reads", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in out[:-1]] == ["nosec", "dtls", "packet", "oscore"]
    assert re.fullmatch(r"secure: dtls \d+ SMS/handshake, read \d+\.\d\d SMS \(nosec \d+\.\d\d\), "
                        r"oscore read \d+\.\d\d SMS", out[-1])


def test_bench_secure_refuses_an_unknown_mode(capsys):
    try:
        main(["bench", "secure", "--modes", "nosec,rot13"])
    except SystemExit as exc:
        assert "rot13" in str(exc)
    else:
        raise AssertionError("unknown mode accepted")
