"""The GSM 7-bit default alphabet (3GPP TS 23.038 6.2.1) and UCS2, as SMS user data uses them.

Three steps, kept apart because the layers need them apart:

* text <-> septet values (one GSM code point per octet, 0..127): :func:`encode` and
  :func:`decode`. Characters of the default extension table (``{ } [ ] ~ \\ | ^ €`` and form
  feed) take two septets, the escape 0x1B and the code. SMPP ``data_coding`` 0 and
  ``bearer.SmsSegment`` carry text in this unpacked form.
* septets <-> packed octets (23.040 9.2.3.24 / 6.1.2.1.1): :func:`pack` and :func:`unpack`,
  with ``fill_bits`` so that the text after a UDH starts on a septet boundary. Packing is
  done on one Python integer (little-endian bit order), which is both short and fast.
* UCS2 (UTF-16BE on the wire; astral characters travel as surrogate pairs, as phones send
  them): :func:`encode_ucs2` and :func:`decode_ucs2`. Received UCS2 decodes whatever the
  bytes (an odd trailing octet or a lone surrogate becomes U+FFFD): operator notices must be
  readable, not crash the receiver.

Known limits: national language shift tables (23.038 6.2.1.2.4) are not implemented; an
escape followed by a code the extension table does not define decodes as the default-table
character for that code, as 23.038 asks of receivers.
"""

from __future__ import annotations

from ..errors import DecodeError, EncodeError

__all__ = [
    "ESCAPE",
    "DEFAULT_ALPHABET",
    "EXTENSION_TABLE",
    "is_gsm7",
    "septet_count",
    "encode",
    "decode",
    "pack",
    "unpack",
    "packed_length",
    "encode_ucs2",
    "decode_ucs2",
]

ESCAPE = 0x1B

# 23.038 6.2.1, code points 0x00..0x7F. 0x1B is the escape to the extension table; on its
# own (an escape at the end, or an escape before an undefined code) it shows as a space.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(DEFAULT_ALPHABET) == 128

# 23.038 6.2.1.1, the default extension table (code after the escape -> character).
EXTENSION_TABLE = {
    0x0A: "\f",  # page break
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC: dict[str, int] = {ch: i for i, ch in enumerate(DEFAULT_ALPHABET) if i != ESCAPE}
_EXTENDED: dict[str, int] = {ch: code for code, ch in EXTENSION_TABLE.items()}
# str.translate table: character -> its one or two septets, as a latin-1 string.
_ENCODE_TABLE: dict[int, str] = {ord(ch): chr(i) for ch, i in _BASIC.items()}
_ENCODE_TABLE.update({ord(ch): chr(ESCAPE) + chr(code) for ch, code in _EXTENDED.items()})
_DECODE_EXT = [DEFAULT_ALPHABET[i] if i != ESCAPE else " " for i in range(128)]
for _code, _ch in EXTENSION_TABLE.items():
    _DECODE_EXT[_code] = _ch


def is_gsm7(text: str) -> bool:
    """True when every character of ``text`` is in the default alphabet or its extension."""
    return all(ch in _BASIC or ch in _EXTENDED for ch in text)


def septet_count(text: str) -> int:
    """Septets ``text`` takes (extension characters count two); raises if not encodable."""
    return len(encode(text))


def encode(text: str) -> bytes:
    """Text -> septet values, one per octet (0..127). Raises EncodeError for characters
    outside the default alphabet and its extension table."""
    out = text.translate(_ENCODE_TABLE)
    try:
        return out.encode("latin-1")
    except UnicodeEncodeError:
        bad = next(ch for ch in text if ch not in _BASIC and ch not in _EXTENDED)
        raise EncodeError(f"character {bad!r} (U+{ord(bad):04X}) is not in the GSM 7-bit alphabet") from None


def decode(septets: bytes) -> str:
    """Septet values (one per octet) -> text. Raises DecodeError for a value above 127."""
    out: list[str] = []
    escaped = False
    for s in septets:
        if s > 0x7F:
            raise DecodeError(f"septet value {s:#x} is above 0x7f")
        if escaped:
            out.append(_DECODE_EXT[s])
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            out.append(DEFAULT_ALPHABET[s])
    if escaped:
        out.append(" ")
    return "".join(out)


def packed_length(septets: int, fill_bits: int = 0) -> int:
    """Octets that ``septets`` septets after ``fill_bits`` fill bits take."""
    return (septets * 7 + fill_bits + 7) // 8


def pack(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septet values into octets, least significant bit first (23.038 6.1.2.1.1).

    ``fill_bits`` zero bits come first: after a UDH of ``n`` octets they are
    ``(7 - (8 * n) % 7) % 7`` so that the first character starts on a septet boundary.
    """
    value = 0
    shift = fill_bits
    for s in septets:
        if s > 0x7F:
            raise EncodeError(f"septet value {s:#x} is above 0x7f")
        value |= s << shift
        shift += 7
    return value.to_bytes((shift + 7) // 8, "little")


def unpack(octets: bytes, count: int, fill_bits: int = 0) -> bytes:
    """Unpack ``count`` septets from packed ``octets``, skipping ``fill_bits`` first bits.

    Raises DecodeError if ``octets`` is too short for ``count`` septets.
    """
    need = packed_length(count, fill_bits)
    if len(octets) < need:
        raise DecodeError(f"{count} septets need {need} octets, only {len(octets)} present")
    value = int.from_bytes(octets[:need], "little") >> fill_bits
    out = bytearray(count)
    for i in range(count):
        out[i] = value & 0x7F
        value >>= 7
    return bytes(out)


def encode_ucs2(text: str) -> bytes:
    """Text -> UTF-16BE octets (UCS2 for the BMP; surrogate pairs beyond it)."""
    try:
        return text.encode("utf-16-be")
    except UnicodeEncodeError as exc:  # lone surrogates in a Python str
        raise EncodeError(f"text is not encodable as UCS2: {exc.reason}") from None


def decode_ucs2(octets: bytes) -> str:
    """UTF-16BE octets -> text; never raises (bad code units become U+FFFD)."""
    return bytes(octets).decode("utf-16-be", errors="replace")
