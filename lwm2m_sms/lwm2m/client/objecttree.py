"""A device's objects, instances and resources, and the operations on them (sans-IO).

:class:`ObjectTree` holds ``objects[obj][inst][res]`` and the Write-Attributes of each
path, and implements what the Device Management and Bootstrap interfaces do to them
(LwM2M 1.0.2 5.3 and 5.2): Read, Write (replace and partial update), Create, Delete,
Discover, and Bootstrap Delete, Write and Discover. Values in, values out: no CoAP
message, no asyncio. A refused operation raises :class:`Refused` with the CoAP code to
answer and a diagnostic; the caller turns it into a response.

Nested dicts of the device template are shared between devices: writes replace a
resource's value and never change one in place, and a fleet of 10,000 devices saves about
1 KB each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Callable, Optional

from aiocoap.numbers.codes import Code

from .. import linkformat
from ..linkformat import Link
from ..objects import OBJECTS, resource_def
from ..path import LwM2MPath, format_path
from .accounts import Tree

__all__ = ["ObjectTree", "Refused", "default_device", "DeviceInstance", "SERVER_EXECUTABLES"]

# /1/x/4 Disable, /1/x/8 Registration Update Trigger: listed by Discover, never read
SERVER_EXECUTABLES: dict[int, Any] = {4: None, 8: None}

_DEVICE_TEMPLATE: dict[int, Any] = {
    0: "lwm2m-sms", 1: "SIM-1", 3: "1.0.2", 6: {0: 1, 1: 5}, 7: {0: 3800, 1: 5000},
    8: {0: 125, 1: 900}, 9: 87, 10: 15, 11: {0: 0}, 13: 0, 14: "+00:00", 15: "UTC",
    17: "simulator", 18: "1.0", 19: "1.0", 20: 1, 21: 64,
    4: None, 5: None, 12: None,  # executable: listed by Discover, never read
}


def default_device(endpoint: str, binding: str) -> "DeviceInstance":
    """Plausible /3/0 values for a simulated device."""
    serial = "".join(ch for ch in endpoint if ch.isalnum())[-12:] or "0"
    return DeviceInstance(_DEVICE_TEMPLATE, {2: serial, 16: binding})


class DeviceInstance(MutableMapping[int, Any]):
    """/3/0 as a mapping: this device's own values over a template all devices share.

    A dict of the 22 resources costs 1.2 KiB per device; in a fleet of 100,000 simulated
    devices only the serial number and the binding differ. Writes go to the device's own
    values; a deleted template resource is remembered as gone."""

    __slots__ = ("_template", "_own", "_gone")

    def __init__(self, template: dict[int, Any], own: dict[int, Any]):
        self._template = template
        self._own = own
        self._gone: Optional[set[int]] = None

    def _shows(self, rid: int) -> bool:
        return rid in self._template and not (self._gone and rid in self._gone)

    def __getitem__(self, rid: int) -> Any:
        if rid in self._own:
            return self._own[rid]
        if self._shows(rid):
            return self._template[rid]
        raise KeyError(rid)

    def __setitem__(self, rid: int, value: Any) -> None:
        self._own[rid] = value
        if self._gone:
            self._gone.discard(rid)

    def __delitem__(self, rid: int) -> None:
        if rid not in self._own and not self._shows(rid):
            raise KeyError(rid)
        self._own.pop(rid, None)
        if rid in self._template:
            if self._gone is None:
                self._gone = set()
            self._gone.add(rid)

    def __iter__(self) -> Iterator[int]:
        yield from self._own
        for rid in self._template:
            if rid not in self._own and self._shows(rid):
                yield rid

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self))


class Refused(Exception):
    """An operation the device refuses: ``code`` is the CoAP error to answer with."""

    def __init__(self, code: Code, reason: str = ""):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ObjectTree:
    """The objects of one device. ``current_time`` gives /3/0/13 when it is read."""

    __slots__ = ("objects", "attributes", "current_time")

    def __init__(self, objects: Tree, current_time: Callable[[], int]):
        self.objects = objects
        self.attributes: dict[LwM2MPath, dict[str, Any]] = {}
        self.current_time = current_time

    # --- reading ------------------------------------------------------------------------

    def instance(self, path: LwM2MPath) -> MutableMapping[int, Any]:
        try:
            return self.objects[path[0]][path[1]]
        except (KeyError, IndexError):
            raise Refused(Code.NOT_FOUND, f"{format_path(path[:2])} does not exist") from None

    def _readable(self, obj: int, inst: Mapping[int, Any]) -> dict[int, Any]:
        out = {}
        for rid, value in inst.items():
            rdef = resource_def(obj, rid)
            if rdef is not None and not rdef.readable:
                continue
            out[rid] = self.current_time() if (obj, rid) == (3, 13) else value
        return out

    def read(self, path: LwM2MPath) -> Any:
        """The value at ``path``: a dict of instances, of resources, or one value."""
        if not path:
            raise Refused(Code.METHOD_NOT_ALLOWED, "Read on /")
        if path[0] not in self.objects:
            raise Refused(Code.NOT_FOUND, f"no object {path[0]}")
        if len(path) == 1:
            return {iid: self._readable(path[0], inst) for iid, inst in self.objects[path[0]].items()}
        inst = self.instance(path)
        if len(path) == 2:
            return self._readable(path[0], inst)
        rdef = resource_def(path[0], path[2])
        if rdef is not None and not rdef.readable:
            raise Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path)} is not readable")
        if path[2] not in inst:
            raise Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
        value = self._readable(path[0], {path[2]: inst[path[2]]})[path[2]]
        if len(path) == 4:
            if not isinstance(value, dict) or path[3] not in value:
                raise Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
            value = value[path[3]]
        return value

    def numeric(self, path: LwM2MPath) -> Optional[float]:
        """The value at a resource path when it is a number (for gt/lt/st), else None."""
        if len(path) != 3:
            return None
        if path[::2] == (3, 13):
            return float(self.current_time())
        value = self.objects.get(path[0], {}).get(path[1], {}).get(path[2])
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def discover(self, path: LwM2MPath) -> bytes:
        if not path or path[0] not in self.objects:
            raise Refused(Code.NOT_FOUND, f"Discover on {format_path(path)}")
        links = []
        obj = path[0]
        if len(path) == 1:
            links.append(Link(f"/{obj}", dict(self.attributes.get(path, {}))))
        instances = self.objects[obj] if len(path) == 1 else {path[1]: self.instance(path)}
        for iid, inst in sorted(instances.items()):
            if len(path) <= 2:
                links.append(Link(f"/{obj}/{iid}", dict(self.attributes.get((obj, iid), {}))))
            for rid in sorted(inst):
                if len(path) >= 3 and rid != path[2]:
                    continue
                rp = (obj, iid, rid)
                links.append(Link(format_path(rp), dict(self.attributes.get(rp, {}))))
        if len(path) >= 3 and len(links) == 0:
            raise Refused(Code.NOT_FOUND, f"{format_path(path)} does not exist")
        return linkformat.serialize(links)

    def registration_links(self) -> bytes:
        """The object list of a Register or Update: objects and instances, never /0."""
        links = []
        for obj in sorted(self.objects):
            if obj == 0:
                continue
            if not self.objects[obj]:
                links.append(Link(f"/{obj}"))
            for iid in sorted(self.objects[obj]):
                links.append(Link(f"/{obj}/{iid}"))
        return linkformat.serialize(links)

    # --- device management --------------------------------------------------------------

    def write(self, path: LwM2MPath, values: Any, *, replace: bool) -> dict[int, Any]:
        """Write decoded ``values`` at an instance, resource or resource instance path;
        returns the resources written (id -> value)."""
        if len(path) < 2:
            raise Refused(Code.METHOD_NOT_ALLOWED, f"Write on {format_path(path)}")
        inst = self.instance(path)
        if len(path) == 4:
            current = inst.get(path[2], {})
            if not isinstance(current, dict):
                raise Refused(Code.BAD_REQUEST, f"{format_path(path[:3])} is a single resource")
            values = {path[2]: {**current, path[3]: values}}
        elif len(path) == 3:
            values = {path[2]: values}
        if not isinstance(values, dict):
            raise Refused(Code.BAD_REQUEST, f"Write of {format_path(path)} needs resources")
        for rid, value in values.items():
            rdef = resource_def(path[0], rid)
            if rdef is not None and not rdef.writable:
                raise Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path[:2] + (rid,))} is not writable")
            if rdef is not None and isinstance(value, dict) != rdef.multiple:
                raise Refused(Code.BAD_REQUEST, f"{format_path(path[:2] + (rid,))}: "
                              f"{'multiple' if rdef.multiple else 'single'} resource")
        if replace and len(path) == 2:
            for rid in [r for r in inst if (d := resource_def(path[0], r)) is None or d.writable]:
                del inst[rid]
        inst.update(values)
        return values

    def write_attributes(self, path: LwM2MPath, attrs: dict[str, Any]) -> None:
        current = self.attributes.setdefault(path, {})
        for name, value in attrs.items():
            if value is None:
                current.pop(name, None)
            else:
                current[name] = value

    def check_executable(self, path: LwM2MPath) -> MutableMapping[int, Any]:
        """The instance of an executable resource path (Refused otherwise)."""
        inst = self.instance(path)
        rdef = resource_def(path[0], path[2]) if len(path) == 3 else None
        if rdef is None or not rdef.executable:
            raise Refused(Code.METHOD_NOT_ALLOWED, f"{format_path(path)} is not executable")
        return inst

    def create(self, obj: int, iid: Optional[int], values: dict[int, Any]) -> int:
        """A new instance of ``obj`` (id ``iid``, or the next free one); returns its id."""
        if obj in (0, 3) or obj not in self.objects and obj not in OBJECTS:
            raise Refused(Code.METHOD_NOT_ALLOWED if obj in (0, 3) else Code.NOT_FOUND, f"cannot create in /{obj}")
        instances = self.objects.setdefault(obj, {})
        if iid is None:
            iid = max(instances.keys(), default=-1) + 1
        if iid in instances:
            raise Refused(Code.BAD_REQUEST, f"/{obj}/{iid} exists")
        instances[iid] = values
        return iid

    def delete(self, path: LwM2MPath) -> None:
        if len(path) != 2:
            raise Refused(Code.METHOD_NOT_ALLOWED, f"Delete on {format_path(path)}")
        if path[0] in (0, 3):
            raise Refused(Code.METHOD_NOT_ALLOWED, f"/{path[0]} instances are not deleted by a server")
        self.instance(path)
        del self.objects[path[0]][path[1]]

    # --- bootstrap ------------------------------------------------------------------------

    def bootstrap_delete(self, path: LwM2MPath) -> None:
        """Bootstrap Delete of ``/``, an object or an instance: the bootstrap account and
        the Device object stay."""
        if not path:
            for obj in list(self.objects):
                if obj == 3:
                    continue
                for iid in list(self.objects[obj]):
                    if obj == 0 and self.objects[0][iid].get(1):
                        continue
                    del self.objects[obj][iid]
            return
        if path[0] == 3:
            raise Refused(Code.BAD_REQUEST, "the Device object is not deleted by bootstrap")
        instances = self.objects.get(path[0])
        if instances is None:
            raise Refused(Code.NOT_FOUND, f"no object {path[0]}")
        targets = list(instances) if len(path) == 1 else [path[1]]
        for iid in targets:
            if path[0] == 0 and instances.get(iid, {}).get(1):
                continue  # the bootstrap account stays
            instances.pop(iid, None)

    def bootstrap_write_instance(
        self, obj: int, iid: int, values: Any, check: Callable[[dict[int, Any]], None]
    ) -> None:
        """Bootstrap Write of one instance; ``check`` vets a Security instance first."""
        if not isinstance(values, dict):
            raise Refused(Code.BAD_REQUEST, "Bootstrap-Write of an instance needs TLV resources")
        if obj == 0:
            check(values)
        # Write of an instance replaces it (as a PUT does): a resource the bootstrap server
        # left out must not survive, least of all an old server's SMS number in /0/x/9
        instance = dict(values)
        if obj == 1:
            for rid, value in SERVER_EXECUTABLES.items():
                instance.setdefault(rid, value)
        self.objects.setdefault(obj, {})[iid] = instance

    def bootstrap_write(self, path: LwM2MPath, values: Any, check: Callable[[dict[int, Any]], None]) -> None:
        """Bootstrap Write of an object (instances), an instance or a resource."""
        if not path:
            raise Refused(Code.BAD_REQUEST, "Bootstrap-Write needs an object path")
        if len(path) <= 2 and not isinstance(values, dict):
            raise Refused(Code.BAD_REQUEST, f"Bootstrap-Write of {format_path(path)} needs TLV")
        if len(path) == 1:
            for iid, inst in values.items():
                self.bootstrap_write_instance(path[0], iid, inst, check)
        elif len(path) == 2:
            self.bootstrap_write_instance(path[0], path[1], values, check)
        else:
            inst = self.objects.setdefault(path[0], {}).setdefault(path[1], {})
            if path[0] == 0:
                check({**inst, path[2]: values})
            inst[path[2]] = values

    def bootstrap_discover(self, path: LwM2MPath) -> bytes:
        links = [Link("/", {"lwm2m": "1.0"})] if not path else []
        for obj in sorted(self.objects):
            if path and obj != path[0]:
                continue
            if not self.objects[obj]:
                links.append(Link(f"/{obj}"))
            for iid, inst in sorted(self.objects[obj].items()):
                attrs: dict[str, Any] = {}
                if obj == 0 and not inst.get(1) and 10 in inst:
                    attrs["ssid"] = inst[10]
                if obj == 1 and 0 in inst:
                    attrs["ssid"] = inst[0]
                links.append(Link(f"/{obj}/{iid}", attrs))
        return linkformat.serialize(links)
