"""A receiving gateway in its own process, for the kill -9 tests: a modem driver (on the
emulator's pty) or an SMPP link, with a durable part store, writing each payload it is
handed to ``--out`` (one hex line, fsynced) before returning. Prints ``ready`` once started.
The tests kill it with SIGKILL at the moment they choose and start it again."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--modem")
    p.add_argument("--smpp", type=int)
    p.add_argument("--msisdn", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    async def receive(sms) -> None:
        with open(args.out, "a") as f:
            f.write(sms.payload.hex() + "\n")
            f.flush()
            os.fsync(f.fileno())

    if args.modem:
        from modems.driver import ModemConfig, ModemDriver

        bearer = ModemDriver(ModemConfig(args.modem, registration_timeout=10.0, poll_interval=0.05,
                                         command_timeout=5.0), args.msisdn,
                             parts_db=args.db, dead_letters=args.db)
    else:
        from smsc.link import SmppBearer, SmppLinkConfig

        bearer = SmppBearer(SmppLinkConfig(port=args.smpp, system_id="gw", address_range=args.msisdn,
                                           reconnect_min=0.05, reconnect_max=0.5),
                            args.msisdn, parts_db=args.db)
    bearer.set_receiver(receive)
    await bearer.start()
    if not args.modem:
        await bearer.wait_bound(10)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
