"""LwM2M 1.0 resource data types and their value encodings in TLV and text/plain.

OMA-TS-LightweightM2M-V1_0_2, Appendix C ("Data Types"): String, Integer, Float, Boolean,
Opaque, Time, Objlnk (and None for executable resources). This module turns a Python value
into the bytes of a TLV value field or a text/plain body and back, for one declared type.
Python types: Integer and Time -> int (Time is Unix seconds), Float -> float, Boolean ->
bool, String -> str, Opaque -> bytes, Objlnk -> :class:`ObjLink`.

Known limits: TLV integers are signed big-endian of 1, 2, 4 or 8 octets (the smallest that
fits is written); floats are written in 4 octets only when that is exact, else 8. Decoders
raise only :class:`~lwm2m_sms.errors.DecodeError`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import struct
from typing import NamedTuple, Union

from ..errors import DecodeError, EncodeError

__all__ = [
    "ResourceType",
    "ObjLink",
    "Value",
    "encode_tlv_value",
    "decode_tlv_value",
    "encode_text_value",
    "decode_text_value",
]


class ResourceType(enum.Enum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    OPAQUE = "opaque"
    TIME = "time"
    OBJLNK = "objlnk"
    NONE = "none"  # executable resources carry no value


class ObjLink(NamedTuple):
    """An Objlnk value: object id and instance id (each 0..65535)."""

    object_id: int
    instance_id: int

    def __str__(self) -> str:
        return f"{self.object_id}:{self.instance_id}"


Value = Union[int, float, bool, str, bytes, ObjLink, None]

_INT_SIZES = ((1, ">b"), (2, ">h"), (4, ">i"), (8, ">q"))


def _encode_int(value: int) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"integer resource needs an int, not {value!r}")
    for size, fmt in _INT_SIZES:
        if -(1 << (8 * size - 1)) <= value < (1 << (8 * size - 1)):
            return struct.pack(fmt, value)
    raise EncodeError(f"integer {value} does not fit in 64 bits")


def _decode_int(data: bytes, what: str = "integer") -> int:
    for size, fmt in _INT_SIZES:
        if len(data) == size:
            number: int = struct.unpack(fmt, data)[0]
            return number
    raise DecodeError(f"{what} value must be 1, 2, 4 or 8 octets, got {len(data)}: {data.hex()}")


# What Python type each resource type takes, for both encoders.
_PYTHON_TYPES: dict[ResourceType, tuple[type, ...]] = {
    ResourceType.BOOLEAN: (bool,),
    ResourceType.STRING: (str,),
    ResourceType.OPAQUE: (bytes, bytearray),
}
_TYPE_NAMES = {ResourceType.BOOLEAN: "a bool", ResourceType.STRING: "a str", ResourceType.OPAQUE: "bytes"}


def _check_type(rtype: ResourceType, value: Value) -> None:
    """EncodeError unless ``value`` is of the Python type ``rtype`` takes."""
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(f"integer resource needs an int, not {value!r}")
        _encode_int(value)  # range
    elif rtype is ResourceType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EncodeError(f"float resource needs a number, not {value!r}")
    elif rtype in _PYTHON_TYPES:
        if not isinstance(value, _PYTHON_TYPES[rtype]):
            raise EncodeError(f"{rtype.value} resource needs {_TYPE_NAMES[rtype]}, not {value!r}")
    elif rtype is ResourceType.OBJLNK:
        if not isinstance(value, tuple) or len(value) != 2 or not all(
            isinstance(v, int) and 0 <= v <= 0xFFFF for v in value
        ):
            raise EncodeError(f"objlnk resource needs an ObjLink of two 16-bit ids, not {value!r}")
    elif rtype is not ResourceType.NONE:
        raise EncodeError(f"unknown resource type {rtype!r}")


def encode_tlv_value(rtype: ResourceType, value: Value) -> bytes:
    """The TLV value field for ``value`` of type ``rtype``; EncodeError if it does not fit."""
    _check_type(rtype, value)
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        return _encode_int(value)  # type: ignore[arg-type]
    if rtype is ResourceType.FLOAT:
        value = float(value)  # type: ignore[arg-type]
        try:
            single = struct.pack(">f", value)
            if struct.unpack(">f", single)[0] == value or math.isnan(value):
                return single
        except OverflowError:
            pass
        return struct.pack(">d", value)
    if rtype is ResourceType.BOOLEAN:
        return b"\x01" if value else b"\x00"
    if rtype is ResourceType.STRING:
        return value.encode("utf-8")  # type: ignore[union-attr]
    if rtype is ResourceType.OPAQUE:
        return bytes(value)  # type: ignore[arg-type]
    if rtype is ResourceType.OBJLNK:
        return struct.pack(">HH", *value)  # type: ignore[misc]
    return b""  # NONE


def decode_tlv_value(rtype: ResourceType, data: bytes) -> Value:
    """The value of a TLV value field of type ``rtype``; DecodeError if malformed."""
    data = bytes(data)
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        return _decode_int(data, rtype.value)
    if rtype is ResourceType.FLOAT:
        if len(data) in (4, 8):
            number: float = struct.unpack(">f" if len(data) == 4 else ">d", data)[0]
            return number
        raise DecodeError(f"float value must be 4 or 8 octets, got {len(data)}: {data.hex()}")
    if rtype is ResourceType.BOOLEAN:
        if data == b"\x00":
            return False
        if data == b"\x01":
            return True
        raise DecodeError(f"boolean value must be one octet 0 or 1, got {data.hex() or 'nothing'}")
    if rtype is ResourceType.STRING:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"string value is not UTF-8: {exc}") from None
    if rtype is ResourceType.OPAQUE:
        return data
    if rtype is ResourceType.OBJLNK:
        if len(data) != 4:
            raise DecodeError(f"objlnk value must be 4 octets, got {len(data)}: {data.hex()}")
        return ObjLink(*struct.unpack(">HH", data))
    if rtype is ResourceType.NONE:
        return None
    raise DecodeError(f"unknown resource type {rtype!r}")


def encode_text_value(rtype: ResourceType, value: Value) -> bytes:
    """The text/plain (content format 0) body for one value. Opaque goes base64, as the
    spec's plain-text format says; booleans as 0/1; Objlnk as ``obj:inst``."""
    _check_type(rtype, value)
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        return str(value).encode()
    if rtype is ResourceType.FLOAT:
        return repr(float(value)).encode()  # type: ignore[arg-type]
    if rtype is ResourceType.BOOLEAN:
        return b"1" if value else b"0"
    if rtype is ResourceType.STRING:
        return value.encode("utf-8")  # type: ignore[union-attr]
    if rtype is ResourceType.OPAQUE:
        return base64.b64encode(bytes(value))  # type: ignore[arg-type]
    if rtype is ResourceType.OBJLNK:
        return f"{value[0]}:{value[1]}".encode()  # type: ignore[index]
    return b""  # NONE


def decode_text_value(rtype: ResourceType, data: bytes) -> Value:
    """The value of a text/plain body of type ``rtype``; DecodeError if malformed."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"text/plain value is not UTF-8: {exc}") from None
    if rtype in (ResourceType.INTEGER, ResourceType.TIME):
        stripped = text.strip()
        # 20 characters hold any 64-bit value; longer input is refused before int(), which
        # raises ValueError past 4,300 digits (and costs quadratic time before that).
        if len(stripped) > 20 or not stripped.lstrip("+-").isdigit() or not stripped.isascii():
            raise DecodeError(f"{rtype.value} value {text!r} is not a decimal integer")
        value = int(stripped)
        if not -(1 << 63) <= value < (1 << 63):
            raise DecodeError(f"{rtype.value} value {text!r} does not fit in 64 bits")
        return value
    if rtype is ResourceType.FLOAT:
        try:
            if not text.strip().isascii() or "_" in text:
                raise ValueError
            return float(text)
        except ValueError:
            raise DecodeError(f"float value {text!r} is not a number") from None
    if rtype is ResourceType.BOOLEAN:
        if text == "1":
            return True
        if text == "0":
            return False
        raise DecodeError(f"boolean value {text!r} must be 0 or 1")
    if rtype is ResourceType.STRING:
        return text
    if rtype is ResourceType.OPAQUE:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError(f"opaque text value {text!r} is not base64") from None
    if rtype is ResourceType.OBJLNK:
        parts = text.split(":")
        if len(parts) != 2 or not all(p.isdigit() and p.isascii() and len(p) <= 5 for p in parts):
            raise DecodeError(f"objlnk value {text!r} must be OBJ:INST")
        obj, inst = int(parts[0]), int(parts[1])
        if obj > 0xFFFF or inst > 0xFFFF:
            raise DecodeError(f"objlnk value {text!r} out of range")
        return ObjLink(obj, inst)
    if rtype is ResourceType.NONE:
        return None
    raise DecodeError(f"unknown resource type {rtype!r}")
