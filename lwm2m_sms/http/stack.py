"""What the operator interface needs of a running gateway: the server core, the router and
the SMS transports. Any object with these three serves (the public composition API's
server object, or a program's own assembly of the parts)."""

from __future__ import annotations

from typing import Protocol

from ..coap import SmsTransport
from ..lwm2m.server import Lwm2mServer
from ..routing.router import Router

__all__ = ["RunningGateway"]


class RunningGateway(Protocol):
    @property
    def server(self) -> Lwm2mServer: ...

    @property
    def router(self) -> Router: ...

    @property
    def sms(self) -> list[SmsTransport]: ...
