"""Floating-point operators in Amaranth, parameterized by a
:class:`~hwgen.numerics.formats.FloatFormat`, flush-to-zero and pipeline latency.

Semantics (shared with the golden twins in ``hwgen.numerics.golden``): round to nearest, ties
to even; overflow to a signed infinity; subnormals in and out unless ``ftz`` (then subnormal
inputs read as zeros and subnormal results become zeros of their sign); every NaN result is the
canonical quiet NaN.
"""

from .accumulate import FloatAccumulator
from .add import FloatAdder
from .compare import FloatCompare, FloatMinMax
from .convert import FloatConverter, FloatToInt, IntToFloat
from .exp import FloatExp, FloatGelu
from .fma import FloatFMA
from .mul import FloatMultiplier
from .recip import FloatInverseSqrt, FloatReciprocal
from .spaced_accumulate import SpacedFloatAccumulator

__all__ = ["FloatAccumulator", "SpacedFloatAccumulator", "FloatAdder", "FloatCompare", "FloatFMA", "FloatMinMax", "FloatMultiplier",
           "FloatConverter", "FloatToInt", "IntToFloat",
           "FloatInverseSqrt", "FloatReciprocal",
           "FloatExp", "FloatGelu"]
