"""The ``--http`` options of ``lwm2m-sms server`` and starting the operator interface from
them (kept apart from server.py, which composes the bearers)."""

from __future__ import annotations

import argparse
from typing import Any

from .options import hostport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("HTTP API and web console (docs/http.md)")
    g.add_argument("--http", type=hostport, metavar="HOST:PORT",
                   help="serve the JSON API, events, /metrics and the console here, e.g. 127.0.0.1:8080")
    g.add_argument("--http-token-file", metavar="FILE",
                   help="bearer token of the API (first line of FILE; else $LWM2M_SMS_HTTP_TOKEN)")
    g.add_argument("--http-no-token", action="store_true",
                   help="allow the API without a token (only on a loopback address)")
    g.add_argument("--http-max-body", type=int, default=64 * 1024, metavar="OCTETS",
                   help="largest request body (default 65536)")
    g.add_argument("--http-max-streams", type=int, default=32, metavar="N",
                   help="concurrent event streams (default 32)")
    g.add_argument("--http-rate", type=float, default=20.0, metavar="PER_S",
                   help="requests per second per client address (default 20, burst 3x)")


def settings(args: argparse.Namespace) -> Any:
    """HttpSettings from the options; ConfigError when the token is unreadable or the API
    would be exposed without one."""
    from ..http import HttpSettings, load_token
    from ..http.access import check_exposure

    host, port = args.http
    s = HttpSettings(
        host=host, port=port, token=load_token(args.http_token_file), allow_no_token=args.http_no_token,
        max_body=args.http_max_body, max_sse_clients=args.http_max_streams, rate=args.http_rate,
        burst=max(1, int(args.http_rate * 3)),
    )
    check_exposure(s)
    return s
