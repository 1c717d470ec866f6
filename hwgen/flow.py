"""``hwgen flow``: generate, lint, simulate and model every registered block (and the example
graphs) at their defaults (or the reduced ``flow_params`` a block declares), and tabulate the
results."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import blocks, examples, generate as gen, toolchain
from .core import checks

# Correctness runs stall both sides of every stream; the cycle-count run stalls nothing, so its
# count must equal the model's exactly.
STRESS = {"idle": 0.1, "backpressure": 0.2}


@dataclass
class FlowRow:
    design: str
    param_hash: str
    lint: str
    vectors: int
    passed: bool
    sim_cycles: int
    model_cycles: int
    wall_s: float
    detail: str = ""
    formal: str = ""   # with --formal: "PASS 10", "TIMEOUT 7/10", "FAIL 4"; else empty

    @property
    def ok(self) -> bool:
        # a formal time-out is a bounded result, not a fault: the column shows the depth reached
        return (self.lint == "clean" and self.passed and self.sim_cycles == self.model_cycles
                and not self.formal.startswith(("FAIL", "ERROR")))


@dataclass(frozen=True)
class FormalOptions:
    """``hwgen flow --formal``: the stream rules by BMC to ``depth`` cycles, each design
    stopped after ``timeout`` seconds with the depth it reached."""
    depth: int = checks.FLOW_FORMAL_DEPTH
    timeout: float = checks.FLOW_FORMAL_SECONDS


def run_design(design, model_cycles, vectors: int, seed: int, rtl_out: Path, bench: str = "compiled",
               simulator: str = "verilator", formal: FormalOptions | None = None) -> FlowRow:
    from sim.runner import simulate

    started = time.perf_counter()
    generated = gen.generate(design, rtl_out)
    warnings = toolchain.lint(generated.verilog, generated.top)
    inputs = design.stimulus(np.random.default_rng(seed), vectors)
    options = {"seed": seed, "rtl_out": rtl_out, "bench": bench, "simulator": simulator}
    stressed = simulate(design, inputs, **options, **STRESS)
    clean = simulate(design, inputs, **options, out=generated.directory / "sim-nostall")
    predicted = model_cycles(inputs)
    details = [f"{len(warnings)} lint warnings"] if warnings else []
    details += [f"stalled: {stressed.summary()['verdict']}"] if not stressed.passed else []
    details += [f"unstalled: {clean.summary()['verdict']}"] if not clean.passed else []
    if clean.cycles != predicted:
        details.append(f"model off by {predicted - clean.cycles} cycles")
    column = ""
    if formal is not None:
        column, failure = _formal(design, generated, formal)
        details += [f"formal: {failure}"] if failure else []
    return FlowRow(
        design=design.name,
        param_hash=design.param_hash,
        lint="clean" if not warnings else "FAIL",
        vectors=stressed.vectors,
        passed=stressed.passed and clean.passed,
        sim_cycles=clean.cycles,
        model_cycles=predicted,
        wall_s=round(time.perf_counter() - started, 2),
        detail="; ".join(details),
        formal=column,
    )


def _formal(design, generated, options: FormalOptions) -> tuple[str, str | None]:
    """The flow table's formal column for one design, and the failure line if any."""
    from . import formal

    result = formal.check(generated, generated.directory / "formal-bmc", mode="bmc", depth=options.depth,
                          timeout=options.timeout, relations=design.beat_relations())
    if result.status == "PASS":
        return f"PASS {result.depth_reached}", None
    if result.status == "TIMEOUT":
        return f"TIMEOUT {result.depth_reached}/{result.depth}", None
    failure = result.failure or f"SymbiYosys: {result.status}, see {result.directory}/sby.log"
    if result.counterexample:
        failure += f"; counterexample {result.counterexample}"
    return f"{result.status} {result.depth_reached}", failure


def designs():
    """(design, model-cycles function) for every registered block and example graph."""
    for name in blocks.names():
        block = blocks.get(name, **blocks.block_class(name).flow_params)
        yield block, lambda inputs, b=block: b.model(b.workload(inputs)).cycles
    for make in examples.GRAPHS.values():
        graph = make()
        yield graph.elaborate_top(), lambda inputs, g=graph: g.estimate(inputs).total.cycles


def run(vectors: int = 1000, seed: int = 1, rtl_out: Path | str = gen.DEFAULT_OUT,
        progress=print, bench: str = "compiled", simulator: str = "verilator",
        formal: FormalOptions | None = None) -> list[FlowRow]:
    rtl_out = Path(rtl_out)
    rows = []
    for design, model_cycles in designs():
        progress(f"flow: {design.name} ...")
        rows.append(run_design(design, model_cycles, vectors, seed, rtl_out, bench, simulator, formal))
    rtl_out.mkdir(parents=True, exist_ok=True)
    (rtl_out / "flow.json").write_text(json.dumps(
        {"vectors": vectors, "seed": seed, "stress": STRESS, "bench": bench, "simulator": simulator,
         "formal": None if formal is None else {"mode": "bmc", **asdict(formal)},
         "rows": [{**asdict(r), "ok": r.ok} for r in rows]}, indent=2) + "\n")
    return rows


def table(rows: list[FlowRow]) -> str:
    formal = any(r.formal for r in rows)
    header = ["block", "params", "lint", "vectors", "pass", "sim cycles", "model cycles"]
    header += ["formal (bmc depth)"] * formal + ["wall s"]
    body = [[r.design, r.param_hash, r.lint, str(r.vectors), "PASS" if r.passed else "FAIL",
             str(r.sim_cycles), str(r.model_cycles)] + [r.formal] * formal + [f"{r.wall_s:.1f}"]
            for r in rows]
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"{r.design}: {r.detail}" for r in rows if r.detail]
    return "\n".join(lines)
