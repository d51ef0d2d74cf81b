"""The device's objects as one aiocoap resource (the ``serversite`` of its context).

aiocoap serves one site per context: every request of a server reaches :class:`ClientSite`,
which hands it to the :class:`~.handlers.RequestHandler` and turns a refusal into an error
response. Observations go to :class:`~.observe.Observations`. Blockwise requests are
assembled by aiocoap before they get here.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from aiocoap import Message, interfaces, resource

from ...errors import DecodeError
from ..path import parse_path
from .handlers import RequestHandler
from .objecttree import Refused
from .observe import Observations

__all__ = ["ClientSite"]

log = logging.getLogger(__name__)


class ClientSite(resource.Resource, interfaces.ObservableResource):  # type: ignore[misc]
    """``activity()`` is called for each request received and each response sent (queue
    mode: any message keeps the device online)."""

    def __init__(self, endpoint: str, handler: RequestHandler, observations: Observations,
                 activity: Callable[[], None]):
        super().__init__()
        self.endpoint = endpoint
        self.handler = handler
        self.observations = observations
        self.activity = activity

    async def needs_blockwise_assembly(self, request: Message) -> bool:
        return True

    async def render_to_pipe(self, pipe: Any) -> Any:
        return await interfaces.ObservableResource._render_to_pipe(self, pipe)

    async def add_observation(self, request: Message, serverobservation: Any) -> None:
        try:
            path = parse_path("/".join(request.opt.uri_path))
        except DecodeError:
            return
        self.observations.add(path, serverobservation)

    def observed_paths(self) -> list[Any]:
        return self.observations.observed_paths()

    async def render(self, request: Message) -> Message:
        self.activity()
        try:
            response = self.handler.handle(request)
        except Refused as exc:
            log.info("ep=%s %s %s refused with %s: %s", self.endpoint, request.code,
                     "/" + "/".join(request.opt.uri_path), exc.code, exc.reason)
            response = Message(code=exc.code, payload=exc.reason.encode()[:120])
        self.activity()
        return response
