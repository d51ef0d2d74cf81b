"""The package-level public API: every exported name resolves, type checkers see the same
names as the lazy loader, the packages ship py.typed, and importing the sans-IO core does
not import asyncio code."""

import ast
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ["lwm2m_sms", "lwm2m_sms.lwm2m", "lwm2m_sms.routing", "lwm2m_sms.coap", "modems", "smsc"]


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves(package):
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"


def _type_checking_names(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    names.update(alias.asname or alias.name for alias in stmt.names)
    return names


@pytest.mark.parametrize("package", ["lwm2m_sms", "lwm2m_sms.lwm2m", "lwm2m_sms.routing", "modems"])
def test_type_checkers_see_the_lazily_exported_names(package):
    module = importlib.import_module(package)
    assert _type_checking_names(pathlib.Path(module.__file__)) == set(module._EXPORTS)


def test_packages_ship_py_typed():
    for package in ("lwm2m_sms", "modems", "smsc"):
        assert (ROOT / package / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '[tool.setuptools.package-data]' in pyproject and 'lwm2m_sms = ["py.typed"]' in pyproject


def test_importing_the_sms_core_imports_no_asyncio_code():
    code = (
        "import sys, lwm2m_sms, lwm2m_sms.sms.tpdu, lwm2m_sms.lwm2m.tlv, modems.at, smsc.pdu\n"
        "heavy = sorted(m for m in ('aiocoap', 'lwm2m_sms.gateway', 'serial', 'smpplib') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


USER_PROGRAM = '''
from lwm2m_sms import Gateway, GatewayConfig, GatewayStats, ReadResult, UnknownEndpoint
from smsc import SmppLinkConfig


async def first_value(config: GatewayConfig) -> "tuple[object, GatewayStats]":
    async with Gateway(config) as gateway:
        try:
            result: ReadResult = await gateway.server.read("dev", "/3/0/0")
        except UnknownEndpoint:
            return None, gateway.stats()
        return result.value, gateway.stats()


CONFIG = GatewayConfig(udp=("127.0.0.1", 0), msisdn="+15550000", smpp=SmppLinkConfig(port=2775))
'''


def test_a_program_on_the_public_api_type_checks_strictly(tmp_path):
    program = tmp_path / "user_program.py"
    program.write_text(USER_PROGRAM)
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
         "--cache-dir", str(tmp_path / "cache"), str(program)],
        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MYPYPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stdout + out.stderr
