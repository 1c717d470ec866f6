"""Exponential (``base**x``, base e or 2) and GELU function units: fixed-point piecewise Taylor
polynomials from constant tables, one round to nearest even.

Both units decode the operand with ``unpack``, turn it into a fixed-point number by one
truncating shift, pick a segment by the number's top bits, evaluate that segment's Taylor
polynomial by Horner's rule on integers (each product floored back to the coefficient scale),
and finish with one ``normalize`` / ``round_pack`` and the special-value overrides. The
coefficient tables are computed at elaboration from the documented formulas (float64, then
Python ``round`` to a fixed number of fraction bits) and become constant ROMs. Widths and
truncations are restated in ``hwgen.numerics.golden``, the independent twin.
"""

from __future__ import annotations

import math

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import wiring

from .. import plans
from ..formats import FloatFormat
from .common import (DSP_WIDTH, Stages, operator_ports, override_special, partial_products, special_layout,
                     sum_partials, unpack)
from .finish import normalize_round

__all__ = ["FloatExp", "FloatGelu", "exp_table", "gelu_table"]

GUARD_BITS = 6          # fraction bits beyond the format's precision in t (exp) and |x| (gelu)
GELU_EXTRA_BITS = 20    # fraction bits of Q beyond the precision: Q(4) is about 2**-15
EXP_BASES = ("e", "2")
EXP_TABLE_BITS = range(2, 9)
EXP_DEGREES = range(1, 5)
GELU_RANGES = (4, 8)
GELU_SEGMENTS = (8, 16, 32, 64, 128, 256)
GELU_DEGREES = range(1, 6)


# -- tables -----------------------------------------------------------------------------------

def exp_table(table_bits: int, degree: int, frac_bits: int) -> list[list[int]]:
    """``table[k][i]``: ``2**(i / 2**table_bits) * ln(2)**k / k!`` with ``frac_bits`` fraction
    bits, i.e. the degree-k Taylor coefficient of ``2**x`` at the start of segment ``i``."""
    return [[round(math.ldexp(2.0 ** (i / 2 ** table_bits) * math.log(2.0) ** k
                              / math.factorial(k), frac_bits))
             for i in range(2 ** table_bits)]
            for k in range(degree + 1)]


def _hermite(k: int, x: float) -> float:
    """The probabilists' Hermite polynomial ``He_k(x)`` by its recurrence."""
    previous, current = 0.0, 1.0
    for j in range(k):
        previous, current = current, x * current - j * previous
    return current


def gelu_table(range_: int, segments: int, degree: int, frac_bits: int) -> list[list[int]]:
    """``table[k][i]``: the degree-k Taylor coefficient of ``Q(x) = 1 - Phi(x)`` at the midpoint
    of segment ``i`` of ``[0, range_)``, with ``frac_bits`` fraction bits. ``Q^(k)(x) =
    (-1)**k He_{k-1}(x) phi(x)`` for ``k >= 1``."""
    table = []
    for k in range(degree + 1):
        row = []
        for i in range(segments):
            mid = (i + 0.5) * range_ / segments
            if k == 0:
                value = 0.5 * math.erfc(mid / math.sqrt(2.0))
            else:
                phi = math.exp(-mid * mid / 2.0) / math.sqrt(2.0 * math.pi)
                value = (-1) ** k * _hermite(k - 1, mid) * phi / math.factorial(k)
            row.append(round(math.ldexp(value, frac_bits)))
        table.append(row)
    return table


# -- datapath pieces ----------------------------------------------------------------------------

def _floor_scale(value: int, shift: int) -> int:
    """``floor(value * 2**shift)``."""
    return value << shift if shift >= 0 else value >> -shift


def _bits_for(bound: int) -> int:
    """Signed width holding every integer of magnitude at most ``bound``."""
    return bound.bit_length() + 1


def fixed_point(m: Module, sig, exp, offset: int, exp_limit: int, width: int, *, name: str):
    """``floor(sig * 2**(exp - offset))`` on ``width`` bits, for unsigned ``sig`` and ``exp``.

    Valid while ``exp < exp_limit`` (callers route larger exponents elsewhere); built as one
    left shift of ``sig`` by ``exp - base`` followed by dropping ``len(sig)`` bits, where
    ``base = offset - len(sig)`` is the exponent at and below which every bit falls out. In two
    steps, between which a pipeline may cut: :func:`fixed_point_amount` and
    :func:`fixed_point_shift`."""
    amount = fixed_point_amount(m, exp, offset - len(sig), exp_limit, name=name)
    return fixed_point_shift(m, sig, amount, width, name=name)


def fixed_point_amount(m: Module, exp, base: int, exp_limit: int, *, name: str):
    """:func:`fixed_point`'s shift amount, ``exp - base`` clamped to the shifts that matter
    (``base``: ``offset - len(sig)``)."""
    top = exp_limit - 1 - base                      # the largest shift that matters
    assert top >= 1, "the fixed-point window lies below every valid exponent"
    amount = Signal(range(top + 1), name=f"{name}_shift")
    shift = exp - base
    if base >= 1:                                   # small exponents shift everything out
        shift = Mux(exp <= base, 0, shift)
    if exp_limit <= (1 << len(exp)) - 1:            # exponents past the limit are don't-care
        shift = Mux(exp >= exp_limit, top, shift)
    m.d.comb += amount.eq(shift)
    return amount


def fixed_point_shift(m: Module, sig, amount, width: int, *, name: str):
    """:func:`fixed_point`'s shift: ``sig`` moved left by ``amount``, its own bits dropped."""
    value = Signal(width, name=name)
    m.d.comb += value.eq((sig << amount)[len(sig):len(sig) + width])
    return value


def rom(m: Module, table: list[int], index, *, name: str) -> Signal:
    """A constant table read combinationally at ``index``."""
    shape = signed(_bits_for(max(abs(v) for v in table)))
    value = Signal(shape, name=name)
    m.d.comb += value.eq(Array(Const(v, shape) for v in table)[index])
    return value


def signed_partials(value, factor) -> list[tuple[int, Value]]:
    """``value * factor`` (either may be signed; ``factor`` fits one DSP input) as partial
    products of ``value``'s pieces, each with its shift: the low pieces unsigned, the top one
    signed (two's complement splits so), one DSP multiply each, which a pipelined unit
    registers before adding them."""
    assert len(factor) <= DSP_WIDTH, "the factor must fit one DSP input"
    piece = DSP_WIDTH - 1                       # an unsigned piece of a signed product
    partials = []
    for low in range(0, len(value), piece):
        part = value[low:low + piece]
        if low + piece >= len(value) and value.shape().signed:
            part = part.as_signed()
        partials.append((low, part * factor))
    return partials


def horner(m: Module, stages: Stages, tables: list[list[int]], s, r_bound: int,
           frac_bits: int, carried: tuple[str, ...], *, name: str):
    """Horner's rule for ``sum_k tables[k][s.segment] * s.offset**k`` in fixed point, one step
    per coefficient below the top one: ``acc = c_k + floor(acc * offset / 2**frac_bits)``.
    Cut points: after the top coefficient's table read (``coefficient``), and in each step
    ``j`` (from 1) after the partial products of ``acc * offset`` (``horner_partial<j>``),
    after their floored sum (``horner_product<j>``) and after the coefficient's addition
    (``horner<j>``). ``s`` carries ``carried`` (which must include ``segment`` and
    ``offset``) through the cuts; returns it with ``acc`` added. Each value is as wide as its
    worst case (``|offset| <= r_bound``) needs."""
    def keep(s):
        return {key: getattr(s, key) for key in carried}

    degree = len(tables) - 1
    top = rom(m, tables[degree], s.segment, name=f"{name}_c{degree}")
    s = stages.cut("coefficient", **keep(s), acc=top)
    bound = max(abs(v) for v in tables[degree])
    for step, k in enumerate(range(degree - 1, -1, -1), start=1):
        partials = signed_partials(s.acc, s.offset)
        s = stages.cut(f"horner_partial{step}", **keep(s),
                       **{f"pp{i}": value for i, (_, value) in enumerate(partials)})
        total = sum(getattr(s, f"pp{i}") << low for i, (low, _) in enumerate(partials))
        # a floored product is at most one below -(bound * r_bound >> frac_bits)
        product_bound = (bound * r_bound >> frac_bits) + 1
        product = Signal(signed(_bits_for(product_bound)), name=f"{name}_p{k}")
        m.d.comb += product.eq(total >> frac_bits)
        s = stages.cut(f"horner_product{step}", **keep(s), product=product)
        coeff = rom(m, tables[k], s.segment, name=f"{name}_c{k}")
        bound = max(abs(v) for v in tables[k]) + product_bound
        acc = Signal(signed(_bits_for(bound)), name=f"{name}_acc{k}")
        m.d.comb += acc.eq(coeff + s.product)
        s = stages.cut(f"horner{step}", **keep(s), acc=acc)
    return s


class _FunctionUnit(wiring.Component):
    """Ports shared by the units: ``a`` in, ``y`` out, ``en`` when pipelined."""

    def __init__(self, fmt: FloatFormat, *, ftz: bool, latency: int, cuts: tuple[str, ...] | None):
        self.fmt, self.ftz, self.latency, self.cuts = fmt, ftz, latency, cuts
        word = unsigned(fmt.width)
        super().__init__(operator_ports(self, {"a": word}, word, latency))

    def _stages(self, m: Module) -> Stages:
        """The cut points of this unit's structure, registered in the measured order ``RANK``
        (``hwgen.numerics.plans``), or at ``cuts`` when given (the plan search itself)."""
        points = self.POINTS(self.degree)
        return Stages(m, getattr(self, "en", None), self.latency,
                      plans.ranked_plan(points, self.RANK), points, self.cuts)


def _check(name: str, value, allowed) -> None:
    if value not in allowed:
        text = (f"{allowed.start}..{allowed.stop - 1}" if isinstance(allowed, range) else
                "one of " + ", ".join(str(v) for v in allowed))
        raise ValueError(f"{name}={value!r} is out of range: allowed {text}")


# -- exp ----------------------------------------------------------------------------------------

class FloatExp(_FunctionUnit):
    """``y = base**a`` (``base`` "e" or "2") on bit patterns of ``fmt``.

    Datapath (``F = W = precision + 6`` fraction bits):

    1. ``t = a * log2(base)`` in fixed point: the significand times ``L = round(log2(e) *
       2**LF)`` (base 2: no multiplier), truncated by one shift to ``F`` fraction bits
       (magnitude truncated, then negated for a negative ``a``). Inputs with
       ``|a| >= 2**k_sat`` saturate: ``|t| >= bias + man_bits + 3`` overflows to +Inf or rounds
       to +0 whatever the fraction.
    2. ``t = n + f``, ``n = floor(t)``; the top ``table_bits`` bits of ``f`` pick a segment, the
       rest is the offset ``r`` from its start.
    3. ``2**f`` by the segment's degree-``degree`` Taylor polynomial in ``r`` (Horner, each
       product floored to ``W`` fraction bits).
    4. ``2**f * 2**n`` is that significand with biased exponent ``n + bias``: normalize (a
       right shift with sticky bit for subnormal results) and round once.

    NaN gives the canonical NaN, +Inf gives +Inf, -Inf gives +0, +-0 gives exactly 1.

    Pipeline cuts (``hwgen.numerics.plans.exp_points``): after the product by log2(base),
    after the shift to fixed point, after ``t`` (negated), after each Horner step's product and sum, and in the finish; ``latency``
    registers them in the measured order ``RANK`` (``plans.EXP_RANK``); more registers go at
    the output.
    """

    POINTS = staticmethod(plans.exp_points)
    RANK = plans.EXP_RANK

    def __init__(self, fmt: FloatFormat, *, base: str = "e", table_bits: int = 5,
                 degree: int = 2, ftz: bool = False, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        _check("base", base, EXP_BASES)
        _check("table_bits", table_bits, EXP_TABLE_BITS)
        _check("degree", degree, EXP_DEGREES)
        self.base, self.table_bits, self.degree = base, table_bits, degree
        super().__init__(fmt, ftz=ftz, latency=latency, cuts=cuts)

    def constants(self) -> dict:
        """Widths and the log2(base) constant (documented in the class docstring)."""
        fmt = self.fmt
        frac = fmt.precision + GUARD_BITS
        log2_base = math.log2(math.e) if self.base == "e" else 1.0
        # The least k with 2**k * log2(base) >= bias + man_bits + 3: from |a| >= 2**k on, the
        # result overflows (a > 0) or lies below half the smallest subnormal (a < 0).
        k_sat = 0
        while 2 ** k_sat * log2_base < fmt.bias + fmt.man_bits + 3:
            k_sat += 1
        # LF = F + k_sat + 2: the constant's error times |a| < 2**k_sat stays below 2**-(F+2).
        lf = frac + k_sat + 2 if self.base == "e" else 0
        scale = round(math.ldexp(math.log2(math.e), lf)) if self.base == "e" else 1
        return {"frac": frac, "k_sat": k_sat, "lf": lf, "scale": scale}

    def elaborate(self, platform):
        m = Module()
        fmt, c = self.fmt, self.constants()
        frac = c["frac"]                         # F (t) and W (polynomial) fraction bits
        offset_bits = frac - self.table_bits     # R: bits of the offset within a segment
        stages = self._stages(m)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        exp_limit = fmt.bias + c["k_sat"]        # effective exponents from here on saturate
        saturated = Signal()
        m.d.comb += saturated.eq(ua.inf | (ua.exp >= exp_limit))

        # t's magnitude: sig * L * 2**(e - bias - man_bits - LF + F), truncated; the product
        # as DSP-sized partial products (L is wider than a DSP) summed after a cut
        shift_offset = fmt.bias + fmt.man_bits + c["lf"] - frac
        product_bits = fmt.precision + (c["scale"].bit_length() if c["scale"] != 1 else 0)
        amount = fixed_point_amount(m, ua.exp, shift_offset - product_bits, exp_limit,
                                    name="t_mag")
        s = stages.cut("unpacked", nan=ua.nan, saturated=saturated, sign=ua.sign, amount=amount,
                       sig=ua.sig)
        keep = ("nan", "saturated", "sign", "amount")
        if c["scale"] != 1:
            partials = partial_products(s.sig, Const(c["scale"]))
            s = stages.cut("scaling", **{key: getattr(s, key) for key in keep},
                           **{f"pp{k}": value for k, (_, value) in enumerate(partials)})
            product = sum_partials([(shift, getattr(s, f"pp{k}")) for k, (shift, _)
                                    in enumerate(partials)], product_bits)
        else:
            s = stages.cut("scaling", **{key: getattr(s, key) for key in keep}, sig=s.sig)
            product = s.sig
        s = stages.cut("product", **{key: getattr(s, key) for key in keep}, product=product)
        largest = ((1 << fmt.precision) - 1) * c["scale"]
        t_bits = _floor_scale(largest, exp_limit - 1 - shift_offset).bit_length()
        t_mag = fixed_point_shift(m, s.product, s.amount, t_bits, name="t_mag")
        s = stages.cut("shifted", nan=s.nan, saturated=s.saturated, sign=s.sign, t_mag=t_mag)
        t = Signal(signed(t_bits + 1))
        m.d.comb += t.eq(Mux(s.sign, -s.t_mag, s.t_mag))

        s = stages.cut("scaled", nan=s.nan, saturated=s.saturated, sign=s.sign,
                       n=t[frac:].as_signed(), segment=t[offset_bits:frac],
                       offset=t[:offset_bits])

        tables = exp_table(self.table_bits, self.degree, frac)
        r_bound = (1 << offset_bits) - 1
        s = horner(m, stages, tables, s, r_bound, frac,
                   ("nan", "saturated", "sign", "n", "segment", "offset"), name="poly")
        sig = s.acc.as_unsigned()[:len(s.acc) - 1]

        # The significand's top bit weighs 2**(len - 1 - W): biased exponent n + bias + that.
        scale = fmt.bias + len(sig) - 1 - frac                # 0 <= scale < 2**exp_bits
        exp = Signal(signed(max(len(s.n), fmt.exp_bits + 1) + 1))
        m.d.comb += exp.eq(s.n + scale)
        packed, s = normalize_round(m, stages, fmt, exp, sig, sign=Const(0, 1), ftz=self.ftz,
                                    nan=s.nan, saturated=s.saturated, negative=s.sign)
        special = Signal(special_layout())
        m.d.comb += [
            special.nan.eq(s.nan),
            special.inf.eq(s.saturated & ~s.negative),      # +Inf and overflow
            special.sign.eq(0),
        ]
        underflow = s.saturated & s.negative                # -Inf and far below the range
        result = override_special(fmt, special, Mux(underflow, 0, packed))
        m.d.comb += self.y.eq(stages.output(result))
        return m


# -- gelu -----------------------------------------------------------------------------------------

class FloatGelu(_FunctionUnit):
    """``y = GELU(a) = a * Phi(a)`` on bit patterns of ``fmt`` (``Phi`` the standard normal
    CDF, ``Q = 1 - Phi``).

    Datapath (``Fx = precision + 6`` fraction bits of ``|a|``, ``W = precision + 20`` of Q):

    1. ``|a| >= range``: ``y = a`` for positive ``a``, ``-0`` for negative.
    2. ``A = floor(|a| * 2**Fx)``; its top ``log2(segments)`` bits pick a segment of
       ``[0, range)``, the rest minus half a segment is the signed offset ``r`` from the
       segment's midpoint.
    3. ``Q(|a|)`` by the segment's degree-``degree`` Taylor polynomial (Horner, each product
       floored to ``W`` fraction bits), clamped at 0.
    4. ``Phi(a) = Q(|a|)`` for negative ``a``, ``1 - Q(|a|)`` for positive.
    5. ``a * Phi(a)``: the exact product of the significand and ``Phi`` (so tiny ``a`` keeps
       its relative accuracy), normalized and rounded once.

    NaN gives the canonical NaN, +Inf gives +Inf, -Inf gives -0, +-0 gives +-0.

    Pipeline cuts (``hwgen.numerics.plans.gelu_points``): after the fixed-point conversion,
    after each Horner step's product and sum, after ``Phi(a)``, after the partial products of
    ``a * Phi(a)`` and after their sum, and in the finish; ``latency`` registers them in the
    measured order ``RANK`` (``plans.GELU_RANK``); more registers go at the output.
    """

    POINTS = staticmethod(plans.gelu_points)
    RANK = plans.GELU_RANK

    def __init__(self, fmt: FloatFormat, *, range: int = 8, segments: int = 64,
                 degree: int = 3, ftz: bool = False, latency: int = 0,
                 cuts: tuple[str, ...] | None = None):
        _check("range", range, GELU_RANGES)
        _check("segments", segments, GELU_SEGMENTS)
        _check("degree", degree, GELU_DEGREES)
        self.range, self.segments, self.degree = range, segments, degree
        super().__init__(fmt, ftz=ftz, latency=latency, cuts=cuts)

    def elaborate(self, platform):
        m = Module()
        fmt = self.fmt
        x_frac = fmt.precision + GUARD_BITS
        q_frac = fmt.precision + GELU_EXTRA_BITS
        range_bits = self.range.bit_length() - 1
        offset_bits = x_frac + range_bits - (self.segments.bit_length() - 1)
        stages = self._stages(m)

        ua = unpack(m, fmt, self.a, ftz=self.ftz, name="ua")
        exp_limit = fmt.bias + range_bits          # from |a| >= range on, GELU is a or -0
        outside = Signal()
        m.d.comb += outside.eq(ua.inf | (ua.exp >= exp_limit))
        magnitude = fixed_point(m, ua.sig, ua.exp, fmt.bias + fmt.man_bits - x_frac, exp_limit,
                                x_frac + range_bits, name="magnitude")
        # Offset from the midpoint: subtracting half a segment flips the offset's top bit.
        offset = Signal(signed(offset_bits))
        m.d.comb += offset.eq(magnitude[:offset_bits] ^ (1 << (offset_bits - 1)))

        s = stages.cut("fixed", a=self.a, nan=ua.nan, outside=outside, sign=ua.sign,
                       exp=ua.exp, sig=ua.sig, segment=magnitude[offset_bits:], offset=offset)

        tables = gelu_table(self.range, self.segments, self.degree, q_frac)
        r_bound = 1 << (offset_bits - 1)
        s = horner(m, stages, tables, s, r_bound, x_frac,
                   ("a", "nan", "outside", "sign", "exp", "sig", "segment", "offset"), name="poly")
        q_clamped = Mux(s.acc < 0, 0, s.acc.as_unsigned()[:q_frac])  # 0 <= Q < 1/2 + tiny
        cdf = Signal(q_frac + 1)                             # Phi(a) * 2**W, at most 2**W
        m.d.comb += cdf.eq(Mux(s.sign, q_clamped, (1 << q_frac) - q_clamped))
        keep = ("a", "nan", "outside", "sign", "exp", "sig")
        s = stages.cut("cdf", **{key: getattr(s, key) for key in keep}, cdf=cdf)

        # sig * cdf: top bit (precision + W) weighs 2**(e - bias + 1), biased exponent e + 1;
        # the exact product, as DSP-sized partial products summed after a cut
        partials = partial_products(s.sig, s.cdf)
        s = stages.cut("partial", **{key: getattr(s, key) for key in keep},
                       **{f"pp{k}": value for k, (_, value) in enumerate(partials)})
        product = sum_partials([(shift, getattr(s, f"pp{k}")) for k, (shift, _)
                                in enumerate(partials)], len(s.sig) + q_frac + 1)
        s = stages.cut("product", **{key: getattr(s, key) for key in keep if key != "sig"},
                       product=product)
        packed, s = normalize_round(m, stages, fmt, s.exp + 1, s.product, sign=s.sign,
                                    ftz=self.ftz, a=s.a, nan=s.nan, outside=s.outside,
                                    negative=s.sign)
        negative_zero = Const(1 << (fmt.width - 1), fmt.width)
        tail = Mux(s.negative, negative_zero, s.a)          # GELU = a (+Inf too) or -0
        special = Signal(special_layout())
        m.d.comb += special.nan.eq(s.nan)
        result = override_special(fmt, special, Mux(s.outside, tail, packed))
        m.d.comb += self.y.eq(stages.output(result))
        return m
