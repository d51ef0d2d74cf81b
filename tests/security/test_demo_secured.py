"""``lwm2m-sms demo --security``: the whole binding table passes in every secured mode, over
SMPP and (the first S device) the modem emulator, and the DTLS handshake shows in the SMS."""

import pytest

from lwm2m_sms.cli.demo import DemoOptions, run_demo


@pytest.mark.parametrize("mode", ["dtls", "packet", "oscore"])
async def test_binding_table_passes_secured(mode):
    if mode == "dtls":
        pytest.importorskip("DTLSSocket")
    result = await run_demo(DemoOptions(devices=6, security=mode))
    failed = [(r.endpoint, r.operation, r.result) for r in result.rows if not r.ok]
    assert result.passed, failed
    register_s = next(r for r in result.rows if r.binding == "S" and r.operation == "register")
    assert register_s.sms_out + register_s.sms_in == (8 if mode == "dtls" else 2)


def test_demo_security_option(capsys):
    from lwm2m_sms.cli import main

    assert main(["demo", "--security", "packet", "--devices", "3", "--no-modem"]) == 0
    out = capsys.readouterr().out
    assert "SMS per operation, NoSec vs packet" in out
