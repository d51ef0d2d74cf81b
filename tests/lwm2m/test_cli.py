"""``lwm2m-sms server`` and ``lwm2m-sms client`` as a user runs them (subprocesses)."""

import asyncio
import json
import re
import signal
import sys

from lwm2m_sms.lwm2m.client import Lwm2mClient
from lwm2m_sms.lwm2m.server import Lwm2mServer


async def cli(*args):
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


async def readline(proc, timeout=30):
    return (await asyncio.wait_for(proc.stdout.readline(), timeout)).decode()


async def test_server_prints_registrations_and_serves_bootstrap(tmp_path, contexts):
    config = tmp_path / "bs.json"
    # the bootstrap information names the server's own URI, known only once it runs:
    # start without bootstrap first to learn a free port, then with it on that port
    proc = await cli("server", "--udp", "127.0.0.1:0")
    port = int(re.search(r":(\d+)", await readline(proc)).group(1))
    proc.send_signal(signal.SIGTERM)
    await proc.wait()
    config.write_text(json.dumps({"endpoints": {"cli-dev": {"servers": [
        {"uri": f"coap://127.0.0.1:{port}", "lifetime": 60}]}}}))
    proc = await cli("server", "--udp", f"127.0.0.1:{port}", "--db", str(tmp_path / "r.sqlite"),
                     "--bootstrap-config", str(config))
    try:
        first = await readline(proc)
        assert f"coap://127.0.0.1:{port}" in first and "bootstrap" in first
        client = Lwm2mClient(await contexts(), "cli-dev", bootstrap=f"coap://127.0.0.1:{port}")
        await client.start()
        line = await readline(proc)
        assert "registered" in line and "ep=cli-dev" in line and "lt=60" in line and "b=U" in line
        await client.stop()
        assert "deregistered" in await readline(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert "stopping: 0 registration(s)" in out.decode()


async def test_client_runs_many_devices():
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    seen = []

    class Seen:
        def __getattr__(self, name):
            return lambda *a: None

        def validate_registration(self, params, remote, existing):
            return None

        def on_registered(self, reg):
            seen.append((reg.endpoint, reg.binding, reg.sms.lwm2m_digits))

    server.add_hooks(Seen())
    try:
        proc = await cli("client", "--ep", "fleet", "--server", f"coap://127.0.0.1:{server.port}",
                         "--binding", "UQS", "--sms", "+15550100", "--count", "3", "--duration", "0.5")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert "3 of 3 device(s) registered" in out.decode()
        assert sorted(seen) == [("fleet-0001", "UQS", "15550100"), ("fleet-0002", "UQS", "15550101"),
                                ("fleet-0003", "UQS", "15550102")]
        assert server.registrations() == []  # all de-registered at the end
    finally:
        await server.close()


async def test_client_reports_a_refused_registration():
    server = await Lwm2mServer.create_udp(("127.0.0.1", 0))
    try:
        # binding UQS without an sms= number: the server answers 4.00
        proc = await cli("client", "--ep", "nosms", "--server", f"coap://127.0.0.1:{server.port}",
                         "--binding", "UQS", "--duration", "0.1")
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        assert "0 of 1 device(s) registered" in out.decode() and "4.00" in err.decode()
    finally:
        await server.close()
