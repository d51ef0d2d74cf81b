"""``lwm2m-sms server --sms-security FILE --security-state DIR`` as an operator runs it: a
subprocess on the simulated SMSC; a device with secured packets registers and is read; a
device that is not configured is not heard; a bad file is one line and exit 2."""

import asyncio
import json
import signal
import sys

import pytest

from lwm2m_sms.gateway import start_device
from lwm2m_sms.security.bearer import SecureBearer
from lwm2m_sms.security.policy import PacketKeys, PeerSecurity, SecurityPolicy, SmsSecurityMode
from lwm2m_sms.security.secured_packet import Keyset

from routing.conftest import SERVER, SmppRig
from routing.test_server_cli import _line

KEYS = PacketKeys(Keyset(kic=bytes(range(16)), kid=bytes(range(16, 32))))
DEVICE = "+15550251"


async def test_server_with_secured_packets(tmp_path):
    config = tmp_path / "security.json"
    config.write_text(json.dumps({"default": "refuse", "devices": {
        DEVICE: {"mode": "packet", "params": KEYS.key_parameters().hex(), "secret": KEYS.secret().hex()}}}))
    rig = await SmppRig().start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0",
        "--smpp", f"127.0.0.1:{rig.smsc.port}", "--system-id", "lwm2m", "--msisdn", SERVER,
        "--sms-security", str(config), "--security-state", str(tmp_path / "state"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        uri = (await _line(proc, r"LwM2M server on (coap://\S+), SMS \+15550000")).group(1)
        bearer = SecureBearer(await rig.bearer(DEVICE),
                              SecurityPolicy({SERVER: PeerSecurity(SmsSecurityMode.PACKET, KEYS)}))
        dev = await start_device("cli-p", "S", server_uri=uri, server_msisdn=SERVER, bearer=bearer, udp=False)
        await _line(proc, r"registered\s+ep=cli-p b=S .*sms=15550251")
        assert bearer.security_stats.opened == 1  # the 2.01, a secured packet
        await dev.close()
        await _line(proc, r"deregistered\s+ep=cli-p")
        # the server kept its counters for this device on disk
        assert (tmp_path / "state" / "counters" / "15550251.counters.json").exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        await rig.close()
    assert proc.returncode == 0


@pytest.mark.parametrize("content,words", [
    ("{not json", "security.json"),
    ('{"devices": {"+15550251": {"mode": "packet", "params": "00", "secret": ""}}}', "secured packet"),
])
async def test_bad_security_file_is_one_line(tmp_path, content, words):
    config = tmp_path / "security.json"
    config.write_text(content)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0",
        "--sms-security", str(config), "--security-state", str(tmp_path / "s"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and len(err.decode().strip().splitlines()) == 1 and words in err.decode()
