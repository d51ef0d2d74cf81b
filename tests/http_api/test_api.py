"""The HTTP API over real HTTP, against a server with devices on UDP and on SMS through the
simulated SMSC: every operation, the 202 path of a sleeping SQ device, cancel of a queued
request."""

import pytest

from lwm2m_sms.routing.router import PolicySettings

from waiting import until


async def test_devices_list_filter_and_one_device(rig):
    await rig.start()
    await rig.sms_device("dev-s", "S", "+15550101")
    await rig.udp_device("dev-u", "U")
    body = await rig.get("/api/devices")
    assert body["total"] == 2
    by_ep = {d["endpoint"]: d for d in body["devices"]}
    assert by_ep["dev-s"]["msisdn"] == "+15550101" and by_ep["dev-s"]["binding"] == "S"
    assert by_ep["dev-s"]["sms"]["received"] >= 1 and by_ep["dev-s"]["state"] == "online"
    assert by_ep["dev-u"]["udp"].startswith("coap://127.0.0.1:") and by_ep["dev-u"]["msisdn"] is None
    only_sms = await rig.get("/api/devices", params={"binding": "S"})
    assert [d["endpoint"] for d in only_sms["devices"]] == ["dev-s"]
    by_number = await rig.get("/api/devices", params={"msisdn": "15550101"})
    assert [d["endpoint"] for d in by_number["devices"]] == ["dev-s"]
    one = await rig.get("/api/devices/dev-s")
    assert {"path": "/3/0", "attributes": {}} in one["objects"]
    missing = await rig.get("/api/devices/nobody", status=404)
    assert "nobody" in missing["error"]
    for bad in ("\u00b2", "-1", "x", "1" * 20):  # "²" passes str.isdigit(), not int()
        refused = await rig.get("/api/devices", status=400, params={"limit": bad})
        assert "limit must be an integer" in refused["error"]


async def test_read_over_sms_says_code_value_bearer_and_sms_count(rig):
    await rig.start()
    await rig.sms_device("dev-s", "S", "+15550101")
    before = rig.sms()
    op = await rig.get("/api/devices/dev-s/data/3/0/0")
    assert (op["state"], op["code"], op["value"], op["bearer"]) == ("answered", "2.05", "lwm2m-sms", "sms")
    assert op["sms"] == 2 and rig.sms() - before == 2
    instance = await rig.get("/api/devices/dev-s/data/3/0")
    assert instance["value"]["0"] == "lwm2m-sms"


@pytest.mark.parametrize("bearer", ["udp", "sms"])
async def test_every_operation(rig, bearer):
    await rig.start()
    if bearer == "udp":
        dev = await rig.udp_device("dev", "U")
    else:
        dev = await rig.sms_device("dev", "S", "+15550101")
    sms = 0 if bearer == "udp" else 2  # one SMS each way
    op = await rig.call("PUT", "/api/devices/dev/data/1/0/1", json={"value": 120})
    assert (op["code"], op["bearer"], op["sms"]) == ("2.04", bearer, sms)
    op = await rig.get("/api/devices/dev/data/1/0/1")
    assert (op["value"], op["bearer"], op["sms"]) == (120, bearer, sms)
    op = await rig.call("PATCH", "/api/devices/dev/data/1/0", json={"value": {"2": 5}})
    assert op["code"] == "2.04" and dev.client.objects[1][0][2] == 5
    requests = dev.client.stats["requests"]
    op = await rig.call("POST", "/api/devices/dev/data/3/0/4", json={"args": ""})
    assert op["code"] == "2.04" and dev.client.stats["requests"] == requests + 1
    op = await rig.get("/api/devices/dev/discover/3/0")
    assert {"path": "/3/0/0", "attributes": {}} in op["value"] and op["bearer"] == bearer
    op = await rig.call("PUT", "/api/devices/dev/attributes/3/0/13", json={"pmin": 1, "pmax": 2})
    assert op["code"] == "2.04"
    op = await rig.call("POST", "/api/devices/dev/data/1",
                        json={"resources": {"0": 9, "1": 60, "6": False, "7": "U"}, "instance": 5})
    assert (op["code"], op["value"]) == ("2.01", "/1/5") and 5 in dev.client.objects[1]
    op = await rig.call("DELETE", "/api/devices/dev/data/1/5")
    assert op["code"] == "2.02" and 5 not in dev.client.objects[1]
    op = await rig.call("POST", "/api/devices/dev/observe/3/0/0")
    assert (op["code"], op["value"], op["bearer"]) == ("2.05", "lwm2m-sms", bearer)
    assert (await rig.call("DELETE", "/api/devices/dev/observe/3/0/0"))["cancelled"] == 1
    failed = await rig.get("/api/devices/dev/data/3/0/4")  # Execute-only resource: 4.05
    assert (failed["state"], failed["code"]) == ("failed", "4.05")


async def test_write_tlv_and_text_bodies(rig):
    from lwm2m_sms.lwm2m.content import encode_payload

    await rig.start()
    dev = await rig.udp_device("dev-u", "U")
    _, tlv = encode_payload((1, 0), {1: 77, 3: 600}, 11542)
    op = await rig.call("PUT", "/api/devices/dev-u/data/1/0", data=tlv,
                        headers={"Content-Type": "application/vnd.oma.lwm2m+tlv"})
    assert op["code"] == "2.04" and dev.client.objects[1][0][1] == 77
    op = await rig.call("PUT", "/api/devices/dev-u/data/1/0/1", data=b"99", headers={"Content-Type": "text/plain"})
    assert op["code"] == "2.04" and dev.client.objects[1][0][1] == 99
    bad = await rig.call("PUT", "/api/devices/dev-u/data/1/0/1", status=400, data=b"{", headers={"Content-Type": "application/json"})
    assert "JSON" in bad["error"]
    bad = await rig.call("PUT", "/api/devices/dev-u/data/1/0", status=400, json={"value": {"x": 1}})
    assert "not an LwM2M id" in bad["error"]
    bad = await rig.get("/api/devices/dev-u/data/3/0/99999", status=400)
    assert "out of range" in bad["error"]
    bad = await rig.call("PUT", "/api/devices/dev-u/data/1/0/1", status=400, json={"value": "soon"})
    assert bad["state"] == "failed" and bad["code"] is None and "soon" in bad["error"]


async def test_observe_notifications_arrive_as_events_and_cancel_stops_them(rig):
    await rig.start()
    dev = await rig.udp_device("dev-u", "U", time_resolution=0.05)
    await rig.call("PUT", "/api/devices/dev-u/attributes/3/0/13", json={"pmin": 0, "pmax": 1})
    async with rig.http.get("/api/events", params={"endpoint": "dev-u"}) as stream:
        assert stream.status == 200
        op = await rig.call("POST", "/api/devices/dev-u/observe/3/0/13")
        assert op["code"] == "2.05" and isinstance(op["value"], int)
        again = await rig.call("POST", "/api/devices/dev-u/observe/3/0/13", status=409)
        assert "already observed" in again["error"]
        seen = []
        async for line in stream.content:
            if line.startswith(b"event: notification"):
                seen.append(line)
                if len(seen) == 2:
                    break
        assert len(seen) == 2
    cancelled = await rig.call("DELETE", "/api/devices/dev-u/observe/3/0/13")
    assert cancelled["cancelled"] == 1
    await until(lambda: not dev.client.site.observed_paths())


async def test_sleeping_sq_device_gets_202_then_the_answer_when_it_wakes(rig):
    await rig.start(policy=PolicySettings(sms_window=30))
    dev = await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
    await rig.clock.advance(31)  # the window after the Register closes on both sides
    assert (await rig.get("/api/devices/dev-sq"))["state"] == "sleeping"
    op = await rig.get("/api/devices/dev-sq/data/3/0/0", status=202)
    assert op["state"] == "queued" and op["queued"]["path"] == "/3/0/0" and op["queue_id"]
    queue = await rig.get("/api/devices/dev-sq/queue")
    assert [(r["id"], r["state"]) for r in queue["requests"]] == [(op["queue_id"], "queued")]
    await dev.client.update()  # the device wakes
    await until(lambda: rig.api.operations.get(op["id"]).done)
    followed = await rig.get(f"/api/operations/{op['id']}")
    assert (followed["code"], followed["value"], followed["bearer"]) == ("2.05", "lwm2m-sms", "sms")
    assert followed["queued"]["state"] == "answered"


async def test_cancel_of_a_queued_request_keeps_it_from_the_device(rig):
    await rig.start(policy=PolicySettings(sms_window=30))
    dev = await rig.sms_device("dev-sq", "SQ", "+15550104", queue_window=30)
    await rig.clock.advance(31)
    op = await rig.call("POST", "/api/devices/dev-sq/data/3/0/4", status=202)
    cancelled = await rig.call("DELETE", f"/api/devices/dev-sq/queue/{op['queue_id']}")
    assert cancelled["state"] == "failed" and cancelled["detail"] == "cancelled by the operator"
    again = await rig.call("DELETE", f"/api/devices/dev-sq/queue/{op['queue_id']}", status=409)
    assert "no longer waiting" in again["error"]
    followed = await rig.get(f"/api/operations/{op['id']}")
    assert followed["state"] == "cancelled"
    requests = dev.client.stats["requests"]
    # The device wakes: its Update finds nothing queued (the server looks while it handles
    # the Update, before the 2.04 this awaits), so nothing is sent to it.
    await dev.client.update()
    assert rig.stack.router.queue.pending("dev-sq") == []
    assert dev.client.stats["requests"] == requests
