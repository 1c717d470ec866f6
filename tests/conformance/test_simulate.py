"""Every registered block simulates bit-exactly with the cycles its model predicts, from the
registry alone: at its smallest point (the suite: every integer parameter at its least value
the others allow, which also shows the minima work together; the flow point runs on Verilator
in ``hwgen flow``), and at fuzzed parameter draws (``-m long``), each of which elaborates,
lints clean and simulates, or is rejected in one line naming a drawn parameter. Amaranth's
simulator runs the draws: no compile step per point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from hwgen import blocks, toolchain
from hwgen.core.params import ParamError
from hwgen.generate import generate
from sim.pysim import simulate_pysim

from .params_space import product_blocks, drawn_params
from .test_params import rejection_names_a_drawn_value

NAMES = product_blocks()
VECTORS = 2


def bit_exact_and_model_exact(block, seed: int) -> None:
    """Under stalls the outputs match the golden model; without them the cycles match too."""
    stalled = simulate_pysim(block, vectors=VECTORS, seed=seed, idle=0.2, backpressure=0.3)
    assert stalled.passed, (block.name, dict(block.param_values), stalled.summary()["verdict"])
    inputs = block.stimulus(np.random.default_rng(seed), VECTORS)
    clean = simulate_pysim(block, inputs)
    modelled = block.model(block.workload(inputs)).cycles
    assert clean.passed and clean.cycles == modelled, (
        block.name, dict(block.param_values), clean.summary()["verdict"], clean.cycles, modelled)


def smallest_point(cls) -> dict:
    """Each integer parameter (that does not follow others) at its least value, in declaration
    order, where the parameters set so far allow it; the rest at their defaults."""
    values = {}
    for param in cls.params:
        if param.type is not int or param.follows is not None:
            continue
        least = min(param.choices) if param.choices else param.min
        if least is None:
            continue
        try:
            cls(**values, **{param.name: least})
        except ParamError:
            continue
        values[param.name] = least
    return values


@pytest.mark.parametrize("name", NAMES)
def test_smallest_point_is_bit_exact_and_model_exact(name):
    cls = blocks.block_class(name)
    bit_exact_and_model_exact(cls(**smallest_point(cls)), seed=5)


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_fuzzed_draws_lint_and_simulate(name, rtl_out):
    counts = {"simulated": 0, "rejected": 0}

    @settings(max_examples=8, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(values=drawn_params(name, small=True, spoil=True))
    def draw(values):
        try:
            block = blocks.get(name, **values)
        except ParamError as error:
            counts["rejected"] += 1
            assert rejection_names_a_drawn_value(str(error), values), (values, str(error))
            return
        counts["simulated"] += 1
        generated = generate(block, rtl_out)
        assert toolchain.lint(generated.verilog, generated.top) == []
        bit_exact_and_model_exact(block, seed=len(str(values)))

    draw()
    print(f"{name}: {counts['simulated']} draws simulated, {counts['rejected']} rejected")
    assert counts["simulated"] >= (counts["simulated"] + counts["rejected"]) / 2, counts
