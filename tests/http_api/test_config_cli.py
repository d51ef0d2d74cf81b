"""``lwm2m-sms server --config``: every option has a key, a file gives the same settings as
the flags it stands for (and flags override it), secrets come from files or the
environment, errors are one line; and a server started from a file behaves as one started
with the equivalent flags."""

import argparse
import asyncio
import sys

import pytest

from lwm2m_sms.cli import build_parser, server
from lwm2m_sms.cli.server_config import resolve
from lwm2m_sms.config import SERVER_KEYS, ConfigFileError, load_server_config
from lwm2m_sms.gateway import smpp_bearer, start_device
from lwm2m_sms.multiplex import SegmentMux

from .conftest import TOKEN

CONFIG = """
[server]
udp = "127.0.0.1:{udp}"
db = "{tmp}/lwm2m.db"
local_db = "{tmp}/node.db"
durability = "full"
msisdn = "{msisdn}"
grace = 120
lwm2m_versions = ["1.0"]

[smpp]
smsc = "127.0.0.1:{smsc}"
system_id = "{system_id}"
system_type = "lwm2m"
address_range = "{msisdn}"
store = "{tmp}/outbox.db"
wait = 30
password_file = "{tmp}/smpp-password"

[routing]
wake_up = 30
udp_window = 60
sms_window = 600
queue_ttl = 3600
udp_timeout = 20
us_fallback = false
allow_register = ["+15550101", "+15550102"]

[limits]
max_registrations = 500
max_link_format = 2048
lifetime_range = "60..86400"
max_endpoint = 64

[http]
listen = "127.0.0.1:{http}"
token_file = "{tmp}/token"
max_body = 32768
max_streams = 8
rate = 50
"""


def flags(tmp, msisdn="+15550000", system_id="server", udp=0, smsc=2775, http=0):
    return ["--udp", f"127.0.0.1:{udp}", "--db", f"{tmp}/lwm2m.db", "--local-db", f"{tmp}/node.db",
            "--durability", "full", "--msisdn", msisdn, "--grace", "120",
            "--lwm2m-version", "1.0", "--smpp", f"127.0.0.1:{smsc}", "--system-id", system_id,
            "--system-type", "lwm2m", "--address-range", msisdn, "--smpp-store", f"{tmp}/outbox.db", "--smpp-wait", "30",
            "--password", "s3cret", "--wake-up", "30", "--udp-window", "60", "--sms-window", "600",
            "--queue-ttl", "3600", "--udp-timeout", "20", "--no-us-fallback",
            "--allow-register", "+15550101", "--allow-register", "+15550102",
            "--max-registrations", "500", "--max-link-format", "2048", "--lifetime-range", "60..86400",
            "--max-endpoint", "64",
            "--http", f"127.0.0.1:{http}", "--http-token-file", f"{tmp}/token", "--http-max-body", "32768",
            "--http-max-streams", "8", "--http-rate", "50"]


def write_config(tmp, name="server.toml", msisdn="+15550000", system_id="server", udp=0, smsc=2775, http=0):
    (tmp / "smpp-password").write_text("s3cret\n")
    (tmp / "token").write_text(TOKEN + "\n")
    path = tmp / name
    path.write_text(CONFIG.format(tmp=tmp, msisdn=msisdn, system_id=system_id, udp=udp, smsc=smsc, http=http))
    return path


def parse(argv):
    args = build_parser().parse_args(argv)
    args._argv = argv
    return args


def settings(args):
    return {k: v for k, v in vars(args).items() if k not in ("config", "_argv", "_run")}


def test_every_server_option_has_a_key_in_the_file():
    p = argparse.ArgumentParser()
    server.add_arguments(p)
    dests = {a.dest for a in p._actions} - {"help", "config", "check_config"}
    # the secrets: smpp.password_file / password_env and modem.pin_file / pin_env
    covered = {dest for dest, _ in SERVER_KEYS.values()} | {"password", "password_file", "pin", "pin_file"}
    assert dests <= covered, f"options without a config key: {sorted(dests - covered)}"


def test_a_file_gives_the_settings_of_its_flags_and_flags_override_it(tmp_path):
    path = write_config(tmp_path)
    from_flags = parse(["server", *flags(tmp_path)])
    from_file = resolve(parse(["server", "--config", str(path)]), server.add_arguments)
    assert settings(from_file) == settings(from_flags)
    overridden = resolve(parse(["server", "--config", str(path), "--grace", "5", "--wake-up", "never"]),
                         server.add_arguments)
    assert (overridden.grace, overridden.wake_up, overridden.sms_window) == (5.0, "never", 600.0)


def test_secrets_from_a_file_or_the_environment_never_inline(tmp_path, monkeypatch):
    path = tmp_path / "s.toml"
    path.write_text('[smpp]\npassword_env = "SMPP_PW"\n[modem]\npin_file = "%s/pin"\n' % tmp_path)
    (tmp_path / "pin").write_text("1234\n")
    monkeypatch.setenv("SMPP_PW", "from-env")
    assert load_server_config(str(path)) == {"password": "from-env", "pin": "1234"}
    path.write_text('[smpp]\npassword = "inline"\n')
    with pytest.raises(ConfigFileError, match="a secret does not belong in the file"):
        load_server_config(str(path))


@pytest.mark.parametrize("text, message", [
    ("[server]\ngrace = \"long\"\n", "server.grace: expected a number"),
    ("[server]\nudpp = \"x\"\n", "server.udpp: unknown key"),
    ("[server]\ndurability = \"fsync\"\n", "server.durability: expected 'normal' or 'full'"),
    ("[nope]\n", "unknown section [nope]"),
    ("[server\n", "not valid TOML"),
    ("[http]\nlisten = \"nowhere\"\n", "expected HOST:PORT"),
    ("[smpp]\npassword_env = \"UNSET_VARIABLE_X\"\n", "UNSET_VARIABLE_X is not set"),
    ("[http]\nlisten = \"0.0.0.0:8080\"\nno_token = true\n", "not loopback"),
])
def test_check_config_names_the_problem_in_one_line(tmp_path, text, message):
    import subprocess

    path = tmp_path / "bad.toml"
    path.write_text(text)
    p = subprocess.run([sys.executable, "-m", "lwm2m_sms.cli", "server", "--config", str(path), "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and message in p.stderr and p.stderr.count("\n") == 1, p.stderr


def test_check_config_says_ok(tmp_path):
    import subprocess

    path = write_config(tmp_path)
    p = subprocess.run([sys.executable, "-m", "lwm2m_sms.cli", "server", "--config", str(path), "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert (p.returncode, p.stdout) == (0, f"{path}: OK\n"), p.stderr


async def start_cli(*args):
    p = await asyncio.create_subprocess_exec(sys.executable, "-m", "lwm2m_sms.cli", "server", *args,
                                             stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    udp = http = None
    while udp is None or http is None:
        line = (await asyncio.wait_for(p.stdout.readline(), 30)).decode()
        assert line, (await p.stderr.read()).decode()
        if line.startswith("LwM2M server on "):
            udp = line.split()[3].rstrip(",")
        if line.startswith("HTTP API and console on "):
            http = line.split()[-1].rstrip("/")
    return p, udp, http


async def test_server_from_a_file_behaves_as_the_server_from_its_flags(tmp_path):
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    smsc = SimulatedSmsc(SmscConfig(open=True, retry_min=0.05, retry_max=0.2))
    await smsc.start("127.0.0.1", 0)
    fleet = await smpp_bearer(smsc.port, "fleet", r"^\+?15550[1-9].*")
    mux = SegmentMux(fleet)
    results = []
    procs, devices = [], []
    try:
        for n, how in enumerate(("flags", "file")):
            tmp = tmp_path / how
            tmp.mkdir()
            msisdn, system_id = f"+1555000{n}", f"server{n}"
            if how == "flags":
                argv = flags(tmp, msisdn, system_id, smsc=smsc.port)
                write_config(tmp)  # the token and password files
            else:
                argv = ["--config", str(write_config(tmp, msisdn=msisdn, system_id=system_id, smsc=smsc.port))]
            p, udp, http = await start_cli(*argv)
            procs.append(p)
            results.append(await scenario(smsc, mux, udp, http, msisdn, f"+1555010{n + 1}", devices))
    finally:
        for d in devices:
            await d.close(deregister=False)
        for p in procs:
            p.terminate()
            await p.wait()
        await fleet.close()
        await smsc.close()
    assert results[0] == results[1]
    assert results[0]["read"] == ("answered", "2.05", "lwm2m-sms", "sms", 2)


async def scenario(smsc, mux, udp, http, server_msisdn, device_msisdn, devices):
    """Register an SMS device, read it through the API, look at what the API says."""
    import aiohttp

    bearer = mux.channel(device_msisdn)
    await bearer.start()
    dev = await start_device("dev", "S", server_uri=udp, server_msisdn=server_msisdn, bearer=bearer)
    devices.append(dev)
    async with aiohttp.ClientSession(http, headers={"Authorization": f"Bearer {TOKEN}"}) as s:
        async with s.get("/api/devices/dev/data/3/0/0") as r:
            op = await r.json()
        async with s.get("/api/devices/dev") as r:
            d = await r.json()
        async with s.get("/api/stats") as r:
            stats = await r.json()
        async with aiohttp.ClientSession(http) as anonymous, anonymous.get("/api/devices") as r:
            anonymous_status = r.status
    return {
        "read": (op["state"], op["code"], op["value"], op["bearer"], op["sms"]),
        "device": (d["binding"], d["lifetime"], d["state"]),
        "queue": stats["queue"], "anonymous": anonymous_status,
    }
