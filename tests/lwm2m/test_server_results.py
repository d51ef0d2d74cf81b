"""The server's device-management results and errors, with a sender that answers what each
case needs (the wire is covered by the end-to-end tests): typed ReadResult, and the one
documented error type per failure."""

import aiocoap
import pytest
from aiocoap import Message
from aiocoap.numbers.codes import Code

from lwm2m_sms import (
    ContentFormat, DecodeError, DeviceUnreachable, EncodeError, InvalidResponse, Lwm2mServer, ReadResult,
    Registration, RequestFailed, UnknownEndpoint,
)


class Answers:
    """A RequestSender that answers every request with ``response`` (or raises it)."""

    def __init__(self, response):
        self.response = response
        self.requests = []

    async def send(self, registration, request):
        self.requests.append(request)
        if isinstance(self.response, BaseException):
            raise self.response
        return self.response

    def observe(self, registration, request):
        raise NotImplementedError


def _server(response) -> Lwm2mServer:
    server = Lwm2mServer(sender=Answers(response))
    server.store.put(Registration(
        endpoint="dev", location="abc", lifetime=60, version="1.0", binding="U", sms=None, objects=(),
        remote_uri="coap://127.0.0.1:1", registered_at=0.0, updated_at=0.0,
    ))
    return server


async def test_read_returns_the_value_and_the_registered_content_format():
    server = _server(Message(code=Code.CONTENT, payload=b"300", content_format=1541))  # old text/plain code
    result = await server.read("dev", "/1/0/1")
    assert result == ReadResult("dev", (1, 0, 1), 300, ContentFormat.TEXT)
    assert result.uri_path == "/1/0/1"


async def test_an_undecodable_answer_is_invalid_response():
    server = _server(Message(code=Code.CONTENT, payload=b"\xff\x01", content_format=ContentFormat.TLV))
    with pytest.raises(InvalidResponse) as info:
        await server.read("dev", "/3/0")
    assert isinstance(info.value.cause, DecodeError) and info.value.path == "/3/0"


async def test_an_error_code_is_request_failed_with_the_code():
    server = _server(Message(code=Code.NOT_FOUND, payload=b"no such resource"))
    with pytest.raises(RequestFailed) as info:
        await server.read("dev", "/3/0/99")
    assert info.value.code == Code.NOT_FOUND and info.value.diagnostic == "no such resource"


async def test_no_answer_is_device_unreachable_with_the_cause():
    cause = aiocoap.error.ConRetransmitsExceeded()
    server = _server(cause)
    with pytest.raises(DeviceUnreachable) as info:
        await server.execute("dev", "/1/0/8")
    assert info.value.cause is cause


async def test_caller_errors_are_raised_before_anything_is_sent():
    server = _server(Message(code=Code.CHANGED))
    with pytest.raises(UnknownEndpoint):
        await server.read("nobody", "/3/0")
    with pytest.raises(DecodeError):
        await server.read("dev", "/3/x")
    with pytest.raises(EncodeError):
        await server.create("dev", "/5/0", {0: "x"})
    with pytest.raises(EncodeError):
        await server.write("dev", "/1/0/1", "not a number")
    assert server.sender.requests == []
