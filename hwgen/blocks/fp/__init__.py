"""``fp_mul`` and ``fp_add``: streaming IEEE-754-style floating-point multiply and add/subtract
in any :class:`~hwgen.numerics.formats.FloatFormat` (bf16, fp16, fp32, fp8, or E,M)."""

from .rtl import FpAdd, FpMul

__all__ = ["FpAdd", "FpMul"]
