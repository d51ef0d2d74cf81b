"""``lwm2m-sms server --smpp ... --msisdn ...`` as an operator runs it: a subprocess bound to
the simulated SMSC, reached by an S-binding device that registers and is read by SMS."""

import asyncio
import re
import signal
import sys

from lwm2m_sms.gateway import start_device

from .conftest import SERVER, SmppRig


async def _line(proc, pattern, timeout=30):
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout)
        assert raw, (await proc.stderr.read()).decode()
        m = re.search(pattern, raw.decode())
        if m:
            return m


async def test_server_over_smpp_registers_an_sms_device(tmp_path):
    rig = await SmppRig().start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0",
        "--smpp", f"127.0.0.1:{rig.smsc.port}", "--system-id", "lwm2m", "--msisdn", SERVER,
        "--db", str(tmp_path / "server.sqlite"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        uri = (await _line(proc, r"LwM2M server on (coap://\S+), SMS \+15550000")).group(1)
        bearer = await rig.bearer("+15550201")
        dev = await start_device("cli-s", "S", server_uri=uri, server_msisdn=SERVER, bearer=bearer, udp=False)
        await _line(proc, r"registered\s+ep=cli-s b=S .*sms=15550201 from coap\+sms://\+15550201")
        await dev.close()
        await _line(proc, r"deregistered\s+ep=cli-s")
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 20)
        await rig.close()
    assert proc.returncode == 0


async def test_server_refuses_smpp_without_its_number():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--smpp", "127.0.0.1:1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and b"--msisdn" in err


import pytest  # noqa: E402


@pytest.mark.parametrize("argv, what", [
    (["--udp-window", "0"], "--udp-window"),
    (["--udp-window", "-5"], "--udp-window"),
    (["--grace", "-1"], "--grace"),
    (["--queue-ttl", "0"], "--queue-ttl"),
    (["--queue-ttl", "nan"], "--queue-ttl"),
    (["--sms-window", "inf"], "--sms-window"),
    (["--wake-up", "-3"], "--wake-up"),
    (["--lifetime-range", "100..10"], "lifetime range"),
    (["--lifetime-range", "60"], "--lifetime-range"),
    (["--max-registrations", "0"], "max_registrations"),
])
def test_server_refuses_invalid_windows_and_times_at_start(argv, what, capsys):
    from lwm2m_sms.cli import main

    assert main(["server", "--udp", "127.0.0.1:0", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and what in err[0]


async def test_server_on_a_taken_port_says_so_in_one_line(capsys):
    from lwm2m_sms import Gateway
    from lwm2m_sms.cli import server as server_command
    from lwm2m_sms.cli import build_parser, error_line

    async with Gateway(udp=("127.0.0.1", 0)) as taken:
        port = taken.udp_port
        args = build_parser().parse_args(["server", "--udp", f"127.0.0.1:{port}"])
        try:
            await server_command.run(args)
        except Exception as exc:  # what the CLI's main prints as 'lwm2m-sms: error: ...'
            line = error_line(exc, args)
        else:
            raise AssertionError("the server started on a taken port")
    assert line.startswith(f"--udp 127.0.0.1:{port}: cannot bind:") and "\n" not in line
