"""``--durability normal|full``: SQLite's synchronous for the held parts of long SMS (and the
dead letters, which are never below FULL), applied to the connection the bearer writes
with; and ``lwm2m-sms server --durability full`` passes it to the modem's stores."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from lwm2m_sms.partstore import PartStore
from modems.driver import ModemDriver

from .conftest import MODEM, bounded, config

SYNCHRONOUS = {1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def synchronous(store: Any) -> str:
    return SYNCHRONOUS[store._db.execute("PRAGMA synchronous").fetchone()[0]]


def test_part_store_applies_its_synchronous(tmp_path: Path) -> None:
    db = str(tmp_path / "server.sqlite")
    assert synchronous(PartStore(db, scope="modem")) == "NORMAL"
    full = PartStore(db, scope="smpp", synchronous="full")
    assert synchronous(full) == "FULL"
    full.close()
    assert synchronous(full) == "FULL"  # and again on the reopened connection
    with pytest.raises(ValueError):
        PartStore(db, synchronous="OFF")


@pytest.mark.parametrize("durability, parts, letters", [("normal", "NORMAL", "FULL"), ("full", "FULL", "FULL")])
def test_modem_driver_passes_durability_to_its_stores(tmp_path: Path, durability: str, parts: str, letters: str) -> None:
    db = str(tmp_path / "server.sqlite")
    drv = ModemDriver(config(str(tmp_path / "tty")), MODEM, parts_db=db, dead_letters=db, durability=durability)
    assert drv.part_store is not None
    assert (synchronous(drv.part_store), synchronous(drv.dead_letters)) == (parts, letters)
    drv.part_store.close()
    drv.dead_letters.close()


async def test_server_refuses_an_unknown_durability() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "server", "--udp", "127.0.0.1:0", "--durability", "fast",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2 and "--durability: invalid choice: 'fast'" in err.decode()


async def test_server_durability_full_reaches_the_modem(make_emulator: Any, tmp_path: Path) -> None:
    emu = await make_emulator()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lwm2m_sms.cli", "-v", "server", "--udp", "127.0.0.1:0",
        "--modem", emu.path, "--msisdn", MODEM, "--db", str(tmp_path / "server.sqlite"), "--durability", "full",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "the server ended before it opened its part store"
            if re.search(r"modem: held parts of long SMS in \S+server\.sqlite \(synchronous=FULL\)", line):
                break
    finally:
        proc.send_signal(signal.SIGTERM)  # (its exit status is not the point here)
        await bounded(proc.communicate(), "server")
