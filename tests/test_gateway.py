"""The public composition API: a Gateway starts whole or not at all, says which part failed,
closes what it built (and only that), and takes its options as one config or as keywords."""

import asyncio

import pytest

from lwm2m_sms import Gateway, GatewayConfig, GatewayError, LoopbackBearer, LoopbackNetwork, PolicySettings
from smsc import Account, SimulatedSmsc, SmppLinkConfig, SmscConfig


def _tasks() -> set:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_a_taken_udp_port_is_a_gateway_error_and_nothing_keeps_running():
    async with Gateway(udp=("127.0.0.1", 0)) as first:
        before = _tasks()
        second = Gateway(udp=("127.0.0.1", first.udp_port))
        with pytest.raises(GatewayError, match=rf"UDP 127\.0\.0\.1:{first.udp_port}: cannot bind"):
            await second.start()
        assert _tasks() <= before
        with pytest.raises(RuntimeError, match="not started"):
            second.server


async def test_an_unusable_database_is_a_gateway_error(tmp_path):
    missing = tmp_path / "no-such-dir" / "server.sqlite"
    with pytest.raises(GatewayError, match="database .*no-such-dir") as info:
        await Gateway(udp=("127.0.0.1", 0), db=str(missing)).start()
    assert info.value.part == "db" and "unable to open database file" in info.value.detail


async def test_an_smpp_link_needs_the_servers_number():
    with pytest.raises(GatewayError, match="the server's number: needed with an SMPP link") as info:
        await Gateway(udp=("127.0.0.1", 0), smpp=SmppLinkConfig(port=1)).start()
    assert info.value.part == "msisdn"


async def test_a_refused_bind_names_the_link_and_leaves_no_link_behind():
    smsc = SimulatedSmsc(SmscConfig(accounts=[Account("lwm2m", "secret")]))
    await smsc.start("127.0.0.1", 0)
    try:
        config = GatewayConfig(udp=("127.0.0.1", 0), msisdn="+15550000", smpp_bind_timeout=10,
                               smpp=SmppLinkConfig(port=smsc.port, system_id="lwm2m", password="wrong"))
        with pytest.raises(GatewayError, match=rf"SMPP link to 127\.0\.0\.1:{smsc.port} as 'lwm2m'"):
            await Gateway(config).start()
        smsc.refresh_stats()
        assert smsc.stats.binds == 0
    finally:
        await smsc.close()


async def test_the_gateway_closes_the_link_it_built_and_not_a_bearer_it_was_given():
    smsc = SimulatedSmsc(SmscConfig(open=True))
    await smsc.start("127.0.0.1", 0)
    network = LoopbackNetwork()
    given = LoopbackBearer(network, "+15550009")
    await given.start()
    try:
        gateway = Gateway(GatewayConfig(
            udp=("127.0.0.1", 0), msisdn="+15550000", bearers=[given], smpp_bind_timeout=10,
            smpp=SmppLinkConfig(port=smsc.port, system_id="lwm2m"),
        ))
        async with gateway:
            assert [b.kind for b in gateway.bearers] == ["smpp", "loopback"]
            assert len(gateway.sms) == 2
            assert str(gateway.msisdn) == "+15550000" and gateway.sms_uri == "coap+sms://+15550000"
            # The router's trust gate guards every SMS transport, not just the first.
            assert all(t.accept_filter == gateway.router.accept_sms for t in gateway.sms)
            smsc.refresh_stats()
            assert smsc.stats.binds == 1
        await gateway.close()  # idempotent
        smsc.refresh_stats()
        assert smsc.stats.binds == 0
        assert given.local_address is not None
        await given.send("+15550009", b"still open")  # the caller's bearer is the caller's to close
    finally:
        await given.close()
        await smsc.close()


def test_options_as_one_config_or_as_keywords():
    policy = PolicySettings(wake_up="never")
    base = GatewayConfig(udp=("127.0.0.1", 0), policy=policy)
    assert Gateway(base).config is base
    assert Gateway(base, db="x.sqlite").config == GatewayConfig(udp=("127.0.0.1", 0), policy=policy, db="x.sqlite")
    assert Gateway(udp=("127.0.0.1", 0), grace=5.0).config.grace == 5.0
    with pytest.raises(TypeError):
        Gateway(no_such_option=1)


async def test_stats_are_plain_data_for_json():
    import json

    async with Gateway(udp=("127.0.0.1", 0)) as gateway:
        stats = gateway.stats().as_dict()
    assert json.loads(json.dumps(stats)) == stats
    assert stats["registrations"] == 0 and stats["router"]["sent_sms"] == 0 and stats["sms"] == []


async def test_a_host_that_is_no_ip_address_is_a_gateway_error():
    with pytest.raises(GatewayError, match="UDP localhost:5683: cannot bind") as info:
        await Gateway(udp=("localhost", 5683)).start()
    assert info.value.part == "udp"


async def test_an_smsc_that_never_answers_the_bind_is_named_with_the_time_waited():
    import socket

    # A TCP listener that accepts and never speaks SMPP.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        config = GatewayConfig(udp=("127.0.0.1", 0), msisdn="+15550000", smpp_bind_timeout=0.2,
                               smpp=SmppLinkConfig(port=port, system_id="lwm2m", response_timeout=0.5))
        with pytest.raises(GatewayError, match=rf"SMPP link to 127\.0\.0\.1:{port} .*not bound within 0\.2 s"):
            await Gateway(config).start()
    finally:
        listener.close()
