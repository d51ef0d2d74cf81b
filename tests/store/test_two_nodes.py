"""Two gateway nodes on one PostgreSQL, each with its own SMPP bind of the same account
through the simulated SMSC (issue 17, item 2).

Both nodes know the device: node 1 takes its Register (the only bind then), node 2 starts
after it and loads the registration from the database (later changes reach it by the
fleet's hints: tests/store/test_fleet.py). The SMSC gives the account's MO traffic to its
first bind (``mo_distribution = "first"``), so the test chooses which node the device's
Update (its wake-up) reaches; the operator's request is always queued at the other node or
at that one. The SMS wake-up test has a UQS device, registered at node 1 over UDP; the
presence test starts both nodes before the device registers, so node 2 hears that it is
awake.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest

from lwm2m_sms.coap.settings import SmsSettings
from lwm2m_sms.lwm2m.results import ReadResult
from lwm2m_sms.gateway import Gateway, start_device

from waiting import until

from .nodes import SERVER, NodesRig

EP = "dev-SQ"
# The device answers at once; a request whose answer went to the other node fails after
# ack_timeout instead of the default minute.
SETTINGS = SmsSettings(ack_timeout=2.0)


class TwoNodes(NodesRig):
    def __init__(self) -> None:
        super().__init__(SETTINGS)


@pytest.fixture
async def two_nodes(request: pytest.FixtureRequest, pg_url: str) -> AsyncIterator[tuple[TwoNodes, Gateway, Gateway]]:
    """The SMSC, node 1, the device registered at node 1, node 2. The gateway account's MO
    distribution is "first" unless the test is parametrized indirectly with another."""
    distribution = getattr(request, "param", "first")
    rig = TwoNodes()
    try:
        await rig.start_smsc(distribution)
        first = await rig.node(pg_url)
        dev_link = await rig.open_device_link()
        rig.device = await start_device(EP, "SQ", server_uri=first.sms_uri, server_msisdn=SERVER,
                                        bearer=dev_link, udp=False, sms_settings=SETTINGS)
        await until(lambda: EP in {r.endpoint for r in first.server.registrations()}, what="Register at node 1")
        second = await rig.node(pg_url)  # loads the registration from PostgreSQL
        assert second.server.registration(EP).binding == "SQ"
        yield rig, first, second
    finally:
        await rig.close()


def sent(gw: Gateway) -> int:
    return gw.router.stats.per_endpoint.get(EP, {}).get("sms", 0)


def fall_asleep(rig: TwoNodes) -> None:
    """The device's window after its Register has closed, on every node."""
    for gw in rig.nodes:
        gw.router.presence.asleep(f"{EP} sms")


async def queue_read(rig: TwoNodes, at: Gateway) -> "asyncio.Task[ReadResult]":
    """An operator's Read at node ``at`` while the device sleeps: it waits in the store."""
    fall_asleep(rig)
    task = asyncio.create_task(at.server.read(EP, "/3/0/0"))
    await until(lambda: at.router.queue.counts().get("queued") == 1, what="the Read queued")
    return task


@pytest.mark.parametrize("wakes_on", ["the node that queued it", "the other node"])
async def test_a_queued_request_is_sent_exactly_once_whichever_node_the_device_wakes_on(
        two_nodes: tuple[TwoNodes, Gateway, Gateway], wakes_on: str) -> None:
    rig, first, second = two_nodes
    assert rig.device is not None
    # MO goes to the first bind: the Update reaches node 1; queue at node 1 or node 2
    queued_at = first if wakes_on == "the node that queued it" else second
    task = await queue_read(rig, queued_at)
    before = rig.device.client.stats["requests"]
    await rig.device.client.update()  # the device wakes: its Update reaches node 1 by SMS
    # node 1 took the request through the store and sent it; its answer came back to node 1
    await until(lambda: first.router.queue.counts() == {"answered": 1}, what="the Read answered")
    assert rig.device.client.stats["requests"] - before == 1  # the device got it once
    assert (sent(first), sent(second)) == (1, 0)
    assert not first.router._flushing and not second.router._flushing  # nothing more to send
    # the caller has its answer, the value included (node 2's from the store, on node 1's hint)
    result = await asyncio.wait_for(task, 10)
    assert result.value and result.path == (3, 0, 0)


async def test_the_caller_gets_the_answer_when_the_device_wakes_on_the_other_node(
        two_nodes: tuple[TwoNodes, Gateway, Gateway]) -> None:
    rig, first, second = two_nodes
    assert rig.device is not None
    task = await queue_read(rig, second)
    await rig.device.client.update()
    await until(lambda: first.router.queue.counts() == {"answered": 1}, what="the Read answered")
    result = await asyncio.wait_for(task, 5)
    assert result.value


@pytest.mark.parametrize("two_nodes", ["round_robin"], indirect=True)
async def test_a_read_whose_answer_the_smsc_hands_to_the_other_node_completes(
        two_nodes: tuple[TwoNodes, Gateway, Gateway]) -> None:
    """The SMSC alternates the account's MO traffic between the two binds, so the answer to
    one of node 1's two Reads reaches node 2, which finds node 1 as the exchange's owner
    in the store and hands the answer over (lwm2m_sms.cluster)."""
    rig, first, second = two_nodes
    for _ in range(2):  # the device is awake after its Register: node 1 sends at once
        result = await asyncio.wait_for(first.server.read(EP, "/3/0/0"), 10)
        assert result.value
    assert second.cluster is not None and second.cluster.stats.handed_over == 1


@pytest.fixture
async def uqs_nodes(pg_url: str) -> AsyncIterator[tuple[TwoNodes, Gateway, Gateway]]:
    """The SMSC, node 1, a UQS device registered at node 1 over UDP (its SMS number in the
    registration), node 2. MO SMS go to node 1's bind."""
    rig = TwoNodes()
    try:
        await rig.start_smsc("first")
        first = await rig.node(pg_url)
        dev_link = await rig.open_device_link()
        rig.device = await start_device(EP, "UQS", server_uri=first.udp_uri, server_msisdn=SERVER,
                                        bearer=dev_link, sms_settings=SETTINGS, time_resolution=0.05)
        second = await rig.node(pg_url)
        await until(lambda: EP in {r.endpoint for r in second.server.registrations()}, what="node 2 has it")
        yield rig, first, second
    finally:
        await rig.close()


@pytest.mark.parametrize("update_at", ["node 1", "node 2"])
async def test_the_sms_wake_up_from_the_other_node(
        uqs_nodes: tuple[TwoNodes, Gateway, Gateway], update_at: str) -> None:
    """Node 2 wants a Read from a sleeping UQS device registered at node 1: it queues the
    Read and sends the trigger (/1/0/8 by SMS over its own bind); the device's Update comes
    by UDP to node 1 or, through a balancer, to node 2; the node that gets it sends the Read
    (once) and node 2's caller gets the answer."""
    rig, first, second = uqs_nodes
    assert rig.device is not None
    client = rig.device.client
    if update_at == "node 2":
        for session in client.registrations.sessions.values():
            session.base_uri = second.udp_uri
    for gw in rig.nodes:
        gw.router.presence.asleep(f"{EP} udp")  # the window after the Register has closed
    before = client.stats["requests"]
    result = await asyncio.wait_for(second.server.read(EP, "/3/0/0"), 20)
    assert result.value
    assert second.router.stats.wake_ups == 1 and first.router.stats.wake_ups == 0
    # the trigger and the Read: each reached the device once
    assert client.stats["requests"] - before == 2
    sender = first if update_at == "node 1" else second
    assert sender.router.stats.flushed == 1
    assert sender.router.stats.per_endpoint[EP]["udp"] == 1


@pytest.fixture
async def both_up(pg_url: str) -> AsyncIterator[tuple[TwoNodes, Gateway, Gateway]]:
    """The SMSC, node 1, node 2, then the SQ device: its Register reaches node 1 (the
    account's first bind) while node 2 listens on the bus."""
    rig = TwoNodes()
    try:
        await rig.start_smsc("first")
        first = await rig.node(pg_url)
        second = await rig.node(pg_url)
        dev_link = await rig.open_device_link()
        rig.device = await start_device(EP, "SQ", server_uri=first.sms_uri, server_msisdn=SERVER,
                                        bearer=dev_link, udp=False, sms_settings=SETTINGS)
        yield rig, first, second
    finally:
        await rig.close()


async def test_a_device_awake_on_one_node_is_reached_at_once_from_the_other(
        both_up: tuple[TwoNodes, Gateway, Gateway]) -> None:
    """The SQ device registered at node 1 by SMS: node 2 holds it awake too (node 1's hint
    with its window) and sends an operator's Read at once over its own bind instead of
    queueing it; the answer comes back through node 1's bind, which hands it over."""
    rig, first, second = both_up
    assert rig.device is not None
    await until(lambda: (r := second.server.store.get(EP)) is not None and second.router.route(r).now,
                what="node 2 knows the device is awake")
    before = rig.device.client.stats["requests"]
    result = await asyncio.wait_for(second.server.read(EP, "/3/0/0"), 10)
    assert result.value
    assert rig.device.client.stats["requests"] - before == 1
    assert second.router.stats.queued == 0 and (sent(first), sent(second)) == (0, 1)
    assert first.cluster is not None and first.cluster.stats.handed_over == 1
