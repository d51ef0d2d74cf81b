"""Server accounts as the Security (/0) and Server (/1) objects describe them (sans-IO).

A :class:`ServerAccount` is one LwM2M server, or the bootstrap server, in the form a
bootstrap server writes and a client reads back: :meth:`ServerAccount.security_instance`
and :meth:`ServerAccount.server_instance` are the /0 and /1 instances, and
:func:`server_accounts` / :func:`bootstrap_account` read them out of an object tree.
Only NoSec (security mode 3) is built on UDP; SMS security modes 1 (DTLS), 2 (secured
packet) and 204 (OSCORE) are accepted by :func:`check_security` only when the client has an
SMS security layer (lwm2m_sms.security), which takes /0/x/6..8 from the Security instance.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Optional

from ...errors import AddressError
from ...sms.address import Address, parse_msisdn
from ..exceptions import ConfigError

__all__ = [
    "ServerAccount", "check_security", "server_accounts", "bootstrap_account", "account_numbers",
    "NOSEC", "SMS_NOSEC", "SECURITY_MODES", "SMS_SECURITY_MODES", "SECURED_SMS_MODES",
]

log = logging.getLogger(__name__)

NOSEC = 3
SMS_NOSEC = 3
SECURITY_MODES = {0: "PSK", 1: "RPK", 2: "certificate", 3: "NoSec", 4: "certificate with EST"}
SMS_SECURITY_MODES = {1: "DTLS", 2: "secure packet (3GPP TS 31.115)", 3: "NoSec", 204: "OSCORE (proprietary)"}
# What a client with an SMS security layer (``on_sms_security``, lwm2m_sms.security) runs.
SECURED_SMS_MODES = (1, 2, 3, 204)

# Object tree: object id -> instance id -> resource id -> value
# (an instance is a dict, or a mapping such as the Device object's shared template)
Tree = dict[int, dict[int, MutableMapping[int, Any]]]


@dataclass
class ServerAccount:
    """One LwM2M server (or the bootstrap server) as /0 and /1 describe it.

    ``hold_off`` (/0/x/11) and ``account_timeout`` (/0/x/12) matter for the bootstrap
    account only: the seconds a client waits before a Client Initiated Bootstrap, and after
    a bootstrap before it purges the bootstrap account (None or 0: never)."""

    uri: str
    short_server_id: int = 1
    lifetime: int = 300
    binding: str = "U"
    sms_number: Optional[Address] = None  # /0/x/9: where the server's SMS come from
    bootstrap: bool = False
    security_mode: int = NOSEC
    sms_security_mode: Optional[int] = SMS_NOSEC
    hold_off: Optional[int] = None
    account_timeout: Optional[int] = None
    sms_key_parameters: bytes = b""  # /0/x/7
    sms_secret_key: bytes = field(default=b"", repr=False)  # /0/x/8: never readable by a server

    def security_instance(self) -> dict[int, Any]:
        inst: dict[int, Any] = {0: self.uri, 1: self.bootstrap, 2: self.security_mode, 3: b"", 4: b"", 5: b""}
        if self.sms_security_mode is not None:
            inst[6] = self.sms_security_mode
        if self.sms_key_parameters or self.sms_secret_key:
            inst[7], inst[8] = self.sms_key_parameters, self.sms_secret_key
        if self.sms_number is not None:
            inst[9] = self.sms_number.lwm2m_digits
        if not self.bootstrap:
            inst[10] = self.short_server_id
        if self.hold_off is not None:
            inst[11] = self.hold_off
        if self.account_timeout is not None:
            inst[12] = self.account_timeout
        return inst

    def server_instance(self) -> dict[int, Any]:
        return {0: self.short_server_id, 1: self.lifetime, 6: False, 7: self.binding}


def check_security(instance: dict[int, Any], sms_modes: tuple[int, ...] = (SMS_NOSEC,)) -> None:
    """ConfigError unless the Security instance asks for NoSec on UDP and one of
    ``sms_modes`` on SMS."""
    mode = instance.get(2, NOSEC)
    if mode != NOSEC:
        raise ConfigError(f"security mode {mode} ({SECURITY_MODES.get(mode, 'unknown')}) is not supported: only NoSec (3) is built")
    sms_mode = instance.get(6)
    if sms_mode is not None and sms_mode not in sms_modes:
        raise ConfigError(
            f"SMS security mode {sms_mode} ({SMS_SECURITY_MODES.get(sms_mode, 'reserved/proprietary')}) is not "
            + ("supported: only NoSec (3) is built into a client without an SMS security layer"
               if sms_modes == (SMS_NOSEC,) else f"supported: {', '.join(map(str, sms_modes))}")
        )


def _sms_number(sec: Mapping[int, Any], endpoint: str) -> Optional[Address]:
    if not sec.get(9):
        return None
    try:
        return parse_msisdn(str(sec[9]))
    except AddressError:
        log.warning("ep=%s: /0 SMS number %r is not an MSISDN", endpoint, sec[9])
        return None


def _optional_int(value: Any) -> Optional[int]:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def server_accounts(objects: Tree, endpoint: str = "") -> list[ServerAccount]:
    """The LwM2M server accounts in ``objects``: each non-bootstrap /0 instance whose short
    server id has a /1 instance."""
    accounts = []
    for sec in objects.get(0, {}).values():
        if sec.get(1):
            continue
        ssid = _optional_int(sec.get(10))
        server = next((s for s in objects.get(1, {}).values() if s.get(0) == ssid), None)
        if ssid is None or server is None:
            continue
        accounts.append(ServerAccount(
            uri=str(sec.get(0, "")), short_server_id=ssid, lifetime=int(server.get(1, 86400)),
            binding=str(server.get(7, "U")), sms_number=_sms_number(sec, endpoint),
            security_mode=int(sec.get(2, NOSEC)), sms_security_mode=_optional_int(sec.get(6)),
            sms_key_parameters=bytes(sec.get(7) or b""), sms_secret_key=bytes(sec.get(8) or b""),
        ))
    return accounts


def bootstrap_account(objects: Tree, endpoint: str = "") -> Optional[tuple[int, ServerAccount]]:
    """(instance id, account) of the bootstrap-server account in /0, if there is one
    (LwM2M 1.0.2: at most one)."""
    for iid, sec in objects.get(0, {}).items():
        if sec.get(1):
            return iid, ServerAccount(
                uri=str(sec.get(0, "")), bootstrap=True, sms_number=_sms_number(sec, endpoint),
                security_mode=int(sec.get(2, NOSEC)), sms_security_mode=_optional_int(sec.get(6)),
                hold_off=_optional_int(sec.get(11)), account_timeout=_optional_int(sec.get(12)),
            )
    return None


def account_numbers(sec: Mapping[int, Any]) -> list[Address]:
    """The MSISDNs a Security instance names: /0/x/9, and the number of a ``coap+sms``
    server URI in /0/x/0. Malformed values name nothing."""
    candidates = [str(sec[9])] if sec.get(9) else []
    uri = str(sec.get(0, ""))
    if uri.lower().startswith("coap+sms://"):
        candidates.append(uri[len("coap+sms://"):].split("/", 1)[0])
    numbers = []
    for text in candidates:
        try:
            numbers.append(parse_msisdn(text))
        except AddressError:
            pass
    return numbers
