"""Number formats shared by the numerics RTL and its golden twins.

A floating-point format is its exponent and mantissa (fraction) widths, IEEE-754 style: one
sign bit, a biased exponent (all ones: infinity or NaN; zero: zero or subnormal), an implicit
leading one for normal numbers. Values travel as unsigned bit patterns of ``width`` bits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.params import ParamError


@dataclass(frozen=True)
class FloatFormat:
    exp_bits: int
    man_bits: int

    def __post_init__(self):
        if not 2 <= self.exp_bits <= 11:
            raise ParamError(f"float format exponent width {self.exp_bits} is out of range: allowed 2..11")
        if not 1 <= self.man_bits <= 52:
            raise ParamError(f"float format mantissa width {self.man_bits} is out of range: allowed 1..52")

    @property
    def width(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1

    @property
    def precision(self) -> int:
        """Significand bits including the implicit one."""
        return self.man_bits + 1

    @property
    def exp_max(self) -> int:
        """The all-ones exponent field (infinities and NaNs)."""
        return (1 << self.exp_bits) - 1

    @property
    def canonical_nan(self) -> int:
        """The quiet NaN every operator returns: sign 0, exponent all ones, top mantissa bit."""
        return (self.exp_max << self.man_bits) | (1 << (self.man_bits - 1))

    def inf(self, sign: int = 0) -> int:
        return (sign << (self.width - 1)) | (self.exp_max << self.man_bits)

    @property
    def name(self) -> str:
        for preset, fmt in PRESETS.items():
            if fmt == self:
                return preset
        return f"{self.exp_bits},{self.man_bits}"


PRESETS = {
    "bf16": FloatFormat(8, 7),
    "fp16": FloatFormat(5, 10),
    "fp32": FloatFormat(8, 23),
    "fp8_e4m3": FloatFormat(4, 3),
    "fp8_e5m2": FloatFormat(5, 2),
}


def parse_format(text: str) -> FloatFormat:
    """A preset name (bf16, fp16, fp32, fp8_e4m3, fp8_e5m2) or "E,M"."""
    if text in PRESETS:
        return PRESETS[text]
    match = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", text)
    if match is None:
        raise ParamError(f"float format {text!r}: expected one of {', '.join(PRESETS)} or "
                         f"'E,M' (exponent and mantissa widths)")
    return FloatFormat(int(match.group(1)), int(match.group(2)))


# -- fixed point --------------------------------------------------------------------------------

MAX_FIXED_WIDTH = 256


# How fixed-point requantization rounds dropped fraction bits and handles a result outside
# the output range (``golden.fx_requantize``, ``rtl.fixed.requantize``).
ROUNDINGS = ("truncate", "half_up", "half_even")
OVERFLOWS = ("wrap", "saturate")


@dataclass(frozen=True)
class FixedFormat:
    """A fixed-point (Q) format: ``width`` bits, two's complement when ``signed``, of which the
    lowest ``frac_bits`` are the fraction. A raw integer ``r`` (what travels on a wire, and in
    NumPy as a plain integer) stands for the value ``r * 2**-frac_bits``.

    In Q notation a signed format is Qm.n with n = ``frac_bits`` and m = ``width - 1 - n``
    integer bits beside the sign (``FixedFormat(16, 15)`` is Q0.15, ``FixedFormat(8, 0)`` an
    int8), an unsigned one UQm.n with m = ``width - n``. ``frac_bits`` may equal ``width``
    (a signed Q-1.n format holds values in [-1/2, 1/2)).
    """
    width: int
    frac_bits: int
    signed: bool = True

    def __post_init__(self):
        if not isinstance(self.signed, bool):
            raise ParamError(f"fixed format signed={self.signed!r}: expected true or false")
        if isinstance(self.width, bool) or not isinstance(self.width, int) \
                or not 1 + self.signed <= self.width <= MAX_FIXED_WIDTH:
            raise ParamError(f"fixed format width {self.width!r} is out of range: allowed "
                             f"{1 + self.signed}..{MAX_FIXED_WIDTH}")
        if isinstance(self.frac_bits, bool) or not isinstance(self.frac_bits, int) \
                or not 0 <= self.frac_bits <= self.width:
            raise ParamError(f"fixed format frac_bits {self.frac_bits!r} is out of range: "
                             f"allowed 0..{self.width} (the width)")

    @property
    def int_bits(self) -> int:
        """Integer bits beside the sign (the m of Qm.n); -1 when ``frac_bits == width`` signed."""
        return self.width - self.frac_bits - int(self.signed)

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - int(self.signed))) - 1

    @property
    def name(self) -> str:
        return f"{'' if self.signed else 'U'}Q{self.int_bits}.{self.frac_bits}"
