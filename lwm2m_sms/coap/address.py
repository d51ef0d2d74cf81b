"""The aiocoap endpoint address of an SMS peer: its MSISDN (and application ports, if any).

aiocoap keys its message-layer state by remote address: the deduplication cache by
(remote, message ID), pending requests by (token, remote), piggyback opportunities by
(remote, token), block-wise assembly by ``blockwise_key``. :class:`SmsAddress` therefore
compares and hashes by what identifies the peer on the SMS network, the E.164 MSISDN plus
the 3GPP TS 23.040 application ports when the SMS carried them, so that an SMSC's retry of
an SMS maps to the same key as the original and is recognised as a duplicate.

``ports`` always hold the ports as the peer's SMS carry them (destination = ours, source =
theirs), for incoming SMS and for addresses we make up for outgoing requests alike, so a
response matches its request; :meth:`SmsAddress.reply_ports` swaps them for what we send,
as 23.040 says. (A peer that answers a port-addressed SMS without ports is therefore a
different peer: 23.040 requires the swap.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiocoap import interfaces

from ..sms.address import Address
from ..sms.udh import Ports
from .uri import SCHEME

if TYPE_CHECKING:
    from .transport import SmsTransport

__all__ = ["SmsAddress"]


class SmsAddress(interfaces.EndpointAddress):
    """A peer reached by SMS through one :class:`~lwm2m_sms.coap.transport.SmsTransport`.

    ``msisdn`` is an :class:`~lwm2m_sms.sms.address.Address`; resources read the sender of a
    request as ``request.remote.msisdn``. ``ports`` are the application ports of the SMS
    this address came from (None: no port addressing). ``maximum_block_size_exp`` may be
    lowered per instance, as aiocoap's block-wise code does.
    """

    scheme = SCHEME
    is_multicast = False
    is_multicast_locally = False

    __slots__ = ("msisdn", "ports", "transport", "maximum_block_size_exp", "_hash")

    def __init__(
        self,
        msisdn: Address,
        transport: "SmsTransport",
        *,
        ports: Ports | None = None,
        maximum_block_size_exp: int | None = None,
    ) -> None:
        self.msisdn = msisdn
        self.ports = ports
        self.transport = transport
        self.maximum_block_size_exp = (
            transport.settings.block_size_exp
            if maximum_block_size_exp is None
            else maximum_block_size_exp
        )
        self._hash = hash((msisdn, ports))

    # -- identity -----------------------------------------------------------------------

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SmsAddress):
            return NotImplemented
        return self.msisdn == other.msisdn and self.ports == other.ports

    def __repr__(self) -> str:
        ports = f" ports {self.ports.destination}/{self.ports.source}" if self.ports else ""
        return f"<SmsAddress {self.hostinfo}{ports}>"

    @property
    def blockwise_key(self):
        return (SCHEME, self.msisdn, self.ports)

    # -- URI parts ----------------------------------------------------------------------

    @property
    def hostinfo(self) -> str:
        return str(self.msisdn)

    @property
    def hostinfo_local(self) -> str:
        local = self.transport.local_msisdn
        if local is None:
            raise ValueError("the bearer below this SMS transport has no own number configured")
        return str(local)

    @property
    def uri_base(self) -> str:
        return f"{SCHEME}://{self.hostinfo}"

    @property
    def uri_base_local(self) -> str:
        return f"{SCHEME}://{self.hostinfo_local}"

    @property
    def maximum_payload_size(self) -> int:
        return self.transport.settings.max_payload_size

    # -- sending ------------------------------------------------------------------------

    def reply_ports(self) -> Ports | None:
        """Ports for an SMS to this peer: the ones it sends from, swapped."""
        return self.ports.swapped() if self.ports is not None else None
