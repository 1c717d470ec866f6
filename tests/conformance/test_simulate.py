"""Every registered block simulates bit-exactly with the cycles its model predicts, from the
registry alone: at its flow point (the suite), and at fuzzed parameter draws (``-m long``),
each of which elaborates, lints clean and simulates, or is rejected in one line naming a drawn
parameter. Amaranth's simulator runs the draws: no compile step per point."""

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


@pytest.mark.parametrize("name", NAMES)
def test_flow_point_is_bit_exact_and_model_exact(name):
    cls = blocks.block_class(name)
    bit_exact_and_model_exact(cls(**cls.flow_params), seed=5)


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
