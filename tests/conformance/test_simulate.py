"""Every registered block lints clean and simulates bit-exactly with the cycles its model
predicts, from the registry alone: at its smallest point (the suite: every integer parameter at
its least value the others allow, which also shows the minima work together, and where zero-width
signals appear; the flow point runs on Verilator in ``hwgen flow``), and at fuzzed parameter
draws (``-m long``), each of which elaborates, lints clean and simulates, or is rejected in one
line naming a drawn parameter, and rejected *rightly*: a draw whose values are each in range but
that a rule refuses is built again with the rules switched off, and if that design lints clean
and simulates bit-exactly with the model's cycles, the rule refused a valid design and the test
fails. Amaranth's simulator runs the draws: no compile step per point."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from hwgen import blocks, toolchain
from hwgen.core.params import ParamError, smallest_point
from hwgen.generate import generate
from sim.pysim import simulate_pysim

from .params_space import product_blocks, drawn_params
from .test_params import rejection_names_a_drawn_value

NAMES = product_blocks()
VECTORS = 2
# A fuzzed draw whose model predicts more cycles than this is linted but not simulated
# (Amaranth's simulator runs 1k-50k cycles/s: a slow flash or a long cache at a draw's corner
# would take an hour); the test reports how many draws that left out.
CYCLE_BUDGET = 20_000


def modelled_cycles(block, seed: int) -> int:
    inputs = block.stimulus(np.random.default_rng(seed), VECTORS)
    return block.model(block.workload(inputs)).cycles


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
def test_smallest_point_lints_and_is_bit_exact_and_model_exact(name, rtl_out):
    cls = blocks.block_class(name)
    block = cls(**smallest_point(cls))
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == [], dict(block.param_values)
    bit_exact_and_model_exact(block, seed=5)


def without_rules(cls):
    """``cls`` with its cross-parameter rules switched off (each value still range-checked)."""
    return type(cls.__name__, (cls,), {"params": dataclasses.replace(cls.params, rules=())})


def works(block, rtl_out, seed: int) -> str | None:
    """Why ``block`` is not a working design (an exception, a lint warning, a mismatch), or
    None when it elaborates, lints clean and simulates bit-exactly with the model's cycles."""
    try:
        generated = generate(block, rtl_out)
        warnings = toolchain.lint(generated.verilog, generated.top)
        if warnings:
            return warnings[0]
        if modelled_cycles(block, seed) > CYCLE_BUDGET:
            return "too long to simulate"
        bit_exact_and_model_exact(block, seed)
    except Exception as error:  # any failure shows the rule was needed
        return f"{type(error).__name__}: {str(error)[:200]}"
    return None


@pytest.mark.long
@pytest.mark.parametrize("name", NAMES)
def test_fuzzed_draws_lint_and_simulate(name, rtl_out):
    counts = {"simulated": 0, "linted, too long to simulate": 0, "rejected": 0,
              "rightly rejected by a rule": 0, "refusal too long to check": 0}
    cls = blocks.block_class(name)

    @settings(max_examples=8, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(values=drawn_params(name, small=True, spoil=True))
    def draw(values):
        try:
            block = blocks.get(name, **values)
        except ParamError as error:
            counts["rejected"] += 1
            assert rejection_names_a_drawn_value(str(error), values), (values, str(error))
            print(f"refused: {error}")
            try:
                unruled = without_rules(cls)(**values)
            except ParamError:
                return  # a value out of its own range, or a check outside the rules
            why = works(unruled, rtl_out, seed=len(str(values)))
            assert why is not None, (
                f"{name}: {values} was refused ({error}), but without the rule it lints clean and "
                f"simulates bit-exactly with the model's cycles")
            counts["refusal too long to check" if why == "too long to simulate"
                   else "rightly rejected by a rule"] += 1
            return
        generated = generate(block, rtl_out)
        assert toolchain.lint(generated.verilog, generated.top) == []
        if modelled_cycles(block, seed=len(str(values))) > CYCLE_BUDGET:
            counts["linted, too long to simulate"] += 1
            return
        counts["simulated"] += 1
        bit_exact_and_model_exact(block, seed=len(str(values)))

    draw()
    print(f"{name}: {counts}")
    # (the share of valid draws is held to half over the 100 draws of test_params.py; eight
    # draws are too few for a rate, but one must have been simulated)
    assert counts["simulated"] >= 1, counts


RULED = [name for name in NAMES if blocks.block_class(name).params.rules]


@pytest.mark.long
@pytest.mark.parametrize("name", RULED)
def test_rule_refusals_are_needed(name, rtl_out):
    """Draws (each value in range) that a rule refuses, up to four per block: each, built
    again without the rules, fails somewhere (elaboration, lint, simulation or the model), or
    the rule refused a valid design."""
    cls = blocks.block_class(name)
    unruled_cls = without_rules(cls)
    counts = {"drawn": 0, "refused by a rule": 0, "checked": 0, "too long to check": 0}

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(values=drawn_params(name, small=True, spoil=False))
    def draw(values):
        counts["drawn"] += 1
        try:
            cls(**values)
            return
        except ParamError as error:
            refusal = str(error)
        try:
            unruled = unruled_cls(**values)
        except ParamError:
            return  # refused outside the rules (a check in the block's constructor)
        counts["refused by a rule"] += 1
        if counts["checked"] >= 4:
            return
        why = works(unruled, rtl_out, seed=len(str(values)))
        assert why is not None, (f"{name}: {values} was refused ({refusal}), but without the rule "
                                 f"it lints clean and simulates bit-exactly with the model's cycles")
        if why == "too long to simulate":
            counts["too long to check"] += 1
            return
        counts["checked"] += 1
        print(f"{name}: {values}: refused rightly, without the rule: {why[:160]}")

    draw()
    print(f"{name}: {counts}")
