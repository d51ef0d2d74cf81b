"""Fixtures: a loopback SMS network, a modem emulator on a real pty attached to it, and a
driver factory with short timeouts (no test waits on a wall-clock figure)."""

from __future__ import annotations

import asyncio

import pytest

from lwm2m_sms.bearer import LoopbackBearer, LoopbackNetwork
from modems.driver import ModemConfig, ModemDriver
from modems.emulator import ModemEmulator
from modems.emulator_core import EmulatorCore
from waiting import Inbox

MODEM = "+15550001111"
PEER = "+15550002222"


async def bounded(aw, what: str) -> None:
    """Teardown steps are bounded so a hang names its culprit instead of eating the run."""
    try:
        await asyncio.wait_for(aw, 10)
    except asyncio.TimeoutError:
        for t in asyncio.all_tasks():
            t.print_stack()
        raise AssertionError(f"teardown of {what} hung")


@pytest.fixture
async def net():
    network = LoopbackNetwork()
    yield network
    await bounded(network.drain(), "network")


@pytest.fixture
async def peer(net):
    b = LoopbackBearer(net, PEER)
    inbox = Inbox()
    b.set_receiver(inbox)
    b.inbox = inbox
    await b.start()
    yield b
    await bounded(b.close(), "bearer")


@pytest.fixture
async def modem_link(net):
    b = LoopbackBearer(net, MODEM)
    await b.start()
    yield b
    await bounded(b.close(), "bearer")


@pytest.fixture
async def make_emulator(modem_link, tmp_path):
    made: list[ModemEmulator] = []

    async def make(core: EmulatorCore | None = None, **kw) -> ModemEmulator:
        emu = ModemEmulator(core or EmulatorCore(MODEM), modem_link, link_path=str(tmp_path / f"ttyEMU{len(made)}"), **kw)
        await emu.start()
        made.append(emu)
        return emu

    yield make
    for emu in made:
        await bounded(emu.close(), "emulator")


def config(path: str, **kw) -> ModemConfig:
    defaults = dict(
        registration_timeout=10.0, poll_interval=0.05, command_timeout=5.0, send_timeout=10.0,
        retry_delay=0.01, reconnect_initial=0.05, reconnect_max=0.5,
    )
    defaults.update(kw)
    return ModemConfig(path, **defaults)


@pytest.fixture
async def make_driver():
    made: list[ModemDriver] = []

    async def make(path: str, *, start: bool = True, **kw) -> ModemDriver:
        drv = ModemDriver(config(path, **kw), MODEM)
        inbox = Inbox()
        drv.set_receiver(inbox)
        drv.inbox = inbox
        made.append(drv)
        if start:
            await drv.start()
        return drv

    yield make
    for drv in made:
        await bounded(drv.close(), "driver")
