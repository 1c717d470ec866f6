"""The import rules of docs/architecture.md ("Layers"), checked on the source of every module
of ``hwgen`` and ``sim`` (imports inside functions count), and each rule broken on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FACES = ("golden", "model", "params")  # plain-Python faces: no Amaranth, no RTL module


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, source: str, is_package: bool) -> list[str]:
    """Every module ``source`` imports (``from a import b`` names ``a.b`` as well as ``a``)."""
    package = module if is_package else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names.append(target)
            names += [f"{target}.{alias.name}" for alias in node.names]
    return names


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["hwgen", "blocks"] else None


def within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def broken_rules(module: str, imports: list[str]) -> list[str]:
    """One line per import that breaks a rule, naming the module, the import and the rule."""
    hwgen = [n for n in imports if within(n, "hwgen", "sim")]
    family = family_of(module)
    faces = module.split(".")[-1] in FACES or any(p in FACES for p in module.split(".")[3:-1])
    problems = []

    def rule(name, text):
        problems.append(f"{module} imports {name}: {text}")

    for name in hwgen:
        if within(name, "hwgen.cli") and module != "hwgen.__main__":
            rule(name, "nothing imports the command line")
        elif within(module, "hwgen.core") and not within(name, "hwgen.core"):
            rule(name, "core imports no other hwgen part")
        elif within(module, "hwgen.numerics") and not within(name, "hwgen.core", "hwgen.numerics"):
            rule(name, "numerics imports only core")
        elif family == "common" and not within(name, "hwgen.core", "hwgen.numerics", "hwgen.blocks.common"):
            rule(name, "a shared block library imports only core and numerics")
        elif family and family != "common" and not within(
                name, "hwgen.core", "hwgen.numerics", "hwgen.graph", "hwgen.blocks.common",
                f"hwgen.blocks.{family}"):
            rule(name, "a family imports only core, numerics, graph and hwgen.blocks.common, "
                       "never another family or the registry")
        elif within(module, "sim") and within(name, "hwgen.blocks"):
            rule(name, "sim/ imports no family")
    if faces and family:
        for name in imports:
            if within(name, "amaranth") or ".rtl" in f".{name}.".replace(f"hwgen.blocks.{family}", ""):
                rule(name, "a golden, model or params module imports no Amaranth and no RTL module")
    return sorted(set(problems))


def sources():
    for top in ("hwgen", "sim"):
        for path in sorted((ROOT / top).rglob("*.py")):
            yield module_name(path), path.read_text(), path.name == "__init__.py"


def test_every_module_keeps_the_rules():
    problems, count = [], 0
    for module, source, is_package in sources():
        count += 1
        problems += broken_rules(module, imported(module, source, is_package))
    assert count > 100, f"only {count} modules found under {ROOT}"
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("module, source, expected", [
    ("hwgen.core.block", "from ..numerics import golden", "core imports no other hwgen part"),
    ("hwgen.numerics.rtl.add", "from ...blocks.pim import bank", "numerics imports only core"),
    ("hwgen.blocks.attention.rtl.engine", "from ...pim.bank.rtl import PimBankMac",
     "never another family"),
    ("hwgen.blocks.pim.gpt", "from .. import get", "never another family or the registry"),
    ("hwgen.blocks.omap.model", "from .rtl.controller import DRBG_BLOCKS_PER_REQUEST",
     "imports no Amaranth and no RTL module"),
    ("hwgen.blocks.spgemm.golden", "from amaranth.hdl import Signal", "no Amaranth"),
    ("hwgen.blocks.pim.vector.model", "from . import rtl", "no RTL module"),
    ("sim.omap", "from hwgen.blocks.omap.params import GET", "sim/ imports no family"),
    ("hwgen.flow", "from .cli import main", "nothing imports the command line"),
    ("hwgen.blocks.common.dtypes", "from ..pim import gpt", "imports only core and numerics"),
    ("sim.runner", "def f():\n    from hwgen.blocks import mac_array", "sim/ imports no family"),
])
def test_each_rule_broken_on_purpose_is_named(module, source, expected):
    problems = broken_rules(module, imported(module, source, False))
    assert problems and expected in problems[0], problems
    assert problems[0].startswith(f"{module} imports "), problems


def test_allowed_imports_pass():
    for module, source in [
        ("hwgen.blocks.attention.rtl.engine", "from ...common.bank_mac.rtl import BankMac"),
        ("hwgen.blocks.attention.model", "from ..common.bank_mac.params import mac_latency"),
        ("hwgen.blocks.pim.decoder", "from ...graph import Graph"),
        ("sim.runner", "from hwgen import generate"),
        ("hwgen.examples", "from .blocks.pim.decoder import DecoderShape"),
    ]:
        assert broken_rules(module, imported(module, source, False)) == [], (module, source)
