"""``lwm2m-sms client`` with SMS bindings, as a user runs it: the device process (a
subprocess) reaches the server through the simulated SMSC over real loopback SMPP, by an
SMPP bind of its own or by a GSM modem (the pty modem emulator)."""

import asyncio
import signal
import sys

import pytest

from lwm2m_sms.gateway import smpp_bearer, start_server

SERVER = "+15550000"


async def cli(*args):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def line_with(proc, text, timeout=30):
    seen = []
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()
        if not line:
            err = (await proc.stderr.read()).decode()
            raise AssertionError(f"{text!r} never printed; stdout {seen}, stderr {err}")
        seen.append(line)
        if text in line:
            return line


@pytest.fixture
async def network():
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    link = await smpp_bearer(smsc.port, "server", SERVER, SERVER)
    stack = await start_server(bearers=[link])
    yield smsc, stack
    await stack.close()
    await link.close()
    await smsc.close()


async def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "de-registered" in out.decode()


async def test_an_S_device_on_its_own_smpp_bind(network, tmp_path):
    smsc, stack = network
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    proc = await cli("client", "--ep", "cli-s", "--binding", "S", "--smpp", f"127.0.0.1:{smsc.port}",
                     "--system-id", "dev0101", "--password-file", str(secret),
                     "--msisdn", "+15550101", "--server-sms", SERVER)
    try:
        await line_with(proc, "1 of 1 device(s) registered")
        reg = stack.server.registration("cli-s")
        assert (reg.binding, str(reg.sms), reg.remote_uri) == ("S", "+15550101", "coap+sms://+15550101")
        before = smsc.stats.submitted
        assert (await asyncio.wait_for(stack.server.read("cli-s", "/3/0/0"), 20)).value == "lwm2m-sms"
        assert smsc.stats.submitted - before == 2  # one SMS each way
    finally:
        await stop(proc)
    assert stack.server.registrations() == []


async def test_a_fleet_of_SQ_devices_on_one_bind(network):
    smsc, stack = network
    proc = await cli("client", "--ep", "fleet", "--count", "3", "--binding", "SQ", "--smpp",
                     f"127.0.0.1:{smsc.port}", "--msisdn", "+15550201", "--server-sms", SERVER)
    try:
        await line_with(proc, "3 of 3 device(s) registered")
        assert sorted((r.endpoint, str(r.sms)) for r in stack.server.registrations()) == [
            ("fleet-0001", "+15550201"), ("fleet-0002", "+15550202"), ("fleet-0003", "+15550203")]
        assert (await asyncio.wait_for(stack.server.read("fleet-0002", "/3/0/0"), 20)).value == "lwm2m-sms"
    finally:
        await stop(proc)


async def test_a_lean_fleet_on_one_bind_registers_answers_reads_and_deregisters(network):
    smsc, stack = network
    proc = await cli("client", "--lean", "--ep", "lean", "--count", "30", "--binding", "S", "--smpp",
                     f"127.0.0.1:{smsc.port}", "--msisdn", "+15560000001", "--server-sms", SERVER)
    try:
        await line_with(proc, "30 of 30 device(s) registered")
        regs = {r.endpoint: r for r in stack.server.registrations()}
        assert len(regs) == 30 and (regs["lean-0030"].binding, str(regs["lean-0030"].sms)) == ("S", "+15560000030")
        value = (await asyncio.wait_for(stack.server.read("lean-0007", "/3/0"), 20)).value
        assert isinstance(value, dict) and value[0] == "lwm2m-sms" and value[16] == "S"
    finally:
        await stop(proc)
    assert stack.server.registrations() == []


async def test_a_UQS_device_on_the_modem_emulator(network):
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore

    smsc, stack = network
    net_side = await smpp_bearer(smsc.port, "modem0301", "+15550301", "+15550301")
    emulator = ModemEmulator(EmulatorCore("+15550301"), net_side)
    await emulator.start()
    proc = await cli("client", "--ep", "cli-uqs", "--binding", "UQS", "--modem", emulator.path,
                     "--msisdn", "+15550301", "--server-sms", SERVER, "--server", stack.udp_uri)
    try:
        await line_with(proc, "1 of 1 device(s) registered")
        reg = stack.server.registration("cli-uqs")
        assert (reg.binding, str(reg.sms)) == ("UQS", "+15550301")
        from lwm2m_sms.routing.router import via

        with via("sms"):
            assert (await asyncio.wait_for(stack.server.read("cli-uqs", "/3/0/0"), 30)).value == "lwm2m-sms"
    finally:
        await stop(proc)
        await emulator.close()
        await net_side.close()


@pytest.mark.parametrize("args,words", [
    (["--binding", "S", "--server-sms", SERVER], "binding S needs an SMS bearer"),
    (["--binding", "SQ", "--smpp", "127.0.0.1:9", "--server-sms", SERVER], "--msisdn"),
    (["--binding", "S", "--smpp", "127.0.0.1:9", "--msisdn", "+15550101"], "needs --server-sms"),
    (["--binding", "S", "--modem", "/dev/null", "--smpp", "127.0.0.1:9", "--msisdn", "+1"], "not both"),
    (["--binding", "S", "--modem", "/dev/null", "--msisdn", "+15550101", "--count", "2", "--server-sms", SERVER],
     "one device"),
    (["--binding", "S", "--smpp", "127.0.0.1:9", "--msisdn", "+15550101", "--server-sms", SERVER,
      "--password-file", "/nonexistent/pw"], "--password-file"),
    (["--binding", "S", "--smpp", "127.0.0.1:9", "--msisdn", "abc", "--server-sms", SERVER], "abc"),
    (["--lean", "--binding", "SQ", "--smpp", "127.0.0.1:9", "--msisdn", "+15550101", "--server-sms", SERVER],
     "binding S"),
    (["--lean", "--binding", "S", "--smpp", "127.0.0.1:9", "--msisdn", "+15550101", "--server-sms", SERVER,
      "--bootstrap", "coap://127.0.0.1:9"], "--bootstrap"),
])
async def test_command_line_errors_are_one_line(args, words):
    proc = await cli("client", "--ep", "x", *args)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], lines


async def test_a_signal_while_a_device_waits_its_hold_off_stops_it(network):
    """The device waits an hour for a server-initiated bootstrap (hold-off): SIGTERM stops
    it then, not after the wait."""
    smsc, _stack = network
    proc = await cli("client", "--ep", "cli-wait", "--binding", "S", "--smpp", f"127.0.0.1:{smsc.port}",
                     "--system-id", "dev0109", "--msisdn", "+15550109", "--bootstrap", "coap+sms://+15550009",
                     "--hold-off", "3600")
    await line_with(proc, "SMS device(s)")
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "0 of 1 device(s) registered, 1 stopped before registering" in out.decode()
