"""LwM2M 1.0.2 Registration interface, sans-IO: parameters, validation, the record.

OMA-TS-LightweightM2M-V1_0_2 5.3 (Client Registration Interface) and 8.2.5/8.2.6:

- Register ``POST /rd?ep=&lt=&lwm2m=&b=&sms=`` with a link-format payload of the objects
  and instances the client has (``</1/0>,</3/0>``; never the Security object /0).
  Answers 2.01 Created with the location ``/rd/{id}``; 4.00 Bad Request for a missing
  ``ep``, an unknown or malformed parameter or payload; 4.12 Precondition Failed for an
  LwM2M version this server does not speak.
- Update ``POST /rd/{id}`` with any subset of lt, b, sms and the payload: 2.04 Changed;
  4.00 for malformed parameters; 4.04 Not Found for an unknown location.
- De-register ``DELETE /rd/{id}``: 2.02 Deleted; 4.04 Not Found.

Defaults chosen here (the 1.0.2 table leaves them to the server): ``lt`` absent means
86400 s, ``lwm2m`` absent means 1.0, ``b`` absent means U. ``sms`` is required when the
binding contains S, except for a Register that itself arrived by SMS: then the sender's
number is recorded (DESIGN: SMS goes to ``sms=`` if given, else to the sender).

Binding values are exactly U, UQ, S, SQ, US, UQS (the LwM2M 1.0 set); UQSQ, USQ, T and
anything else are refused with 4.00. MSISDNs are parsed with
:func:`lwm2m_sms.sms.address.parse_msisdn` (``+N`` or 23.003 digits) and written back as
digits.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from aiocoap.numbers.codes import Code

from ..errors import AddressError, DecodeError, Lwm2mSmsError
from ..sms.address import Address, parse_msisdn
from . import linkformat
from .linkformat import Link
from .path import parse_path
from .binding import BINDINGS  # the one list of LwM2M 1.0.2 binding values

__all__ = [
    "BINDINGS", "DEFAULT_LIFETIME", "DEFAULT_VERSION", "RegistrationRefused", "RegisterParams",
    "UpdateParams", "Registration", "RegistrationLimits", "parse_register", "parse_update",
    "new_location", "printable",
]

DEFAULT_LIFETIME = 86400
DEFAULT_VERSION = "1.0"
DEFAULT_BINDING = "U"
LINK_FORMAT = 40
_REGISTER_KEYS = {"ep", "lt", "lwm2m", "b", "sms"}
_UPDATE_KEYS = {"lt", "b", "sms"}


@dataclass(frozen=True)
class RegistrationLimits:
    """What one client may ask of the server (every listener assumes a hostile peer).

    ``max_registrations`` bounds the registration store (a Register of a new endpoint past
    it: 5.03 Service Unavailable, the server's capacity, not the client's error);
    ``max_link_format`` the octets of a Register/Update payload (past it: 4.13 Request
    Entity Too Large, before parsing); ``min_lifetime``..``max_lifetime`` the accepted ``lt``
    (outside: 4.00); ``max_endpoint`` the characters of ``ep``, which must all be printable
    (a newline or NUL in a name would forge log lines and console rows: 4.00)."""

    max_registrations: int = 100_000
    max_link_format: int = 4096
    min_lifetime: int = 1
    max_lifetime: int = 365 * 86400
    max_endpoint: int = 128

    def __post_init__(self) -> None:
        if self.max_registrations < 1 or self.max_link_format < 16 or self.max_endpoint < 1:
            raise ValueError("max_registrations, max_link_format (>= 16) and max_endpoint must be positive")
        if not 1 <= self.min_lifetime <= self.max_lifetime <= 0xFFFFFFFF:
            raise ValueError(f"lifetime range {self.min_lifetime}..{self.max_lifetime} must lie in 1..2^32-1")


DEFAULT_LIMITS = RegistrationLimits()


def printable(text: str, limit: int = 80) -> str:
    """``text`` safe for one log line: unprintable characters escaped, cut at ``limit``."""
    cut = text[:limit]
    out = cut if cut.isprintable() else cut.encode("unicode_escape").decode("ascii")
    return out + ("..." if len(text) > limit else "")


class RegistrationRefused(Lwm2mSmsError):
    """A Register, Update or De-register that is answered with an error code."""

    def __init__(self, code: Code, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class RegisterParams:
    endpoint: str
    lifetime: int
    version: str
    binding: str
    sms: Optional[Address]
    objects: tuple[Link, ...]
    root_path: str = "/"


@dataclass(frozen=True)
class UpdateParams:
    """An Update: every field is None when the client did not send it."""

    lifetime: Optional[int] = None
    binding: Optional[str] = None
    sms: Optional[Address] = None
    objects: Optional[tuple[Link, ...]] = None
    root_path: Optional[str] = None


@dataclass(slots=True)
class Registration:
    """One registered client. ``remote`` is the aiocoap remote (EndpointAddress) the last
    Register or Update came from; it lives in memory only. ``remote_uri`` is its
    serialisable form (``coap://127.0.0.1:56830``, ``coap+sms://+15550001``), which
    survives a restart and is enough to send a request again.

    A server holds one per device, so the record is compact: slots instead of a
    ``__dict__``, ``version`` and ``binding`` are the shared constants, and ``objects`` is
    shared by every registration that sent the same link-format payload (the tuple and its
    frozen :class:`Link` values; see :func:`_objects`): about 0.5 KiB per S device with its
    strings and number, against 1.9 KiB as a plain dataclass with its own Links."""

    endpoint: str
    location: str
    lifetime: int
    version: str
    binding: str
    sms: Optional[Address]
    objects: tuple[Link, ...]
    remote_uri: str
    registered_at: float
    updated_at: float
    root_path: str = "/"
    remote: Any = field(default=None, compare=False, repr=False)

    @property
    def expires_at(self) -> float:
        return self.updated_at + self.lifetime

    @property
    def queue_mode(self) -> bool:
        return "Q" in self.binding

    @property
    def object_paths(self) -> list[tuple[int, ...]]:
        out = []
        for link in self.objects:
            try:
                out.append(parse_path(link.target))
            except DecodeError:
                continue
        return out

    def with_update(self, params: UpdateParams, remote: Any, remote_uri: str, now: float) -> "Registration":
        return replace(
            self,
            lifetime=self.lifetime if params.lifetime is None else params.lifetime,
            binding=self.binding if params.binding is None else params.binding,
            sms=self.sms if params.sms is None else params.sms,
            objects=self.objects if params.objects is None else params.objects,
            root_path=self.root_path if params.root_path is None else params.root_path,
            remote=remote,
            remote_uri=remote_uri,
            updated_at=now,
        )


def new_location() -> str:
    """A fresh, unguessable location id (the ``{id}`` of ``/rd/{id}``)."""
    return secrets.token_hex(5)


def _split_query(query: "list[str] | tuple[str, ...]", allowed: set[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in query:
        key, eq, value = item.partition("=")
        if key not in allowed:
            raise RegistrationRefused(Code.BAD_REQUEST, f"unknown parameter {key!r}")
        if not eq:
            raise RegistrationRefused(Code.BAD_REQUEST, f"parameter {key!r} has no value")
        if key in params:
            raise RegistrationRefused(Code.BAD_REQUEST, f"parameter {key!r} given twice")
        params[key] = value
    return params


def _lifetime(text: str, limits: RegistrationLimits = DEFAULT_LIMITS) -> int:
    if len(text) > 10 or not text.isdigit() or not text.isascii():  # 2^32-1 has 10 digits
        raise RegistrationRefused(Code.BAD_REQUEST, f"lifetime lt={text[:20]!r} is not an integer in 1..2^32-1")
    value = int(text)
    if not limits.min_lifetime <= value <= limits.max_lifetime:
        raise RegistrationRefused(
            Code.BAD_REQUEST, f"lifetime lt={text} out of range {limits.min_lifetime}..{limits.max_lifetime}"
        )
    return value


def _endpoint(text: str, limits: RegistrationLimits) -> str:
    if len(text) > limits.max_endpoint:
        raise RegistrationRefused(Code.BAD_REQUEST, f"endpoint name of {len(text)} characters (at most {limits.max_endpoint})")
    if not text.isprintable():
        raise RegistrationRefused(Code.BAD_REQUEST, f"endpoint name {printable(text)!r} has unprintable characters")
    return text


def _payload_size(payload: bytes, limits: RegistrationLimits) -> None:
    if len(payload) > limits.max_link_format:
        raise RegistrationRefused(
            Code.REQUEST_ENTITY_TOO_LARGE,
            f"link-format payload of {len(payload)} octets (at most {limits.max_link_format})",
        )


# The canonical string of each binding: a registration holds the shared constant, not the
# copy its query carried.
_BINDING_TEXT = {b: b for b in BINDINGS}


def _binding(text: str) -> str:
    canonical = _BINDING_TEXT.get(text)
    if canonical is None:
        raise RegistrationRefused(Code.BAD_REQUEST, f"binding b={text!r} is not one of {', '.join(sorted(BINDINGS))}")
    return canonical


def _sms(text: str) -> Address:
    try:
        return parse_msisdn(text)
    except AddressError as exc:
        raise RegistrationRefused(Code.BAD_REQUEST, f"sms={text!r}: {exc}") from None


#: Parsed payloads by their octets: a fleet registers a handful of distinct object lists, so
#: the registrations share a few parsed tuples instead of holding about 1 KiB of Link objects
#: each. Bounded: at most _OBJECTS_CACHE_SIZE payloads of at most _OBJECTS_CACHE_OCTETS each
#: (a client that sends ever new payloads only empties it; it never grows past the bound).
_OBJECTS_CACHE: dict[bytes, tuple[tuple[Link, ...], str]] = {}
_OBJECTS_CACHE_SIZE = 256
_OBJECTS_CACHE_OCTETS = 512


def _objects(payload: bytes, content_format: Optional[int]) -> tuple[tuple[Link, ...], str]:
    if content_format not in (None, LINK_FORMAT):
        raise RegistrationRefused(Code.BAD_REQUEST, f"payload content format {content_format} is not link-format (40)")
    cached = _OBJECTS_CACHE.get(payload)
    if cached is not None:
        return cached
    parsed = _parse_objects(payload)
    if len(payload) <= _OBJECTS_CACHE_OCTETS:
        if len(_OBJECTS_CACHE) >= _OBJECTS_CACHE_SIZE:
            _OBJECTS_CACHE.clear()
        _OBJECTS_CACHE[bytes(payload)] = parsed
    return parsed


def _parse_objects(payload: bytes) -> tuple[tuple[Link, ...], str]:
    try:
        links = linkformat.parse(payload)
    except DecodeError as exc:
        raise RegistrationRefused(Code.BAD_REQUEST, f"payload: {exc}") from None
    root = "/"
    objects = []
    for link in links:
        if link.attributes.get("rt") == "oma.lwm2m":
            # alternate path for LwM2M objects (1.0.2 5.3.1): </lwm2m>;rt="oma.lwm2m"
            root = link.target.rstrip("/") + "/" if link.target != "/" else "/"
            continue
        objects.append(link)
    checked = []
    for link in objects:
        target = link.target
        if root != "/" and target.startswith(root):
            target = "/" + target[len(root):]
        try:
            path = parse_path(target)
        except DecodeError as exc:
            raise RegistrationRefused(Code.BAD_REQUEST, f"payload: {exc}") from None
        if not path or len(path) > 2:
            raise RegistrationRefused(Code.BAD_REQUEST, f"payload link {link.target!r} is not an object or instance")
        if path[0] == 0:
            raise RegistrationRefused(Code.BAD_REQUEST, "payload lists the Security object /0, which a client never registers")
        checked.append(Link(sys.intern(target), dict(link.attributes)))
    return tuple(checked), root


def parse_register(
    query: "list[str] | tuple[str, ...]",
    payload: bytes,
    content_format: Optional[int],
    *,
    accepted_versions: "tuple[str, ...] | frozenset[str]" = (DEFAULT_VERSION,),
    sender_msisdn: Optional[Address] = None,
    limits: RegistrationLimits = DEFAULT_LIMITS,
) -> RegisterParams:
    """Validate a Register request; RegistrationRefused carries the answer code."""
    _payload_size(payload, limits)
    params = _split_query(query, _REGISTER_KEYS)
    ep = params.get("ep")
    if not ep:
        raise RegistrationRefused(Code.BAD_REQUEST, "endpoint name ep is missing")
    ep = _endpoint(ep, limits)
    version = params.get("lwm2m", DEFAULT_VERSION)
    if version not in accepted_versions:
        raise RegistrationRefused(
            Code.PRECONDITION_FAILED, f"LwM2M version {version!r} not supported (accepted: {', '.join(accepted_versions)})"
        )
    version = next(v for v in accepted_versions if v == version)  # the shared constant
    lifetime = _lifetime(params["lt"], limits) if "lt" in params else min(
        max(DEFAULT_LIFETIME, limits.min_lifetime), limits.max_lifetime)
    binding = _binding(params["b"]) if "b" in params else DEFAULT_BINDING
    sms = _sms(params["sms"]) if "sms" in params else None
    if "S" in binding and sms is None:
        if sender_msisdn is None:
            raise RegistrationRefused(Code.BAD_REQUEST, f"binding {binding} needs an sms= number")
        sms = sender_msisdn
    objects, root = _objects(payload, content_format)
    return RegisterParams(ep, lifetime, version, binding, sms, objects, root)


def parse_update(
    query: "list[str] | tuple[str, ...]", payload: bytes, content_format: Optional[int],
    *, limits: RegistrationLimits = DEFAULT_LIMITS,
) -> UpdateParams:
    """Validate an Update request's parameters (the binding/sms combination is checked
    against the existing registration by the caller: :func:`check_binding_sms`)."""
    _payload_size(payload, limits)
    params = _split_query(query, _UPDATE_KEYS)
    objects = root = None
    if payload:
        objects, root = _objects(payload, content_format)
    return UpdateParams(
        lifetime=_lifetime(params["lt"], limits) if "lt" in params else None,
        binding=_binding(params["b"]) if "b" in params else None,
        sms=_sms(params["sms"]) if "sms" in params else None,
        objects=objects,
        root_path=root,
    )


def check_binding_sms(binding: str, sms: Optional[Address]) -> None:
    if "S" in binding and sms is None:
        raise RegistrationRefused(Code.BAD_REQUEST, f"binding {binding} needs an sms= number")
