"""``lwm2m-sms device ...``: the command-line client of the server's HTTP API (``lwm2m-sms
server --http``): list devices, read, write, execute, discover, observe, the queue.

Tables by default, the API's JSON with ``--json``. The server's address comes from ``--url``
or ``$LWM2M_SMS_URL`` (default http://127.0.0.1:8080), the token from ``--token-file`` or
``$LWM2M_SMS_HTTP_TOKEN``. An operation on a sleeping device is answered 202 by the API:
the command then waits for the device (``--no-wait``: print the queued request and return).
Exit status: 0 when the device answered with a success code, 1 when it answered an error
or could not be reached, 2 for a usage or connection problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, Optional
from urllib.parse import quote

from .table import format_table

DEFAULT_URL = "http://127.0.0.1:8080"


class CliError(Exception):
    """One line for stderr; exit 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("LWM2M_SMS_URL", DEFAULT_URL),
                        help=f"the server's HTTP API (default $LWM2M_SMS_URL or {DEFAULT_URL})")
    parser.add_argument("--token-file", metavar="FILE",
                        help="file holding the API token (default: $LWM2M_SMS_HTTP_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print the API's JSON instead of a table")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="S",
                        help="give up waiting for a device after S seconds (default 300)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("devices", help="list registered devices")
    p.add_argument("--binding", help="only this binding (U, UQ, S, SQ, US, UQS)")
    p.add_argument("--state", choices=["online", "sleeping"], help="only online or sleeping devices")
    p.add_argument("--msisdn", help="only the device with this number")
    p.set_defaults(_run=_devices)

    p = sub.add_parser("show", help="one device: registration, objects, SMS counters")
    p.add_argument("endpoint")
    p.set_defaults(_run=_show)

    def op(name: str, help_text: str, *extra: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("endpoint")
        p.add_argument("path", help="LwM2M path, e.g. /3/0/0")
        for e in extra:
            p.add_argument(e, nargs="?" if e == "args" else None, default="")
        p.add_argument("--no-wait", action="store_true", help="do not wait for a sleeping device")
        return p

    p = op("read", "Read a resource, instance or object")
    p.add_argument("--format", choices=["tlv", "text", "opaque"], help="ask the device for this format")
    p.set_defaults(_run=_read)
    op("write", "Write a value (JSON: 120, true, \"text\", {\"base64\": ...}; else taken as text)",
       "value").set_defaults(_run=_write)
    op("exec", "Execute a resource, with optional arguments", "args").set_defaults(_run=_exec)
    op("discover", "Discover: the object's resources and attributes").set_defaults(_run=_discover)

    p = sub.add_parser("observe", help="observe a path; print notifications until Ctrl-C")
    p.add_argument("endpoint")
    p.add_argument("path")
    p.add_argument("--count", type=int, default=0, metavar="N", help="stop after N notifications")
    p.set_defaults(_run=_observe)

    p = sub.add_parser("queue", help="the device's queued requests and their states")
    p.add_argument("endpoint")
    p.set_defaults(_run=_queue)

    p = sub.add_parser("cancel", help="cancel a queued request (its id from `queue`)")
    p.add_argument("endpoint")
    p.add_argument("id", type=int)
    p.set_defaults(_run=_cancel)


async def run(args: argparse.Namespace) -> int:  # pragma: no cover - an ACTION is required
    raise SystemExit("lwm2m-sms device: name an action")


# --- the HTTP client --------------------------------------------------------------------

class Api:
    def __init__(self, args: argparse.Namespace) -> None:
        import aiohttp

        from ..http.access import load_token
        from ..lwm2m.exceptions import ConfigError

        try:
            token = load_token(args.token_file)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        self.url = args.url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.session = aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=None, connect=10))
        self.aiohttp = aiohttp

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        try:
            async with self.session.request(method, self.url + path, **kw) as r:
                try:
                    body = await r.json(content_type=None)
                except ValueError:
                    body = {"error": (await r.text())[:200]}
        except self.aiohttp.ClientError as exc:
            raise CliError(f"cannot reach the API at {self.url}: {exc}") from None
        if r.status == 401:
            raise CliError(f"the API at {self.url} refused the token: {body.get('error')}")
        if r.status in (400, 404, 409, 413, 429, 503) and isinstance(body, dict) and "error" in body:
            raise CliError(body["error"])
        return r.status, body

    async def events(self, endpoint: str, last_id: Optional[int] = None) -> Any:
        """Yield the events of ``endpoint`` as dicts."""
        headers = {"Last-Event-ID": str(last_id)} if last_id is not None else {}
        try:
            async with self.session.get(self.url + "/api/events", params={"endpoint": endpoint}, headers=headers) as r:
                if r.status != 200:
                    raise CliError(f"event stream: HTTP {r.status}")
                async for line in r.content:
                    if line.startswith(b"data: "):
                        yield json.loads(line[6:])
        except self.aiohttp.ClientError as exc:
            raise CliError(f"event stream from {self.url}: {exc}") from None

    async def close(self) -> None:
        await self.session.close()


def _ep(endpoint: str) -> str:
    return "/api/devices/" + quote(endpoint, safe="")


def _path(path: str) -> str:
    return "/" + path.strip("/")


async def _with_api(args: argparse.Namespace, body: Any) -> int:
    try:
        api = Api(args)
    except CliError as exc:
        print(f"lwm2m-sms device: {exc}", file=sys.stderr)
        return 2
    try:
        return int(await asyncio.wait_for(body(api), args.timeout) if args.action != "observe" else await body(api))
    except CliError as exc:
        print(f"lwm2m-sms device: {exc}", file=sys.stderr)
        return 2
    except asyncio.TimeoutError:
        print(f"lwm2m-sms device: no answer within {args.timeout:g} s", file=sys.stderr)
        return 1
    finally:
        await api.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _ago(t: Optional[float]) -> str:
    if not t:
        return "-"
    s = max(0, int(time.time() - t))
    return f"{s} s" if s < 120 else f"{s // 60} min" if s < 7200 else f"{s // 3600} h"


# --- actions ------------------------------------------------------------------------------

async def _devices(args: argparse.Namespace) -> int:
    async def body(api: Api) -> int:
        params = {k: v for k, v in (("binding", args.binding), ("state", args.state), ("msisdn", args.msisdn),
                                    ("limit", "1000")) if v}
        _, data = await api.call("GET", "/api/devices", params=params)
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        rows = [[d["endpoint"], d["binding"], d["msisdn"] or "-", d["udp"] or "-", d["state"], str(d["queued"]),
                 f"{d['sms']['sent']}/{d['sms']['received']}", str(d["sms"]["dropped_untrusted"]),
                 str(d["lifetime"]), _ago(d["last_seen"])] for d in data["devices"]]
        print(format_table(["endpoint", "binding", "msisdn", "udp", "state", "queued", "sms out/in", "untrusted",
                            "lifetime", "last seen"], rows, right={5, 6, 7, 8}))
        if data["total"] > len(data["devices"]):
            print(f"({len(data['devices'])} of {data['total']})")
        return 0
    return await _with_api(args, body)


async def _show(args: argparse.Namespace) -> int:
    async def body(api: Api) -> int:
        _, d = await api.call("GET", _ep(args.endpoint))
        if args.json:
            print(json.dumps(d, indent=2))
            return 0
        facts = [("endpoint", d["endpoint"]), ("binding", d["binding"]), ("state", d["state"]),
                 ("msisdn", d["msisdn"] or "-"), ("udp", d["udp"] or "-"), ("lifetime", f"{d['lifetime']} s"),
                 ("last seen", _ago(d["last_seen"]) + " ago"), ("registration", d["location"]),
                 ("sms out/in", f"{d['sms']['sent']}/{d['sms']['received']}"),
                 ("untrusted dropped", str(d["sms"]["dropped_untrusted"])), ("queued", str(d["queued"])),
                 ("objects", " ".join(o["path"] for o in d["objects"])),
                 ("observed", " ".join(d["observations"]) or "-")]
        width = max(len(k) for k, _ in facts)
        for k, v in facts:
            print(f"{k.ljust(width)}  {v}")
        return 0
    return await _with_api(args, body)


async def _operate(args: argparse.Namespace, method: str, url: str, **kw: Any) -> int:
    async def body(api: Api) -> int:
        status, op = await api.call(method, url, **kw)
        if status == 202 and not args.no_wait:
            if not args.json:
                where = f" as #{op['queue_id']}" if op.get("queue_id") else ""
                print(f"{op['endpoint']} is asleep: {op['operation']} {op['path']} queued{where}; waiting for the device",
                      file=sys.stderr)
            op = await _follow(api, op)
        return _print_operation(args, op)
    return await _with_api(args, body)


async def _follow(api: Api, op: dict[str, Any]) -> dict[str, Any]:
    """Wait for operation ``op`` (answered 202) to end, on the event stream from the event
    id the 202 carried, so an end that came before the stream opened is replayed."""
    _, now = await api.call("GET", f"/api/operations/{op['id']}")
    if now["state"] in ("answered", "failed", "expired", "cancelled"):
        return dict(now)
    stream = api.events(op["endpoint"], op.get("event_id"))
    try:
        async for event in stream:
            if event["type"] == "operation" and event["operation"]["id"] == op["id"]:
                return dict(event["operation"])
    finally:
        await stream.aclose()
    raise CliError("the event stream ended before the operation did")


def _print_operation(args: argparse.Namespace, op: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(op, indent=2))
    elif op["state"] == "answered":
        if op["operation"] == "discover":
            for link in op["value"]:
                attrs = ";".join(f"{k}={v}" for k, v in link["attributes"].items())
                print(link["path"] + (f"  {attrs}" if attrs else ""))
        elif isinstance(op["value"], dict):
            rows = sorted(_flatten(op["path"], op["value"]).items(), key=lambda kv: [int(x) for x in kv[0].strip("/").split("/")])
            print(format_table(["path", "value"], [[k, _text(v)] for k, v in rows], right=set()))
        elif op["value"] is not None:
            print(_text(op["value"]))
        print(f"{op['code']} via {op['bearer'] or '-'}, {op['sms']} SMS, {op['duration'] or 0:.2f} s", file=sys.stderr)
    elif op["state"] in ("queued", "waiting", "sent", "running"):
        print(f"{op['operation']} {op['path']} on {op['endpoint']}: {op['state']}"
              + (f" as #{op['queue_id']}" if op.get("queue_id") else "") + f" (operation {op['id']})")
        return 0
    else:
        print(f"lwm2m-sms device: {op['operation']} {op['path']} on {op['endpoint']}: {op['state']}"
              + (f" {op['code']}" if op.get("code") else "") + (f": {op['error']}" if op.get("error") else ""),
              file=sys.stderr)
        return 1
    return 0


def _flatten(prefix: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value and all(k.isascii() and k.isdigit() for k in value) and not set(value) & {"base64", "objlnk"}:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(f"{prefix.rstrip('/')}/{k}", v))
        return out
    return {prefix: value}


async def _read(args: argparse.Namespace) -> int:
    params = {"format": args.format} if args.format else {}
    return await _operate(args, "GET", _ep(args.endpoint) + "/data" + _path(args.path), params=params)


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _write(args: argparse.Namespace) -> int:
    return await _operate(args, "PUT", _ep(args.endpoint) + "/data" + _path(args.path), json={"value": _value(args.value)})


async def _exec(args: argparse.Namespace) -> int:
    return await _operate(args, "POST", _ep(args.endpoint) + "/data" + _path(args.path), json={"args": args.args or ""})


async def _discover(args: argparse.Namespace) -> int:
    return await _operate(args, "GET", _ep(args.endpoint) + "/discover" + _path(args.path))


async def _observe(args: argparse.Namespace) -> int:
    from .options import stop_event

    async def body(api: Api) -> int:
        path = _path(args.path)
        stream = api.events(args.endpoint)
        first = asyncio.ensure_future(stream.__anext__())
        stop = stop_event()
        try:
            status, op = await api.call("POST", _ep(args.endpoint) + "/observe" + path)
            if status == 202:
                op = await _follow(api, op)
            if op["state"] != "answered":
                return _print_operation(args, op)
            print(json.dumps(op) if args.json else f"{time.strftime('%H:%M:%S')} {path} = {_text(op['value'])}", flush=True)
            seen = 0
            event = await first
            while args.count == 0 or seen < args.count:
                if event["type"] == "notification" and event["path"] == path:
                    seen += 1
                    print(json.dumps(event) if args.json else
                          f"{time.strftime('%H:%M:%S', time.localtime(event['time']))} {path} = {_text(event['value'])}",
                          flush=True)
                elif event["type"] in ("deregister", "expire"):
                    print(f"lwm2m-sms device: {args.endpoint} {event['type']}ed; the observation ended", file=sys.stderr)
                    return 1
                if args.count and seen >= args.count:
                    break
                next_event = asyncio.ensure_future(stream.__anext__())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait([next_event, stopped], return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if stop.is_set():
                    await _cancelled(next_event)  # the stream's generator must be idle to close
                    break
                event = next_event.result()
            return 0
        finally:
            await _cancelled(first)
            await stream.aclose()
            try:  # cancel on the device too, on Ctrl-C as at the end of --count
                await api.call("DELETE", _ep(args.endpoint) + "/observe" + path)
            except CliError:
                pass
    return await _with_api(args, body)


async def _cancelled(fut: "asyncio.Future[Any]") -> None:
    if not fut.done():
        fut.cancel()
    try:
        await fut
    except (asyncio.CancelledError, Exception):  # cancelled, or the stream's own error: it ends here anyway
        pass


async def _queue(args: argparse.Namespace) -> int:
    async def body(api: Api) -> int:
        _, data = await api.call("GET", _ep(args.endpoint) + "/queue")
        if args.json:
            print(json.dumps(data, indent=2))
            return 0
        rows = [[str(q["id"]), q["method"], q["path"], q["transport"], q["state"], q["response_code"] or "-",
                 time.strftime("%H:%M:%S", time.localtime(q["created"])), q["detail"]] for q in data["requests"]]
        print(format_table(["id", "method", "path", "bearer", "state", "answer", "queued at", "detail"], rows, right={0}))
        return 0
    return await _with_api(args, body)


async def _cancel(args: argparse.Namespace) -> int:
    async def body(api: Api) -> int:
        _, q = await api.call("DELETE", _ep(args.endpoint) + f"/queue/{args.id}")
        print(json.dumps(q, indent=2) if args.json else f"#{q['id']} {q['method']} {q['path']}: {q['state']} ({q['detail']})")
        return 0
    return await _with_api(args, body)
