"""``lwm2m-sms bootstrap push`` and ``bootstrap serve`` as a user runs them (subprocesses),
through the simulated SMSC over real loopback SMPP."""

import asyncio
import json
import signal

import pytest

from lwm2m_sms.gateway import smpp_bearer, start_device

from .test_cli_sms import SERVER, cli, line_with, network, stop  # noqa: F401 (network: a fixture)

BS = "+15550009"


def config(tmp_path, stack, endpoints):
    path = tmp_path / "bs.json"
    path.write_text(json.dumps({"endpoints": {
        ep: {"sms": numbers, "servers": [{"uri": stack.udp_uri, "binding": binding, "sms_number": SERVER}]}
        for ep, (binding, numbers) in endpoints.items()}}))
    return str(path)


async def test_push_by_sms(network, tmp_path):
    smsc, stack = network
    cfg = config(tmp_path, stack, {"push-s": ("S", [])})
    link = await smpp_bearer(smsc.port, "dev0501", "+15550501", "+15550501")
    dev = await start_device("push-s", "S", bootstrap_uri=f"coap+sms://{BS}", bootstrap_sms=BS, udp=False,
                             bearer=link, start=False, hold_off=3600)
    booting = asyncio.ensure_future(dev.client.start())
    try:
        proc = await cli("bootstrap", "push", "push-s", "--sms", "+15550501", "--config", cfg,
                         "--smpp", f"127.0.0.1:{smsc.port}", "--system-id", "bs", "--msisdn", BS)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out.decode(), err.decode())
        lines = out.decode().splitlines()
        assert [l.split()[0] for l in lines[:-1]] == ["Delete", "Discover", "Write", "Write", "Finish"]
        assert lines[-1] == "bootstrap ep=push-s at coap+sms://+15550501: succeeded"
        await asyncio.wait_for(booting, 20)
        assert stack.server.registration("push-s").binding == "S"
    finally:
        booting.cancel()
        await dev.close()
        await link.close()


async def test_push_by_udp(network, tmp_path):
    import socket

    from lwm2m_sms.lwm2m.udp import local_port

    _smsc, stack = network
    cfg = config(tmp_path, stack, {"push-u": ("U", [])})
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    dev = await start_device("push-u", "U", bootstrap_uri=f"coap://127.0.0.1:{port}", start=False, hold_off=3600)
    booting = asyncio.ensure_future(dev.client.start())
    try:
        proc = await cli("bootstrap", "push", "push-u", "--udp", f"127.0.0.1:{local_port(dev.context)}",
                         "--listen", f"127.0.0.1:{port}", "--config", cfg)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, (out.decode(), err.decode())
        assert out.decode().splitlines()[-1].endswith(": succeeded")
        await asyncio.wait_for(booting, 20)
        assert stack.server.registration("push-u").binding == "U"
    finally:
        booting.cancel()
        await dev.close()


async def test_push_to_a_silent_number_fails(network, tmp_path):
    smsc, stack = network
    cfg = config(tmp_path, stack, {"ghost": ("S", [])})
    proc = await cli("bootstrap", "push", "ghost", "--sms", "+15550599", "--config", cfg, "--timeout", "0.5",
                     "--smpp", f"127.0.0.1:{smsc.port}", "--system-id", "bs", "--msisdn", BS)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert "failed (Delete /: no answer within 0.5 s)" in out.decode().splitlines()[-1]


async def test_serve_and_an_sms_device_that_asks(network, tmp_path):
    smsc, stack = network
    cfg = config(tmp_path, stack, {"ask-sq": ("SQ", ["+15550502"])})
    server = await cli("bootstrap", "serve", "--config", cfg, "--listen", "127.0.0.1:0",
                       "--smpp", f"127.0.0.1:{smsc.port}", "--system-id", "bs", "--msisdn", BS)
    try:
        assert f"SMS {BS}" in await line_with(server, "bootstrap server on")
        device = await cli("client", "--ep", "ask-sq", "--binding", "SQ", "--smpp", f"127.0.0.1:{smsc.port}",
                           "--system-id", "dev", "--msisdn", "+15550502", "--bootstrap", f"coap+sms://{BS}")
        try:
            await line_with(device, "1 of 1 device(s) registered")
            assert "bootstrap ep=ask-sq (client initiated) succeeded" in await line_with(server, "ep=ask-sq")
            assert stack.server.registration("ask-sq").binding == "SQ"
        finally:
            await stop(device)
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(server.communicate(), 30)
        assert server.returncode == 0, err.decode()
        assert "stopping: 1 bootstrap(s) done, 0 failed, 0 SMS dropped" in out.decode()


@pytest.mark.parametrize("args,words", [
    (["push", "x", "--sms", "+15550501", "--config", "/nonexistent.json"], "--sms needs an SMS bearer"),
    (["push", "x", "--udp", "127.0.0.1:9", "--config", "/nonexistent.json"], "No such file"),
    (["push", "x", "--sms", "abc", "--smpp", "127.0.0.1:9", "--msisdn", BS, "--config", "x"], "--sms"),
    (["serve", "--config", "x", "--smpp", "127.0.0.1:9"], "--msisdn"),
])
async def test_command_line_errors_are_one_line(args, words):
    proc = await cli("bootstrap", *args)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0], lines

