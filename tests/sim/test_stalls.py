"""The stall patterns both benches draw from (sim/stalls.py): the hardware generator of the
compiled bench equals the Python one cycle for cycle, and a pattern stalls with its probability."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from sim.compiled.agents import StallBit
from sim.stalls import StallPattern, agent_seeds, lowbias32, stall_bits, threshold


def hardware_pattern(seed: int, limit: int, start: int, count: int) -> list[bool]:
    """StallBit on Amaranth's simulator for cycles start .. start + count - 1."""
    bit = StallBit()
    seen = []

    async def bench(ctx):
        ctx.set(bit.seed, seed)
        ctx.set(bit.limit, limit)
        for cycle in range(start, start + count):
            ctx.set(bit.cycle, cycle & 0xFFFFFFFF)
            seen.append(bool(ctx.get(bit.stall)))

    sim = Simulator(bit)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("seed, probability, start", [
    (0, 0.1, 0), (0xDEADBEEF, 0.5, 123_456), (7, 0.9, (1 << 32) - 300), (0xFFFFFFFF, 0.3, 5),
])
def test_hardware_generator_equals_the_python_one(seed, probability, start):
    limit = threshold(probability)
    python = stall_bits(seed, limit, start, 600)
    assert hardware_pattern(seed, limit, start, 600) == python.tolist()
    # the cached per-cycle view agrees with the block evaluation, across its block boundary
    pattern = StallPattern(seed, limit)
    assert [pattern[c] for c in range(start, start + 600)] == python.tolist()


def test_scalar_and_vector_hash_agree():
    values = np.random.default_rng(1).integers(0, 1 << 32, size=2000, dtype=np.uint64)
    assert lowbias32(values).tolist() == [lowbias32(int(v)) for v in values]


@pytest.mark.parametrize("probability", [0.05, 0.2, 0.5, 0.8])
def test_a_pattern_stalls_with_its_probability(probability):
    # 200k independent cycles: the mean is within 5 standard deviations of p
    bits = stall_bits(agent_seeds(3, 1)[0], threshold(probability), 0, 200_000)
    sigma = (probability * (1 - probability) / len(bits)) ** 0.5
    assert abs(bits.mean() - probability) < 5 * sigma
    # and cycles are independent: a stall is as likely after a stall as after none
    after_stall = bits[1:][bits[:-1]].mean()
    assert abs(after_stall - probability) < 5 * (probability * (1 - probability) / bits[:-1].sum()) ** 0.5


def test_zero_never_stalls_and_bad_probabilities_are_refused():
    assert not stall_bits(5, threshold(0.0), 0, 10_000).any()
    assert not StallPattern(5, 0)[12345]
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="stall probability .* allowed 0 <= p < 1"):
            threshold(bad)


def test_seeds_depend_on_the_run_seed_only():
    assert agent_seeds(9, 4) == agent_seeds(9, 4)
    assert agent_seeds(9, 4)[:2] == agent_seeds(9, 2)
    assert agent_seeds(9, 4) != agent_seeds(10, 4)
