"""A small LwM2M object model: /0 Security, /1 Server and /3 Device (LwM2M 1.0.2).

Resource ids, names, types, operations and multiplicity as OMA-TS-LightweightM2M-V1_0_2
Appendix E lists them (E.1 Security, E.2 Server, E.4 Device). The codecs use it to type
TLV and text values; the server uses it to decode reads; the client simulator uses it to
refuse writes to read-only resources. Objects not listed here decode as opaque bytes.

Operations: "R", "W", "RW", "E", or "" for Security resources, which only the bootstrap
server may touch (Security is not accessible to a device-management server).
"""

from __future__ import annotations

from dataclasses import dataclass

from .datatypes import ResourceType as T

__all__ = ["ResourceDef", "ObjectDef", "OBJECTS", "SECURITY", "SERVER", "DEVICE", "resource_def", "resource_type"]


@dataclass(frozen=True, slots=True)
class ResourceDef:
    id: int
    name: str
    type: T
    operations: str
    multiple: bool = False
    mandatory: bool = False

    @property
    def readable(self) -> bool:
        return "R" in self.operations

    @property
    def writable(self) -> bool:
        return "W" in self.operations

    @property
    def executable(self) -> bool:
        return self.operations == "E"


@dataclass(frozen=True, slots=True)
class ObjectDef:
    id: int
    name: str
    multiple: bool
    mandatory: bool
    resources: dict[int, ResourceDef]


def _obj(id: int, name: str, multiple: bool, mandatory: bool, *res: ResourceDef) -> ObjectDef:
    return ObjectDef(id, name, multiple, mandatory, {r.id: r for r in res})


R = ResourceDef
SECURITY = _obj(
    0, "LWM2M Security", True, True,
    R(0, "LWM2M Server URI", T.STRING, "", mandatory=True),
    R(1, "Bootstrap-Server", T.BOOLEAN, "", mandatory=True),
    R(2, "Security Mode", T.INTEGER, "", mandatory=True),
    R(3, "Public Key or Identity", T.OPAQUE, "", mandatory=True),
    R(4, "Server Public Key", T.OPAQUE, "", mandatory=True),
    R(5, "Secret Key", T.OPAQUE, "", mandatory=True),
    R(6, "SMS Security Mode", T.INTEGER, ""),
    R(7, "SMS Binding Key Parameters", T.OPAQUE, ""),
    R(8, "SMS Binding Secret Key(s)", T.OPAQUE, ""),
    R(9, "LwM2M Server SMS Number", T.STRING, ""),
    R(10, "Short Server ID", T.INTEGER, ""),
    R(11, "Client Hold Off Time", T.INTEGER, ""),
    R(12, "Bootstrap-Server Account Timeout", T.INTEGER, ""),
)
SERVER = _obj(
    1, "LwM2M Server", True, True,
    R(0, "Short Server ID", T.INTEGER, "R", mandatory=True),
    R(1, "Lifetime", T.INTEGER, "RW", mandatory=True),
    R(2, "Default Minimum Period", T.INTEGER, "RW"),
    R(3, "Default Maximum Period", T.INTEGER, "RW"),
    R(4, "Disable", T.NONE, "E"),
    R(5, "Disable Timeout", T.INTEGER, "RW"),
    R(6, "Notification Storing When Disabled or Offline", T.BOOLEAN, "RW", mandatory=True),
    R(7, "Binding", T.STRING, "RW", mandatory=True),
    R(8, "Registration Update Trigger", T.NONE, "E", mandatory=True),
)
DEVICE = _obj(
    3, "Device", False, True,
    R(0, "Manufacturer", T.STRING, "R"),
    R(1, "Model Number", T.STRING, "R"),
    R(2, "Serial Number", T.STRING, "R"),
    R(3, "Firmware Version", T.STRING, "R"),
    R(4, "Reboot", T.NONE, "E", mandatory=True),
    R(5, "Factory Reset", T.NONE, "E"),
    R(6, "Available Power Sources", T.INTEGER, "R", multiple=True),
    R(7, "Power Source Voltage", T.INTEGER, "R", multiple=True),
    R(8, "Power Source Current", T.INTEGER, "R", multiple=True),
    R(9, "Battery Level", T.INTEGER, "R"),
    R(10, "Memory Free", T.INTEGER, "R"),
    R(11, "Error Code", T.INTEGER, "R", multiple=True, mandatory=True),
    R(12, "Reset Error Code", T.NONE, "E"),
    R(13, "Current Time", T.TIME, "RW"),
    R(14, "UTC Offset", T.STRING, "RW"),
    R(15, "Timezone", T.STRING, "RW"),
    R(16, "Supported Binding and Modes", T.STRING, "R", mandatory=True),
    R(17, "Device Type", T.STRING, "R"),
    R(18, "Hardware Version", T.STRING, "R"),
    R(19, "Software Version", T.STRING, "R"),
    R(20, "Battery Status", T.INTEGER, "R"),
    R(21, "Memory Total", T.INTEGER, "R"),
    R(22, "ExtDevInfo", T.OBJLNK, "R", multiple=True),
)
del R

OBJECTS: dict[int, ObjectDef] = {o.id: o for o in (SECURITY, SERVER, DEVICE)}


def resource_def(object_id: int, resource_id: int) -> "ResourceDef | None":
    obj = OBJECTS.get(object_id)
    return obj.resources.get(resource_id) if obj else None


def resource_type(object_id: int, resource_id: int) -> "T | None":
    """The declared type, or None for resources this model does not know."""
    rdef = resource_def(object_id, resource_id)
    return rdef.type if rdef else None
