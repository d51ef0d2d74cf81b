"""SMS channel security (LwM2M 1.0.2 section 7.2), between routing and the CoAP transport.

* ``secured_packet`` (sans-IO): TS 102 225 / TS 31.115 command and response packets, AES
  and 3DES, counters (SMS security mode 2); ``packet_endpoint`` one end of such a channel
  (the server's, or the simulated UICC of a device).
* ``dtls``: DTLS 1.2 with PSK over SMS through tinydtls (mode 1).
* ``oscore``, ``oscore_check``: aiocoap's OSCORE over coap+sms (our mode 204).
* ``policy``: per peer MSISDN, the mode and keys (/0/x/6..8, or a JSON file).
* ``bearer``: ``SecureBearer``, the layer itself, wrapping any bearer.
* ``setup``: putting it under an LwM2M server stack or a simulated device.
* ``state``: secured-packet counters on disk.

docs/security.md is the reference.
"""
