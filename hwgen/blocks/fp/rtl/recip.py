"""``fp_recip`` and ``fp_rsqrt``: reciprocal and inverse-square-root function units on a
stream of fp16 or bf16 operands.

Each beat on ``operands`` carries one bit pattern ``a``; each beat on ``result`` the unit's
``1/a`` or ``1/sqrt(a)`` (``hwgen.numerics.rtl.FloatReciprocal`` / ``FloatInverseSqrt``: a
seed, Newton-Raphson steps in fixed point, one round to nearest even). Handshake, pipeline and
fields are those of every :class:`~hwgen.blocks.fp.rtl.FloatBlock`. The expected results come
from the independent twins in ``hwgen.numerics.golden``.
"""

from __future__ import annotations

from ....core.block import register
from ....numerics import golden
from ....numerics.rtl import FloatInverseSqrt, FloatReciprocal
from ..params import RECIP_PARAMS, RSQRT_PARAMS
from . import FunctionUnitBlock

__all__ = ["FpRecip", "FpRsqrt"]


@register
class FpRecip(FunctionUnitBlock):
    name = "fp_recip"
    params = RECIP_PARAMS
    summary = "reciprocal 1/x (table seed + Newton-Raphson, one RNE), fp16 or bf16"
    op = "recip"

    def operator(self):
        return FloatReciprocal(self.fmt, ftz=self.p.ftz, latency=self.p.latency,
                               seed_bits=self.p.seed_bits, iterations=self.p.iterations)

    def reference(self, operands):
        return golden.fp_recip(operands["a"], self.fmt, self.p.ftz,
                               seed_bits=self.p.seed_bits, iterations=self.p.iterations)


@register
class FpRsqrt(FunctionUnitBlock):
    name = "fp_rsqrt"
    params = RSQRT_PARAMS
    summary = "inverse square root 1/sqrt(x) (bit-trick seed + Newton-Raphson), fp16 or bf16"
    op = "rsqrt"

    def operator(self):
        return FloatInverseSqrt(self.fmt, ftz=self.p.ftz, latency=self.p.latency,
                                iterations=self.p.iterations)

    def reference(self, operands):
        return golden.fp_rsqrt(operands["a"], self.fmt, self.p.ftz, iterations=self.p.iterations)
