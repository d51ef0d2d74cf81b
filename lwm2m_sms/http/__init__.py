"""The operator interface: an HTTP JSON API, Server-Sent Events, Prometheus ``/metrics``
and a web console, served by aiohttp in the same event loop as the server's aiocoap
context. Built only on the public composition API (:mod:`lwm2m_sms.gateway`) and the
server core's and router's public methods.

    stack = await start_server(...)
    api = HttpApi(stack, HttpSettings(port=8080, token=load_token("/run/secrets/token")))
    await api.start()
"""

from .access import HttpSettings, load_token
from .app import HttpApi

__all__ = ["HttpApi", "HttpSettings", "load_token"]
