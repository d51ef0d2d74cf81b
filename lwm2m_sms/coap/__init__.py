"""CoAP over SMS as an aiocoap transport.

``await add_sms_transport(ctx, bearer)`` makes any aiocoap :class:`~aiocoap.Context` (server
or client) send and answer CoAP over an SMS bearer (modem, SMPP link, loopback); requests
then address peers as ``coap+sms://+15550001/3/0/0``. Importing this package registers the
``coap+sms`` scheme with aiocoap. See :mod:`.transport` for how it plugs in and its limits.
"""

from .address import SmsAddress
from .settings import SMS_PART_PAYLOAD, SmsSettings, SmsTuning
from .stats import Counters, TransportStats
from .transport import AcceptFilter, ExchangeHook, SmsMessageManager, SmsSendError, SmsTransport, add_sms_transport
from .uri import SCHEME, parse_sms_peer, register_scheme, sms_uri

register_scheme()

__all__ = [
    "SCHEME",
    "SMS_PART_PAYLOAD",
    "AcceptFilter",
    "ExchangeHook",
    "Counters",
    "SmsAddress",
    "SmsMessageManager",
    "SmsSendError",
    "SmsSettings",
    "SmsTransport",
    "SmsTuning",
    "TransportStats",
    "add_sms_transport",
    "parse_sms_peer",
    "register_scheme",
    "sms_uri",
]
