"""CoAP over SMS for aiocoap, and the OMA LwM2M 1.0.2 SMS bindings on top of it.

Packages: :mod:`lwm2m_sms.sms` (sans-IO SMS core), :mod:`lwm2m_sms.bearer` (the one bearer
interface), :mod:`lwm2m_sms.coap` (aiocoap transport), :mod:`lwm2m_sms.lwm2m` (server core,
bootstrap, client simulator), :mod:`lwm2m_sms.routing` (bindings, queue mode, wake-up).
The bearers live in the sibling packages ``modems`` (GSM modem over AT) and ``smsc``
(SMPP link and simulated SMSC).
"""

__version__ = "0.1.0"
