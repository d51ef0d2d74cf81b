"""CoAP over SMS for aiocoap, and the OMA LwM2M 1.0.2 SMS bindings on top of it.

The public API is the names of this package (``from lwm2m_sms import Gateway, ...``):

- composition: :class:`Gateway` and :class:`GatewayConfig` (an LwM2M server with its SMS
  bearers, router and store), :func:`start_device` (a simulated device);
- device management: :class:`Lwm2mServer` (``gateway.server``), its results
  (:class:`ReadResult`, :class:`Observation`, :class:`Registration`) and errors
  (:class:`UnknownEndpoint`, :class:`DeviceUnreachable`, :class:`RequestFailed`,
  :class:`InvalidResponse`); routing policy (:class:`PolicySettings`, :func:`via`);
- the CoAP transport (:func:`add_sms_transport`, :class:`SmsSettings`) and bearers
  (:class:`Bearer`, :class:`LoopbackBearer`); the SMS core's :func:`parse_msisdn`;
- every error derives from :class:`Lwm2mSmsError`.

Subpackages: :mod:`lwm2m_sms.sms` (sans-IO SMS core), :mod:`lwm2m_sms.coap` (aiocoap
transport), :mod:`lwm2m_sms.lwm2m` (server core, bootstrap, client simulator, codecs),
:mod:`lwm2m_sms.routing` (bindings, queue mode, wake-up). The bearers live in the sibling
packages ``smsc`` (SMPP link ``SmppLinkConfig``, simulated SMSC ``SimulatedSmsc``) and
``modems`` (``ModemConfig``, ``ModemDriver``, the modem emulator). Names are imported on
first use (see :mod:`lwm2m_sms.lazy`), so ``import lwm2m_sms.sms`` stays free of asyncio.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "Gateway": ".gateway", "GatewayConfig": ".gateway", "GatewayError": ".gateway",
    "GatewayStats": ".gateway", "Device": ".gateway", "start_device": ".gateway",
    "start_server": ".gateway",
    "Lwm2mServer": ".lwm2m.server", "ServerHooks": ".lwm2m.server", "Observation": ".lwm2m.server",
    "ReadResult": ".lwm2m.results", "Registration": ".lwm2m.registration",
    "RegistrationLimits": ".lwm2m.registration",
    "Lwm2mClient": ".lwm2m.client",
    "BootstrapServer": ".lwm2m.bootstrap", "BootstrapConfig": ".lwm2m.bootstrap",
    "Content": ".lwm2m.content", "ContentFormat": ".lwm2m.content", "Link": ".lwm2m.linkformat",
    "LwM2MPath": ".lwm2m.path",
    "Lwm2mError": ".lwm2m.exceptions", "UnknownEndpoint": ".lwm2m.exceptions",
    "RequestFailed": ".lwm2m.exceptions", "DeviceUnreachable": ".lwm2m.exceptions",
    "InvalidResponse": ".lwm2m.exceptions", "ConfigError": ".lwm2m.exceptions",
    "Router": ".routing.router", "RouterStats": ".routing.router", "PolicySettings": ".routing.router",
    "RequestExpired": ".routing.router", "NoRoute": ".routing.router", "via": ".routing.router",
    "SmsTransport": ".coap", "SmsSettings": ".coap", "SmsAddress": ".coap", "TransportStats": ".coap",
    "add_sms_transport": ".coap", "sms_uri": ".coap",
    "Bearer": ".bearer", "LoopbackBearer": ".bearer", "LoopbackNetwork": ".bearer", "InboundSms": ".bearer",
    "Address": ".sms.address", "parse_msisdn": ".sms.address",
    "Clock": ".clock", "FakeClock": ".clock", "SYSTEM_CLOCK": ".clock",
    "Lwm2mSmsError": ".errors", "DecodeError": ".errors", "EncodeError": ".errors", "AddressError": ".errors",
    "BearerError": ".errors", "BearerClosed": ".errors", "DeliveryFailed": ".errors",
    "PayloadTooLarge": ".errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    # "X as X": an explicit re-export for type checkers (the loader below is what runs)
    from .bearer import (
        Bearer as Bearer,
        InboundSms as InboundSms,
        LoopbackBearer as LoopbackBearer,
        LoopbackNetwork as LoopbackNetwork,
    )
    from .clock import SYSTEM_CLOCK as SYSTEM_CLOCK, Clock as Clock, FakeClock as FakeClock
    from .coap import (
        SmsAddress as SmsAddress,
        SmsSettings as SmsSettings,
        SmsTransport as SmsTransport,
        TransportStats as TransportStats,
        add_sms_transport as add_sms_transport,
        sms_uri as sms_uri,
    )
    from .errors import (
        AddressError as AddressError,
        BearerClosed as BearerClosed,
        BearerError as BearerError,
        DecodeError as DecodeError,
        DeliveryFailed as DeliveryFailed,
        EncodeError as EncodeError,
        Lwm2mSmsError as Lwm2mSmsError,
        PayloadTooLarge as PayloadTooLarge,
    )
    from .gateway import (
        Device as Device,
        Gateway as Gateway,
        GatewayConfig as GatewayConfig,
        GatewayError as GatewayError,
        GatewayStats as GatewayStats,
        start_device as start_device,
        start_server as start_server,
    )
    from .lwm2m.bootstrap import BootstrapConfig as BootstrapConfig, BootstrapServer as BootstrapServer
    from .lwm2m.client import Lwm2mClient as Lwm2mClient
    from .lwm2m.content import Content as Content, ContentFormat as ContentFormat
    from .lwm2m.exceptions import (
        ConfigError as ConfigError,
        DeviceUnreachable as DeviceUnreachable,
        InvalidResponse as InvalidResponse,
        Lwm2mError as Lwm2mError,
        RequestFailed as RequestFailed,
        UnknownEndpoint as UnknownEndpoint,
    )
    from .lwm2m.linkformat import Link as Link
    from .lwm2m.path import LwM2MPath as LwM2MPath
    from .lwm2m.registration import Registration as Registration, RegistrationLimits as RegistrationLimits
    from .lwm2m.results import ReadResult as ReadResult
    from .lwm2m.server import (
        Lwm2mServer as Lwm2mServer,
        Observation as Observation,
        ServerHooks as ServerHooks,
    )
    from .routing.router import (
        NoRoute as NoRoute,
        PolicySettings as PolicySettings,
        RequestExpired as RequestExpired,
        Router as Router,
        RouterStats as RouterStats,
        via as via,
    )
    from .sms.address import Address as Address, parse_msisdn as parse_msisdn
else:
    __getattr__ = lazy_exports(__name__, _EXPORTS)
