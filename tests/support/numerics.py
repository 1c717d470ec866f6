"""Driving a combinational numerics unit pattern by pattern on Amaranth's simulator."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator


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
