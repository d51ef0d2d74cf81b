"""``lwm2m-sms client --lean``: a fleet of lean S-binding devices on one SMPP bind
(:class:`~lwm2m_sms.lwm2m.client.lean_link.LeanSimulator`), a few hundred octets each, for
fleets of up to hundreds of thousands in one process.

The devices register ``--concurrency`` at a time, then every ``--lifetime`` times 0.8
seconds each registered device sends an Update (and a device whose Register failed tries
again), until Ctrl-C or ``--duration``; then every registered device de-registers. The
server's Reads of /3/0 are answered meanwhile (docs/client.md, "Lean devices").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any, Callable, Coroutine, Iterable

UPDATE_MARGIN = 0.8  # of the lifetime, as the full client's registration loop


def check(args: argparse.Namespace) -> None:
    """Refuse what lean devices do not do (OptionError names it)."""
    from .bearer_options import OptionError

    if args.binding != "S":
        raise OptionError("--lean devices have binding S (give --binding S)")
    if not args.smpp or args.modem:
        raise OptionError("--lean needs --smpp HOST:PORT (one bind for every device)")
    for flag, given in (("--bootstrap", args.bootstrap), ("--sms-security", args.sms_security),
                        ("--security-state", args.security_state)):
        if given:
            raise OptionError(f"--lean devices do not take {flag}")
    if not args.server_sms:
        raise OptionError("--lean needs --server-sms (the server's number)")
    if not args.msisdn:
        raise OptionError("--lean needs --msisdn (the first device's number)")
    if args.concurrency < 1:
        raise OptionError("--concurrency must be at least 1")


async def run(args: argparse.Namespace, numbers: list[str], address_range: str, stop: asyncio.Event,
              fail: Callable[[str, int], int]) -> int:
    from ..coap import SmsSettings
    from ..errors import Lwm2mSmsError
    from ..lwm2m.client.lean_link import LeanSimulator
    from .bearer_options import bearer_name, open_bearer

    try:
        link = await open_bearer(args, None, address_range)
    except (Lwm2mSmsError, OSError, asyncio.TimeoutError) as exc:
        return fail(f"SMS bearer ({bearer_name(args)}): {exc or type(exc).__name__}", 1)
    sim = LeanSimulator(link, args.server_sms, lifetime=args.lifetime, settings=SmsSettings())
    try:
        for i, number in enumerate(numbers):
            sim.add(args.ep if len(numbers) == 1 else f"{args.ep}-{i + 1:04d}", number)
    except (ValueError, Lwm2mSmsError) as exc:
        await link.close()
        return fail(str(exc), 2)
    print(f"{len(numbers)} lean SMS device(s) from {numbers[0]} on {bearer_name(args)}", flush=True)
    errors: list[str] = []

    async def each(indexes: Iterable[int], op: Callable[[int], Coroutine[Any, Any, None]]) -> int:
        """``op`` on every index, ``--concurrency`` at a time, until stopped; failures counted."""
        done = 0

        async def one(i: int) -> None:
            nonlocal done
            try:
                await op(i)
                done += 1
            except Lwm2mSmsError as exc:
                errors.append(str(exc))

        jobs = iter(indexes)

        async def worker() -> None:
            for i in jobs:
                if stop.is_set():
                    return
                await one(i)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        return done

    deadline = time.monotonic() + args.duration if args.duration is not None else None
    everyone = range(len(numbers))
    registered = await each(everyone, sim.register)
    print(f"{registered} of {len(numbers)} device(s) registered", flush=True)
    for error in errors[:10]:
        print(error, file=sys.stderr)
    first_failed = bool(errors)
    while not stop.is_set():
        wait = args.lifetime * UPDATE_MARGIN
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, wait))
        except asyncio.TimeoutError:
            pass
        if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            break
        errors.clear()
        updated = await each([i for i in everyone if sim.registered(i)], sim.update)
        again = await each([i for i in everyone if not sim.registered(i)], sim.register)
        print(f"{updated} Update(s), {again} Register(s) again, {len(errors)} failed", flush=True)
    stop.clear()  # de-registering is not cut short by the signal that ended the run
    gone = await each([i for i in everyone if sim.registered(i)], sim.deregister)
    await sim.close()
    await link.close()
    print(f"{gone} device(s) de-registered", flush=True)
    return 1 if first_failed else 0
