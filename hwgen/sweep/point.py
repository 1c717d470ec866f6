"""Evaluating one sweep point, in a process of its own.

A point runs as ``python -m hwgen.sweep.point TASK_JSON RESULT_PATH`` so that a time-out can
kill it (with everything it started) and a crash in a tool cannot take a worker down.
``run_point`` is what a pool worker or a Dask worker executes.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np


@cache
def code_version() -> str:
    """hwgen's version plus a digest of its source (hwgen/ and sim/): a cached point is reused
    only by the same code that computed it."""
    from .. import __version__

    digest = hashlib.sha256()
    for package in ("hwgen", "sim"):
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root.parent).as_posix().encode())
            digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def point_key(block: str, params: dict, metrics: dict) -> str:
    text = json.dumps({"block": block, "params": params, "metrics": metrics,
                       "code": code_version()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def import_extras(imports) -> None:
    """Import modules (by name) or files (by .py path) that register extra blocks."""
    for item in imports:
        if item.endswith(".py"):
            name = "hwgen_sweep_" + hashlib.sha256(item.encode()).hexdigest()[:12]
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, item)
            if spec is None or not Path(item).exists():
                raise FileNotFoundError(f"sweep import {item} does not exist")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(item)


class PointFailed(Exception):
    """A point whose measurement ran but shows a fault: a simulation mismatch, time-out or
    protocol problem, lint warnings, a model giving negative counts. Recorded as ``failed``
    with the reason and the metrics measured (a sweep is not a list of ok points that aren't)."""

    def __init__(self, reason: str, metrics: dict[str, Any]):
        super().__init__(reason)
        self.metrics = metrics


def evaluate(task: dict[str, Any]) -> dict[str, Any]:
    """The metrics of one point (raises ParamError for an invalid point, PointFailed for a
    fault found)."""
    from .. import blocks, toolchain
    from ..generate import generate

    import_extras(task.get("imports", ()))
    block = blocks.get(task["block"], **task["params"])
    wanted = task["metrics"]
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hwgen-point-") as scratch:
        generated = generate(block, scratch)
        if "lint" in wanted:
            warnings = toolchain.lint(generated.verilog, generated.top)
            metrics.update(lint_clean=not warnings, lint_warnings=len(warnings))
        if "model" in wanted:
            estimate = block.model(dict(wanted["model"]))
            items = sum(wanted["model"].values()) if len(wanted["model"]) == 1 else None
            metrics.update(model_cycles=estimate.cycles, model_latency=estimate.latency,
                           model_busy=estimate.busy, model_bytes_moved=estimate.bytes_moved)
            if items:
                metrics["model_cycles_per_vector"] = estimate.cycles / items
        if "sim" in wanted:
            from sim.runner import simulate

            options = wanted["sim"]
            seed = int(options.get("seed", 1))
            inputs = block.stimulus(np.random.default_rng(seed), int(options.get("vectors", 200)))
            result = simulate(block, inputs, seed=seed, idle=float(options.get("idle", 0.0)),
                              backpressure=float(options.get("backpressure", 0.0)),
                              rtl_out=scratch, out=Path(scratch) / "sim")
            metrics.update(sim_pass=result.passed, sim_vectors=result.vectors,
                           sim_cycles=result.cycles,
                           sim_cycles_per_vector=result.cycles / result.vectors,
                           sim_verdict=result.summary()["verdict"])
            if "model" in wanted:
                metrics["model_sim_cycles"] = block.model(block.workload(inputs)).cycles
        if "synth_generic" in wanted:
            from ..synth import synth_generic

            report = synth_generic(generated, progress=_to_stderr)
            metrics.update(generic_cells=report["cells"], generic_cells_by_type=report["cells_by_type"])
        if "formal" in wanted:
            from .. import formal

            options = wanted["formal"]
            result = formal.check(generated, Path(scratch) / "formal", mode=options.get("mode", "bmc"),
                                  depth=int(options.get("depth", formal.DEFAULT_DEPTH)),
                                  timeout=float(options.get("timeout", 600)),
                                  relations=block.beat_relations())
            metrics.update(formal_status=result.status, formal_mode=result.mode,
                           formal_depth=result.depth, formal_depth_reached=result.depth_reached,
                           formal_proven=result.proven, formal_properties=len(result.properties),
                           formal_seconds=result.wall_s, formal_failure=result.failure or "")
        faults = _faults(metrics)
        if faults:
            raise PointFailed("; ".join(faults), metrics)
        if "synth_ecp5" in wanted:
            from ..synth import ECP5_CELLS, synth_ecp5

            options = wanted["synth_ecp5"]
            report = synth_ecp5(generated, device=options.get("device", "25k"),
                                freq=float(options.get("freq", 100)), seed=int(options.get("seed", 1)),
                                progress=_to_stderr)
            metrics.update({f"ecp5_{name}": report[name] for name in ECP5_CELLS})
            metrics.update(ecp5_fmax_mhz=report["fmax_mhz"], ecp5_timing_met=report["timing_met"],
                           ecp5_comb_utilization=report["comb_utilization"])
    return metrics


def _faults(metrics: dict[str, Any]) -> list[str]:
    """What in the measured metrics means the point failed."""
    faults = []
    if metrics.get("lint_clean") is False:
        faults.append(f"lint: {metrics['lint_warnings']} warnings")
    if metrics.get("sim_pass") is False:
        faults.append(f"simulation: {metrics['sim_verdict']}")
    if metrics.get("formal_status") in ("FAIL", "ERROR"):
        # a time-out is no fault: the result is bounded to the depth reached, and says so
        faults.append(f"formal: {metrics['formal_failure'] or metrics['formal_status']}")
    negative = [name for name in ("model_cycles", "model_latency", "model_busy", "model_bytes_moved")
                if isinstance(metrics.get(name), (int, float)) and metrics[name] < 0]
    if negative:
        faults.append(f"model: {negative[0]}={metrics[negative[0]]} is negative")
    return faults


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def die_with_parent() -> None:
    # Linux: when the worker that started this point dies (e.g. the sweep was killed), so does
    # the point, instead of running on unobserved.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Evaluate ``task`` in a child process within ``task['timeout']`` seconds. Never raises:
    returns ``{"status", "metrics", "error", "wall_s"}``."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hwgen-task-") as scratch:
        result_path = Path(scratch) / "result.json"
        child = subprocess.Popen(
            [sys.executable, "-m", "hwgen.sweep.point", json.dumps(task), str(result_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=die_with_parent if task.get("die_with_parent") else None)
        try:
            _, stderr = child.communicate(timeout=task["timeout"])
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            return {"status": "timeout", "metrics": {},
                    "error": f"timed out after {task['timeout']:g} s",
                    "wall_s": round(time.monotonic() - started, 2)}
        wall = round(time.monotonic() - started, 2)
        if not result_path.exists():
            tail = [line for line in stderr.splitlines() if line.strip()][-1:] or ["no output"]
            return {"status": "failed", "metrics": {}, "wall_s": wall,
                    "error": f"point process exited with code {child.returncode}: {tail[0]}"}
        result = json.loads(result_path.read_text())
    return {**result, "wall_s": wall}


def main(argv: list[str]) -> int:
    from ..core.params import ParamError

    task, result_path = json.loads(argv[0]), Path(argv[1])
    try:
        result = {"status": "ok", "metrics": evaluate(task), "error": None}
    except ParamError as error:
        result = {"status": "invalid", "metrics": {}, "error": str(error)}
    except PointFailed as failure:
        result = {"status": "failed", "metrics": failure.metrics, "error": str(failure)}
    except Exception as error:  # recorded with the point; the sweep goes on
        where = traceback.extract_tb(error.__traceback__)[-1]
        result = {"status": "failed", "metrics": {},
                  "error": f"{type(error).__name__}: {' '.join(str(error).split())} "
                           f"(at {Path(where.filename).name}:{where.lineno})"}
    result_path.write_text(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
