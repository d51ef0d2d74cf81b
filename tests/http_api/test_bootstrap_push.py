"""Server Initiated Bootstrap through the HTTP API: a push by SMS through the simulated
SMSC to a device that waits for it, followed to its end; and every refusal before anything
is sent."""

import asyncio

import aiohttp

from lwm2m_sms.gateway import smpp_bearer, start_bootstrap_server, start_device
from lwm2m_sms.http import HttpApi, HttpSettings
from lwm2m_sms.lwm2m.bootstrap import BootstrapConfig

from waiting import until

from .conftest import SERVER, TOKEN

BS = "+15550009"  # the bootstrap server's own number, outside the devices' range


async def with_bootstrap(rig, *, max_sessions=1000, step_timeout=120.0, operation_wait=120.0):
    config = BootstrapConfig.from_dict({"endpoints": {
        ep: {"servers": [{"uri": rig.stack.udp_uri, "binding": "S", "sms_number": SERVER,
                          "lifetime": 300, "short_server_id": 7}]}
        for ep in ("si-1", "si-2")}})
    link = await smpp_bearer(rig.smsc.port, "bs", BS, BS)
    rig.closers.append(link.close)
    bs = await start_bootstrap_server(config, bearers=[link], step_timeout=step_timeout)
    bs.server.max_sessions = max_sessions
    rig.closers.append(bs.close)
    api = HttpApi(rig.stack, HttpSettings(port=0, token=TOKEN, operation_wait=operation_wait), bootstrap=bs.server)
    await api.start()
    rig.closers.append(api.close)
    http = aiohttp.ClientSession(api.url, headers={"Authorization": f"Bearer {TOKEN}"})
    rig.closers.append(http.close)
    ended = []
    api.events.listeners.append(lambda event: ended.append(event) if event.type == "bootstrap" else None)
    return bs, http, ended


async def call(http, method, url, status, **kw):
    async with http.request(method, url, **kw) as r:
        body = await r.json()
        assert r.status == status, body
        return body, r.headers


async def test_push_by_sms_through_the_api(rig):
    await rig.start()
    bs, http, ended = await with_bootstrap(rig)
    await rig.sms_device("other", "S", "+15550411")  # makes the fleet's SMPP bind and mux
    bearer = rig.mux.channel("+15550412")
    await bearer.start()
    rig.closers.append(bearer.close)
    dev = await start_device("si-1", "S", bootstrap_uri=bs.sms_uri, bootstrap_sms=BS, udp=False,
                             bearer=bearer, start=False, hold_off=3600)
    rig.closers.append(lambda: dev.close(deregister=False))
    booting = asyncio.ensure_future(dev.client.start())  # waits its hold-off for the server
    body, _ = await call(http, "POST", "/api/bootstrap/si-1", 200, json={"remote": "+15550412"})
    assert body["state"] == "succeeded" and body["initiated_by"] == "server"
    assert body["msisdn"] == "+15550412"
    assert [s["step"].split()[0] for s in body["steps"]] == ["Delete", "Discover", "Write", "Write", "Finish"]
    assert all(s["ok"] for s in body["steps"])
    await asyncio.wait_for(booting, 20)
    assert rig.stack.server.registration("si-1").binding == "S"
    again, _ = await call(http, "GET", "/api/bootstrap/si-1", 200)
    assert again == body
    assert [e.data["session"]["state"] for e in ended] == ["succeeded"]


async def test_a_push_that_runs_long_answers_202_and_is_followed(rig):
    await rig.start()
    # nobody has this number: the first step waits step_timeout, longer than the API waits
    bs, http, ended = await with_bootstrap(rig, step_timeout=1.0, operation_wait=0.05)
    body, headers = await call(http, "POST", "/api/bootstrap/si-2", 202, json={"remote": "+15550499"})
    assert body["state"] == "running" and headers["Location"] == "/api/bootstrap/si-2"
    await asyncio.wait_for(bs.server.sessions["si-2"].done, 10)
    body, _ = await call(http, "GET", "/api/bootstrap/si-2", 200)
    assert body["state"] == "failed" and body["error"].startswith("Delete /")
    assert body["steps"][0]["code"] is None
    await until(lambda: ended, what="the bootstrap event")
    assert ended[0].endpoint == "si-2" and ended[0].data["session"]["state"] == "failed"


async def test_refusals_before_anything_is_sent(rig):
    await rig.start(settings=HttpSettings(port=0, token=TOKEN))
    # no bootstrap server in this gateway
    async with rig.http.post("/api/bootstrap/si-1", json={"remote": "+15550412"}) as r:
        assert r.status == 404 and "no bootstrap server" in (await r.json())["error"]
    bs, http, _ = await with_bootstrap(rig, max_sessions=1, step_timeout=30)
    sent = rig.sms()
    await call(http, "POST", "/api/bootstrap/unknown-ep", 404, json={"remote": "+15550412"})
    await call(http, "POST", "/api/bootstrap/si-1", 400, json={"remote": "not a number"})
    await call(http, "POST", "/api/bootstrap/si-1", 400, json={"remote": "http://example.com"})
    await call(http, "POST", "/api/bootstrap/si-1", 400, json={})
    await call(http, "GET", "/api/bootstrap/si-1", 404)
    assert rig.sms() == sent
    # one running (to a number nobody answers) blocks a second of the same endpoint (409)
    # and, with max_sessions 1, any other (503)
    running = asyncio.ensure_future(bs.server.push("si-1", "+15550498"))
    await until(lambda: "si-1" in bs.server.sessions, what="the push started")
    body, _ = await call(http, "GET", "/api/bootstrap/si-1", 200)
    assert body["state"] == "running"
    await call(http, "POST", "/api/bootstrap/si-1", 409, json={"remote": "+15550412"})
    await call(http, "POST", "/api/bootstrap/si-2", 503, json={"remote": "+15550413"})
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
