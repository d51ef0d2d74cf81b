"""The config file, the ``smsc`` subcommand and the ``bench smpp`` summary line."""

import asyncio
import re
import os
import sys

import pytest

from lwm2m_sms.cli import main
from smsc.config import config_from_dict, load_config
from smsc.server import parse_validity

EXAMPLE = """
[smsc]
system_id = "SIM"
max_queue = 10
store = "x.db"

[[accounts]]
system_id = "server"
password = "secret"
address_range = "^\\\\+?1555"
throttle = 100

[impairments]
latency = 0.1
loss = 5
"""


def test_toml_config(tmp_path):
    path = tmp_path / "smsc.toml"
    path.write_text(EXAMPLE)
    cfg = load_config(path)
    assert cfg.system_id == "SIM" and cfg.max_queue == 10 and cfg.store == "x.db"
    assert cfg.account("server").password == "secret" and cfg.account("server").throttle == 100
    assert cfg.account("server").address_range == r"^\+?1555"
    assert cfg.impairments.latency == 0.1 and cfg.impairments.loss == 5
    assert not cfg.open_access and not load_config(None).open_access
    assert config_from_dict({"smsc": {"open": True}}).open_access


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="max_queu"):
        config_from_dict({"smsc": {"max_queu": 1}})
    with pytest.raises(ValueError, match="routes"):
        config_from_dict({"routes": {}})


def test_validity_period_forms():
    now = 1_700_000_000.0
    assert parse_validity("", now, 60) == now + 60
    assert parse_validity("000001000000000R", now, 60) == now + 86400
    assert parse_validity("000000001500000R", now, 60) == now + 900
    with pytest.raises(ValueError):
        parse_validity("tomorrow", now, 60)


async def test_smsc_subcommand_runs_as_a_process_and_stops_on_sigterm():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "smsc", "--open", "--listen", "127.0.0.1:0", "--stats",
        stdout=asyncio.subprocess.PIPE,
    )
    first = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert first.startswith("smsc listening on 127.0.0.1:") and "OPEN mode" in first
    stats = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert stats.startswith("smsc: binds 0 submitted 0 delivered 0 queued 0")
    proc.terminate()
    assert await asyncio.wait_for(proc.wait(), 10) == 0


def test_bench_smpp_prints_summary(capsys):
    assert main(["bench", "smpp", "--messages", "300", "--window", "16"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("smpp: ") and "submit_sm/s" in last and last.endswith("delivered/s")


async def test_server_says_it_waits_for_the_smsc_and_gives_up_after_smpp_wait():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0", "--smpp", "127.0.0.1:1",
        "--msisdn", "+15550000", "--smpp-wait", "1",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 1
    (waiting,) = [line for line in lines if line.startswith("waiting for SMSC")]
    assert waiting.startswith("waiting for SMSC 127.0.0.1:1: ") and "refused" in waiting.lower()
    assert sum("connect to 127.0.0.1:1 failed" in line for line in lines) <= 1  # no warning per retry
    assert lines[-1] == ("lwm2m-sms: error: --smpp 127.0.0.1:1: not bound within 1 s:"
                         " connect failed: Connection refused")
    assert b"LwM2M server on" not in out  # no start banner when it did not start


async def test_server_reads_the_password_from_a_file_or_the_environment(tmp_path):
    from smsc.config import Account, SmscConfig
    from smsc.server import SimulatedSmsc

    secret = tmp_path / "smpp.pw"
    secret.write_text("s3cret\n")
    cfg = SmscConfig(accounts=[Account("lwm2m", "s3cret", address_range="15550000")])
    async with SimulatedSmsc(cfg) as smsc:
        await smsc.start("127.0.0.1", 0)
        for extra, env in ((["--password-file", str(secret)], {}), ([], {"LWM2M_SMS_SMPP_PASSWORD": "s3cret"})):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0",
                "--smpp", f"127.0.0.1:{smsc.port}", "--system-id", "lwm2m", "--msisdn", "+15550000",
                "--smpp-wait", "20", *extra,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={**os.environ, **env},
            )
            try:
                line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
                assert line.startswith("SMPP link to 127.0.0.1:") and "not bound" not in line
            finally:
                proc.terminate()
                _out, err = await asyncio.wait_for(proc.communicate(), 20)
            assert b"s3cret" not in err  # never logged


async def test_unreadable_password_file_is_one_line():
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--smpp", "127.0.0.1:1", "--msisdn", "+15550000",
        "--password-file", "/nonexistent/pw",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    assert err.decode().strip() == "lwm2m-sms server: --password-file /nonexistent/pw: No such file or directory"


def test_bench_smsc_prints_summary(capsys):
    assert main(["bench", "smsc", "--messages", "500", "--window", "32"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("simulated SMSC, smpplib client") for line in lines)
    assert re.fullmatch(r"smsc: \d+ accepted/s, \d+ delivered/s", lines[-1])


async def test_server_says_when_the_smsc_it_waited_for_binds():
    import socket as _socket

    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    with _socket.socket() as s:  # a free port, where the SMSC starts only later
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0", "--smpp", f"127.0.0.1:{port}",
        "--msisdn", "+15550000", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async def stderr_line(text):
            while True:
                line = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
                assert line, "stderr closed"
                if text in line:
                    return line

        waiting = await stderr_line("waiting for SMSC")
        assert waiting.startswith(f"waiting for SMSC 127.0.0.1:{port}: connect failed")
        async with SimulatedSmsc(SmscConfig(open=True)) as smsc:
            await smsc.start("127.0.0.1", port)
            assert (await stderr_line("bound")).strip() == f"SMPP link to 127.0.0.1:{port} bound"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.communicate(), 20)
