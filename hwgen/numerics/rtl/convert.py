"""Format conversions: float to float, integer to float, float to integer.

All three are the same steps as the arithmetic operators, minus the arithmetic: a float input is
unpacked at its true scale, an integer input becomes a magnitude whose top bit has a known
weight; a float result is normalized, rounded to nearest even and packed by the shared helpers
in :mod:`.common`; an integer result is rounded to nearest even at the binary point and
saturated.

Integers travel as ``int_width``-bit two's complement patterns (``signed``) or plain unsigned
patterns.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import Stages, operator_ports, override_special, special_layout, unpack
from .finish import normalize_round

__all__ = ["FloatConverter", "FloatToInt", "IntToFloat"]


def _ports(component, in_width: int, out_width: int, latency: int,
           int_width: int | None = None) -> dict:
    if int_width is not None and not 2 <= int_width <= 64:
        # Never built, so not an "unused elaboratable" either: keep Amaranth's warning quiet.
        component._MustUse__silence = True
        raise ValueError(f"int_width {int_width} is out of range: allowed 2..64")
    return operator_ports(component, {"a": unsigned(in_width)}, unsigned(out_width), latency)


def _pad_below(value, width: int):
    """``value`` with zeros appended below it up to ``width`` bits (its top bit stays on top)."""
    if len(value) >= width:
        return value
    return Cat(Const(0, width - len(value)), value)


class FloatConverter(wiring.Component):
    """``y = a`` rounded from ``fmt_in`` into ``fmt_out``.

    The top bit of the unpacked significand weighs ``2**(exp - bias_in)``, so in ``fmt_out`` it
    has the biased exponent ``exp + bias_out - bias_in``. ``normalize`` then does whatever the
    pair of formats needs: a left shift for a subnormal input that is normal in a wider
    exponent range (``fp16 -> fp32``), a right shift with a sticky bit for an input below the
    output's normal range (``fp32 -> fp16``); ``round_pack`` rounds to nearest even, overflows
    to infinity and, with ``ftz``, flushes subnormal results. When ``bias_out >= bias_in`` the
    exponent cannot drop below 1 and no right shifter is built. NaN gives ``fmt_out``'s
    canonical NaN, an infinity the infinity of its sign, a zero the zero of its sign.

    Pipeline cuts (``CUTS``): after the unpacking, then the finish's (leading zeros, shift
    decided, normalized, rounded); ``latency`` registers those of ``PLAN``
    (``hwgen.numerics.plans.CONVERT``, placed by measured Fmax); ``cuts`` overrides it (the
    search itself); more registers go at the output.
    """

    CUTS = plans.CONVERT_POINTS
    PLAN = plans.CONVERT

    def __init__(self, fmt_in: FloatFormat, fmt_out: FloatFormat, *, ftz: bool = False,
                 latency: int = 0, cuts: tuple[str, ...] | None = None):
        self.fmt_in, self.fmt_out, self.ftz, self.latency = fmt_in, fmt_out, ftz, latency
        self.cuts = cuts
        super().__init__(_ports(self, fmt_in.width, fmt_out.width, latency))

    def elaborate(self, platform):
        m = Module()
        fin, fout = self.fmt_in, self.fmt_out
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        ua = unpack(m, fin, self.a, ftz=self.ftz, name="ua")
        special = Signal(special_layout())
        m.d.comb += [special.nan.eq(ua.nan), special.inf.eq(ua.inf), special.sign.eq(ua.sign)]

        # Effective exponents 1..exp_max (Inf/NaN included, overridden later) moved to fmt_out's
        # bias. The shape holds exactly that range: unsigned unless it reaches below 1.
        shift = fout.bias - fin.bias
        exp = Signal(Shape.cast(range(1 + shift, fin.exp_max + shift + 1)), name="exp")
        m.d.comb += exp.eq(ua.exp + shift)
        # Two bits below fmt_out's significand at least, for the round and sticky bits.
        sig = _pad_below(ua.sig, max(fin.precision, fout.precision + 2))

        s = stages.cut("unpacked", special=special, sign=ua.sign, exp=exp, sig=sig)
        packed, s = normalize_round(m, stages, fout, s.exp, s.sig, sign=s.sign, ftz=self.ftz,
                                    special=s.special)
        m.d.comb += self.y.eq(stages.output(override_special(fout, s.special, packed)))
        return m


class IntToFloat(wiring.Component):
    """``y`` = the integer pattern ``a`` (``int_width`` bits, two's complement when ``signed``)
    rounded into ``fmt``.

    The magnitude's top bit (bit ``int_width - 1``) weighs ``2**(int_width - 1)``, its biased
    exponent is ``int_width - 1 + bias``; ``normalize`` shifts the leading one up (the exponent
    always has room: bias >= 1), ``round_pack`` rounds to nearest even and turns magnitudes past
    the largest finite value into infinity. Integers are never subnormal and 0 gives +0, so
    there are no special cases.

    Pipeline cuts as :class:`FloatConverter`'s (``unpacked``: after the magnitude), with the
    same plan.
    """

    CUTS = plans.CONVERT_POINTS
    PLAN = plans.CONVERT

    def __init__(self, int_width: int, signed: bool, fmt: FloatFormat, *, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        self.int_width, self.signed, self.fmt, self.latency = int_width, signed, fmt, latency
        self.cuts = cuts
        super().__init__(_ports(self, int_width, fmt.width, latency, int_width))

    def elaborate(self, platform):
        m = Module()
        n, fmt = self.int_width, self.fmt
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        # The magnitude of the most negative value, 2**(n-1), still fits n unsigned bits.
        sign = Signal(name="sign")
        magnitude = Signal(n, name="magnitude")
        if self.signed:
            m.d.comb += [sign.eq(self.a[n - 1]),
                         magnitude.eq(Mux(sign, -self.a.as_signed(), self.a))]
        else:
            m.d.comb += [sign.eq(0), magnitude.eq(self.a)]

        s = stages.cut("unpacked", sign=sign, magnitude=magnitude)
        exp = Signal(range(n + fmt.bias), name="exp")
        m.d.comb += exp.eq(n - 1 + fmt.bias)
        sig = _pad_below(s.magnitude, fmt.precision + 2)
        packed, _ = normalize_round(m, stages, fmt, exp, sig, sign=s.sign, ftz=False)
        m.d.comb += self.y.eq(stages.output(packed))
        return m


class FloatToInt(wiring.Component):
    """``y`` = ``a`` (``fmt``) rounded to the nearest integer, ties to even, saturated to the
    ``int_width``-bit ``signed`` or unsigned range, as a pattern. NaN gives 0, infinities
    saturate, negative values give 0 when unsigned.

    Let ``k`` be the magnitude bits of the range (``int_width - 1`` signed, ``int_width``
    unsigned). The significand's top bit weighs ``2**t``, ``t = exp - bias``:

    * ``t >= k``: the magnitude is at least ``2**k``, past the range: saturate;
    * ``t <= -2``: the magnitude is below 1/2 and rounds to 0;
    * otherwise the significand is shifted left by ``t + 2`` into a fixed-point word with ``k``
      integer bits and ``precision + 1`` fraction bits (the round bit and the sticky bits), and
      rounded to nearest even. A magnitude that rounds up to ``2**k`` saturates too (for the
      most negative signed value, saturation gives that very value).

    Subnormals are used at their exact value (there is no ftz). Pipeline cuts (``CUTS``):
    after the unpacking (range tests and shift amount), after the alignment shifter, after
    rounding; ``latency`` registers those of ``PLAN`` (``plans.TO_INT``, placed by measured
    Fmax); more registers go at the output.
    """

    CUTS = plans.TO_INT_POINTS
    PLAN = plans.TO_INT

    def __init__(self, fmt: FloatFormat, int_width: int, signed: bool, *, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        self.fmt, self.int_width, self.signed, self.latency = fmt, int_width, signed, latency
        self.cuts = cuts
        super().__init__(_ports(self, fmt.width, int_width, latency, int_width))

    def elaborate(self, platform):
        m = Module()
        fmt, n = self.fmt, self.int_width
        k = n - 1 if self.signed else n
        p = fmt.precision
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN, self.CUTS, self.cuts)

        ua = unpack(m, fmt, self.a, ftz=False, name="ua")
        # Each range test is built only when some finite exponent can fail it (a comparison
        # that always holds would be a constant, which lint rightly flags).
        big_exp, tiny_exp = k + fmt.bias, fmt.bias - 2           # t >= k, t <= -2
        big = Signal(name="big")
        tiny = Signal(name="tiny")
        m.d.comb += [
            big.eq(ua.inf | (ua.exp >= big_exp if big_exp < fmt.exp_max else 0)),
            tiny.eq(ua.exp <= tiny_exp if tiny_exp >= 1 else 0),
        ]
        # t + 2 = exp - (bias - 2) lies in 0..k + 1 when the value is neither big nor tiny;
        # outside that it is garbage, and unused.
        amount = Signal(range(k + 2), name="amount")
        m.d.comb += amount.eq(ua.exp - tiny_exp)
        s = stages.cut("unpacked", nan=ua.nan, sign=ua.sign, big=big, tiny=tiny, sig=ua.sig,
                       amount=amount)
        word = Signal(k + p + 1, name="word")    # bit j weighs 2**(j - p - 1)
        m.d.comb += word.eq(s.sig << s.amount)

        s = stages.cut("aligned", nan=s.nan, sign=s.sign, big=s.big, tiny=s.tiny, word=word)
        whole, rnd, sticky = s.word[p + 1:], s.word[p], s.word[:p].any()
        rounded = Signal(k + 1, name="rounded")
        m.d.comb += rounded.eq(Mux(s.tiny, 0, whole + (rnd & (sticky | whole[0]))))
        saturate = Signal(name="saturate")
        m.d.comb += saturate.eq(s.big | rounded[k])

        s = stages.cut("rounded", nan=s.nan, sign=s.sign, saturate=saturate, magnitude=rounded)
        result = Signal(n, name="result")
        if self.signed:
            limit = Mux(s.sign, Const(1 << (n - 1), n), Const((1 << (n - 1)) - 1, n))
            value = Mux(s.sign, -s.magnitude, s.magnitude)[:n]
        else:   # every negative value saturates to 0, and rounds to 0 or below
            limit = Mux(s.sign, 0, Const((1 << n) - 1, n))
            value = Mux(s.sign, 0, s.magnitude[:n])
        m.d.comb += result.eq(Mux(s.nan, 0, Mux(s.saturate, limit, value)))
        m.d.comb += self.y.eq(stages.output(result))
        return m
