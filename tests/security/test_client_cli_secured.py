"""``lwm2m-sms client --sms-security FILE --security-state DIR`` as a user runs it: an S
device process whose SMS are DTLS records or secured packets, through the simulated SMSC,
to a server with the same keys."""

import json

import pytest

from lwm2m_sms.gateway import smpp_bearer, start_server
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset

from lwm2m.test_cli_sms import SERVER, cli, line_with, stop

DEVICE = "+15550161"
PACKET = PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32)))))
DTLS = PeerSecurity(SmsSecurityMode.DTLS, PskKeys(b"cli-dev", bytes(range(16))))
FILES = {
    "packet": {"mode": "packet", "params": PACKET.keys.key_parameters().hex(), "secret": PACKET.keys.secret().hex()},
    "dtls": {"mode": "dtls", "identity": "cli-dev", "psk": bytes(range(16)).hex()},
}


@pytest.mark.parametrize("mode", ["packet", "dtls"])
async def test_a_secured_S_device_process(tmp_path, mode):
    if mode == "dtls":
        pytest.importorskip("DTLSSocket")
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    link = await smpp_bearer(smsc.port, "server", SERVER, SERVER)
    secure = SecureBearer(link, SecurityPolicy({DEVICE: PACKET if mode == "packet" else DTLS}, default=None))
    stack = await start_server(bearers=[secure])
    keys = tmp_path / "sms-security.json"
    keys.write_text(json.dumps(FILES[mode]))
    proc = await cli("client", "--ep", "cli-sec", "--binding", "S", "--smpp", f"127.0.0.1:{smsc.port}",
                     "--msisdn", DEVICE, "--server-sms", SERVER, "--sms-security", str(keys),
                     "--security-state", str(tmp_path / "state"))
    try:
        await line_with(proc, "1 of 1 device(s) registered")
        assert (await stack.server.read("cli-sec", "/3/0/0")).value == "lwm2m-sms"
        assert secure.security_stats.opened >= 2 and secure.security_stats.dropped_total == 0
        if mode == "packet":
            assert (tmp_path / "state" / "cli-sec" / "counters" / "15550000.counters.json").exists()
    finally:
        await stop(proc)
        await stack.close()
        await link.close()
        await smsc.close()


async def test_security_without_an_sms_bearer_is_one_line(tmp_path):
    proc = await cli("client", "--ep", "x", "--server", "coap://127.0.0.1:5683", "--security-state", str(tmp_path))
    _out, err = await proc.communicate()
    assert proc.returncode == 2 and len(err.decode().strip().splitlines()) == 1 and b"SMS bearer" in err
