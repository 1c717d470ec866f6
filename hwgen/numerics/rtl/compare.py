"""Floating-point minimum, maximum and comparison: sign-magnitude order, no subtraction.

Outside NaN, the bit patterns of a float format are ordered like their values once read as
sign-magnitude numbers: for equal signs the larger magnitude field (exponent above fraction) is
the larger value when positive and the smaller one when negative; for different signs the
negative one is smaller. That order puts -0 just below +0, which is exactly what IEEE 754-2019
``minimum``/``maximum`` want (min(-0, +0) = -0); a comparison then only has to say that two
zeros are equal. So each operator is one magnitude comparator, a few gates on the signs, and
(for min/max) a multiplexer.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import Stages, operator_ports, unpack

__all__ = ["COMPARE_FLAGS", "FloatCompare", "FloatMinMax"]

# Bit positions of FloatCompare's one-hot flag word, least significant first.
COMPARE_FLAGS = ("lt", "eq", "gt", "unordered")


def _ports(component, fmt: FloatFormat, latency: int, y_width: int) -> dict:
    word = unsigned(fmt.width)
    return operator_ports(component, {"a": word, "b": word}, unsigned(y_width), latency)


def _classify(m: Module, fmt: FloatFormat, bits: Value, *, ftz: bool, name: str):
    """``(sign, magnitude, nan)`` of an operand. With ``ftz`` a subnormal's magnitude reads as
    0 (denormals are zero), so it orders, compares and comes out as a zero of its sign."""
    u = unpack(m, fmt, bits, ftz=ftz, name=name)
    magnitude = Signal(fmt.width - 1, name=f"{name}_mag")
    field = bits[:fmt.width - 1]
    # Without ftz, unpack's zero flag means the field already is 0: no multiplexer needed.
    m.d.comb += magnitude.eq(Mux(u.zero, 0, field) if ftz else field)
    return u.sign, magnitude, u.nan


def _order(m: Module, sign_a: Value, mag_a: Value, sign_b: Value, mag_b: Value):
    """``(below, same_magnitude)``: whether a lies below b in the sign-magnitude order (-0
    below +0), and whether the magnitudes are equal. One magnitude comparator serves both
    signs: between negatives the larger magnitude is the smaller value."""
    less, same, below = Signal(name="magnitude_less"), Signal(name="magnitude_equal"), Signal()
    m.d.comb += [
        less.eq(mag_a < mag_b),
        same.eq(mag_a == mag_b),
        below.eq(Mux(sign_a != sign_b, sign_a, Mux(sign_a, ~less & ~same, less))),
    ]
    return below, same


class FloatMinMax(wiring.Component):
    """``y = minimum(a, b)`` or ``maximum(a, b)`` (IEEE 754-2019) on bit patterns of ``fmt``.

    A NaN operand (quiet or signalling) gives the canonical quiet NaN; -0 counts as below +0,
    so min(-0, +0) = -0 and max(-0, +0) = +0. Otherwise the result is one of the operands, bit
    for bit, except that with ``ftz`` a subnormal operand counts as, and is returned as, a zero
    of its sign.

    Pipeline cuts (``CUTS``): after classifying the operands, after the magnitude comparison;
    ``latency`` registers those of ``PLAN`` (``hwgen.numerics.plans.COMPARE``, placed by
    measured Fmax); ``cuts`` overrides it; more registers go at the output. Registers advance
    while ``en`` is high (``en`` exists only when ``latency > 0``).
    """

    CUTS = plans.COMPARE_POINTS
    PLAN = plans.COMPARE

    def __init__(self, fmt: FloatFormat, *, op: str = "min", ftz: bool = False, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        if op not in ("min", "max"):
            raise ValueError(f"op must be 'min' or 'max', not {op!r}")
        self.fmt, self.op, self.ftz, self.latency, self.cuts = fmt, op, ftz, latency, cuts
        super().__init__(_ports(self, fmt, latency, fmt.width))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        sign_a, mag_a, nan_a = _classify(m, fmt, self.a, ftz=self.ftz, name="ua")
        sign_b, mag_b, nan_b = _classify(m, fmt, self.b, ftz=self.ftz, name="ub")
        s = stages.cut("classified", sign_a=sign_a, mag_a=mag_a, sign_b=sign_b, mag_b=mag_b,
                       nan=nan_a | nan_b)

        a_below_b, _ = _order(m, s.sign_a, s.mag_a, s.sign_b, s.mag_b)
        # Equal patterns need no tie rule: either operand is the answer.
        take_b = ~a_below_b if self.op == "min" else a_below_b
        picked = Mux(take_b, Cat(s.mag_b, s.sign_b), Cat(s.mag_a, s.sign_a))
        s = stages.cut("compared", picked=picked, nan=s.nan)

        nan = Const(fmt.canonical_nan, fmt.width)
        m.d.comb += self.y.eq(stages.output(Mux(s.nan, nan, s.picked)))
        return m


class FloatCompare(wiring.Component):
    """IEEE comparison of ``a`` and ``b``: ``y`` is a one-hot flag word, bit 0 ``a < b``, bit 1
    ``a == b``, bit 2 ``a > b``, bit 3 unordered (an operand is a NaN). -0 equals +0; with
    ``ftz`` subnormals compare as zeros of their sign (so as equal to any zero).

    Pipeline cuts and plan as :class:`FloatMinMax`'s. Registers advance while ``en`` is high
    (``en`` exists only when ``latency > 0``).
    """

    CUTS = plans.COMPARE_POINTS
    PLAN = plans.COMPARE

    def __init__(self, fmt: FloatFormat, *, ftz: bool = False, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        self.fmt, self.ftz, self.latency, self.cuts = fmt, ftz, latency, cuts
        super().__init__(_ports(self, fmt, latency, len(COMPARE_FLAGS)))

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        sign_a, mag_a, nan_a = _classify(m, fmt, self.a, ftz=self.ftz, name="ua")
        sign_b, mag_b, nan_b = _classify(m, fmt, self.b, ftz=self.ftz, name="ub")
        s = stages.cut("classified", sign_a=sign_a, sign_b=sign_b, mag_a=mag_a, mag_b=mag_b,
                       unordered=nan_a | nan_b)

        below, same_magnitude = _order(m, s.sign_a, s.mag_a, s.sign_b, s.mag_b)
        # Equal patterns are equal values; so are two zeros, whatever their signs.
        both_zero = ~s.mag_a.any() & ~s.mag_b.any()
        equal = (same_magnitude & (s.sign_a == s.sign_b)) | both_zero
        s = stages.cut("compared", below=below, equal=equal, unordered=s.unordered)

        ordered = ~s.unordered
        flags = {
            "lt": ordered & ~s.equal & s.below,
            "eq": ordered & s.equal,
            "gt": ordered & ~s.equal & ~s.below,
            "unordered": s.unordered,
        }
        m.d.comb += self.y.eq(stages.output(Cat(*(flags[name] for name in COMPARE_FLAGS))))
        return m
