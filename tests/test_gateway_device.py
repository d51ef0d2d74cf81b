"""gateway.start_device gives back what it opened when the device cannot be made or
cannot start: a fleet started in a loop must not leak a socket per refused device."""

import gc
import os
import socket

import pytest

from lwm2m_sms.gateway import start_device
from lwm2m_sms.lwm2m.exceptions import ConfigError


def open_fds() -> int:
    # Collect first: a socket an earlier test dropped may otherwise be closed by the
    # collector in the middle of this one and make the count fall.
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def test_a_refused_device_closes_its_socket():
    before = open_fds()
    for _ in range(5):
        with pytest.raises(ConfigError, match="binding"):
            await start_device("bad", "XX", server_uri="coap://127.0.0.1:9")
    assert open_fds() == before


async def test_a_device_that_fails_to_start_closes_its_socket():
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens: the Register gets an ICMP error at once
    before = open_fds()
    with pytest.raises(Exception):
        await start_device("lonely", "U", server_uri=f"coap://127.0.0.1:{port}")
    assert open_fds() == before
