"""OMA LwM2M 1.0.2 on aiocoap: server core, bootstrap server, client simulator, codecs.

- :mod:`.server`: :class:`~.server.Lwm2mServer`, the Registration interface (``/rd``),
  lifetime expiry and the device-management API (read, write, execute, create, delete,
  discover, write_attributes, observe) with typed results (:mod:`.results`) and the errors
  of :mod:`.exceptions`; :class:`~.server.RequestSender` and :class:`~.server.ServerHooks`
  are where the router plugs in.
- :mod:`.bootstrap`: :class:`~.bootstrap.BootstrapServer` (``/bs``) and its configuration.
- :mod:`.client`: :class:`~.client.Lwm2mClient`, one simulated device.
- :mod:`.registration`: Register/Update parameters and the :class:`~.registration.Registration`
  record (sans-IO); :mod:`.store`: registrations in memory or in the gateway store
  (:mod:`lwm2m_sms.store`: SQLite or PostgreSQL).
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
    "RegistrationRefused": ".registration", "RegistrationLimits": ".registration",
    "RegistrationStore": ".store", "MemoryRegistrationStore": ".store", "SqliteRegistrationStore": ".store",
    "StoredRegistrationStore": ".store",
    "BootstrapServer": ".bootstrap", "BootstrapConfig": ".bootstrap",
    "Lwm2mClient": ".client", "ServerAccount": ".client",
    "Content": ".content", "ResourceValue": ".content", "InstanceValue": ".content",
    "ObjectValue": ".content", "ContentFormat": ".content", "decode_payload": ".content",
    "decode_object": ".content",
    "encode_payload": ".content",
    "LwM2MPath": ".path", "parse_path": ".path", "format_path": ".path",
    "Link": ".linkformat", "ObjLink": ".datatypes",
    "udp_context": ".udp", "local_port": ".udp",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    # "X as X": an explicit re-export for type checkers (the loader below is what runs)
    from .bootstrap import BootstrapConfig as BootstrapConfig, BootstrapServer as BootstrapServer
    from .client import Lwm2mClient as Lwm2mClient, ServerAccount as ServerAccount
    from .content import (
        Content as Content,
        ContentFormat as ContentFormat,
        InstanceValue as InstanceValue,
        ObjectValue as ObjectValue,
        ResourceValue as ResourceValue,
        decode_object as decode_object,
        decode_payload as decode_payload,
        encode_payload as encode_payload,
    )
    from .datatypes import ObjLink as ObjLink
    from .exceptions import (
        ConfigError as ConfigError,
        DeviceUnreachable as DeviceUnreachable,
        InvalidResponse as InvalidResponse,
        Lwm2mError as Lwm2mError,
        RequestFailed as RequestFailed,
        UnknownEndpoint as UnknownEndpoint,
    )
    from .linkformat import Link as Link
    from .path import (
        LwM2MPath as LwM2MPath,
        format_path as format_path,
        parse_path as parse_path,
    )
    from .registration import (
        RegisterParams as RegisterParams,
        Registration as Registration,
        RegistrationRefused as RegistrationRefused,
        RegistrationLimits as RegistrationLimits,
        UpdateParams as UpdateParams,
    )
    from .results import ReadResult as ReadResult
    from .server import (
        DirectSender as DirectSender,
        Lwm2mServer as Lwm2mServer,
        Observation as Observation,
        RequestSender as RequestSender,
        ServerHooks as ServerHooks,
    )
    from .store import (
        MemoryRegistrationStore as MemoryRegistrationStore,
        RegistrationStore as RegistrationStore,
        SqliteRegistrationStore as SqliteRegistrationStore,
        StoredRegistrationStore as StoredRegistrationStore,
    )
    from .udp import local_port as local_port, udp_context as udp_context
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
