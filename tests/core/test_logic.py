"""``elapsed``: the cut variant (start registered first) gives the same flag in every cycle."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hwgen.core.logic import elapsed

CYCLES = 400


def _flags(starts, cycles: int):
    """Both flags of ``elapsed(cycles)`` over a start pattern, cycle by cycle."""
    m = Module()
    start = Signal()
    plain = elapsed(m, start, cycles, "plain")
    cut = elapsed(m, start, cycles, "cut", cut=True)
    seen = []

    async def bench(ctx):
        for value in starts:
            ctx.set(start, int(value))
            seen.append((ctx.get(plain), ctx.get(cut)))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(seen)


@pytest.mark.parametrize("cycles", [2, 3, 7])
def test_cut_equals_plain(cycles):
    rng = np.random.default_rng(cycles)
    # sparse starts, bursts of back-to-back starts, and long quiet stretches
    starts = (rng.random(CYCLES) < 0.15) | (np.arange(CYCLES) % 97 < 3)
    flags = _flags(starts, cycles)
    assert (flags[:, 0] == flags[:, 1]).all()
    # the flag follows its definition: high iff no start in the last `cycles` - 1 cycles before
    expected = [not starts[max(0, t - cycles + 1):t].any() for t in range(CYCLES)]
    assert (flags[:, 0] == np.array(expected)).all()
    assert 0 < flags[:, 0].sum() < CYCLES      # the pattern exercises both values
