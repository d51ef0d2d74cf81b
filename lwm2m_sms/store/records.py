"""The values the store keeps: plain dataclasses of str, int, float and bytes.

The store sits below both the LwM2M layer and the router (DESIGN: layers import downwards
only), so it cannot speak in their types (``Registration``, ``Transport``, aiocoap's
``Message``). Each caller owns a small codec between its values and these records:
``lwm2m_sms.lwm2m.store`` for registrations, ``lwm2m_sms.routing.queue`` for requests.
The SMS core is below the store, so the outbox keeps its :class:`~lwm2m_sms.sms.udh.Ports`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..errors import BearerError, Lwm2mSmsError
from ..sms.udh import Ports

__all__ = [
    "StoreError", "OutboxFull", "LocationTaken", "RegistrationRecord", "RequestState", "QueuedRecord",
    "OutboxRecord", "NO_DEADLINE", "POST",
]

# A request with no time limit: stored as a finite number, because SQLite has no
# infinity literal and both backends must read the same value back.
NO_DEADLINE = 1e300
POST = 2  # CoAP code 0.02: not idempotent (Execute, Create, partial Write)


class StoreError(Lwm2mSmsError):
    """The store cannot be opened or used (bad URL, a schema newer than this code, a
    missing driver). ``store`` names it (a path, or a URL without its password),
    ``detail`` says why; the message is ``"store {store}: {detail}"``."""

    def __init__(self, store: str, detail: str) -> None:
        self.store, self.detail = store, detail
        super().__init__(f"store {store}: {detail}")


class OutboxFull(BearerError):
    """The outbox holds ``max_entries`` messages already: the send is refused, not dropped."""


class LocationTaken(Lwm2mSmsError):
    """A registration's location is another endpoint's already (``location`` is unique
    across every node on the database): the writer picks another one."""

    def __init__(self, location: str) -> None:
        self.location = location
        super().__init__(f"registration location {location!r} is taken")


@dataclass(frozen=True, slots=True)
class RegistrationRecord:
    """One row of ``registrations``: ``sms`` in 3GPP TS 23.003 digits (no +), ``objects``
    as link-format text, ``remote_uri`` as ``coap://host:port`` or ``coap+sms://+N``."""

    endpoint: str
    location: str
    lifetime: int
    version: str
    binding: str
    sms: str | None
    objects: str
    root_path: str
    remote_uri: str
    registered_at: float
    updated_at: float


class RequestState(str, enum.Enum):
    """queued: waiting for its device; sent: taken by a node (``owner``) until
    ``lease_until`` and on the wire; answered, expired, failed: final."""

    QUEUED = "queued"
    SENT = "sent"
    ANSWERED = "answered"
    EXPIRED = "expired"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class QueuedRecord:
    """One row of ``queued_requests``: the parts needed to rebuild a CoAP request.
    ``transport`` is the router's bearer name (``udp``, ``sms``). ``origin`` is the node
    whose caller waits for the outcome (None: queued before schema 5); an answered
    request keeps the answer's payload and content format (``response_payload``,
    ``response_format``), so that a caller on another node gets the whole answer."""

    id: int
    endpoint: str
    transport: str
    code: int
    path: str
    query: tuple[str, ...] = ()
    payload: bytes = b""
    content_format: int | None = None
    accept: int | None = None
    observe: int | None = None
    created: float = 0.0
    deadline: float = float("inf")
    state: RequestState = RequestState.QUEUED
    response_code: int | None = None
    detail: str = ""
    owner: str | None = None
    lease_until: float | None = None
    origin: str | None = None
    response_payload: bytes = b""
    response_format: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One accepted, unsent SMS of the bearer named ``bearer``."""

    id: int
    message_id: str
    recipient: str
    payload: bytes
    ports: Ports | None
    report: bool
    created: float
    attempts: int = 0
    bearer: str = ""
    pid: int = 0  # TP-PID / protocol_id (0x7F: SIM data download)
    dcs: int = 0x04  # TP-DCS / data_coding (0x04: 8-bit data; 0xF6: 8-bit, class 2)
