"""``fp_mul`` and ``fp_add``: streaming IEEE-754-style floating-point multiply and add/subtract
in any :class:`~hwgen.numerics.formats.FloatFormat` (bf16, fp16, fp32, fp8, or E,M)."""

from .rtl import accumulate  # noqa: F401  (fp_accumulate)
from .rtl import compare  # noqa: F401  (fp_minmax, fp_compare)
from .rtl import convert  # noqa: F401  (fp_convert)
from .rtl import exp  # noqa: F401  (fp_exp, fp_gelu)
from .rtl import fma  # noqa: F401  (fp_fma)
from .rtl import recip  # noqa: F401  (fp_recip, fp_rsqrt)
from .rtl import FpAdd, FpMul

__all__ = ["FpAdd", "FpMul"]
