"""``lwm2m-sms bench smpp``: binary submit_sm through the SMPP link to the simulated SMSC and
back out to a receiving bind; prints submit_sm/s, delivered/s and submit->deliver latency.

The producer keeps at most two windows of messages accepted but not yet submitted (it waits
for the outcome of the message ``2 * window`` earlier before it sends the next), so the
latency is the link's submit plus the SMSC's routing and delivery, not time spent in a queue
the benchmark itself built up.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lwm2m_sms.bearer import InboundSms, Submission


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=10_000, help="messages to send (default 10000)")
    parser.add_argument("--window", type=int, default=64, help="unacknowledged submit_sm (default 64)")
    parser.add_argument("--size", type=int, default=100, help="payload octets (default 100: one SMS)")
    parser.add_argument("--smsc-process", action="store_true",
                        help="run the SMSC as its own process (uses a second core)")


async def start_smsc(args: argparse.Namespace) -> tuple[Any, int]:
    """The simulated SMSC in this process, or with ``args.smsc_process`` as a child process
    (on the other core); returns (server or process, port). Stop it with :func:`stop_smsc`."""
    if not args.smsc_process:
        from smsc.config import SmscConfig
        from smsc.server import SimulatedSmsc

        server = SimulatedSmsc(SmscConfig(open=True))
        await server.start("127.0.0.1", 0)
        return server, server.port
    import sys

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "smsc", "--open", "--listen", "127.0.0.1:0", stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None  # PIPE
    line = (await proc.stdout.readline()).decode()
    port = int(line.split()[3].rstrip(",").rsplit(":", 1)[1])
    return proc, port


async def stop_smsc(smsc: Any, separate: bool) -> None:
    """Stop what :func:`start_smsc` started."""
    if separate:
        smsc.terminate()
        await smsc.wait()
    else:
        await smsc.close()


def codec_costs(rounds: int = 2000) -> tuple[float, float, float, float]:
    """Microseconds per submit_sm decode and deliver_sm encode: ours, then smpplib's."""
    import smpplib.smpp

    from smsc import pdu as P

    class Seq:
        sequence = 0

        def next_sequence(self) -> int:
            self.sequence += 1
            return self.sequence

    sm = P.ShortMessage(P.SUBMIT_SM, 1, 0, "", 1, 1, "15550001", 1, 1, "15550002", 0x40, 0, 0, "", "", 1, 0, 4, 0, bytes(100))
    raw = sm.encode()
    t = time.perf_counter()
    for _ in range(rounds):
        P.decode(raw)
    ours_dec = (time.perf_counter() - t) / rounds * 1e6
    t = time.perf_counter()
    for _ in range(rounds):
        sm.command_id = P.DELIVER_SM
        sm.encode()
    ours_enc = (time.perf_counter() - t) / rounds * 1e6
    seq = Seq()
    t = time.perf_counter()
    for _ in range(rounds):
        smpplib.smpp.parse_pdu(raw, client=seq)
    lib_dec = (time.perf_counter() - t) / rounds * 1e6
    t = time.perf_counter()
    for _ in range(rounds):
        smpplib.smpp.make_pdu(
            "deliver_sm", client=seq, source_addr_ton=1, source_addr_npi=1, source_addr="15550001",
            dest_addr_ton=1, dest_addr_npi=1, destination_addr="15550002", esm_class=0x40,
            data_coding=4, short_message=bytes(100),
        ).generate()
    lib_enc = (time.perf_counter() - t) / rounds * 1e6
    return ours_dec, ours_enc, lib_dec, lib_enc


async def run(args: argparse.Namespace) -> int:
    from lwm2m_sms.bearer import InboundSms, Submission
    from smsc.link import SmppBearer, SmppLinkConfig

    n = args.messages
    server, port = await start_smsc(args)
    delivered_at: dict[int, float] = {}
    all_in = asyncio.Event()

    async def on_sms(sms: InboundSms) -> None:
        i = int.from_bytes(sms.payload[:4], "big")
        if i not in delivered_at:
            delivered_at[i] = time.perf_counter()
            if len(delivered_at) == n:
                all_in.set()

    sender = SmppBearer(SmppLinkConfig(port=port, system_id="bench-tx", address_range="+15550001", window=args.window), "+15550001")
    receiver = SmppBearer(SmppLinkConfig(port=port, system_id="bench-rx", address_range="+15550002", window=args.window), "+15550002")
    receiver.set_receiver(on_sms)
    await receiver.start()
    await sender.start()
    filler = bytes(range(256)) * (args.size // 256 + 1)
    sent_at = [0.0] * n
    subs: list[Submission] = []
    lag = 2 * args.window
    t0 = time.perf_counter()
    for i in range(n):
        if i >= lag:
            await subs[i - lag].outcome
        sent_at[i] = time.perf_counter()
        subs.append(await sender.send("+15550002", i.to_bytes(4, "big") + filler[: max(0, args.size - 4)]))
    await asyncio.gather(*(s.outcome for s in subs))
    t_submitted = time.perf_counter() - t0
    try:
        await asyncio.wait_for(all_in.wait(), 60)
    except asyncio.TimeoutError:
        pass
    t_delivered = max(delivered_at.values(), default=t0) - t0
    lat = sorted((delivered_at[i] - sent_at[i]) * 1000 for i in delivered_at)
    await sender.close()
    await receiver.close()
    await stop_smsc(server, args.smsc_process)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [0.0] * 99
    parts = subs[0].segments if subs else 1  # submit_sm (and deliver_sm) per message
    submit_rate = n * parts / t_submitted
    deliver_rate = len(delivered_at) * parts / t_delivered if t_delivered > 0 else 0.0
    ours_dec, ours_enc, lib_dec, lib_enc = codec_costs()
    rows = [
        ("messages", f"{n} x {args.size} octets ({parts} SMS each)"),
        ("messages/s", f"{n / t_submitted:,.0f}"),
        ("window", str(args.window)),
        ("SMSC", "separate process" if args.smsc_process else "in-process"),
        ("submit_sm/s", f"{submit_rate:,.0f}"),
        ("delivered/s", f"{deliver_rate:,.0f} (deliver_sm of whole messages)"),
        ("delivered", f"{len(delivered_at)}/{n} messages"),
        ("p50 submit->deliver", f"{q[49]:.1f} ms"),
        ("p99 submit->deliver", f"{q[98]:.1f} ms"),
        ("submit_sm decode", f"{ours_dec:.1f} us (smpplib {lib_dec:.1f} us)"),
        ("deliver_sm encode", f"{ours_enc:.1f} us (smpplib make+generate {lib_enc:.1f} us)"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"smpp: {submit_rate:.0f} submit_sm/s, {deliver_rate:.0f} delivered/s")
    return 0 if len(delivered_at) == n else 1
