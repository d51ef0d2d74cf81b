"""LwM2M payloads for a path: Python values <-> TLV, text/plain or opaque bodies.

The shapes of values, by the level of the path (OMA-TS-LightweightM2M-V1_0_2 7.4):

- ``/O``: ``{instance_id: {resource_id: value}}``
- ``/O/I``: ``{resource_id: value}``; a multiple resource is ``{instance_id: value}``
- ``/O/I/R``: a value, or ``{instance_id: value}`` for a multiple resource
- ``/O/I/R/RI``: a value

The type aliases :data:`ResourceValue`, :data:`InstanceValue`, :data:`ObjectValue` and their
union :data:`Content` name these shapes.

Values are typed by the object model (:mod:`.objects`); resources it does not know are
bytes (TLV, opaque) or str (text/plain). Content formats: text/plain 0, link-format 40,
opaque 42, TLV 11542, JSON 11543 (refused: not built); the pre-registration codes 1541
(text), 1542 (TLV), 1543 (JSON), 1544 (opaque) are accepted on input and mean the same.

Sans-IO; decoders raise only :class:`~lwm2m_sms.errors.DecodeError`.
"""

from __future__ import annotations

import enum
from typing import Any, Union

from ..errors import DecodeError, EncodeError
from . import tlv as tlv_codec
from .datatypes import ResourceType, Value, decode_text_value, decode_tlv_value, encode_text_value, encode_tlv_value
from .objects import resource_def
from .path import LwM2MPath, format_path
from .tlv import Tlv, TlvKind

__all__ = [
    "ContentFormat", "normalize_format", "decode_payload", "decode_object", "encode_payload",
    "Content", "ResourceValue", "InstanceValue", "ObjectValue",
]

#: ``/O/I/R``: one value, or ``{instance_id: value}`` for a multiple resource.
ResourceValue = Union[Value, dict[int, Value]]
#: ``/O/I``: ``{resource_id: value}``.
InstanceValue = dict[int, ResourceValue]
#: ``/O``: ``{instance_id: {resource_id: value}}``.
ObjectValue = dict[int, InstanceValue]
#: What a Read, an Observe or a Write carries, by the level of its path (module docstring).
Content = Union[ResourceValue, InstanceValue, ObjectValue]


class ContentFormat(enum.IntEnum):
    TEXT = 0
    LINK_FORMAT = 40
    OPAQUE = 42
    TLV = 11542
    JSON = 11543
    OLD_TEXT = 1541
    OLD_TLV = 1542
    OLD_JSON = 1543
    OLD_OPAQUE = 1544


_ALIASES = {
    ContentFormat.OLD_TEXT: ContentFormat.TEXT,
    ContentFormat.OLD_TLV: ContentFormat.TLV,
    ContentFormat.OLD_JSON: ContentFormat.JSON,
    ContentFormat.OLD_OPAQUE: ContentFormat.OPAQUE,
}


def normalize_format(code: "int | None") -> "ContentFormat | None":
    """Map a Content-Format number to the registered one (1541 -> 0 etc.); None stays None;
    DecodeError for a format LwM2M does not use."""
    if code is None:
        return None
    try:
        cf = ContentFormat(int(code))
    except ValueError:
        raise DecodeError(f"content format {code} is not an LwM2M format") from None
    return _ALIASES.get(cf, cf)


def _rtype(obj: int, res: int) -> ResourceType:
    rdef = resource_def(obj, res)
    return rdef.type if rdef else ResourceType.OPAQUE


def _is_multiple(obj: int, res: int) -> bool:
    rdef = resource_def(obj, res)
    return bool(rdef and rdef.multiple)


# --- decoding ------------------------------------------------------------------------

def decode_payload(path: LwM2MPath, content_format: "int | None", payload: bytes) -> Content:
    """Decode a Read response or a Write request body for ``path``."""
    cf = normalize_format(content_format)
    if cf is None:
        # No Content-Format: LwM2M 1.0 says text/plain for single values, TLV otherwise.
        cf = ContentFormat.TEXT if len(path) >= 3 else ContentFormat.TLV
    if cf is ContentFormat.TLV:
        return _decode_tlv(path, tlv_codec.decode(payload))
    if cf is ContentFormat.TEXT:
        if len(path) < 3:
            raise DecodeError(f"text/plain carries a single resource, not {format_path(path)}")
        rtype = resource_def(path[0], path[2])
        return decode_text_value(rtype.type if rtype else ResourceType.STRING, payload)
    if cf is ContentFormat.OPAQUE:
        if len(path) < 3:
            raise DecodeError(f"opaque carries a single resource, not {format_path(path)}")
        return bytes(payload)
    raise DecodeError(f"content format {cf.name} ({cf.value}) is not supported")


def decode_object(obj: int, content_format: "int | None", payload: bytes) -> ObjectValue:
    """:func:`decode_payload` for an object path ``/O``, typed as what it returns there:
    ``{instance_id: {resource_id: value}}`` (TLV, the one format LwM2M 1.0 objects come in
    here)."""
    cf = normalize_format(content_format)
    if cf not in (None, ContentFormat.TLV):
        raise DecodeError(f"/{obj}: an object comes as TLV, not {cf.name}")
    return _decode_object_tlv(obj, tlv_codec.decode(payload))


def _decode_object_tlv(obj: int, entries: list[Tlv]) -> ObjectValue:
    out: ObjectValue = {}
    for entry in entries:
        if entry.kind is not TlvKind.OBJECT_INSTANCE:
            raise DecodeError(f"TLV for /{obj}: expected object instances, got {entry.kind.name}")
        out[entry.id] = _decode_resources(obj, entry.children)
    return out


def _decode_tlv(path: LwM2MPath, entries: list[Tlv]) -> Content:
    if not path:
        raise DecodeError("TLV needs at least an object id in the path")
    obj = path[0]
    if len(path) == 1:
        return _decode_object_tlv(obj, entries)
    if len(path) == 2:
        if len(entries) == 1 and entries[0].kind is TlvKind.OBJECT_INSTANCE:
            if entries[0].id != path[1]:
                raise DecodeError(f"TLV for {format_path(path)} holds instance {entries[0].id}")
            entries = list(entries[0].children)
        return _decode_resources(obj, entries)
    res = path[2]
    if len(path) == 3:
        if len(entries) == 1 and entries[0].kind in (TlvKind.RESOURCE, TlvKind.MULTIPLE_RESOURCE):
            entry = entries[0]
            if entry.id != res:
                raise DecodeError(f"TLV for {format_path(path)} holds resource {entry.id}")
            return _decode_resource(obj, entry)
        if all(e.kind is TlvKind.RESOURCE_INSTANCE for e in entries):
            rtype = _rtype(obj, res)
            return {e.id: decode_tlv_value(rtype, e.value) for e in entries}  # type: ignore[arg-type]
        raise DecodeError(f"TLV for {format_path(path)}: expected one resource")
    if len(entries) != 1 or entries[0].kind is not TlvKind.RESOURCE_INSTANCE or entries[0].id != path[3]:
        raise DecodeError(f"TLV for {format_path(path)}: expected resource instance {path[3]}")
    return decode_tlv_value(_rtype(obj, res), entries[0].value)  # type: ignore[arg-type]


def _decode_resources(obj: int, entries: "tuple[Tlv, ...] | list[Tlv]") -> InstanceValue:
    out: InstanceValue = {}
    for entry in entries:
        if entry.kind not in (TlvKind.RESOURCE, TlvKind.MULTIPLE_RESOURCE):
            raise DecodeError(f"TLV in object {obj}: expected resources, got {entry.kind.name}")
        out[entry.id] = _decode_resource(obj, entry)
    return out


def _decode_resource(obj: int, entry: Tlv) -> ResourceValue:
    rtype = _rtype(obj, entry.id)
    if entry.kind is TlvKind.MULTIPLE_RESOURCE:
        return {c.id: decode_tlv_value(rtype, c.value) for c in entry.children}  # type: ignore[arg-type]
    return decode_tlv_value(rtype, entry.value)  # type: ignore[arg-type]


# --- encoding ------------------------------------------------------------------------

def encode_payload(path: LwM2MPath, value: Any, content_format: "int | None" = None) -> tuple[int, bytes]:
    """Encode ``value`` for ``path``; returns (content format, body). By default a single
    non-opaque value goes as text/plain, opaque values as opaque, anything else as TLV."""
    cf = normalize_format(content_format)
    if cf is None:
        if len(path) >= 3 and not isinstance(value, dict):
            rtype = _rtype(path[0], path[2]) if resource_def(path[0], path[2]) else None
            if isinstance(value, (bytes, bytearray)) and rtype in (None, ResourceType.OPAQUE):
                cf = ContentFormat.OPAQUE
            else:
                cf = ContentFormat.TEXT
        else:
            cf = ContentFormat.TLV
    if cf is ContentFormat.TLV:
        return cf.value, tlv_codec.encode(_encode_tlv(path, value))
    if cf is ContentFormat.TEXT:
        if len(path) < 3 or isinstance(value, dict):
            raise EncodeError(f"text/plain carries one value, not {format_path(path)}")
        rdef = resource_def(path[0], path[2])
        rtype = rdef.type if rdef else _guess_type(value)
        return cf.value, encode_text_value(rtype, value)
    if cf is ContentFormat.OPAQUE:
        if not isinstance(value, (bytes, bytearray)):
            raise EncodeError("opaque content needs bytes")
        return cf.value, bytes(value)
    raise EncodeError(f"cannot encode content format {cf.name}")


def _guess_type(value: Any) -> ResourceType:
    if isinstance(value, bool):
        return ResourceType.BOOLEAN
    if isinstance(value, int):
        return ResourceType.INTEGER
    if isinstance(value, float):
        return ResourceType.FLOAT
    if isinstance(value, str):
        return ResourceType.STRING
    if isinstance(value, (bytes, bytearray)):
        return ResourceType.OPAQUE
    if isinstance(value, tuple) and len(value) == 2:
        return ResourceType.OBJLNK
    raise EncodeError(f"cannot tell the LwM2M type of {value!r}")


def _value_bytes(obj: int, res: int, value: Any) -> bytes:
    rdef = resource_def(obj, res)
    return encode_tlv_value(rdef.type if rdef else _guess_type(value), value)


def _encode_tlv(path: LwM2MPath, value: Any) -> list[Tlv]:
    if not path:
        raise EncodeError("TLV needs at least an object id in the path")
    obj = path[0]
    if len(path) == 1:
        if not isinstance(value, dict):
            raise EncodeError(f"{format_path(path)} needs {{instance: {{resource: value}}}}")
        return [Tlv(TlvKind.OBJECT_INSTANCE, i, tuple(_encode_resources(obj, r))) for i, r in value.items()]
    if len(path) == 2:
        if not isinstance(value, dict):
            raise EncodeError(f"{format_path(path)} needs {{resource: value}}")
        return _encode_resources(obj, value)
    if len(path) == 3:
        return [_encode_resource(obj, path[2], value)]
    return [Tlv(TlvKind.RESOURCE_INSTANCE, path[3], _value_bytes(obj, path[2], value))]


def _encode_resources(obj: int, resources: Any) -> list[Tlv]:
    if not isinstance(resources, dict):
        raise EncodeError(f"object {obj} instance needs {{resource: value}}, not {resources!r}")
    return [_encode_resource(obj, rid, v) for rid, v in resources.items()]


def _encode_resource(obj: int, res: int, value: Any) -> Tlv:
    if isinstance(value, dict):
        return Tlv(TlvKind.MULTIPLE_RESOURCE, res, tuple(
            Tlv(TlvKind.RESOURCE_INSTANCE, ri, _value_bytes(obj, res, v)) for ri, v in value.items()
        ))
    return Tlv(TlvKind.RESOURCE, res, _value_bytes(obj, res, value))
