"""Which SMS a server believes (sans-IO): the MSISDN directory and the trust rule.

LwM2M 1.0.2 with SMS security mode NoSec has nothing but the sender's number to go by, so
the server holds to one rule (DESIGN.md, trust):

* A Register by SMS is accepted from any number, or only from an allow-list when one is
  configured; with an allow-list, no Register or Update (by SMS or UDP) may name an
  ``sms`` number outside it, since naming one is how a number becomes trusted; its ``sms`` parameter, when given, must be the sender's own number (else a
  spoof: refused with 4.03), and it may not replace a registration of the same endpoint
  that names another number (4.03). Without ``sms`` the sender's number becomes the
  registration's.
* Any other SMS from MSISDN X is accepted only if some registration has sms = X, and an
  Update or De-register by SMS only for a registration whose sms is X.
* Everything else is dropped silently: no reply SMS (a reply costs money and tells a
  prober the number is live), a log line with the number and a counter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from ..sms.address import Address

__all__ = ["Directory", "TrustPolicy", "TrustStats"]

log = logging.getLogger(__name__)


@dataclass
class Directory:
    """MSISDN <-> endpoint names, as the registrations say. A number may stand in several
    registrations (a gateway modem for several endpoints, a device that registered again
    under a new name); it is known while any of them names it."""

    _by_msisdn: dict[Address, set[str]] = field(default_factory=dict)
    _by_endpoint: dict[str, Address] = field(default_factory=dict)

    def bind(self, endpoint: str, msisdn: Address | None) -> None:
        old = self._by_endpoint.pop(endpoint, None)
        if old is not None:
            owners = self._by_msisdn.get(old)
            if owners is not None:
                owners.discard(endpoint)
                if not owners:
                    del self._by_msisdn[old]
        if msisdn is not None:
            self._by_endpoint[endpoint] = msisdn
            self._by_msisdn.setdefault(msisdn, set()).add(endpoint)

    def unbind(self, endpoint: str) -> None:
        self.bind(endpoint, None)

    def known(self, msisdn: Address) -> bool:
        return msisdn in self._by_msisdn

    def msisdn_for(self, endpoint: str) -> Address | None:
        return self._by_endpoint.get(endpoint)

    def __len__(self) -> int:
        return len(self._by_endpoint)


@dataclass
class TrustStats:
    accepted: int = 0
    dropped_unknown_sender: int = 0
    refused_register: int = 0
    refused_foreign_location: int = 0


@dataclass
class TrustPolicy:
    directory: Directory = field(default_factory=Directory)
    register_allow_list: frozenset[Address] | None = None
    stats: TrustStats = field(default_factory=TrustStats)
    #: Set by the security layer (lwm2m_sms.security.setup): True for a sender whose SMS
    #: are OSCORE-protected under a context bound to its number. Its Register and Update
    #: are hidden in the ciphertext here, so the gate lets them through like a Register
    #: and the same rules apply once unprotected (validate_registration).
    oscore_peer: Callable[[Address], bool] | None = None

    def accept_sms(self, sender: Address, *, is_register: bool, oscore: bool = False) -> bool:
        """The transport-level gate for every incoming SMS (before CoAP handling)."""
        if oscore and self.oscore_peer is not None and self.oscore_peer(sender):
            is_register = True
        if is_register:
            if self.register_allow_list is not None and sender not in self.register_allow_list:
                self.stats.dropped_unknown_sender += 1
                log.warning("trust: Register by SMS from %s is not on the allow-list; dropped", sender)
                return False
            self.stats.accepted += 1
            return True
        if not self.directory.known(sender):
            self.stats.dropped_unknown_sender += 1
            log.warning("trust: SMS from %s, which no registration names; dropped", sender)
            return False
        self.stats.accepted += 1
        return True

    def allow_list_refusal(self, sms_param: Address, sender: Address | None) -> str | None:
        """With an allow-list, a registration (by SMS or by UDP, Register or Update) may name
        only an allowed ``sms=`` number: naming one is how a number becomes trusted."""
        if self.register_allow_list is None or sms_param in self.register_allow_list:
            return None
        self.stats.refused_register += 1
        log.warning("trust: Register/Update from %s names sms=%s, which is not on the allow-list; refused",
                    sender if sender is not None else "UDP", sms_param)
        return f"sms={sms_param} is not on the allow-list"

    def register_refusal(
        self, sender: Address, sms_param: Address | None, endpoint: str | None = None
    ) -> str | None:
        """Why a Register or Update by SMS from ``sender`` is refused, or None if it is
        fine: ``sms=`` must be the sender's own number, and a registration of ``endpoint``
        that exists with another number is not the sender's to replace."""
        if sms_param is not None and sms_param != sender:
            self.stats.refused_register += 1
            log.warning("trust: Register/Update by SMS from %s names sms=%s; refused", sender, sms_param)
            return f"sms={sms_param} is not the sending number {sender}"
        owner = self.directory.msisdn_for(endpoint) if endpoint is not None else None
        if owner is not None and owner != sender:
            self.stats.refused_register += 1
            log.warning("trust: Register by SMS from %s for ep=%s, registered with sms=%s; refused",
                        sender, endpoint, owner)
            return f"endpoint {endpoint} is registered with another number"
        return None

    def location_refusal(self, sender: Address, endpoint: str) -> str | None:
        """Why an Update/De-register by SMS from ``sender`` for ``endpoint`` is refused."""
        owner = self.directory.msisdn_for(endpoint)
        if owner != sender:
            self.stats.refused_foreign_location += 1
            log.warning(
                "trust: SMS from %s acts on endpoint %s, registered with sms=%s; refused",
                sender, endpoint, owner,
            )
            return f"endpoint {endpoint} is not registered with sms={sender}"
        return None
