"""OMA LwM2M 1.0.2 on aiocoap: server core, bootstrap server, client simulator, codecs.

- :mod:`.server`: :class:`~.server.Lwm2mServer`, the Registration interface (``/rd``),
  lifetime expiry and the device-management API (read, write, execute, create, delete,
  discover, write_attributes, observe) with typed results (:mod:`.results`) and the errors
  of :mod:`.exceptions`; :class:`~.server.RequestSender` and :class:`~.server.ServerHooks`
  are where the router plugs in.
- :mod:`.bootstrap`: :class:`~.bootstrap.BootstrapServer` (``/bs``) and its configuration.
- :mod:`.client`: :class:`~.client.Lwm2mClient`, one simulated device.
- :mod:`.registration`: Register/Update parameters and the :class:`~.registration.Registration`
  record (sans-IO); :mod:`.store`: in-memory and SQLite registration stores.
- Codecs (sans-IO): :mod:`.tlv`, :mod:`.datatypes`, :mod:`.content`, :mod:`.linkformat`,
  :mod:`.path`, :mod:`.binding`; the object model of /0, /1, /3 in :mod:`.objects`.
- :mod:`.udp`: an aiocoap context on a UDP socket of its own; :mod:`.remote`: what the
  layer reads from an aiocoap remote of any transport.

The names below are imported on first use, so importing a codec does not import aiocoap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

_EXPORTS = {
    "Lwm2mServer": ".server", "ServerHooks": ".server", "RequestSender": ".server",
    "DirectSender": ".server", "Observation": ".server",
    "ReadResult": ".results",
    "Lwm2mError": ".exceptions", "UnknownEndpoint": ".exceptions", "RequestFailed": ".exceptions",
    "DeviceUnreachable": ".exceptions", "InvalidResponse": ".exceptions", "ConfigError": ".exceptions",
    "Registration": ".registration", "RegisterParams": ".registration", "UpdateParams": ".registration",
    "RegistrationRefused": ".registration",
    "RegistrationStore": ".store", "MemoryRegistrationStore": ".store", "SqliteRegistrationStore": ".store",
    "BootstrapServer": ".bootstrap", "BootstrapConfig": ".bootstrap",
    "Lwm2mClient": ".client", "ServerAccount": ".client",
    "Content": ".content", "ResourceValue": ".content", "InstanceValue": ".content",
    "ObjectValue": ".content", "ContentFormat": ".content", "decode_payload": ".content",
    "encode_payload": ".content",
    "LwM2MPath": ".path", "parse_path": ".path", "format_path": ".path",
    "Link": ".linkformat", "ObjLink": ".datatypes",
    "udp_context": ".udp", "local_port": ".udp",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from .bootstrap import BootstrapConfig, BootstrapServer
    from .client import Lwm2mClient, ServerAccount
    from .content import (
        Content, ContentFormat, InstanceValue, ObjectValue, ResourceValue, decode_payload, encode_payload,
    )
    from .datatypes import ObjLink
    from .exceptions import (
        ConfigError, DeviceUnreachable, InvalidResponse, Lwm2mError, RequestFailed, UnknownEndpoint,
    )
    from .linkformat import Link
    from .path import LwM2MPath, format_path, parse_path
    from .registration import RegisterParams, Registration, RegistrationRefused, UpdateParams
    from .results import ReadResult
    from .server import DirectSender, Lwm2mServer, Observation, RequestSender, ServerHooks
    from .store import MemoryRegistrationStore, RegistrationStore, SqliteRegistrationStore
    from .udp import local_port, udp_context
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
