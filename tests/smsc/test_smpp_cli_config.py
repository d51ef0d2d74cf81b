"""The config file, the ``smsc`` subcommand and the ``bench smpp`` summary line."""

import asyncio
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
