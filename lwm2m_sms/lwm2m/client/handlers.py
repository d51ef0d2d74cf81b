"""A device's answer to each request a server sends (LwM2M 1.0.2 5.2 and 5.4).

:class:`RequestHandler` maps a CoAP request to an operation of the object tree and the
operation's result to a response: Read (GET, TLV/JSON/text by Accept), Discover (GET with
Accept link-format), Write (PUT replace, POST partial update), Write-Attributes (PUT with
a query and no payload), Execute (POST on a resource), Create (POST on an object), Delete;
during a bootstrap session the Bootstrap Delete, Write, Discover and Finish. Whatever
arrives is answered with a code: a refused operation gives its error code and a short
diagnostic. No I/O here; side effects (notifications, Updates) go to the collaborators.

Security object /0 is for the bootstrap server only (4.01 to a management server), so
/0/x/8 (SMS secret keys) is never readable by a server. Only NoSec (security mode 3) is
built on UDP; SMS security modes 1, 2 and 204 are accepted in a Bootstrap Write only by a
device with an SMS security layer (``sms_modes``), any other mode is refused with 4.00 and
a clear diagnostic (DESIGN: trust).
"""

from __future__ import annotations

from collections.abc import MutableMapping

import logging
from typing import Any, Callable, Optional

from aiocoap import Message
from aiocoap.numbers.codes import Code

from ...errors import DecodeError, EncodeError
from .. import linkformat
from ..content import ContentFormat, decode_object, decode_payload, encode_payload, normalize_format
from ..exceptions import ConfigError
from ..path import LwM2MPath, format_path, parse_path
from ..remote import remote_uri
from .accounts import check_security, server_accounts
from .bootstrap import BootstrapState, is_bootstrap_server, speaks_for_session
from .objecttree import ObjectTree, Refused
from .observe import Observations
from .registration import RegistrationLoop

__all__ = ["RequestHandler"]

log = logging.getLogger(__name__)


def _is_bootstrap_command(request: Message, path: LwM2MPath) -> bool:
    """A command only a bootstrap server sends: Delete of ``/`` or of Security, Write of
    Security. It opens a Server Initiated Bootstrap when the bootstrap server sends it."""
    if request.code == Code.DELETE:
        return not path or path[0] == 0
    return request.code == Code.PUT and path[:1] == (0,) and bool(request.payload)


class RequestHandler:
    """Answers requests for one device. ``on_bootstrap_finished`` runs after a
    Bootstrap-Finish was accepted (the client registers with its new accounts)."""

    __slots__ = ("endpoint", "tree", "observations", "registrations", "bootstrap", "stats", "on_bootstrap_finished",
                 "on_server_bootstrap", "sms_modes")

    def __init__(
        self, endpoint: str, tree: ObjectTree, observations: Observations, registrations: RegistrationLoop,
        bootstrap: BootstrapState, stats: "MutableMapping[str, int]", on_bootstrap_finished: Callable[[], None],
        on_server_bootstrap: Callable[[], None] = lambda: None,
    ):
        self.endpoint = endpoint
        self.tree = tree
        self.observations = observations
        self.registrations = registrations
        self.bootstrap = bootstrap
        self.stats = stats
        self.on_bootstrap_finished = on_bootstrap_finished
        self.on_server_bootstrap = on_server_bootstrap
        self.sms_modes: tuple[int, ...] = (3,)  # SMS security modes a Bootstrap-Write may set

    def handle(self, request: Message) -> Message:
        """The response to ``request``; raises :class:`Refused` for an error answer."""
        self.stats["requests"] += 1
        code = request.code
        if self.bootstrap.active and not speaks_for_session(self.bootstrap, self.tree.objects, request.remote):
            # LwM2M 1.0.2 5.2: while bootstrapping, only the bootstrap server talks to the device
            raise Refused(Code.UNAUTHORIZED, "bootstrapping: only the bootstrap server is served")
        if tuple(request.opt.uri_path) == ("bs",) and code == Code.POST:
            if not self.bootstrap.active:
                raise Refused(Code.METHOD_NOT_ALLOWED, "Bootstrap-Finish while not bootstrapping")
            self.bootstrap.commands += 1
            self._bootstrap_finish()
            return Message(code=Code.CHANGED)
        try:
            path = parse_path("/".join(request.opt.uri_path))
        except DecodeError as exc:
            raise Refused(Code.NOT_FOUND, str(exc)) from None
        if (not self.bootstrap.active and _is_bootstrap_command(request, path)
                and is_bootstrap_server(self.tree.objects, request.remote)):
            log.info("ep=%s Server Initiated Bootstrap by %s", self.endpoint, remote_uri(request.remote))
            self.bootstrap.begin("server", remote_uri(request.remote))
            self.on_server_bootstrap()
        if self.bootstrap.active:
            return self._handle_bootstrap(request, path)
        if path[:1] == (0,):
            raise Refused(Code.UNAUTHORIZED, "the Security object is for the bootstrap server only")
        if code == Code.GET:
            accept = request.opt.accept
            if accept == ContentFormat.LINK_FORMAT:
                return Message(code=Code.CONTENT, content_format=40, payload=self.tree.discover(path))
            return self._read(path, accept)
        if code == Code.PUT:
            if not request.payload and request.opt.uri_query:
                return self._write_attributes(path, request.opt.uri_query)
            self._write(path, request, replace=True)
            return Message(code=Code.CHANGED)
        if code == Code.POST:
            if len(path) == 3:
                return self._execute(path)
            if len(path) == 1:
                return self._create(path, request)
            if len(path) == 2:
                self._write(path, request, replace=False)
                return Message(code=Code.CHANGED)
            raise Refused(Code.METHOD_NOT_ALLOWED, f"POST on {format_path(path)}")
        if code == Code.DELETE:
            self.tree.delete(path)
            self.registrations.trigger_update(objects_changed=True)
            return Message(code=Code.DELETED)
        raise Refused(Code.METHOD_NOT_ALLOWED, f"{code} not supported")

    # --- bootstrap interface --------------------------------------------------------------

    def _handle_bootstrap(self, request: Message, path: LwM2MPath) -> Message:
        code = request.code
        self.bootstrap.commands += 1
        if code == Code.DELETE:
            self.tree.bootstrap_delete(path)
            log.info("ep=%s Bootstrap-Delete %s", self.endpoint, format_path(path))
            return Message(code=Code.DELETED)
        if code == Code.PUT:
            self.tree.bootstrap_write(path, self._decode(path, request), self._check_security)
            log.info("ep=%s Bootstrap-Write %s", self.endpoint, format_path(path))
            return Message(code=Code.CHANGED)
        if code == Code.GET and request.opt.accept in (None, ContentFormat.LINK_FORMAT):
            return Message(code=Code.CONTENT, content_format=40, payload=self.tree.bootstrap_discover(path))
        raise Refused(Code.METHOD_NOT_ALLOWED, f"{code} {format_path(path)} during bootstrap")

    def _check_security(self, instance: dict[int, Any]) -> None:
        try:
            check_security(instance, self.sms_modes)
        except ConfigError as exc:
            log.warning("ep=%s refuses bootstrap: %s", self.endpoint, exc)
            raise Refused(Code.BAD_REQUEST, str(exc)) from None

    def _bootstrap_finish(self) -> None:
        accounts = server_accounts(self.tree.objects, self.endpoint)
        if not accounts:
            raise Refused(Code.NOT_ACCEPTABLE, "bootstrap left no server account with a matching /1 instance")
        log.info("ep=%s Bootstrap-Finish (%s initiated): %d server account(s)", self.endpoint,
                 self.bootstrap.initiated_by, len(accounts))
        self.bootstrap.finish()
        self.on_bootstrap_finished()

    # --- device management interface ------------------------------------------------------

    def _decode(self, path: LwM2MPath, request: Message) -> Any:
        try:
            return decode_payload(path, request.opt.content_format, request.payload)
        except DecodeError as exc:
            raise Refused(Code.BAD_REQUEST, str(exc)) from None

    def _read(self, path: LwM2MPath, accept: Optional[int]) -> Message:
        value = self.tree.read(path)
        try:
            fmt = normalize_format(accept)
        except DecodeError:
            raise Refused(Code.NOT_ACCEPTABLE, f"cannot answer in content format {accept}") from None
        if fmt is None and isinstance(value, dict):
            fmt = ContentFormat.TLV
        try:
            cf, body = encode_payload(path, value, fmt)
        except EncodeError as exc:
            raise Refused(Code.NOT_ACCEPTABLE, str(exc)) from None
        return Message(code=Code.CONTENT, content_format=cf, payload=body)

    def _write(self, path: LwM2MPath, request: Message, *, replace: bool) -> None:
        if len(path) < 2:
            raise Refused(Code.METHOD_NOT_ALLOWED, f"Write on {format_path(path)}")
        self.tree.instance(path)
        written = self.tree.write(path, self._decode(path, request), replace=replace)
        log.info("ep=%s Write %s %s", self.endpoint, format_path(path), written)
        for rid in written:
            self.observations.notify(path[:2] + (rid,))
        if path[0] == 1:
            self.registrations.server_written(self.tree.instance(path), written)

    def _write_attributes(self, path: LwM2MPath, query: Any) -> Message:
        try:
            attrs = linkformat.query_to_attributes(query)
        except DecodeError as exc:
            raise Refused(Code.BAD_REQUEST, str(exc)) from None
        self.tree.write_attributes(path, attrs)
        if self.observations.observed_paths():
            self.observations.changed()  # a new pmax may need the tick
        return Message(code=Code.CHANGED)

    def _execute(self, path: LwM2MPath) -> Message:
        inst = self.tree.check_executable(path)
        log.info("ep=%s Execute %s", self.endpoint, format_path(path))
        if path[0] == 1 and path[2] == 8:
            # Registration Update Trigger: answer first, then send the Update
            ssid = inst.get(0)
            self.registrations.trigger_update(ssid if isinstance(ssid, int) else None)
        return Message(code=Code.CHANGED)

    def _create(self, path: LwM2MPath, request: Message) -> Message:
        iid: Optional[int]
        try:
            entries = decode_object(path[0], request.opt.content_format, request.payload)
            iid = next(iter(entries))
            values = entries[iid]
        except (DecodeError, StopIteration, TypeError):
            # resources without an instance wrapper: the client picks the id
            values = self._decode(path + (0,), request)
            iid = None
        if not isinstance(values, dict):
            raise Refused(Code.BAD_REQUEST, f"Create in /{path[0]} needs resources")
        iid = self.tree.create(path[0], iid, values)
        self.registrations.trigger_update(objects_changed=True)
        return Message(code=Code.CREATED, location_path=(str(path[0]), str(iid)))
