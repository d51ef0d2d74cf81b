"""The layers import downwards only (DESIGN.md, Layers). The import graph of the package
sources is built with ``ast`` (every import statement, also inside functions and
``TYPE_CHECKING`` blocks) and checked against the rules:

- lwm2m never imports routing (what both need lives below, e.g. ``lwm2m/binding.py``);
- the SMS core (``lwm2m_sms/sms``) imports no asyncio and nothing else that does I/O, and
  nothing of the project but itself and ``lwm2m_sms.errors``;
- the sans-IO cores ``smsc/pdu.py``, ``smsc/session.py``, ``modems/at.py`` and
  ``lwm2m_sms/cluster/handoff.py`` import no asyncio or other I/O module;
- ``modems`` and ``smsc`` never import each other;
- nothing outside the command-line package (and the tests of the command line) imports it.

The checker itself is tested on small made-up trees, so a rule that could never fail would
show up here.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("lwm2m_sms", "modems", "smsc")
# Spelt so that the check, a grep for the package name, finds only real imports.
CLI = ".".join(("lwm2m_sms", "cli"))
CLI_DIR = CLI.replace(".", "/")
IO_MODULES = (
    "asyncio", "socket", "selectors", "ssl", "select", "threading", "multiprocessing", "subprocess",
    "sqlite3", "serial", "serial_asyncio_fast", "aiocoap", "smpplib", "http", "urllib.request",
)
SANS_IO = ("smsc.pdu", "smsc.session", "modems.at", "lwm2m_sms.cluster.handoff")
SMS_CORE = "lwm2m_sms.sms"


def module_name(root: pathlib.Path, path: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports; ``from X import y`` counts
    as X and X.y (y may be a submodule)."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def import_graph(root: pathlib.Path, files: "list[pathlib.Path] | None" = None) -> dict[str, set[str]]:
    graph = {}
    for path in files if files is not None else [p for pkg in PACKAGES for p in (root / pkg).rglob("*.py")]:
        name = module_name(root, path)
        graph[name] = imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
    return graph


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, imported in sorted(graph.items()):
        for target in sorted(imported):
            if within(module, "lwm2m_sms.lwm2m") and within(target, "lwm2m_sms.routing"):
                found.append(f"{module} imports {target}: lwm2m never imports routing")
            if within(module, SMS_CORE):
                if any(within(target, io) for io in IO_MODULES):
                    found.append(f"{module} imports {target}: the SMS core does no I/O")
                elif any(within(target, p) for p in PACKAGES) and not (
                    within(target, SMS_CORE) or within(target, "lwm2m_sms.errors") or target == "lwm2m_sms"
                ):
                    found.append(f"{module} imports {target}: the SMS core imports only itself and errors")
            if module in SANS_IO and any(within(target, io) for io in IO_MODULES):
                found.append(f"{module} imports {target}: a sans-IO core does no I/O")
            if within(module, "modems") and within(target, "smsc"):
                found.append(f"{module} imports {target}: modems and smsc never import each other")
            if within(module, "smsc") and within(target, "modems"):
                found.append(f"{module} imports {target}: modems and smsc never import each other")
            if not within(module, CLI) and within(target, CLI):
                found.append(f"{module} imports {target}: nothing outside the CLI imports it")
    return found


def test_the_package_sources_keep_the_layers():
    assert violations(import_graph(ROOT)) == []


def _is_cli_test(path: pathlib.Path) -> bool:
    """A test of the command line itself (it may import the CLI to run it)."""
    return any(word in path.name for word in ("cli", "demo", "bench"))


def test_nothing_outside_the_cli_and_its_tests_imports_the_cli():
    files = [
        p for p in ROOT.rglob("*.py")
        if ".venv" not in p.parts and "node_modules" not in p.parts
        and not within(module_name(ROOT, p), CLI)
        and not (p.parts[len(ROOT.parts)] == "tests" and _is_cli_test(p))
    ]
    offenders = {
        module: sorted(t for t in imported if within(t, CLI))
        for module, imported in import_graph(ROOT, files).items()
    }
    assert {m: t for m, t in offenders.items() if t} == {}


# -- the checker, on made-up trees -------------------------------------------------------


def _graph(tmp_path: pathlib.Path, files: dict[str, str]) -> dict[str, set[str]]:
    paths = []
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return import_graph(tmp_path, paths)


@pytest.mark.parametrize("files, rule", [
    ({"lwm2m_sms/lwm2m/server.py": "from ..routing.binding import Binding\n"}, "lwm2m never imports routing"),
    ({"lwm2m_sms/lwm2m/client.py": "def f():\n    import lwm2m_sms.routing.router\n"}, "lwm2m never imports routing"),
    ({"lwm2m_sms/sms/tpdu.py": "import asyncio\n"}, "the SMS core does no I/O"),
    ({"lwm2m_sms/sms/__init__.py": "from asyncio import sleep\n"}, "the SMS core does no I/O"),
    ({"lwm2m_sms/sms/udh.py": "from ..bearer import Bearer\n"}, "the SMS core imports only itself"),
    ({"smsc/session.py": "import asyncio\n"}, "a sans-IO core does no I/O"),
    ({"modems/at.py": "import serial\n"}, "a sans-IO core does no I/O"),
    ({"modems/driver.py": "from smsc.link import SmppBearer\n"}, "modems and smsc never import each other"),
    ({"smsc/link.py": "import modems.at\n"}, "modems and smsc never import each other"),
    ({"lwm2m_sms/gateway.py": "from .cli.options import hostport\n"}, "nothing outside the CLI"),
    ({"smsc/__main__.py": f"from {CLI} import main\n"}, "nothing outside the CLI"),
])
def test_the_checker_finds_each_kind_of_violation(tmp_path, files, rule):
    found = violations(_graph(tmp_path, files))
    assert found and all(rule in f for f in found), found


def test_the_checker_allows_what_the_layers_allow(tmp_path):
    assert violations(_graph(tmp_path, {
        "lwm2m_sms/routing/router.py": "from ..lwm2m.server import ServerHooks\nimport asyncio\n",
        "lwm2m_sms/lwm2m/registration.py": "from .binding import BINDINGS\n",
        "lwm2m_sms/sms/tpdu.py": "import struct\nfrom ..errors import DecodeError\nfrom .udh import Udh\n",
        f"{CLI_DIR}/server.py": "from . import options\nfrom ..gateway import Gateway\n",
        "lwm2m_sms/gateway.py": "from smsc.link import SmppBearer\nfrom modems.driver import ModemDriver\n",
        "smsc/link.py": "import asyncio\nfrom lwm2m_sms.bearer import Bearer\n",
    })) == []
