"""Hardware tests: the same ModemDriver against a physical modem, or against the modem emulator.

With ``--modem PORT`` they run against the modem on that serial port::

    python -m pytest -q hwtests --modem /dev/ttyUSB2 [--pin 1234] [--peer-msisdn +4915...]

``--peer-msisdn`` is the number the loop tests send to: give the modem's own number (the
SIM's MSISDN) so the SMS comes back to the same modem. Each loop test sends real SMS (cost);
without ``--peer-msisdn`` they are skipped on a real modem.

Without ``--modem`` (the default run, CI) every test runs against the modem emulator
(modems/emulator.py) on a pty, attached as an SMPP ESME for its own number to a simulated
SMSC on a loopback TCP port, and the loop tests send to the emulator's own number: the
driver, the emulator's AT dialect and the SMS round trip are checked on every run, so the
hardware tests cannot rot between runs on a real modem.
"""

from __future__ import annotations

from typing import AsyncIterator

import pytest

EMULATED_MSISDN = "+15557770001"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modem hardware tests")
    group.addoption("--modem", default=None,
                    help="serial port of a physical modem's AT interface (default: the modem emulator)")
    group.addoption("--pin", default=None, help="SIM PIN, if the SIM asks for one (never logged)")
    group.addoption("--peer-msisdn", default=None, help="number for the loop test: the modem's own MSISDN")
    group.addoption("--baudrate", type=int, default=115200)
    group.addoption("--registration-timeout", type=float, default=120.0)
    group.addoption("--loop-timeout", type=float, default=180.0, help="seconds to wait for the SMS to come back")


@pytest.fixture
def real_modem(request: pytest.FixtureRequest) -> str | None:
    """The ``--modem`` port, or None for the emulator."""
    return request.config.getoption("--modem")


@pytest.fixture
async def modem_port(real_modem: str | None) -> AsyncIterator[str]:
    if real_modem:
        yield real_modem
        return
    from lwm2m_sms.gateway import smpp_bearer
    from modems.emulator import ModemEmulator
    from modems.emulator_core import EmulatorCore
    from smsc.config import SmscConfig
    from smsc.server import SimulatedSmsc

    smsc = SimulatedSmsc(SmscConfig(open=True))
    await smsc.start("127.0.0.1", 0)
    try:
        network = await smpp_bearer(smsc.port, "hwtest", EMULATED_MSISDN, EMULATED_MSISDN)
        try:
            emulator = ModemEmulator(EmulatorCore(EMULATED_MSISDN), network)
            await emulator.start()
            try:
                yield emulator.path
            finally:
                await emulator.close()
        finally:
            await network.close()
    finally:
        await smsc.close()


@pytest.fixture
def peer_msisdn(request: pytest.FixtureRequest, real_modem: str | None) -> str:
    peer = request.config.getoption("--peer-msisdn")
    if peer:
        return peer
    if real_modem:
        pytest.skip("no --peer-msisdn given: loop test skipped (it sends real SMS)")
    return EMULATED_MSISDN  # the emulator's own number: the SMS comes back to it


@pytest.fixture
def modem_config(request: pytest.FixtureRequest, modem_port: str):
    from modems.driver import ModemConfig

    return ModemConfig(
        modem_port,
        baudrate=request.config.getoption("--baudrate"),
        pin=request.config.getoption("--pin"),
        registration_timeout=request.config.getoption("--registration-timeout"),
    )
