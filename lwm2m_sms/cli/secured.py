"""Shared by ``lwm2m-sms demo --security`` and ``lwm2m-sms bench secure``: an LwM2M server
and devices on the simulated SMSC with one SMS security mode, with demo keys.

The keys are derived from the device's number (SHA-256 of a label and the MSISDN): fine for
a demo on loopback, never for a deployment, where keys come from the operator's key
management and the bootstrap server's configuration (docs/security.md).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..security.bearer import SecureBearer
from ..security.policy import OscoreKeys, PacketKeys, PeerSecurity, PskKeys, SecurityPolicy, SmsSecurityMode
from ..security.secured_packet import Keyset

MODES = ("nosec", "dtls", "packet", "oscore")


def demo_security(mode: str, device: str) -> PeerSecurity:
    """The device's view of its SMS security (the server's is :func:`server_view`)."""
    def key(label: str, n: int = 16) -> bytes:
        return hashlib.sha256(f"lwm2m-sms demo {label} {device}".encode()).digest()[:n]

    if mode == "nosec":
        return PeerSecurity(SmsSecurityMode.NOSEC)
    if mode == "dtls":
        return PeerSecurity(SmsSecurityMode.DTLS, PskKeys(f"dev{device.lstrip('+')}".encode(), key("psk")))
    if mode == "packet":
        return PeerSecurity(SmsSecurityMode.PACKET, PacketKeys(Keyset(kic=key("kic"), kid=key("kid"))))
    if mode == "oscore":
        return PeerSecurity(SmsSecurityMode.OSCORE, OscoreKeys(key("sid", 4), b"", key("secret")))
    raise ValueError(f"security mode {mode!r}: one of {', '.join(MODES)}")


def server_view(sec: PeerSecurity) -> PeerSecurity:
    if isinstance(sec.keys, OscoreKeys):
        return PeerSecurity(sec.mode, sec.keys.swapped())
    return sec


def device_sms_security(sec: PeerSecurity) -> "tuple[int, bytes, bytes] | None":
    """/0/x/6..8 for ``Lwm2mClient(sms_security=...)``."""
    if sec.keys is None:
        return None
    return int(sec.mode), sec.keys.key_parameters(), sec.keys.secret()


async def secured_server(bearer: Any, devices: dict[str, PeerSecurity], oscore_dir: "Path | None", **kw: Any) -> Any:
    """A gateway ServerStack on ``bearer`` wrapped in the security layer for ``devices``
    (MSISDN -> the device's view); SMS from any other number are dropped."""
    from ..gateway import start_server
    from ..security.setup import enable_server_oscore

    policy = SecurityPolicy({m: server_view(s) for m, s in devices.items()}, default=None)
    secure = SecureBearer(bearer, policy)
    stack = await start_server(bearers=[secure], **kw)
    release = None
    if any(s.mode is SmsSecurityMode.OSCORE for s in devices.values()):
        assert oscore_dir is not None
        release = enable_server_oscore(stack, policy, oscore_dir / "server").contexts.release
    return stack, secure, release


async def secured_device(endpoint: str, binding: str, bearer: Any, sec: PeerSecurity, server_msisdn: str,
                         server_uri: str, oscore_dir: "Path | None", **kw: Any) -> Any:
    """A gateway Device whose /0 instance carries ``sec``; returns (device, its secure
    bearer, its DeviceSmsSecurity hook: release it after the device stopped)."""
    from ..gateway import start_device
    from ..security.setup import DeviceSmsSecurity

    secure = SecureBearer(bearer, SecurityPolicy(default=None))
    hook = DeviceSmsSecurity(secure, oscore_dir / endpoint if oscore_dir else None)
    device = await start_device(
        endpoint, binding, server_uri=server_uri, server_msisdn=server_msisdn, bearer=secure,
        sms_security=device_sms_security(sec) or (3, b"", b""), on_sms_security=hook, **kw)
    return device, secure, hook
