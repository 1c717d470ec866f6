"""``fp_fma``: fused multiply-add ``a * b + c``, rounded once, on a stream of operand triples,
in any :class:`~hwgen.numerics.formats.FloatFormat`.

Each beat on ``operands`` carries three bit patterns ``a``, ``b`` and ``c``; each beat on
``result`` the pattern of ``round(a * b + c)``. Handshake, pipeline and fields are those of every
:class:`~hwgen.blocks.fp.rtl.FloatBlock`.
"""

from __future__ import annotations

from ....core.block import register
from ....numerics import golden
from ....numerics.rtl import FloatFMA
from .. import golden as stimulus
from ..params import FMA_PARAMS
from . import FloatBlock

__all__ = ["FpFMA"]


@register
class FpFMA(FloatBlock):
    name = "fp_fma"
    params = FMA_PARAMS
    summary = "fused floating-point multiply-add a*b + c, one rounding, any E,M format"
    op = "fma"
    operand_names = ("a", "b", "c")

    def operator(self):
        return FloatFMA(self.fmt, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        return golden.fp_fma(operands["a"], operands["b"], operands["c"], self.fmt, self.p.ftz)

    def stimulus(self, rng, n):
        return stimulus.fma_stimulus(rng, n, self.fmt)
