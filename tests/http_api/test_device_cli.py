"""``lwm2m-sms device ...`` as a user runs it (a subprocess) against a server's HTTP API with
devices on SMS through the simulated SMSC and on UDP."""

import asyncio
import json
import os
import sys

from lwm2m_sms.routing.router import PolicySettings

from waiting import until

from .conftest import TOKEN


async def device_cli(rig, *args, token=TOKEN, stop_after=None):
    env = {**os.environ, "LWM2M_SMS_HTTP_TOKEN": token}
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "device", "--url", rig.api.url, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await asyncio.wait_for(p.communicate(), 60)
    return p.returncode, out.decode(), err.decode()


async def test_devices_read_write_exec_discover_as_tables_and_json(rig):
    await rig.start()
    dev = await rig.sms_device("dev-s", "S", "+15550101")
    await rig.udp_device("dev-u")
    code, out, err = await device_cli(rig, "devices")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["endpoint", "binding", "msisdn"]
    assert any(l.split()[:3] == ["dev-s", "S", "+15550101"] for l in lines)
    code, out, err = await device_cli(rig, "read", "dev-s", "/3/0/0")
    assert (code, out) == (0, "lwm2m-sms\n") and "2.05 via sms, 2 SMS" in err
    code, out, _ = await device_cli(rig, "--json", "read", "dev-s", "/3/0/0")
    assert json.loads(out)["value"] == "lwm2m-sms"
    code, out, _ = await device_cli(rig, "read", "dev-u", "/3/0")
    assert ["/3/0/0", "lwm2m-sms"] in [l.split() for l in out.splitlines()]
    code, _, err = await device_cli(rig, "write", "dev-u", "/1/0/1", "120")
    assert code == 0 and "2.04 via udp" in err
    requests = dev.client.stats["requests"]
    code, _, err = await device_cli(rig, "exec", "dev-s", "/3/0/4")
    assert code == 0 and "2.04 via sms" in err and dev.client.stats["requests"] == requests + 1
    code, out, _ = await device_cli(rig, "discover", "dev-u", "/3/0")
    assert "/3/0/0" in out.splitlines()
    code, out, _ = await device_cli(rig, "show", "dev-s")
    assert "msisdn             +15550101" in out


async def test_a_device_error_and_usage_errors_are_one_line_and_non_zero(rig):
    await rig.start()
    await rig.udp_device("dev-u")
    code, _, err = await device_cli(rig, "read", "dev-u", "/3/0/4")
    assert code == 1 and err.count("\n") == 1 and "failed 4.05" in err
    code, _, err = await device_cli(rig, "read", "nobody", "/3/0/0")
    assert code == 2 and err.count("\n") == 1 and "nobody" in err
    code, _, err = await device_cli(rig, "devices", token="wrong-token-0123456789")
    assert code == 2 and err.count("\n") == 1 and "refused the token" in err
    code, _, err = await device_cli(rig, "--url", "http://127.0.0.1:1", "devices")
    assert code == 2 and "cannot reach" in err


async def test_sleeping_device_read_waits_and_queue_shows_it(rig):
    await rig.start(policy=PolicySettings(sms_window=30))
    dev = await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
    await rig.clock.advance(31)
    code, out, _ = await device_cli(rig, "read", "dev-sq", "/3/0/1", "--no-wait")
    assert code == 0 and "queued as #" in out
    reader = asyncio.create_task(device_cli(rig, "read", "dev-sq", "/3/0/0"))
    await until(lambda: len(rig.stack.router.queue.pending("dev-sq")) == 2)
    code, out, _ = await device_cli(rig, "queue", "dev-sq")
    assert [l.split()[1:5] for l in out.splitlines()[2:]] == [["GET", "/3/0/0", "sms", "queued"],
                                                             ["GET", "/3/0/1", "sms", "queued"]]
    await dev.client.update()
    code, out, err = await reader
    assert (code, out) == (0, "lwm2m-sms\n") and "asleep" in err


async def test_observe_streams_notifications(rig):
    await rig.start()
    await rig.udp_device("dev-u", time_resolution=0.05)
    await rig.call("PUT", "/api/devices/dev-u/attributes/3/0/13", json={"pmin": 0, "pmax": 1})
    code, out, err = await device_cli(rig, "observe", "dev-u", "/3/0/13", "--count", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 3 and all(" /3/0/13 = " in l for l in lines)
    await until(lambda: not rig.stack.server.observations("dev-u"))  # cancelled at the end


async def test_observe_runs_until_ctrl_c_and_then_cancels(rig):
    import signal

    await rig.start()
    await rig.udp_device("dev-u", time_resolution=0.05)
    await rig.call("PUT", "/api/devices/dev-u/attributes/3/0/13", json={"pmin": 0, "pmax": 1})
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "device", "--url", rig.api.url, "observe", "dev-u", "/3/0/13",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "LWM2M_SMS_HTTP_TOKEN": TOKEN})
    lines = [await asyncio.wait_for(p.stdout.readline(), 30) for _ in range(3)]
    assert all(b" /3/0/13 = " in l for l in lines)
    p.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(p.communicate(), 30)
    assert p.returncode == 0, err
    await until(lambda: not rig.stack.server.observations("dev-u"))
