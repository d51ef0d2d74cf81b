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


def with_sms_security(account: Any, sec: PeerSecurity) -> Any:
    """``account`` (a ServerAccount) carrying ``sec`` in its /0/x/6..8."""
    if sec.keys is not None:
        account.sms_security_mode = int(sec.mode)
        account.sms_key_parameters, account.sms_secret_key = sec.keys.key_parameters(), sec.keys.secret()
    return account


def bootstrap_fields(sec: PeerSecurity) -> dict[str, Any]:
    """What a bootstrap server configuration says for ``sec`` (/0/x/6..8)."""
    if sec.keys is None:
        return {"sms_security_mode": int(sec.mode)}
    return {"sms_security_mode": int(sec.mode), "sms_key_parameters": sec.keys.key_parameters().hex(),
            "sms_secret_key": sec.keys.secret().hex()}


def device_bearer(bearer: Any, endpoint: str, oscore_dir: "Path | None", nosec_peers: "tuple[str, ...]" = ()) -> Any:
    """``bearer`` under the security layer, configured by the device's Security object:
    (secure bearer, DeviceSmsSecurity hook for ``on_sms_security``; release it after).
    ``nosec_peers`` (e.g. a bootstrap server by SMS) stay NoSec."""
    from ..security.policy import NOSEC
    from ..security.setup import DeviceSmsSecurity

    secure = SecureBearer(bearer, SecurityPolicy({p: NOSEC for p in nosec_peers}, default=None))
    return secure, DeviceSmsSecurity(secure, oscore_dir / endpoint if oscore_dir else None)


async def secured_device(endpoint: str, binding: str, bearer: Any, sec: PeerSecurity, server_msisdn: str,
                         server_uri: str, oscore_dir: "Path | None", **kw: Any) -> Any:
    """A gateway Device whose /0 instance carries ``sec``; returns (device, its secure
    bearer, its DeviceSmsSecurity hook: release it after the device stopped)."""
    from ..gateway import start_device

    secure, hook = device_bearer(bearer, endpoint, oscore_dir)
    device = await start_device(
        endpoint, binding, server_uri=server_uri, server_msisdn=server_msisdn, bearer=secure,
        sms_security=device_sms_security(sec) or (3, b"", b""), on_sms_security=hook, **kw)
    return device, secure, hook


def format_comparison(nosec_rows: list[Any], secured_rows: list[Any], mode: str) -> str:
    """SMS per operation (out + in, summed over the devices of a binding) in NoSec and in
    ``mode``, side by side."""
    from .table import format_table

    def totals(rows: list[Any]) -> dict[tuple[str, str], tuple[int, bool]]:
        out: dict[tuple[str, str], tuple[int, bool]] = {}
        for r in rows:
            n, ok = out.get((r.binding, r.operation), (0, True))
            out[(r.binding, r.operation)] = (n + r.sms_out + r.sms_in, ok and r.ok)
        return out

    plain, secured = totals(nosec_rows), totals(secured_rows)
    table = []
    for key, (n, ok) in secured.items():
        base = plain.get(key, (0, True))[0]
        table.append([key[0], key[1], str(base), str(n), f"{n - base:+d}", "ok" if ok else "FAIL"])
    return f"\nSMS per operation, NoSec vs {mode}\n" + format_table(
        ["binding", "operation", "NoSec SMS", f"{mode} SMS", "extra", "result"], table, right={2, 3, 4})
