"""Phone numbers and sender names as values: E.164 MSISDNs, national numbers, short codes,
alphanumeric senders.

Internally an international number is E.164 with a ``+`` (1 to 15 digits, TON international,
NPI ISDN/E.164). LwM2M data (the ``sms=`` registration parameter, resource /0/x/9) carries
3GPP TS 23.003 MSISDN digits without ``+``: :func:`parse_msisdn` accepts both forms and
:attr:`Address.lwm2m_digits` writes the digits.

The 3GPP TS 23.040 address *field* codec (semi-octets, TON/NPI octet, packed 7-bit
alphanumerics) lives in :mod:`lwm2m_sms.sms.tpdu`; this module is only the value type and
text parsing.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..errors import AddressError

__all__ = ["Ton", "Npi", "Address", "parse_msisdn", "parse_address"]


class Ton(enum.IntEnum):
    """Type of number (3GPP TS 23.040 9.1.2.5; SMPP 3.4 5.2.5 uses the same values)."""

    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi(enum.IntEnum):
    """Numbering plan identification (3GPP TS 23.040 9.1.2.5; SMPP 3.4 5.2.6)."""

    UNKNOWN = 0
    ISDN = 1  # E.164 / E.163
    DATA = 3
    TELEX = 4
    LAND_MOBILE = 6
    NATIONAL = 8
    PRIVATE = 9
    ERMES = 10


# Characters people and URIs put between digits (RFC 3966 visual separators, spaces).
_SEPARATORS = re.compile(r"[\s\-.()]")
_DIGITS = re.compile(r"[0-9]+")
# 23.040 address fields may carry these non-digit semi-octets for numeric TONs.
_DIALLED = re.compile(r"[0-9*#abcABC]+")
SHORT_CODE_MAX_DIGITS = 8
ALPHANUMERIC_MAX_CHARS = 11  # 10 octets of packed septets in a 23.040 address field


@dataclass(frozen=True, slots=True)
class Address:
    """One SMS address. ``value`` holds digits without ``+`` for numeric types and the text
    itself for alphanumeric senders. Compare and hash by all three fields."""

    value: str
    ton: Ton = Ton.INTERNATIONAL
    npi: Npi = Npi.ISDN

    def __post_init__(self) -> None:
        if self.ton == Ton.ALPHANUMERIC:
            if not 1 <= len(self.value) <= ALPHANUMERIC_MAX_CHARS:
                raise AddressError(
                    f"alphanumeric sender {self.value!r} must have 1 to "
                    f"{ALPHANUMERIC_MAX_CHARS} characters"
                )
            return
        if self.ton == Ton.INTERNATIONAL:
            if not _DIGITS.fullmatch(self.value) or not 1 <= len(self.value) <= 15:
                raise AddressError(
                    f"international number {self.value!r} must be 1 to 15 digits (E.164)"
                )
            return
        if not self.value or len(self.value) > 20 or not _DIALLED.fullmatch(self.value):
            raise AddressError(
                f"number {self.value!r} (TON {self.ton.name}) must be 1 to 20 dialled digits"
            )

    @classmethod
    def international(cls, digits: str) -> "Address":
        return cls(digits.lstrip("+"), Ton.INTERNATIONAL, Npi.ISDN)

    @property
    def is_international(self) -> bool:
        return self.ton == Ton.INTERNATIONAL

    @property
    def e164(self) -> str:
        """``+`` and digits; only for international numbers."""
        if not self.is_international:
            raise AddressError(f"{self} is not an international (E.164) number")
        return "+" + self.value

    @property
    def lwm2m_digits(self) -> str:
        """The MSISDN as LwM2M data carries it: 3GPP TS 23.003 digits without ``+``."""
        if not self.is_international:
            raise AddressError(f"{self} is not an MSISDN in international format")
        return self.value

    def __str__(self) -> str:
        return "+" + self.value if self.is_international else self.value


def _strip_scheme(text: str) -> str:
    text = text.strip()
    low = text.lower()
    for prefix in ("tel:", "sms:"):
        if low.startswith(prefix):
            text = text[len(prefix):]
            break
    if text[:3].upper() == "%2B":
        text = "+" + text[3:]
    return text


def parse_msisdn(text: str | Address) -> Address:
    """Parse an MSISDN as users, URIs and LwM2M data write it.

    Accepts ``+4915...``, ``%2B4915...``, ``tel:+4915...``, ``sms:+4915...`` and bare
    digits ``4915...`` (3GPP TS 23.003 form, as in ``sms=`` and /0/x/9); visual separators
    (space, ``-``, ``.``, parentheses) are dropped. The result is always international.
    """
    if isinstance(text, Address):
        if not text.is_international:
            raise AddressError(f"{text} is not an MSISDN in international format")
        return text
    if not isinstance(text, str):
        raise AddressError(f"MSISDN must be text, not {type(text).__name__}")
    raw = text
    text = _SEPARATORS.sub("", _strip_scheme(text))
    if text.startswith("+"):
        text = text[1:]
    if not text:
        raise AddressError(f"empty MSISDN in {raw!r}")
    if not _DIGITS.fullmatch(text):
        raise AddressError(f"MSISDN {raw!r} has characters other than digits")
    if len(text) > 15:
        raise AddressError(f"MSISDN {raw!r} has {len(text)} digits; E.164 allows at most 15")
    if text[0] == "0":
        # No E.164 country code starts with 0: this is a national number or one written with
        # a dialling prefix (00, 011...), which cannot be turned into E.164 without guessing.
        raise AddressError(
            f"MSISDN {raw!r} starts with 0; give it in international form: + and country code"
        )
    return Address(text, Ton.INTERNATIONAL, Npi.ISDN)


def parse_address(text: str | Address) -> Address:
    """Parse any SMS address a user may give: ``+`` international, a national number
    (leading ``0``), a short code (up to 8 digits; TON network-specific), other digit strings
    (TON unknown, as dialled), or an alphanumeric sender (TON alphanumeric)."""
    if isinstance(text, Address):
        return text
    if not isinstance(text, str):
        raise AddressError(f"address must be text, not {type(text).__name__}")
    stripped = _strip_scheme(text)
    if not stripped:
        raise AddressError("empty address")
    compact = _SEPARATORS.sub("", stripped)
    if compact.startswith("+"):
        return parse_msisdn(compact)
    if _DIGITS.fullmatch(compact):
        if compact.startswith("0") and not compact.startswith("00"):
            return Address(compact, Ton.NATIONAL, Npi.ISDN)
        if len(compact) <= SHORT_CODE_MAX_DIGITS:
            return Address(compact, Ton.NETWORK_SPECIFIC, Npi.ISDN)
        return Address(compact, Ton.UNKNOWN, Npi.ISDN)
    return Address(stripped.strip(), Ton.ALPHANUMERIC, Npi.UNKNOWN)
