"""CoRE link-format (RFC 6690, content format 40) with the LwM2M attributes.

Used for the Register/Update payload (``</1/0>,</3/0>``), Discover responses
(``</3/0/13>;pmin=10``) and Bootstrap-Discover (``</0/1>;ssid=101,</1/0>;ssid=101``).
LwM2M 1.0.2 section 5.1.2 ("Attributes"): pmin and pmax are integers (seconds), gt, lt and
st numbers, ver a version string. Other attributes are kept as text, quoted strings
unquoted. Write-Attributes carries the same attributes as URI query options: see
:func:`attributes_to_query` and :func:`query_to_attributes`.

Sans-IO. Parsing raises only :class:`~lwm2m_sms.errors.DecodeError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

from ..errors import DecodeError, EncodeError

__all__ = [
    "Link", "AttrValue", "parse", "serialize", "attributes_to_query", "query_to_attributes",
    "NOTIFICATION_ATTRIBUTES",
]

AttrValue = Union[int, float, str, None]
NOTIFICATION_ATTRIBUTES = ("pmin", "pmax", "gt", "lt", "st")
_INT_ATTRS = {"pmin", "pmax", "ssid", "dim", "ct"}
_NUM_ATTRS = {"gt", "lt", "st"}
_PARNAME = re.compile(r"[A-Za-z0-9!#$&+\-.^_`|~]+")
_PTOKEN = re.compile(r"[A-Za-z0-9!#$%&'()*+\-./:<=>?@\[\]^_`{|}~]+")


@dataclass(frozen=True)
class Link:
    """One link: the target (``/3/0``) and its attributes in order."""

    target: str
    attributes: dict[str, AttrValue] = field(default_factory=dict)

    @property
    def path(self) -> tuple[int, ...]:
        """The target as LwM2M ids; DecodeError if it is not an LwM2M path."""
        from .path import parse_path

        return parse_path(self.target)


def _typed(name: str, raw: str, quoted: bool) -> AttrValue:
    if quoted:
        return raw
    if name in _INT_ATTRS:
        if len(raw) > 20 or not raw.lstrip("-").isdigit() or not raw.isascii():
            raise DecodeError(f"link attribute {name}={raw!r} must be an integer")
        return int(raw)
    if name in _NUM_ATTRS:
        try:
            if not raw.isascii() or "_" in raw or len(raw) > 64:
                raise ValueError
            return float(raw)
        except ValueError:
            raise DecodeError(f"link attribute {name}={raw!r} must be a number") from None
    return raw


def parse(payload: "bytes | str") -> list[Link]:
    """Parse a link-format document."""
    if isinstance(payload, (bytes, bytearray)):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"link-format is not UTF-8: {exc}") from None
    else:
        text = payload
    links: list[Link] = []
    pos, end = 0, len(text)
    while pos < end:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        if text[pos] != "<":
            raise DecodeError(f"link-format: expected '<' at offset {pos} in {text!r}")
        close = text.find(">", pos)
        if close < 0:
            raise DecodeError(f"link-format: unterminated '<' at offset {pos}")
        target = text[pos + 1:close]
        pos = close + 1
        attrs: dict[str, AttrValue] = {}
        while pos < end and text[pos] == ";":
            pos += 1
            m = _PARNAME.match(text, pos)
            if not m:
                raise DecodeError(f"link-format: expected an attribute name at offset {pos}")
            name = m.group(0)
            pos = m.end()
            if pos < end and text[pos] == "=":
                pos += 1
                if pos < end and text[pos] == '"':
                    chunks: list[str] = []
                    pos += 1
                    while True:
                        if pos >= end:
                            raise DecodeError("link-format: unterminated quoted string")
                        ch = text[pos]
                        if ch == "\\" and pos + 1 < end:
                            chunks.append(text[pos + 1])
                            pos += 2
                            continue
                        if ch == '"':
                            pos += 1
                            break
                        chunks.append(ch)
                        pos += 1
                    attrs[name] = _typed(name, "".join(chunks), True)
                else:
                    m = _PTOKEN.match(text, pos)
                    if not m:
                        raise DecodeError(f"link-format: empty value for {name} at offset {pos}")
                    pos = m.end()
                    attrs[name] = _typed(name, m.group(0), False)
            else:
                attrs[name] = None
        links.append(Link(target, attrs))
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos < end:
            if text[pos] != ",":
                raise DecodeError(f"link-format: expected ',' at offset {pos} in {text!r}")
            pos += 1
    return links


def _format_value(value: AttrValue) -> str:
    if isinstance(value, bool):
        raise EncodeError(f"link attribute value {value!r} cannot be a bool")
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _PTOKEN.fullmatch(value) and "," not in value and ";" not in value and '"' not in value:
            return value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise EncodeError(f"link attribute value {value!r} has an unsupported type")


def serialize(links: "list[Link]") -> bytes:
    """Write links as a link-format document."""
    parts = []
    for link in links:
        if ">" in link.target or "<" in link.target:
            raise EncodeError(f"link target {link.target!r} contains '<' or '>'")
        text = f"<{link.target}>"
        for name, value in link.attributes.items():
            if not _PARNAME.fullmatch(name):
                raise EncodeError(f"link attribute name {name!r} is not a token")
            text += f";{name}" if value is None else f";{name}={_format_value(value)}"
        parts.append(text)
    return ",".join(parts).encode("utf-8")


def attributes_to_query(attributes: dict[str, AttrValue]) -> list[str]:
    """Write-Attributes as Uri-Query options: ``{"pmin": 10, "gt": None}`` ->
    ``["pmin=10", "gt"]`` (a name without value removes that attribute)."""
    out = []
    for name, value in attributes.items():
        if name not in NOTIFICATION_ATTRIBUTES:
            raise EncodeError(f"{name!r} is not a writable LwM2M attribute ({', '.join(NOTIFICATION_ATTRIBUTES)})")
        out.append(name if value is None else f"{name}={_format_value(value)}")
    return out


def query_to_attributes(query: "list[str] | tuple[str, ...]") -> dict[str, AttrValue]:
    """The inverse of :func:`attributes_to_query`; DecodeError for unknown or malformed
    attributes."""
    attrs: dict[str, AttrValue] = {}
    for item in query:
        name, eq, raw = item.partition("=")
        if name not in NOTIFICATION_ATTRIBUTES:
            raise DecodeError(f"unknown LwM2M attribute {name!r}")
        attrs[name] = _typed(name, raw, False) if eq else None
    return attrs
