"""OMA LwM2M 1.0.2 on aiocoap: server core, bootstrap server, client simulator, codecs.

- :mod:`.server`: :class:`~.server.Lwm2mServer`, the Registration interface (``/rd``),
  lifetime expiry and the device-management API (read, write, execute, create, delete,
  discover, write_attributes, observe); :class:`~.server.RequestSender` and
  :class:`~.server.ServerHooks` are where the router plugs in.
- :mod:`.bootstrap`: :class:`~.bootstrap.BootstrapServer` (``/bs``) and its configuration.
- :mod:`.client`: :class:`~.client.Lwm2mClient`, one simulated device.
- :mod:`.registration`: Register/Update parameters and the :class:`~.registration.Registration`
  record (sans-IO); :mod:`.store`: registrations in memory or in the gateway store
  (:mod:`lwm2m_sms.store`: SQLite or PostgreSQL).
- Codecs (sans-IO): :mod:`.tlv`, :mod:`.datatypes`, :mod:`.content`, :mod:`.linkformat`,
  :mod:`.path`; the object model of /0, /1, /3 in :mod:`.objects`.
- :mod:`.udp`: an aiocoap context on a UDP socket of its own; :mod:`.remote`: what the
  layer reads from an aiocoap remote of any transport.
"""
