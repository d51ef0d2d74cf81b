"""Settings of the CoAP-over-SMS transport, and the aiocoap timing they turn into.

aiocoap reads CoAP timing per message from ``message.transport_tuning`` (an
:class:`aiocoap.numbers.TransportTuning`): the MessageManager takes ACK_TIMEOUT,
ACK_RANDOM_FACTOR and MAX_RETRANSMIT for CON retransmission, EXCHANGE_LIFETIME for how long a
received message ID is remembered (deduplication), EMPTY_ACK_DELAY for how long a response may
take before a separate empty ACK goes out, and the server's Block1 handling reads
DEFAULT_BLOCK_SIZE_EXP. :meth:`SmsSettings.tuning` builds one :class:`SmsTuning` from the
settings; the transport puts it on every message it sends or receives.

The defaults follow the LwM2M SMS binding (DESIGN.md, wire facts): a CON is sent once and its
ACK awaited for a long time, because every SMS costs money and a retransmission after UDP's
2 s would only duplicate an SMS that is still on its way. Retransmission is opt-in
(``max_retransmit > 0``), for plain aiocoap users and lossy test networks.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiocoap.numbers import TransportTuning

from ..sms.segmentation import MAX_USER_DATA
from ..sms.udh import Ports
from .dedup import DEFAULT_MAX_ENTRIES

__all__ = ["SmsSettings", "SmsTuning", "SMS_PART_PAYLOAD"]

#: Payload octets in one part of a concatenated 8-bit SMS: 140 less a 6-octet UDH
#: (UDHL + concatenation IE with an 8-bit reference).
SMS_PART_PAYLOAD = MAX_USER_DATA - 6


@dataclass(frozen=True)
class SmsSettings:
    """Per-transport settings; every field has a documented default.

    * ``max_message_size`` (536 = 4 x 134: four concatenated SMS): the largest encoded CoAP
      message the transport sends. Larger ones are refused with an error on the request.
      Responses whose payload would not fit go block-wise.
    * ``block_size_exp`` (2, i.e. 64-octet blocks): SZX used for block-wise transfers, so that
      one block plus the CoAP header fits one SMS (140 octets).
    * ``ack_timeout`` (60 s), ``ack_random_factor`` (1.5), ``max_retransmit`` (0): a CON
      is sent once and its ACK awaited 60 to 90 s; then the request fails with
      ``aiocoap.error.ConRetransmitsExceeded``. Set ``max_retransmit`` > 0 to retransmit.
    * ``max_latency`` (300 s): how long an SMS may spend in the network (SMSC
      store-and-forward retries). With the timing above it makes EXCHANGE_LIFETIME
      (the message-ID dedup memory) 660 s instead of UDP's 247 s.
    * ``exchange_lifetime`` (None = derived as RFC 7252 does): set to override.
    * ``piggyback_window`` (None = a quarter of ``ack_timeout``: 15 s): how long a response
      may take and still ride on the ACK (aiocoap's EMPTY_ACK_DELAY). Only a slower
      response costs a separate empty ACK. Keep it well below the peer's ACK timeout minus
      the SMS transit time.
    * ``ports`` (None): 3GPP TS 23.040 application ports on outgoing requests; off by
      default (LwM2M does not define them). A reply always swaps the ports of the SMS it
      answers.
    * ``report`` (False): ask the network for a delivery report of every SMS; the
      transport then surfaces FAILED reports as errors on the request.
    * ``reliability`` (None): aiocoap's ``TransportTuning.reliability`` for messages that do
      not choose: None lets aiocoap decide (CON requests, notifications like their
      request), False prefers NON (one SMS less per exchange, no ACK), True CON.
    * ``dedup_entries`` (100,000): how many received message IDs (with the octets of the
      response to each) the transport remembers for EXCHANGE_LIFETIME to recognise SMSC
      retries (:mod:`.dedup`; a few dozen octets each). Past it the oldest are forgotten
      early (counted as ``dedup_evicted``).
    * ``peer_stats`` (100,000): how many peers get counters of their own
      (:meth:`SmsTransport.stats` ``per_peer``); peers past it are counted in the total only.
    """

    max_message_size: int = 4 * SMS_PART_PAYLOAD
    block_size_exp: int = 2
    ack_timeout: float = 60.0
    ack_random_factor: float = 1.5
    max_retransmit: int = 0
    max_latency: float = 300.0
    exchange_lifetime: float | None = None
    piggyback_window: float | None = None
    ports: Ports | None = None
    report: bool = False
    reliability: bool | None = None
    dedup_entries: int = DEFAULT_MAX_ENTRIES
    peer_stats: int = 100_000

    def __post_init__(self) -> None:
        if self.dedup_entries < 1 or self.peer_stats < 0:
            raise ValueError(f"dedup_entries {self.dedup_entries} must be positive, peer_stats >= 0")
        if not 0 <= self.block_size_exp <= 6:
            raise ValueError(f"block_size_exp {self.block_size_exp} must be 0..6 (16..1024 octets)")
        if self.max_message_size < 2 ** (self.block_size_exp + 4) + 32:
            raise ValueError(
                f"max_message_size {self.max_message_size} cannot carry a block of "
                f"{2 ** (self.block_size_exp + 4)} octets with its header"
            )
        if self.ack_timeout <= 0 or self.ack_random_factor < 1 or self.max_retransmit < 0:
            raise ValueError("ack_timeout > 0, ack_random_factor >= 1, max_retransmit >= 0")
        if self.piggyback_window is not None and not 0 <= self.piggyback_window < self.ack_timeout:
            raise ValueError(
                f"piggyback_window {self.piggyback_window} must be below ack_timeout "
                f"{self.ack_timeout}: the empty ACK must reach the peer before it gives up"
            )

    @property
    def empty_ack_delay(self) -> float:
        """The piggyback window in effect."""
        return self.ack_timeout / 4 if self.piggyback_window is None else self.piggyback_window

    @property
    def max_payload_size(self) -> int:
        """Largest payload sent whole (larger goes block-wise): the message size less a
        generous allowance for header, token and options."""
        return self.max_message_size - 64

    def tuning(self) -> "SmsTuning":
        return SmsTuning(self)


class SmsTuning(TransportTuning):
    """aiocoap timing from :class:`SmsSettings` (one instance per transport, shared by its
    messages)."""

    def __init__(self, settings: SmsSettings, reliability: bool | None = None) -> None:
        self.settings = settings
        self.ACK_TIMEOUT = settings.ack_timeout
        self.ACK_RANDOM_FACTOR = settings.ack_random_factor
        self.MAX_RETRANSMIT = settings.max_retransmit
        self.MAX_LATENCY = settings.max_latency
        self.EMPTY_ACK_DELAY = settings.empty_ack_delay
        self.DEFAULT_BLOCK_SIZE_EXP = settings.block_size_exp
        self.reliability = settings.reliability if reliability is None else reliability

    @property
    def EXCHANGE_LIFETIME(self) -> float:  # type: ignore[override]
        if self.settings.exchange_lifetime is not None:
            return self.settings.exchange_lifetime
        return super().EXCHANGE_LIFETIME

    @property
    def REQUEST_TIMEOUT(self) -> float:  # type: ignore[override]
        return self.MAX_TRANSMIT_WAIT

    def with_reliability(self, reliability: bool | None) -> "SmsTuning":
        return self if reliability == self.reliability else SmsTuning(self.settings, reliability)

    def __repr__(self) -> str:
        return f"<SmsTuning {self.settings!r}>"
