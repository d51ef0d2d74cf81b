"""Authentication, exposure rules and every limit of the HTTP API; the event stream in
order; /metrics read back by prometheus-client's own parser."""

import asyncio
import json
import os
import subprocess
import sys

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lwm2m_sms.http import HttpApi, HttpSettings, load_token
from lwm2m_sms.http.access import RateLimiter, check_exposure
from lwm2m_sms.lwm2m.exceptions import ConfigError

from waiting import until

from .conftest import TOKEN


async def test_wrong_or_missing_token_is_refused_and_logged_once_a_minute(rig, caplog):
    caplog.set_level("WARNING", logger="lwm2m_sms.http.app")
    await rig.start()
    async with aiohttp.ClientSession(rig.api.url) as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}):
            for url in ("/api/devices", "/metrics", "/api/events"):
                async with anonymous.get(url, headers=headers) as r:
                    assert r.status == 401, url
                    assert "token" in (await r.json())["error"]
        async with anonymous.get("/") as r:  # the console page holds no data: no token needed
            assert r.status == 200 and "<title>" in await r.text()
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "from 127.0.0.1 refused: no token" in refusals[0]


async def test_console_cookie_needs_the_right_token_and_the_csrf_header(rig):
    await rig.start()
    await rig.udp_device("dev-u")
    async with aiohttp.ClientSession(rig.api.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post("/api/session", json={"token": "not-the-token-at-all"}) as r:
            assert r.status == 401
        async with browser.post("/api/session", json={"token": TOKEN}) as r:
            assert r.status == 200
        async with browser.get("/api/devices") as r:
            assert r.status == 200
        async with browser.post("/api/devices/dev-u/data/3/0/4") as r:
            assert r.status == 403 and "X-Lwm2m-Sms" in (await r.json())["error"]
        async with browser.post("/api/devices/dev-u/data/3/0/4", headers={"X-Lwm2m-Sms": "1"}) as r:
            assert r.status == 200


def test_exposure_rules():
    with pytest.raises(ConfigError, match="needs a token"):
        check_exposure(HttpSettings(host="127.0.0.1"))
    with pytest.raises(ConfigError, match="not loopback"):
        check_exposure(HttpSettings(host="0.0.0.0", allow_no_token=True))
    with pytest.raises(ConfigError, match="not loopback"):
        check_exposure(HttpSettings(host="example.org", allow_no_token=True))
    check_exposure(HttpSettings(host="::1", allow_no_token=True))
    check_exposure(HttpSettings(host="0.0.0.0", token=TOKEN))


def test_token_from_file_or_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("LWM2M_SMS_HTTP_TOKEN", raising=False)
    assert load_token(None) is None
    monkeypatch.setenv("LWM2M_SMS_HTTP_TOKEN", TOKEN)
    assert load_token(None) == TOKEN
    f = tmp_path / "token"
    f.write_text("from-the-file-0123456789\nignored\n")
    assert load_token(str(f)) == "from-the-file-0123456789"
    f.write_text("short\n")
    with pytest.raises(ConfigError, match="shorter"):
        load_token(str(f))
    with pytest.raises(ConfigError, match="token file"):
        load_token(str(tmp_path / "missing"))


def test_rate_limiter_per_client_and_bounded():
    limiter = RateLimiter(rate=1.0, burst=2, max_clients=3)
    assert [limiter.allow("a", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("b", 0.0)  # another client has its own bucket
    assert limiter.allow("a", 1.0) and not limiter.allow("a", 1.0)
    for c in "cdefg":
        limiter.allow(c, 2.0)
    assert len(limiter._buckets) == 3


async def test_rate_limit_answers_429(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN, rate=0.001, burst=3))
    statuses = []
    for _ in range(5):
        async with rig.http.get("/api/stats") as r:
            statuses.append(r.status)
    assert statuses == [200, 200, 200, 429, 429]


async def test_body_size_limit_answers_413(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN, max_body=1024))
    await rig.udp_device("dev-u")
    big = await rig.call("PUT", "/api/devices/dev-u/data/1/0/1", status=413, json={"value": "x" * 2000})
    assert "larger than 1024" in big["error"]


async def test_event_stream_limits_answer_503_and_429(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN, max_sse_clients=1))
    async with rig.http.get("/api/events") as first:
        await first.content.readline()
        async with rig.http.get("/api/events") as second:
            assert second.status == 503
    await until(lambda: rig.api.sse_clients == 0)


async def test_event_streams_per_client_are_limited(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN, max_sse_per_client=2))
    async with rig.http.get("/api/events") as a, rig.http.get("/api/events") as b:
        await a.content.readline()
        await b.content.readline()
        async with rig.http.get("/api/events") as third:
            assert third.status == 429 and "from 127.0.0.1" in (await third.json())["error"]
    await until(lambda: rig.api.sse_clients == 0)
    async with rig.http.get("/api/events") as again:  # the slots are free again
        assert again.status == 200


async def test_a_slow_event_reader_is_cut_off_not_buffered_without_end(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN, sse_backlog=3))
    sub = rig.api.events.subscribe(None, 3)
    for i in range(10):
        rig.api.events.publish("test", None, n=i)
    got = []
    while True:
        item = sub.queue.get_nowait()
        if item is None:
            break
        got.append(item)
    assert sub.overflowed and got == []  # cut off: the client resumes by Last-Event-ID


async def read_events(stream, n):
    events = []
    async for line in stream.content:
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
            if len(events) == n:
                return events


async def test_events_in_order_register_update_queue_wake_up_deregister(rig):
    from lwm2m_sms.routing.router import PolicySettings

    await rig.start(policy=PolicySettings(sms_window=30))
    async with rig.http.get("/api/events") as stream:
        await stream.content.readline()
        dev = await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
        await rig.clock.advance(31)
        op = await rig.get("/api/devices/dev-sq/data/3/0/0", status=202)
        await dev.client.update()
        await until(lambda: rig.api.operations.get(op["id"]).state == "answered")
        await dev.client.stop(deregister=True)
        events = await asyncio.wait_for(read_events(stream, 7), 10)
    types = [(e["type"], e.get("request", {}).get("state")) for e in events]
    assert types == [("register", None), ("queue", "queued"), ("update", None), ("queue", "sent"),
                     ("queue", "answered"), ("operation", None), ("deregister", None)]
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    # a client that reconnects with Last-Event-ID gets what came after
    async with rig.http.get("/api/events", headers={"Last-Event-ID": str(events[4]["id"])}) as again:
        replay = await asyncio.wait_for(read_events(again, 2), 10)
    assert [e["type"] for e in replay] == ["operation", "deregister"]


async def test_uqs_wake_up_is_an_event(rig):
    from lwm2m_sms.routing.router import PolicySettings

    await rig.start(policy=PolicySettings(udp_window=30))
    dev = await rig.sms_device("dev-uqs", "UQS", "+15550105", queue_window=30)
    await rig.clock.advance(31)
    async with rig.http.get("/api/events", params={"endpoint": "dev-uqs"}) as stream:
        await stream.content.readline()
        op = await rig.get("/api/devices/dev-uqs/data/3/0/0", status=202)
        events = await asyncio.wait_for(read_events(stream, 2), 10)
    assert [e["type"] for e in events] == ["queue", "wake-up"]
    assert events[1]["msisdn"] == "+15550105"
    await until(lambda: rig.api.operations.get(op["id"]).state == "answered")
    assert dev.client.stats["updates"] >= 1


async def test_metrics_parse_with_prometheus_client(rig):
    await rig.start()
    await rig.sms_device("dev-s", "S", "+15550101")
    await rig.udp_device("dev-u")
    await rig.get("/api/devices/dev-s/data/3/0/0")
    await rig.get("/api/devices/dev-u/data/3/0/0")
    async with rig.http.get("/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    server = (("bearer", "smpp"), ("msisdn", "+15550000"))
    assert samples[("lwm2m_sms_sms_sent_total", server)] >= 2
    assert samples[("lwm2m_sms_segments_received_total", server)] >= 2
    assert samples[("lwm2m_sms_delivery_failures_total", server)] == 0
    assert samples[("lwm2m_sms_registrations", (("binding", "S"),))] == 1
    assert samples[("lwm2m_sms_registrations", (("binding", "U"),))] == 1
    assert samples[("lwm2m_sms_queue_requests", (("state", "queued"),))] == 0
    assert samples[("lwm2m_sms_request_latency_seconds_count", (("bearer", "sms"),))] == 1
    assert samples[("lwm2m_sms_request_latency_seconds_count", (("bearer", "udp"),))] == 1


def cli(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "lwm2m_sms.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def test_server_cli_refuses_an_open_api_on_another_interface():
    p = cli("server", "--udp", "127.0.0.1:0", "--http", "0.0.0.0:0", "--http-no-token")
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2 and err.strip().count("\n") == 0
    assert "not loopback" in err and "needs a token" in err


async def test_server_cli_serves_http_with_a_token_from_the_environment():
    p = cli("server", "--udp", "127.0.0.1:0", "--http", "127.0.0.1:0", env={"LWM2M_SMS_HTTP_TOKEN": TOKEN})
    try:
        url = None
        while url is None:
            line = await asyncio.to_thread(p.stdout.readline)
            assert line, p.stderr.read()
            if line.startswith("HTTP API and console on "):
                url = line.split()[-1]
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "api/devices") as r:
                assert r.status == 401
            async with http.get(url + "api/devices", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
                assert r.status == 200 and (await r.json())["devices"] == []
    finally:
        p.terminate()
        p.communicate(timeout=30)
    assert p.returncode == 0


async def test_expiry_is_an_event(rig):
    await rig.start()
    async with rig.http.get("/api/events") as stream:
        await stream.content.readline()
        dev = await rig.udp_device("dev-u", lifetime=60)
        await dev.client.stop(deregister=False)  # silent from now on: no Update
        await rig.clock.advance(60 + 93 + 1)  # lifetime and grace have passed
        events = await asyncio.wait_for(read_events(stream, 2), 10)
    assert [(e["type"], e["endpoint"]) for e in events] == [("register", "dev-u"), ("expire", "dev-u")]


async def test_a_queued_request_that_expires_says_so(rig):
    from lwm2m_sms.routing.router import PolicySettings

    await rig.start(policy=PolicySettings(sms_window=30, queue_ttl=60))
    await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
    await rig.clock.advance(31)
    op = await rig.get("/api/devices/dev-sq/data/3/0/0", status=202)
    await rig.clock.advance(61)
    rig.stack.router.expire_queue()  # what its expiry task does every few seconds
    await until(lambda: rig.api.operations.get(op["id"]).done)
    followed = await rig.get(f"/api/operations/{op['id']}")
    assert followed["state"] == "expired" and followed["queued"]["state"] == "expired"
    queue = await rig.get("/api/devices/dev-sq/queue", params={"state": "expired"})
    assert [r["id"] for r in queue["requests"]] == [op["queue_id"]]


async def test_closing_the_api_leaves_the_gateway_as_it_was(rig):
    await rig.start()
    stack = rig.stack
    hooks, listeners = list(stack.server.hooks), list(stack.router.queue.listeners)
    second = HttpApi(stack, HttpSettings(port=0, token=TOKEN))
    await second.start()
    await second.close()
    assert stack.server.hooks == hooks and stack.router.queue.listeners == listeners
    await rig.udp_device("dev-u")
    assert (await rig.get("/api/devices/dev-u/data/3/0/0"))["value"] == "lwm2m-sms"  # the first one serves on
