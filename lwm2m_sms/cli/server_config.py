"""``lwm2m-sms server --config FILE``: the file's values become the server parser's
defaults and the command line is parsed again, so a flag given there overrides the file
and every value is checked by the option's own type (see :mod:`lwm2m_sms.config`)."""

from __future__ import annotations

import argparse
from typing import Callable

from ..config import ConfigFileError, load_server_config

__all__ = ["ConfigFileError", "resolve"]


def resolve(args: argparse.Namespace, add_arguments: Callable[[argparse.ArgumentParser], None]) -> argparse.Namespace:
    """``args`` with the values of ``args.config`` under the flags of ``args._argv``."""
    values = load_server_config(args.config)
    parser = argparse.ArgumentParser(prog="lwm2m-sms server", exit_on_error=False)
    add_arguments(parser)
    parser.set_defaults(**values)
    argv: list[str] = getattr(args, "_argv", [])
    own = argv[argv.index("server") + 1:] if "server" in argv else argv
    try:
        resolved = parser.parse_args(own)
    except argparse.ArgumentError as exc:
        raise ConfigFileError(f"{args.config}: {exc}") from None
    for name, value in vars(args).items():  # the top level's own options (-v, the command)
        if not hasattr(resolved, name):
            setattr(resolved, name, value)
    return resolved
