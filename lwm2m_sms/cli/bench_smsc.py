"""``lwm2m-sms bench smsc``: how fast the simulated SMSC accepts and delivers a flood of
submit_sm, measured from the outside.

What runs where: the SMSC under test is its own process (``lwm2m-sms smsc --open``, one
core); the load comes from this process over real loopback TCP. One transmitter bind floods
``--messages`` submit_sm of ``--size`` octets (8-bit data) to one number, keeping at most
``--window`` unacknowledged; one receiver bind for that number answers every deliver_sm at
once. Two kinds of transmitter send the same load:

* raw: PDUs built once, sequence numbers patched in, read with a header-only parser (the
  client costs little, so the SMSC is the bottleneck);
* smpplib: smpplib 2.2.4's stock blocking ``Client.send_message`` in a thread, reading the
  resps a window at a time (what a third-party Python ESME does).

accepted/s is submit_sm_resp (status 0) per second from the first submit to the last resp;
delivered/s is deliver_sm per second at the receiver over the same start; ``trail`` is how
far the deliveries ended after the acceptances (ms), the p50/p99 are submit->deliver times.
With ``--npm-smpp DIR`` (a directory where ``npm install smpp`` was run) the same raw load
also goes to a minimal SMSC written on the npm ``smpp`` package (accept, answer, deliver to
the receiver), for comparison. The last line is ``smsc: N accepted/s, N delivered/s`` for
the simulated SMSC with the raw client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

_HEADER = struct.Struct(">LLLL")
_SUBMIT_SM, _SUBMIT_SM_RESP, _DELIVER_SM, _DELIVER_SM_RESP = 0x04, 0x80000004, 0x05, 0x80000005
_BIND_TX, _BIND_RX = 0x02, 0x01
SENDER, RECIPIENT = "15550001", "15550002"

_NPM_SERVER = r"""
const smpp = require('smpp');
let receivers = [];
let nextId = 0;
const server = smpp.createServer(function (session) {
  const ok = (pdu) => session.send(pdu.response());
  session.on('bind_transmitter', ok);
  session.on('bind_receiver', (pdu) => { ok(pdu); receivers.push(session); });
  session.on('bind_transceiver', (pdu) => { ok(pdu); receivers.push(session); });
  session.on('enquire_link', ok);
  session.on('deliver_sm_resp', () => {});
  session.on('unbind', (pdu) => { ok(pdu); session.close(); });
  session.on('close', () => { receivers = receivers.filter((s) => s !== session); });
  session.on('error', () => {});
  session.on('submit_sm', (pdu) => {
    session.send(pdu.response({ message_id: String(++nextId) }));
    const to = receivers[0];
    if (to) to.deliver_sm({
      source_addr_ton: pdu.source_addr_ton, source_addr_npi: pdu.source_addr_npi, source_addr: pdu.source_addr,
      dest_addr_ton: pdu.dest_addr_ton, dest_addr_npi: pdu.dest_addr_npi, destination_addr: pdu.destination_addr,
      esm_class: pdu.esm_class, data_coding: pdu.data_coding, short_message: pdu.short_message,
    });
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening on 127.0.0.1:' + server.address().port));
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=20_000, help="submit_sm to send (default 20000)")
    parser.add_argument("--window", type=int, default=256, help="unacknowledged submit_sm (default 256)")
    parser.add_argument("--size", type=int, default=100, help="short_message octets (default 100)")
    parser.add_argument("--npm-smpp", metavar="DIR",
                        help="compare with a server on the npm smpp package installed in DIR (npm install smpp)")
    parser.add_argument("--no-smpplib", action="store_true", help="skip the smpplib client run")


@dataclass
class Run:
    accepted_at: float = 0.0
    delivered_at: float = 0.0
    refused: int = 0
    sent_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)


def _bind(command: int, seq: int, system_id: str, address_range: str) -> bytes:
    body = (system_id.encode() + b"\0" + b"\0" + b"\0" + bytes((0x34, 1, 1)) + address_range.encode() + b"\0")
    return _HEADER.pack(16 + len(body), command, 0, seq) + body


def _submit_body(size: int, i: int = 0) -> bytes:
    data = i.to_bytes(4, "big") + bytes(range(256))[: max(0, size - 4)]
    return (b"\0" + bytes((1, 1)) + SENDER.encode() + b"\0" + bytes((1, 1)) + RECIPIENT.encode() + b"\0"
            + bytes((0, 0, 0)) + b"\0" + b"\0" + bytes((0, 0, 4, 0, len(data))) + data)


class _RawEsme(asyncio.Protocol):
    """An ESME that speaks raw SMPP octets (no library cost in the figures): binds with
    ``bind`` on connect, then hands each whole PDU of a read to :meth:`pdu` and calls
    :meth:`read_done`. ``bound`` resolves at the first response (the bind's), ``done``
    when the subclass says so."""

    def __init__(self, bind: bytes) -> None:
        self.bind = bind
        self.buf = bytearray()
        self.bound = asyncio.get_running_loop().create_future()
        self.done = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.bind)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        buf, pos = self.buf, 0
        now = time.perf_counter()
        while len(buf) - pos >= 16:
            length, cid, status, seq = _HEADER.unpack_from(buf, pos)
            if len(buf) - pos < length:
                break
            if not self.pdu(cid, status, seq, now) and cid & 0x80000000 and not self.bound.done():
                self.bound.set_result(None)
            pos += length
        del buf[:pos]
        self.read_done(now)

    def pdu(self, cid: int, status: int, seq: int, now: float) -> bool:
        """One PDU; True if it was the subclass's own (not a bind response)."""
        raise NotImplementedError

    def read_done(self, now: float) -> None:
        raise NotImplementedError


class _Receiver(_RawEsme):
    """Bound as receiver for RECIPIENT: answers each deliver_sm at once (one write per read)."""

    def __init__(self, n: int, run: Run) -> None:
        super().__init__(_bind(_BIND_RX, 1, "bench-rx", RECIPIENT))
        self.n, self.run = n, run
        self.count = 0
        self.out: list[bytes] = []

    def pdu(self, cid: int, status: int, seq: int, now: float) -> bool:
        if cid != _DELIVER_SM:
            return False
        self.out.append(_HEADER.pack(17, _DELIVER_SM_RESP, 0, seq) + b"\0")
        self.count += 1
        idx = self.count - 1  # the SMSC delivers in order: the i-th in is the i-th out
        if idx < len(self.run.sent_at):
            self.run.latencies.append(now - self.run.sent_at[idx])
        return True

    def read_done(self, now: float) -> None:
        if self.out:
            self.transport.write(b"".join(self.out))
            self.out = []
        if self.count >= self.n and not self.done.done():
            self.run.delivered_at = now
            self.done.set_result(None)


class _RawSender(_RawEsme):
    """Bound as transmitter: keeps ``window`` submit_sm unacknowledged until ``n`` are sent."""

    def __init__(self, n: int, window: int, size: int, run: Run) -> None:
        super().__init__(_bind(_BIND_TX, 1, "bench-tx", SENDER))
        self.n, self.window, self.run = n, window, run
        self.body = _submit_body(size)
        self.sent = 0
        self.acked = 0

    def fill(self) -> None:
        out = []
        body, head = self.body, _HEADER
        now = time.perf_counter()
        while self.sent < self.n and self.sent - self.acked < self.window:
            self.sent += 1
            out.append(head.pack(16 + len(body), _SUBMIT_SM, 0, self.sent + 1) + body)
            self.run.sent_at.append(now)
        if out:
            self.transport.write(b"".join(out))

    def pdu(self, cid: int, status: int, seq: int, now: float) -> bool:
        if cid != _SUBMIT_SM_RESP:
            return False
        self.acked += 1
        if status:
            self.run.refused += 1
        return True

    def read_done(self, now: float) -> None:
        if self.acked >= self.n and not self.done.done():
            self.run.accepted_at = time.perf_counter()
            self.done.set_result(None)
        elif self.bound.done():
            self.fill()


def _smpplib_sender(port: int, n: int, window: int, size: int, run: Run, ready: threading.Event) -> None:
    import smpplib.client

    client = smpplib.client.Client("127.0.0.1", port, timeout=30, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transmitter(system_id="bench-lib", password="")
    ready.set()
    data = bytes(range(256))[:size]
    acked = [0]
    client.set_message_sent_handler(lambda pdu: acked.__setitem__(0, acked[0] + 1))
    sent = 0
    while sent < n:
        batch = min(window, n - sent)
        now = time.perf_counter()
        for _ in range(batch):
            client.send_message(source_addr_ton=1, source_addr_npi=1, source_addr=SENDER, dest_addr_ton=1,
                                dest_addr_npi=1, destination_addr=RECIPIENT, data_coding=4, short_message=data)
            run.sent_at.append(now)
        sent += batch
        while acked[0] < sent:
            client.read_once()
    run.accepted_at = time.perf_counter()
    client.unbind()
    client.disconnect()


async def _start_process(argv: list[str], env: dict[str, str] | None = None) -> tuple[Any, int]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line.split("listening on", 1)[1].split(",")[0].strip().rsplit(":", 1)[1])


async def _measure(port: int, args: argparse.Namespace, client: str) -> Run:
    loop = asyncio.get_running_loop()
    run = Run()
    n = args.messages
    _, rx = await loop.create_connection(lambda: _Receiver(n, run), "127.0.0.1", port)
    await asyncio.wait_for(rx.bound, 10)
    t0 = time.perf_counter()
    if client == "raw":
        _, tx = await loop.create_connection(lambda: _RawSender(n, args.window, args.size, run), "127.0.0.1", port)
        await asyncio.wait_for(tx.bound, 10)
        t0 = time.perf_counter()
        tx.fill()
        await asyncio.wait_for(tx.done, 300)
        tx.transport.close()
    else:
        ready = threading.Event()
        thread = asyncio.to_thread(_smpplib_sender, port, n, args.window, args.size, run, ready)
        task = asyncio.ensure_future(thread)
        await asyncio.to_thread(ready.wait, 30)
        t0 = time.perf_counter()
        await asyncio.wait_for(task, 300)
    try:
        await asyncio.wait_for(rx.done, 120)
    except asyncio.TimeoutError:
        run.delivered_at = 0.0
    rx.transport.close()
    run.accepted_at -= t0
    run.delivered_at = run.delivered_at - t0 if run.delivered_at else 0.0
    return run


def _row(name: str, n: int, run: Run) -> tuple[str, float, float, str]:
    acc = n / run.accepted_at if run.accepted_at > 0 else 0.0
    dlv = n / run.delivered_at if run.delivered_at > 0 else 0.0
    lat = sorted(run.latencies)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [0.0] * 99
    trail = (run.delivered_at - run.accepted_at) * 1000 if run.delivered_at else float("nan")
    note = (f"trail {trail:6.0f} ms, submit->deliver p50 {q[49] * 1000:.0f} ms p99 {q[98] * 1000:.0f} ms"
            + (f", {run.refused} refused" if run.refused else ""))
    return name, acc, dlv, note


async def run(args: argparse.Namespace) -> int:
    if args.npm_smpp and not os.path.isdir(os.path.join(args.npm_smpp, "node_modules", "smpp")):
        print(f"bench smsc: no npm smpp package in {args.npm_smpp} (run: npm install smpp there)", file=sys.stderr)
        return 2
    rows = []
    n = args.messages
    proc, port = await _start_process([sys.executable, "-m", "lwm2m_sms.cli", "smsc", "--open", "--listen", "127.0.0.1:0"])
    try:
        raw = await _measure(port, args, "raw")
        rows.append(_row("simulated SMSC, raw client", n, raw))
        if not args.no_smpplib:
            rows.append(_row("simulated SMSC, smpplib client", n, await _measure(port, args, "smpplib")))
    finally:
        proc.terminate()
        await proc.wait()
    if args.npm_smpp:
        with tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "npm_smsc.js")
            with open(script, "w") as f:
                f.write(_NPM_SERVER)
            env = {**os.environ, "NODE_PATH": os.path.join(os.path.abspath(args.npm_smpp), "node_modules")}
            proc, port = await _start_process(["node", script], env)
            try:
                rows.append(_row("npm smpp server, raw client", n, await _measure(port, args, "raw")))
                if not args.no_smpplib:
                    rows.append(_row("npm smpp server, smpplib client", n, await _measure(port, args, "smpplib")))
            finally:
                proc.terminate()
                await proc.wait()
    print(f"{n} submit_sm of {args.size} octets, window {args.window}, one transmitter and one receiver bind,"
          f" server in its own process, real loopback TCP")
    width = max(len(r[0]) for r in rows)
    for name, acc, dlv, note in rows:
        print(f"{name:<{width}}  {acc:8,.0f} accepted/s  {dlv:8,.0f} delivered/s  {note}")
    if args.npm_smpp and len(rows) > 2:
        ours = rows[0]
        npm = next(r for r in rows if r[0].startswith("npm") and "raw" in r[0])
        print(f"ratio to npm smpp (raw client): accepted x{ours[1] / npm[1]:.2f}, delivered x{ours[2] / npm[2]:.2f}")
    print(f"smsc: {rows[0][1]:.0f} accepted/s, {rows[0][2]:.0f} delivered/s")
    return 0 if raw.delivered_at else 1
