"""``fp_exp`` and ``fp_gelu``: exponential (base e or 2) and GELU function units on a stream of
fp16 or bf16 operands.

Each beat on ``operands`` carries one bit pattern ``a``; each beat on ``result`` the unit's
``base**a`` or ``GELU(a) = a * Phi(a)`` (``hwgen.numerics.rtl.FloatExp`` / ``FloatGelu``: a
fixed-point piecewise Taylor polynomial from constant tables, one round to nearest even).
Handshake, pipeline and fields are those of every :class:`~hwgen.blocks.fp.rtl.FloatBlock`. The
expected results come from the independent twins in ``hwgen.numerics.golden``.
"""

from __future__ import annotations

from ....core.block import register
from ....numerics import golden
from ....numerics.rtl import FloatExp, FloatGelu
from ..params import EXP_PARAMS, GELU_PARAMS
from . import FunctionUnitBlock

__all__ = ["FpExp", "FpGelu"]


@register
class FpExp(FunctionUnitBlock):
    name = "fp_exp"
    params = EXP_PARAMS
    summary = "exponential e**x or 2**x (table + Taylor in fixed point, one RNE), fp16 or bf16"

    @property
    def op(self):
        return "exp" if self.p.base == "e" else "exp2"

    def operator(self):
        return FloatExp(self.fmt, base=self.p.base, table_bits=self.p.table_bits,
                        degree=self.p.degree, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        return golden.fp_exp(operands["a"], self.fmt, self.p.ftz, base=self.p.base,
                             table_bits=self.p.table_bits, degree=self.p.degree)


@register
class FpGelu(FunctionUnitBlock):
    name = "fp_gelu"
    params = GELU_PARAMS
    summary = "GELU x*Phi(x) (piecewise Taylor of 1 - Phi in fixed point, one RNE), fp16 or bf16"
    op = "gelu"

    def operator(self):
        return FloatGelu(self.fmt, range=self.p.range, segments=self.p.segments,
                         degree=self.p.degree, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        return golden.fp_gelu(operands["a"], self.fmt, self.p.ftz, range=self.p.range,
                              segments=self.p.segments, degree=self.p.degree)
