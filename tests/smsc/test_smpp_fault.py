"""Fault test: the SMSC *process* is killed (SIGKILL) and restarted 5 times while 1,000
messages are in flight; every message the link accepted reaches the receiving application
exactly once after deduplication, none is lost.

Why this holds: the SMSC commits each message to its SQLite store before it answers
submit_sm_resp and deletes it only after the receiver's deliver_sm_resp, so a kill loses
nothing it acknowledged; the link resubmits every part that had no submit_sm_resp when the
connection dropped, and the receiving link acknowledges a deliver_sm only after its handler
returned. Both give at-least-once, so a kill can produce duplicates (a submit the SMSC stored
but could not acknowledge, a delivery whose ack it never read); the application drops them
by its own message number, as the CoAP layer does by message ID.

No timing in it: each kill waits for a share of the traffic to have arrived, each restart
for the SMSC's "listening on" line and then for both links to have bound to it again (their
``connects`` counters), so every one of the five kills hits two bound links.
"""

import asyncio
import sys
from pathlib import Path

from lwm2m_sms.bearer import DeliveryState

from waiting import Inbox, until

# The simulated SMSC as operators run it: the lwm2m-sms command installed next to Python.
LWM2M_SMS = str(Path(sys.executable).with_name("lwm2m-sms"))
N = 1000
KILLS = 5


async def start_smsc(port, store):
    proc = await asyncio.create_subprocess_exec(
        LWM2M_SMS, "smsc", "--open", "--listen", f"127.0.0.1:{port}", "--store", store,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
    assert "listening on" in line, line
    return proc, int(line.split()[3].rstrip(",").rsplit(":", 1)[1])


async def test_smsc_killed_and_restarted_while_in_flight(tmp_path, make_link):
    store = str(tmp_path / "smsc.db")
    proc, port = await start_smsc(0, store)
    try:
        sender = await make_link(port, "+15550001", throughput=600, store=str(tmp_path / "outbox.db"))
        receiver = await make_link(port, "+15550002")
        inbox = Inbox()
        receiver.set_receiver(inbox)
        subs = [await sender.send("+15550002", b"msg %04d" % i) for i in range(N)]
        for kill in range(1, KILLS + 1):
            # spread the kills over the traffic: each one after another share has arrived
            await until(lambda: len(inbox.items) >= kill * N // (KILLS + 2), timeout=60)
            binds = (sender.connects, receiver.connects)
            proc.kill()
            await proc.wait()
            await until(lambda: not sender.bound and not receiver.bound)  # both saw it die
            proc, _ = await start_smsc(port, store)  # returns at its "listening on" line
            # Both links bound to this incarnation before the next kill: every kill hits a
            # bound pair, whatever the load (the receiver alone may reach the next share
            # while the sender is still in its reconnect back-off).
            await until(lambda: sender.connects > binds[0] and receiver.connects > binds[1], timeout=60,
                        what=f"both links bound again after kill {kill}")
        outcomes = await asyncio.wait_for(asyncio.gather(*(s.outcome for s in subs)), 60)
        assert all(o.state is DeliveryState.SUBMITTED for o in outcomes)
        await inbox.wait(N, timeout=60)  # may include duplicates; wait for the rest
        await until(lambda: len({m.payload for m in inbox.items}) == N, timeout=60)
        seen = {m.payload for m in inbox.items}
        assert seen == {b"msg %04d" % i for i in range(N)}
        duplicates = len(inbox.items) - len(seen)
        print(f"{N} messages, {KILLS} kills: {sender.connects} connects, {duplicates} duplicates dropped by the app")
        assert sender.connects >= KILLS + 1 and receiver.connects >= KILLS + 1
        assert len(sender.outbox) == 0
    finally:
        proc.kill()
        await proc.wait()
