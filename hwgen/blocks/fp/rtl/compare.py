"""``fp_minmax`` and ``fp_compare``: IEEE 754-2019 minimum/maximum and comparison on a stream
of operand pairs, in any :class:`~hwgen.numerics.formats.FloatFormat`.

``fp_minmax`` returns a bit pattern of the format; ``fp_compare`` a 4-bit one-hot flag word
(bit 0 ``a < b``, bit 1 ``a == b``, bit 2 ``a > b``, bit 3 unordered). Handshake, pipeline and
fields are those of every :class:`~hwgen.blocks.fp.rtl.FloatBlock`.
"""

from __future__ import annotations

import numpy as np

from ....core.block import register
from ....numerics import golden
from ....numerics.rtl import FloatCompare, FloatMinMax
from ....numerics.rtl.compare import COMPARE_FLAGS
from ..params import COMPARE_PARAMS, MINMAX_PARAMS
from . import FloatBlock

__all__ = ["FpCompare", "FpMinMax"]


@register
class FpMinMax(FloatBlock):
    name = "fp_minmax"
    params = MINMAX_PARAMS
    summary = "floating-point minimum or maximum (IEEE 754-2019), any E,M format"

    @property
    def op(self):
        return self.p.op

    def operator(self):
        return FloatMinMax(self.fmt, op=self.p.op, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        twin = golden.fp_min if self.p.op == "min" else golden.fp_max
        return twin(operands["a"], operands["b"], self.fmt, self.p.ftz)


@register
class FpCompare(FloatBlock):
    name = "fp_compare"
    params = COMPARE_PARAMS
    summary = "floating-point comparison to a one-hot lt/eq/gt/unordered flag word"
    op = "compare"

    @property
    def out_width(self) -> int:
        return len(COMPARE_FLAGS)

    def field_dtypes(self):
        # y is a flag word, not a number of the format
        return {name: self.fmt for name in self.operand_names}

    def operator(self):
        return FloatCompare(self.fmt, ftz=self.p.ftz, latency=self.p.latency)

    def reference(self, operands):
        flags = golden.fp_compare(operands["a"], operands["b"], self.fmt, self.p.ftz)
        word = np.zeros(np.shape(flags["lt"]), dtype=np.uint64)
        for bit, name in enumerate(COMPARE_FLAGS):
            word |= flags[name].astype(np.uint64) << np.uint64(bit)
        return word
