"""Hardware tests: the same ModemDriver against a physical modem.

Skipped unless ``--modem PORT`` is given; never collected by the default run (pyproject's
``testpaths`` is ``tests``). Run them as::

    python -m pytest -q hwtests --modem /dev/ttyUSB2 [--pin 1234] [--peer-msisdn +4915...]

``--peer-msisdn`` is the number the loop test sends to: give the modem's own number (the
SIM's MSISDN) so the SMS comes back to the same modem. Each loop test sends real SMS (cost).
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("modem hardware tests")
    group.addoption("--modem", default=None, help="serial port of a physical modem's AT interface")
    group.addoption("--pin", default=None, help="SIM PIN, if the SIM asks for one (never logged)")
    group.addoption("--peer-msisdn", default=None, help="number for the loop test: the modem's own MSISDN")
    group.addoption("--baudrate", type=int, default=115200)
    group.addoption("--registration-timeout", type=float, default=120.0)
    group.addoption("--loop-timeout", type=float, default=180.0, help="seconds to wait for the SMS to come back")


@pytest.fixture
def modem_port(request) -> str:
    port = request.config.getoption("--modem")
    if not port:
        pytest.skip("no --modem PORT given: hardware tests skipped")
    return port


@pytest.fixture
def peer_msisdn(request) -> str:
    peer = request.config.getoption("--peer-msisdn")
    if not peer:
        pytest.skip("no --peer-msisdn given: loop test skipped")
    return peer


@pytest.fixture
def modem_config(request, modem_port):
    from modems.driver import ModemConfig

    return ModemConfig(
        modem_port,
        baudrate=request.config.getoption("--baudrate"),
        pin=request.config.getoption("--pin"),
        registration_timeout=request.config.getoption("--registration-timeout"),
    )
