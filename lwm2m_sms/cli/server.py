"""``lwm2m-sms server``: the LwM2M server core on UDP, with SMS over an SMPP link
(``--smpp``) and/or a GSM modem (``--modem``), the MSISDN router in front of it (every
binding U, UQ, S, SQ, US, UQS), and optionally the bootstrap server; prints registrations as
they come and go."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import add_pin_options, add_smpp_options, hostport, modem_config, smpp_config, until_stopped, wait_for_smsc

if TYPE_CHECKING:
    from ..lwm2m.registration import Registration

from . import server_config, server_http


def _wake_up(text: str) -> "str | float":
    if text in ("now", "never"):
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected now, never or seconds, not {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="TOML",
                        help="read the options from this file; flags given here override it (docs/operations.md)")
    parser.add_argument("--check-config", action="store_true",
                        help="check the options (and --config file), print OK and exit")
    parser.add_argument("--udp", type=hostport, default=("127.0.0.1", 5683), metavar="HOST:PORT",
                        help="UDP address of the server (default 127.0.0.1:5683)")
    parser.add_argument("--db", metavar="PATH|URL",
                        help="the store of registrations and queued requests: an SQLite file (which "
                             "also holds held parts of long SMS and dead letters) or postgresql://... "
                             "(default: in memory; parts are then lost on a crash); docs/store.md")
    parser.add_argument("--local-db", metavar="PATH",
                        help="SQLite file for this node's held parts of long SMS and dead letters "
                             "(default: --db when it is a file; needed with --db postgresql://... "
                             "and an SMS bearer)")
    parser.add_argument("--node", default="local", metavar="NAME",
                        help="this node's name on a shared PostgreSQL --db: one per node, the same "
                             "across its restarts (default local); docs/cluster.md")
    parser.add_argument("--durability", choices=("normal", "full"), default="normal",
                        help="writes of held SMS parts (--local-db): normal survives kill -9, full a power cut "
                             "too, at an fsync per part (default normal; dead letters are always full)")
    parser.add_argument("--bootstrap-config", metavar="JSON",
                        help="also serve /bs on the same socket, with this bootstrap information")
    parser.add_argument("--grace", type=float, default=93.0, metavar="S",
                        help="seconds past a lifetime before a registration expires (default 93)")
    parser.add_argument("--lwm2m-version", action="append", default=None, metavar="V",
                        help="LwM2M version accepted on Register (repeatable; default 1.0)")
    parser.add_argument("--msisdn", metavar="+N",
                        help="the server's own SMS number (needed with --smpp or --modem)")
    add_smpp_options(parser)
    g = parser.add_argument_group("SMS channel security (docs/security.md)")
    g.add_argument("--sms-security", metavar="JSON",
                   help="per-device SMS security modes and keys (DTLS, secured packet, OSCORE); "
                        "SMS not protected as configured are dropped")
    g.add_argument("--security-state", metavar="DIR",
                   help="where secured-packet counters and OSCORE contexts are kept across restarts "
                        "(needed with --sms-security)")
    g = parser.add_argument_group("GSM modem")
    g.add_argument("--modem", metavar="PORT", help="serial port of a GSM modem, e.g. /dev/ttyUSB0")
    add_pin_options(g)
    g.add_argument("--modem-profile", default=None, help="quirks profile (default: chosen by +CGMM)")
    g = parser.add_argument_group("routing")
    g.add_argument("--wake-up", type=_wake_up, default="now", metavar="now|never|S",
                   help="UQS: SMS trigger of /1/x/8 when work is queued (default now)")
    g.add_argument("--udp-window", type=float, default=93.0, metavar="S",
                   help="queue-mode online window on UDP (default 93, MAX_TRANSMIT_WAIT)")
    g.add_argument("--sms-window", type=float, default=300.0, metavar="S",
                   help="queue-mode online window on SMS (default 300)")
    g.add_argument("--queue-ttl", type=float, default=86400.0, metavar="S",
                   help="time limit of a queued request (default 86400)")
    g.add_argument("--udp-timeout", type=float, default=30.0, metavar="S",
                   help="US: resend by SMS when UDP gets no answer within S seconds (default 30)")
    g.add_argument("--no-us-fallback", dest="us_fallback", action="store_false",
                   help="US: do not resend by SMS when UDP gets no answer")
    g.add_argument("--allow-register", action="append", default=None, metavar="+N",
                   help="accept a Register by SMS only from these numbers, and sms= (by SMS or UDP) "
                        "only naming them (repeatable)")
    g = parser.add_argument_group("limits (every client is assumed hostile)")
    g.add_argument("--max-registrations", type=int, default=100_000, metavar="N",
                   help="registrations held at most; a new endpoint past it gets 5.03 (default 100000)")
    g.add_argument("--max-link-format", type=int, default=4096, metavar="OCTETS",
                   help="largest Register/Update payload; larger gets 4.13 (default 4096)")
    g.add_argument("--lifetime-range", default="1..31536000", metavar="MIN..MAX",
                   help="accepted lt= in seconds; outside gets 4.00 (default 1..31536000)")
    g.add_argument("--max-endpoint", type=int, default=128, metavar="N",
                   help="longest endpoint name in characters (default 128; unprintable ones get 4.00)")
    server_http.add_arguments(parser)


def _security_wrapper(security: Any, state: "str | None") -> Any:
    """The gateway's ``sms_security`` hook: each SMS bearer under the security layer, with
    the secured-packet counters kept in ``state`` (with ``--db``, in the store: the files
    then seed the peers it does not know yet)."""
    if security is None:
        return None
    from ..security.bearer import SecureBearer
    from ..security.state import CounterStore

    counters = CounterStore(Path(str(state)) / "counters")
    return lambda bearer: SecureBearer(bearer, security, counters=counters)


def _line(event: str, reg: "Registration") -> str:
    sms = reg.sms.lwm2m_digits if reg.sms else "-"
    objects = ",".join(link.target for link in reg.objects)
    return (f"{time.strftime('%H:%M:%S')} {event:<12} ep={reg.endpoint} b={reg.binding} lt={reg.lifetime} "
            f"sms={sms} from {reg.remote_uri} /rd/{reg.location} {objects}")


async def run(args: argparse.Namespace) -> int:
    from aiocoap import resource

    from ..errors import Lwm2mSmsError
    from ..gateway import Gateway, GatewayConfig, GatewayError
    from ..lwm2m.bootstrap import BootstrapConfig, BootstrapServer
    from ..lwm2m.exceptions import ConfigError
    from ..lwm2m.server import ServerHooks
    from ..routing.router import PolicySettings
    from ..sms.address import parse_msisdn
    from ..security.policy import SecurityPolicy, SmsSecurityMode
    from ..security.setup import enable_server_oscore

    class Printer(ServerHooks):
        def on_registered(self, registration: "Registration") -> None:
            print(_line("registered", registration), flush=True)

        def on_updated(self, registration: "Registration") -> None:
            print(_line("updated", registration), flush=True)

        def on_deregistered(self, registration: "Registration") -> None:
            print(_line("deregistered", registration), flush=True)

        def on_expired(self, registration: "Registration") -> None:
            print(_line("expired", registration), flush=True)

    def fail(text: str, code: int = 2) -> int:
        print(f"lwm2m-sms server: {text}", file=sys.stderr)
        return code

    if args.config:
        try:
            args = server_config.resolve(args, add_arguments)
        except server_config.ConfigFileError as exc:
            return fail(str(exc))

    if (args.smpp or args.modem) and not args.msisdn:
        return fail("--msisdn (the server's own number) is needed with --smpp or --modem")
    from ..store import is_store_url
    from ..store.postgres import redact

    db_name = redact(args.db) if args.db else None
    if (args.smpp or args.modem) and args.db and is_store_url(args.db) and not args.local_db:
        # What a bearer holds (parts of long SMS it acknowledged, undecodable SMS) belongs
        # to this node's own bearer: an SQLite file here even when the store is PostgreSQL.
        return fail(f"--db {db_name}: held SMS parts and dead letters stay on this node:"
                    " give --local-db FILE (an SQLite file) with --smpp or --modem")
    if not args.node or not args.node.isprintable() or len(args.node) > 64:
        return fail(f"--node {args.node!r}: a name of 1 to 64 printable characters")
    for option, value in (("--grace", args.grace), ("--udp-window", args.udp_window),
                          ("--sms-window", args.sms_window), ("--queue-ttl", args.queue_ttl),
                          ("--udp-timeout", args.udp_timeout)):
        if not value > 0 or value == float("inf"):  # also refuses nan
            return fail(f"{option} must be a positive number of seconds, not {value:g}")
    if isinstance(args.wake_up, float) and not 0 <= args.wake_up < float("inf"):
        return fail(f"--wake-up must be now, never or a number of seconds >= 0, not {args.wake_up:g}")
    from ..lwm2m.registration import RegistrationLimits

    low, sep, high = args.lifetime_range.partition("..")
    try:
        if not sep:
            raise ValueError(f"--lifetime-range {args.lifetime_range!r} is not MIN..MAX")
        limits = RegistrationLimits(
            max_registrations=args.max_registrations, max_link_format=args.max_link_format,
            min_lifetime=int(low), max_lifetime=int(high), max_endpoint=args.max_endpoint,
        )
    except ValueError as exc:
        return fail(f"limits: {exc}")
    try:
        msisdn = str(parse_msisdn(args.msisdn)) if args.msisdn else None
        for number in args.allow_register or ():
            parse_msisdn(number)
        bootstrap = BootstrapServer(BootstrapConfig.load(args.bootstrap_config)) if args.bootstrap_config else None
        security = SecurityPolicy.load(args.sms_security) if args.sms_security else None
        http_settings = server_http.settings(args) if args.http else None
    except (Lwm2mSmsError, ConfigError, OSError) as exc:
        return fail(str(exc))
    if security is not None and not args.security_state:
        return fail("--security-state DIR is needed with --sms-security (counters and OSCORE contexts)")
    if args.check_config:
        print(f"{args.config or 'options'}: OK", flush=True)
        return 0

    site = resource.Site()
    try:
        smpp = smpp_config(args, msisdn) if args.smpp and msisdn else None
        modem = modem_config(args) if args.modem else None
    except ValueError as exc:  # an unreadable --password-file or --pin-file
        return fail(str(exc))
    config = GatewayConfig(
        udp=args.udp, msisdn=msisdn, smpp=smpp,
        modem=modem, db=args.db, local_db=args.local_db, node=args.node,
        durability=args.durability, site=site,
        policy=PolicySettings(wake_up=args.wake_up, udp_window=args.udp_window, sms_window=args.sms_window,
                              queue_ttl=args.queue_ttl, us_fallback=args.us_fallback,
                              udp_timeout=args.udp_timeout),
        grace=args.grace, accepted_versions=tuple(args.lwm2m_version or ("1.0",)), limits=limits,
        register_allow_list=args.allow_register,
        sms_security=_security_wrapper(security, args.security_state),
    )
    gateway = Gateway(config)
    try:
        await gateway.start()
    except GatewayError as exc:
        # Name the option the user gave; the CLI's main prints it as one line (-vv: traceback).
        option = {
            "udp": f"--udp {args.udp[0]}:{args.udp[1]}", "db": f"--db {db_name}", "modem": f"--modem {args.modem}",
            "smpp": f"--smpp {args.smpp[0]}:{args.smpp[1]}" if args.smpp else "--smpp",
        }.get(exc.part, exc.where)
        raise GatewayError(exc.part, option, exc.detail) from exc
    link: Any = next((b for b in gateway.bearers if b.kind == "smpp"), None)  # an SmppBearer
    if link is not None:
        # not bound yet: one line with the address and why; --smpp-wait S gives up after S s
        error = await wait_for_smsc(link, args)
        if error is not None:
            await gateway.close()
            raise GatewayError("smpp", f"--smpp {args.smpp[0]}:{args.smpp[1]}", error)
    gateway.server.add_hooks(Printer())
    if security is not None and any(s.mode is SmsSecurityMode.OSCORE for s in security.peers().values()):
        enable_server_oscore(gateway, security, Path(args.security_state) / "oscore")
    if config.smpp is not None:
        print(f"SMPP link to {config.smpp.host}:{config.smpp.port} as {config.smpp.system_id} for {msisdn}"
              + ("" if link is None or link.bound else " (not bound yet)"), flush=True)
    if config.modem is not None:
        print(f"GSM modem on {config.modem.port} for {msisdn}", flush=True)
    if bootstrap is not None:
        bootstrap.mount(site)
        bootstrap.start(gateway.context)
    print(f"LwM2M server on {gateway.udp_uri}"
          + (" (bootstrap server on /bs)" if bootstrap else "")
          + (f", SMS {msisdn}" if gateway.sms else "")
          + (f", registrations and queue in {db_name}" if db_name else "")
          + (f" as node {args.node}" if gateway.bus is not None else ""), flush=True)
    for reg in gateway.server.registrations():
        print(_line("stored", reg), flush=True)
    api = None
    if http_settings is not None:
        from ..http import HttpApi

        api = HttpApi(gateway, http_settings, bootstrap=bootstrap)
        try:
            await api.start()
        except OSError as exc:
            await gateway.close()
            return fail(f"cannot serve HTTP on {args.http[0]}:{args.http[1]}: {exc}", 1)
        print(f"HTTP API and console on {api.url}/" + ("" if http_settings.token else " (no token, loopback only)"),
              flush=True)
    from ..gc_tuning import tune_for_server

    tune_for_server()  # start-up done: freeze it, collect less often (docs/benchmarks.md)
    try:
        await until_stopped()
    finally:
        if api is not None:
            await api.close()
        print(f"stopping: {len(gateway.server.registrations())} registration(s), "
              f"queue {gateway.router.queue.counts()}", flush=True)
        await gateway.close()
    return 0
