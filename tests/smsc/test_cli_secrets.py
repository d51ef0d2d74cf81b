"""Secrets off the command line: ``modem-emulator --password-file`` / $LWM2M_SMS_SMPP_PASSWORD,
``--pin-file`` / $LWM2M_SMS_PIN for server, client and modem-info; never in their output.
Every command runs as a process; the SMSC is the simulated one on a loopback port."""

import argparse
import asyncio
import os
import signal
import sys

import pytest

from lwm2m_sms.cli.bearer_options import OptionError, add_bearer_options, check_bearer_options
from smsc.config import Account, SmscConfig
from smsc.server import SimulatedSmsc

EMU = "+15550003333"
PIN = "2468"
PASSWORD = "s3cret"


async def _cli(*args: str, env: dict[str, str] | None = None, verbose: bool = True) -> asyncio.subprocess.Process:
    """``lwm2m-sms`` as a process (with -vv: debug logs, where a leaked secret would show)."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", *(["-vv"] if verbose else []), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LWM2M_SMS_")}, **(env or {})},
    )


async def _stop(proc: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    return await asyncio.wait_for(proc.communicate(), 30)


async def _emulator(tmp_path, *args: str, env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, str]:
    """A modem emulator process; returns once it printed its port (so it runs, and bound
    its SMSC if it has one)."""
    link = str(tmp_path / "ttyEMU")
    proc = await _cli("modem-emulator", "--msisdn", EMU, "--link", link, *args, env=env)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    if line != link:
        out, err = await _stop(proc)
        raise AssertionError(f"modem-emulator did not start: {line!r} {err.decode()[-2000:]}")
    return proc, link


@pytest.mark.parametrize("how", ["file", "env"])
async def test_modem_emulator_binds_with_the_password_from_a_file_or_the_environment(tmp_path, how):
    secret = tmp_path / "smpp.pw"
    secret.write_text(PASSWORD + "\n")
    args, env = (["--password-file", str(secret)], None) if how == "file" else ([], {"LWM2M_SMS_SMPP_PASSWORD": PASSWORD})
    cfg = SmscConfig(accounts=[Account("modem003333", PASSWORD, address_range=EMU[1:])])
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        proc, _ = await _emulator(tmp_path, "--smsc", f"127.0.0.1:{smsc.port}", *args, env=env)
        assert smsc.stats.binds == 1  # start() returned bound before the port was printed
        _out, err = await _stop(proc)
    assert PASSWORD.encode() not in err


async def test_modem_emulator_with_a_wrong_password_is_refused(tmp_path):
    secret = tmp_path / "smpp.pw"
    secret.write_text("wrong\n")
    cfg = SmscConfig(accounts=[Account("modem003333", PASSWORD, address_range=EMU[1:])])
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        proc = await _cli("modem-emulator", "--msisdn", EMU, "--smsc", f"127.0.0.1:{smsc.port}",
                          "--password-file", str(secret))
        _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 1 and b"ESME_RINVPASWD" in err and smsc.stats.binds == 0


async def test_modem_emulator_unreadable_password_file_is_one_line():
    proc = await _cli("modem-emulator", "--msisdn", EMU, "--smsc", "127.0.0.1:1",
                      "--password-file", "/nonexistent/pw", verbose=False)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().strip() == "lwm2m-sms modem-emulator: --password-file /nonexistent/pw: No such file or directory"


@pytest.mark.parametrize("how", ["file", "env"])
async def test_modem_info_unlocks_with_the_pin_from_a_file_or_the_environment(tmp_path, how):
    pin_file = tmp_path / "sim.pin"
    pin_file.write_text(PIN + "\n")
    emu, port = await _emulator(tmp_path, "--pin", PIN)
    try:
        args, env = (["--pin-file", str(pin_file)], None) if how == "file" else ([], {"LWM2M_SMS_PIN": PIN})
        proc = await _cli("modem-info", "--port", port, *args, env=env)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()[-2000:]
        assert b"IMEI" in out.upper()
        assert b"AT+CPIN=<hidden>" in err  # -vv logs the command, not the PIN
        assert PIN.encode() not in out + err
    finally:
        await _stop(emu)


async def test_modem_info_unreadable_pin_file_is_one_line():
    proc = await _cli("modem-info", "--port", "/dev/null", "--pin-file", "/nonexistent/pin", verbose=False)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().strip() == "lwm2m-sms modem-info: --pin-file /nonexistent/pin: No such file or directory"


async def test_server_unlocks_its_modem_with_the_pin_file(tmp_path):
    pin_file = tmp_path / "sim.pin"
    pin_file.write_text(PIN + "\n")
    emu, port = await _emulator(tmp_path, "--pin", PIN)
    try:
        proc = await _cli("server", "--udp", "127.0.0.1:0", "--modem", port, "--msisdn", "+15550000",
                          "--pin-file", str(pin_file))
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line.startswith(f"GSM modem on {port}"), line
        finally:
            out, err = await _stop(proc)
        assert b"AT+CPIN=<hidden>" in err and PIN.encode() not in out + err
    finally:
        await _stop(emu)


async def test_server_unreadable_pin_file_is_one_line():
    proc = await _cli("server", "--modem", "/dev/null", "--msisdn", "+15550000",
                      "--pin-file", "/nonexistent/pin", verbose=False)
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().strip() == "lwm2m-sms server: --pin-file /nonexistent/pin: No such file or directory"


def test_client_and_bootstrap_resolve_the_pin(tmp_path, monkeypatch):
    """client and bootstrap share check_bearer_options: --pin-file, else --pin, else the
    environment; an unreadable file is an option error naming it, not the PIN."""
    parser = argparse.ArgumentParser()
    add_bearer_options(parser, "own number")
    pin_file = tmp_path / "sim.pin"
    pin_file.write_text("1357\r\n")
    base = ["--modem", "/dev/ttyUSB0", "--msisdn", "+15550001"]
    monkeypatch.setenv("LWM2M_SMS_PIN", "9999")

    def pin(*extra: str) -> str | None:
        args = parser.parse_args(base + list(extra))
        check_bearer_options(args)
        return args.pin

    assert pin("--pin-file", str(pin_file), "--pin", "1111") == "1357"
    assert pin("--pin", "1111") == "1111"
    assert pin() == "9999"
    monkeypatch.delenv("LWM2M_SMS_PIN")
    assert pin() is None
    with pytest.raises(OptionError, match="^--pin-file /nonexistent/pin: No such file or directory$"):
        pin("--pin-file", "/nonexistent/pin")
