"""LwM2M values <-> JSON, for the operator interface.

Decoded LwM2M values (:mod:`lwm2m_sms.lwm2m.content`) are ints, floats, bools, strings,
bytes, object links and dicts keyed by integer ids. JSON has no bytes and only string
keys, so: bytes are ``{"base64": "..."}``, an object link is ``{"objlnk": [object,
instance]}``, ids become string keys, and a discovered link list is a list of
``{"path", "attributes"}``. :func:`from_json` undoes each of these for a Write body.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ..errors import Lwm2mSmsError
from ..lwm2m.datatypes import ObjLink
from ..lwm2m.linkformat import Link

__all__ = ["BadValue", "to_json", "from_json", "links_to_json"]

MAX_DEPTH = 4  # /O value: {instance: {resource: {resource instance: value}}}


class BadValue(Lwm2mSmsError, ValueError):
    """A JSON value that is no LwM2M value (answered 400)."""


def to_json(value: Any) -> Any:
    if isinstance(value, ObjLink):
        return {"objlnk": [value.object_id, value.instance_id]}
    if isinstance(value, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, Link):
        return {"path": value.target, "attributes": dict(value.attributes)}
    return value


def links_to_json(links: "list[Link]") -> list[dict[str, Any]]:
    return [{"path": l.target, "attributes": dict(l.attributes)} for l in links]


def from_json(value: Any, depth: int = 0) -> Any:
    """A JSON Write value as the LwM2M encoder wants it; BadValue when it is none."""
    if depth > MAX_DEPTH:
        raise BadValue("value nested too deep for an LwM2M path")
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if set(value) == {"base64"}:
            try:
                return base64.b64decode(str(value["base64"]), validate=True)
            except (binascii.Error, ValueError):
                raise BadValue("base64 value is not valid base64") from None
        if set(value) == {"objlnk"}:
            pair = value["objlnk"]
            if (not isinstance(pair, list) or len(pair) != 2
                    or not all(isinstance(i, int) and 0 <= i <= 0xFFFF for i in pair)):
                raise BadValue("objlnk is [object id, instance id], each 0..65535")
            return ObjLink(pair[0], pair[1])
        out: dict[int, Any] = {}
        for key, item in value.items():
            if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 5 and int(key) <= 0xFFFF):
                raise BadValue(f"key {str(key)[:20]!r} is not an LwM2M id (0..65535)")
            out[int(key)] = from_json(item, depth + 1)
        return out
    raise BadValue(f"a {type(value).__name__} is no LwM2M value")
