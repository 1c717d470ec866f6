"""Building blocks of ``pim_vector_unit``'s datapath: instantiating a numerics operator with its
operands wired, the pairwise reduction tree, and the 1/n table. No arithmetic of its own: every
value is computed by an operator of ``hwgen.numerics.rtl``."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Value
from amaranth.lib import wiring
from amaranth.lib.memory import Memory

from ....numerics.formats import PRESETS
from ....numerics.rtl import FloatAdder, FloatConverter

BF16 = PRESETS["bf16"]
FP32 = PRESETS["fp32"]


def operator(m: Module, name: str, unit: wiring.Component, **operands) -> Value:
    """Add ``unit`` (a latency-0 numerics operator) as submodule ``name``, drive its operand
    ports from ``operands`` and return its result ``y``."""
    m.submodules[name] = unit
    for port, value in operands.items():
        m.d.comb += getattr(unit, port).eq(value)
    return unit.y


class Converters:
    """bf16 <-> fp32 conversions with one ``ftz`` setting, each a named ``FloatConverter``."""

    def __init__(self, m: Module, ftz: bool):
        self.m, self.ftz = m, ftz

    def to_fp32(self, name: str, value: Value) -> Value:
        return operator(self.m, name, FloatConverter(BF16, FP32, ftz=self.ftz), a=value)

    def to_bf16(self, name: str, value: Value) -> Value:
        return operator(self.m, name, FloatConverter(FP32, BF16, ftz=self.ftz), a=value)


def reduce_tree(m: Module, name: str, values: list[Value], make_unit) -> Value:
    """Fold ``values`` by a pairwise tree: each level combines neighbours (0, 1), (2, 3), ...
    with a fresh ``make_unit()`` and passes an odd last value up unchanged (the order the
    golden model documents)."""
    level, depth = list(values), 0
    while len(level) > 1:
        combined = [operator(m, f"{name}{depth}_{i // 2}", make_unit(), a=level[i], b=level[i + 1])
                    for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            combined.append(level[-1])
        level, depth = combined, depth + 1
    return level[0]


def fp32_adder(ftz: bool, subtract: bool = False):
    return lambda: FloatAdder(FP32, ftz=ftz, subtract=subtract)


def reciprocal_table(max_len: int) -> Memory:
    """A ROM of :func:`reciprocal_entries`."""
    return Memory(shape=32, depth=max_len + 1, init=reciprocal_entries(max_len))


def reciprocal_entries(max_len: int) -> list[int]:
    """fp32 patterns, entry ``n`` = 1/n rounded to nearest even (entry 0 unused, +0).

    Computed as ``float32(1.0 / n)``: the float64 quotient is within half a float64 ulp, and
    rounding it again to fp32 cannot land on a different neighbour unless 1/n has 29
    identical bits right after its 24th, which no n below 2**14 (the parameter's range) has:
    ``tests/blocks/pim/test_vector.py`` checks every entry against the exact quotient."""
    return [0] + [int(np.float32(1.0 / n).view(np.uint32)) for n in range(1, max_len + 1)]
