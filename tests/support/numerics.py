"""Checks shared by the floating-point test files (``tests/numerics``): the documented order
of an interleaved accumulator's sum written out element by element, driving a bare operator
on Amaranth's simulator, a unary function unit's run there against its twin, Verilator runs
(every input of a 16-bit unary block; the cycle count unstalled), linting a block's Verilog,
and the parameters a block's registry entry cannot tell the conformance suite about.

The plain range and choice checks (each parameter at its limits, values just outside them
refused in one line naming the parameter) are the conformance suite's, for every block; what
is here is what it cannot know from a parameter's declaration."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen import blocks, toolchain
from hwgen.core.params import ParamError
from hwgen.generate import generate
from hwgen.numerics import golden as fp_golden
from hwgen.numerics.formats import PRESETS, FloatFormat
from sim.pysim import simulate_pysim
from sim.runner import simulate


def run_operator(unit, inputs: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Drive a combinational unit's ``a`` (and ``b``, for a binary one) with each pattern in
    turn and read ``y``."""
    out = []
    operands = [(unit.a, inputs)] + ([(unit.b, b)] if b is not None else [])

    async def bench(ctx):
        for values in zip(*(np.asarray(v).tolist() for _, v in operands)):
            for (port, _), value in zip(operands, values):
                ctx.set(port, value)
            out.append(ctx.get(unit.y))

    sim = Simulator(unit)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.uint64)


def simulate_every_16_bit_input(block, rtl_out, out) -> tuple[np.ndarray, np.ndarray]:
    """A unary block with a 16-bit input, on Verilator with idle gaps and backpressure, fed
    every input pattern once, shuffled (the block's own stimulus): it passes against its
    golden(). Returns the inputs and the results, for the caller's checks of its own."""
    a = block.stimulus(np.random.default_rng(4), 1 << 16)["a"]
    assert np.array_equal(np.sort(a), np.arange(1 << 16, dtype=np.uint64))
    result = simulate(block, {"a": a}, seed=5, idle=0.1, backpressure=0.2, rtl_out=rtl_out,
                      out=out)
    assert result.passed, result.summary()["verdict"]
    return a, np.asarray(result.outputs["y"], dtype=np.uint64)


def check_unstalled_cycles(block, inputs: dict, latency: int, seed: int, rtl_out, out) -> None:
    """On Verilator without idle gaps or backpressure, ``block`` passes on ``inputs`` and takes
    the cycles its model predicts: one a vector, and ``latency`` plus the stream's output
    register to fill the pipeline. (A test calls it after a stalled run of the same block,
    whose build it reuses, so this is quick.)"""
    clean = simulate(block, inputs, seed=seed, rtl_out=rtl_out, out=out)
    assert clean.passed, clean.summary()["verdict"]
    vectors = len(next(iter(inputs.values())))
    assert clean.cycles == block.model(block.workload(inputs)).cycles == vectors + latency + 1


def lint_clean(name: str, params: dict, rtl_out) -> None:
    """The Verilog of block ``name`` at ``params`` passes Verilator's lint without a warning."""
    generated = generate(blocks.get(name, **params), rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == [], (name, params)


# Strings that name no float format, and what the refusal says about each: not a preset, an
# exponent field too wide, no mantissa bits, nothing at all.
BAD_FLOAT_FORMATS = [("fp64", "expected one of"), ("12,3", "exponent width 12"),
                     ("5,0", "mantissa width 0"), ("", "expected one of")]


def check_float_format_parameters(name: str) -> None:
    """A block whose ``fmt`` is any float format (a free-form string the registry cannot
    enumerate): its defaults; a preset or an "E,M" pair (spaces allowed) read as that format,
    with latency and ftz given as strings as on the command line (and a string that is no
    flag refused); and each string that names no format refused with a message that names the
    block, the value and why."""
    block = blocks.get(name)
    default_latency = block.params["latency"].default   # the pipelined ones': their 100 MHz latency
    assert (block.fmt, block.p.latency, block.p.ftz) == (PRESETS["bf16"], default_latency, False)
    assert blocks.get(name, fmt="6, 9").fmt == FloatFormat(6, 9)
    block = blocks.get(name, fmt="fp8_e5m2", latency="2", ftz="yes")
    assert (block.fmt, block.p.latency, block.p.ftz) == (PRESETS["fp8_e5m2"], 2, True)
    # the conformance suite draws a flag only as True or False; a string can be neither
    with pytest.raises(ParamError, match=rf"{name}: parameter ftz='maybe': expected true or "
                                         r"false"):
        blocks.get(name, ftz="maybe")
    for bad, why in BAD_FLOAT_FORMATS:
        with pytest.raises(ParamError, match=rf"{name}: fmt='{bad}' is not a float format: "
                                             rf".*{why}"):
            blocks.get(name, fmt=bad)


def check_16_bit_formats_only(name: str) -> None:
    """A function unit's tables and fixed-point datapath are sized for fp16 and bf16: other
    float formats are refused, even one laid out like fp16 ("5,10"), since ``fmt`` is matched
    as a name, not parsed."""
    for fmt in ("fp32", "fp8_e4m3", "5,10"):
        with pytest.raises(ParamError, match=rf"{name}: parameter fmt='{fmt}' is out of range: "
                                             r"allowed one of fp16, bf16"):
            blocks.get(name, fmt=fmt)


# The parameters of a function unit that are not its algorithm's (and so not its twin's).
NOT_ALGORITHM = ("fmt", "ftz", "latency")


def check_unary_pysim(name: str, params: dict, seed: int,
                      inputs: Callable[[FloatFormat, np.random.Generator], np.ndarray],
                      twin: Callable[..., np.ndarray]) -> None:
    """Block ``name`` at ``params`` on Amaranth's simulator, with idle gaps and backpressure, on
    ``inputs(fmt, rng)``: it passes against its own golden(), and its results are the twin's,
    ``twin(a, fmt, ftz, **algorithm parameters)``, called with the parameters as the test
    gives them (so a parameter the block misreads, in its RTL and golden() alike, shows up)."""
    block = blocks.get(name, **params)
    a = inputs(block.fmt, np.random.default_rng(seed))
    result = simulate_pysim(block, {"a": a}, seed=seed, idle=0.2, backpressure=0.3)
    assert result.passed, result.summary()["verdict"]
    got = np.asarray(result.outputs["y"], dtype=np.uint64)
    algorithm = {k: v for k, v in params.items() if k not in NOT_ALGORITHM}
    assert np.array_equal(got, twin(a, block.fmt, params.get("ftz", False), **algorithm))


def ordered_sum(values: list[int], fmt, slots: int, ftz: bool = False) -> int:
    """One sum in the documented order, written out element by element (the twin works on all
    sums at once): slot j adds elements j, j + slots, ... to -0; leaf k is the slot of element
    n - 1 - k; leaves are added pairwise, level by level."""
    def add(a, b):
        return int(fp_golden.fp_add(a, b, fmt, ftz))
    minus_zero = 1 << (fmt.width - 1)
    partial = [minus_zero] * slots
    for index, value in enumerate(values):
        partial[index % slots] = add(partial[index % slots], value)
    leaves = [minus_zero] * (1 << (slots - 1).bit_length())
    for leaf in range(min(len(values), slots)):
        leaves[leaf] = partial[(len(values) - 1 - leaf) % slots]
    while len(leaves) > 1:
        leaves = [add(leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2)]
    return leaves[0]
