"""The README's quick start, command for command: each command of its two sh blocks is run
as written, except that its fixed ports (2775, 5683, 8080) become free ones, so the test
runs beside anything else on this machine (``lwm2m-sms device`` is pointed at the moved
port by ``$LWM2M_SMS_URL``, its documented way)."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def quick_start_commands() -> list[str]:
    text = README.read_text()
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_has_sms() -> bool:
    out = subprocess.run([sys.executable, "-m", "lwm2m_sms.cli", "client", "--help"],
                         capture_output=True, text=True).stdout
    return "--smpp" in out and "--msisdn" in out


def argv(command: str, ports: dict[str, str]) -> list[str]:
    words = command.split()
    assert words[0] == "lwm2m-sms", command
    out = []
    for w in words[1:]:
        for old, new in ports.items():
            w = w.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
        out.append(w)
    return [sys.executable, "-m", "lwm2m_sms.cli", *out]


def wait_for_line(proc, prefix: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"exited before {prefix!r}: {proc.stderr.read()}")
        if prefix in line:
            return line
    raise AssertionError(f"no {prefix!r} within {timeout} s")


def test_readme_quick_start_runs_as_written():
    if not client_has_sms():
        pytest.skip("this tree's `lwm2m-sms client` has no --smpp/--msisdn yet (issue 16, item 4)")
    commands = quick_start_commands()
    assert [c.split()[1] for c in commands] == ["smsc", "server", "client", "device"]
    ports = {"2775": str(free_port()), "5683": str(free_port(socket.SOCK_DGRAM)), "8080": str(free_port())}
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LWM2M_SMS_HTTP_TOKEN", None)
    procs = []
    try:
        expect = ["", "HTTP API and console on", "registered"]
        for command, ready in zip(commands[:3], expect):
            p = subprocess.Popen(argv(command, ports), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env)
            procs.append(p)
            wait_for_line(p, ready)
        console = f"http://127.0.0.1:{ports['8080']}"
        read = subprocess.run(argv(commands[3], ports), capture_output=True, text=True, timeout=60,
                              env={**env, "LWM2M_SMS_URL": console})  # the default URL, port moved
        assert (read.returncode, read.stdout) == (0, "lwm2m-sms\n"), read.stderr
        assert "2.05 via sms, 2 SMS" in read.stderr
        # the console's address, as the README gives it (with the port moved)
        import urllib.request

        with urllib.request.urlopen(console + "/", timeout=10) as r:
            assert r.status == 200 and b"lwm2m-sms console" in r.read()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
