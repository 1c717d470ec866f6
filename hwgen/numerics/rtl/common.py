"""Pieces shared by the floating-point operators: unpack, count leading zeros, normalize,
round and pack, special results, and pipeline cuts.

Every operator follows the same plan. ``unpack`` turns each operand into a sign, an effective
exponent and a significand with its leading bit made explicit, plus zero/Inf/NaN flags. The
operator produces an unrounded result: a sign, a biased exponent and a wide significand whose
top bit has that exponent's weight. ``normalize`` moves the leading one to the top (or stops
where the result becomes subnormal), ``round_pack`` rounds to nearest even and packs the bits,
and ``override_special`` replaces the result when an operand was a NaN or an infinity.

The helpers add their logic to the module they are given (``m.d.comb``) and return values, so an
operator reads as a sequence of steps with pipeline cuts (``Stages``) between them.

Conventions (``fmt`` is a :class:`~hwgen.numerics.formats.FloatFormat`, ``p = fmt.precision``):

* An *effective exponent* is the biased exponent with subnormals and zeros at 1, their true
  scale. A finite operand is then ``sig * 2**(exp - bias - man_bits)`` whether or not it is
  normal, so no operator needs a special path for subnormal inputs.
* A *result* handed to ``round_pack`` is ``(exp, sig)`` with ``exp >= 1``: when the top bit of
  ``sig`` is set the value is normal with biased exponent ``exp``; when it is clear, ``exp`` is 1
  and the value is subnormal. The ``g = len(sig) - p`` bits below the significand hold the
  round bit and the sticky bits (g >= 2).
"""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..formats import FloatFormat

__all__ = [
    "Stages", "count_shift", "count_zeros", "leading_zeros", "normalize", "operator_ports", "override_special",
    "pack", "partial_products", "round_nearest", "sum_partials", "round_pack", "shift_normal", "shift_right_sticky", "special_layout", "unpack",
    "unpacked_layout",
]


# -- ports ---------------------------------------------------------------------------------------

def operator_ports(component: wiring.Component, inputs: dict, y_shape, latency: int) -> dict:
    """The signature members every operator has: its ``inputs`` (name -> shape), the result
    ``y``, and, when ``latency > 0``, the register enable ``en`` (high unless driven).

    A negative latency raises ``ValueError``; ``component`` (not yet constructed) is then marked
    so that Amaranth does not also warn that it was never elaborated."""
    if latency < 0:
        component._MustUse__silence = True
        raise ValueError(f"latency must be >= 0, not {latency}")
    members = {name: In(shape) for name, shape in inputs.items()}
    members["y"] = Out(y_shape)
    if latency:
        members["en"] = In(1, init=1)
    return members


# -- unpack -----------------------------------------------------------------------------------

def unpacked_layout(fmt: FloatFormat) -> data.StructLayout:
    return data.StructLayout({
        "sign": 1,
        "exp": unsigned(fmt.exp_bits),   # effective exponent: 1 for zeros and subnormals
        "sig": unsigned(fmt.precision),  # significand, leading bit explicit (0 if subnormal)
        "zero": 1,
        "inf": 1,
        "nan": 1,                        # quiet or signalling: both give the canonical NaN
    })


def unpack(m: Module, fmt: FloatFormat, bits: Value, *, ftz: bool, name: str) -> data.View:
    """Split a bit pattern into an :func:`unpacked_layout` view.

    With ``ftz`` a subnormal operand becomes a zero of the same sign (denormals are zero): its
    significand reads as 0, so the datapath needs no further knowledge of the mode.
    """
    M, E = fmt.man_bits, fmt.exp_bits
    man, exp, sign = bits[:M], bits[M:M + E], bits[M + E]
    u = Signal(unpacked_layout(fmt), name=name)
    normal = exp != 0
    top = exp == fmt.exp_max
    m.d.comb += [
        u.sign.eq(sign),
        u.exp.eq(Mux(normal, exp, 1)),
        u.inf.eq(top & ~man.any()),
        u.nan.eq(top & man.any()),
    ]
    if ftz:
        m.d.comb += [
            u.sig.eq(Mux(normal, Cat(man, 1), 0)),
            u.zero.eq(~normal),
        ]
    else:
        m.d.comb += [
            u.sig.eq(Cat(man, normal)),
            u.zero.eq(~normal & ~man.any()),
        ]
    return u


# -- significand products ----------------------------------------------------------------------

# The widest unsigned operand one ECP5 MULT18X18D (18 x 18 bits, signed or unsigned) takes
DSP_WIDTH = 18


def partial_products(a: Value, b: Value, piece: int = DSP_WIDTH) -> list[tuple[int, Value]]:
    """``a * b`` as partial products of operands at most ``piece`` bits wide, each with the
    shift it takes in the sum: one DSP multiply each, which a pipelined operator registers
    before :func:`sum_partials` adds them (one product when both fit)."""
    def pieces(value):
        return [(low, value[low:low + piece]) for low in range(0, len(value), piece)]
    return [(low_a + low_b, part_a * part_b) for low_a, part_a in pieces(a) for low_b, part_b in pieces(b)]


def sum_partials(partials: list[tuple[int, Value]], width: int) -> Value:
    """The sum of shifted partial products, ``width`` bits (the whole product)."""
    total = None
    for shift, value in partials:
        term = Cat(Const(0, shift), value) if shift else value
        total = term if total is None else total + term
    return total[:width]


# -- leading zeros and normalization -----------------------------------------------------------

def leading_zeros(value: Value) -> Value:
    """How many zeros lie above the highest set bit of ``value``; ``len(value)`` when it is 0.

    A tree of two-way merges (log2 levels deep, unlike a priority chain): each half reports
    whether it is all zeros and its own count; the upper half's count wins unless it is empty.
    """
    value = Value.cast(value)
    width = len(value)
    size = 1 << (width - 1).bit_length()
    # Ones padded below the value: a zero value then counts exactly `width` without a
    # separate case, and the tree works on a power of two.
    padded = Cat(Const((1 << (size - width)) - 1, size - width), value)

    def count(bits):
        if len(bits) == 1:
            return ~bits[0], Const(0, 0)
        half = len(bits) // 2
        lo_empty, lo_count = count(bits[:half])
        hi_empty, hi_count = count(bits[half:])
        upper_wins = Cat(hi_count, Const(0, 1))
        lower_wins = Cat(lo_count, Const(1, 1))    # half (an empty upper half) + lower count
        return hi_empty & lo_empty, Mux(hi_empty, lower_wins, upper_wins)

    empty, zeros = count(padded)
    if size == width:  # no padding: an all-zero value reads as size - 1 and needs fixing up
        return Mux(empty, width, zeros)
    return zeros


def normalize(m: Module, exp: Value, sig: Value, *, name: str) -> tuple[Value, Value]:
    """Shift ``sig`` so that its leading one reaches the top, unless the result is subnormal.

    ``exp`` is the biased exponent of ``sig``'s top bit; an unsigned ``exp`` must be at least 1
    (then no right shifter is built). Returns ``(exp, sig)`` in ``round_pack``'s convention,
    ``sig`` as wide as the input:

    * enough exponent range: shift left by the leading-zero count, exponent drops by as much;
    * the exponent would fall below 1: shift left only as far as exponent 1 (subnormal);
    * ``exp`` already below 1 (only possible when it is signed, e.g. a product of two small
      numbers): shift *right* to exponent 1, OR-ing every shifted-out bit into the lowest bit
      (a sticky bit, so rounding still sees that the value was inexact).

    A zero ``sig`` leaves with exponent 1, so it packs as a zero. In two steps, between which
    a pipelined operator may cut: :func:`count_shift` (the leading-zero count, the shift and
    the exponent) and :func:`shift_normal` (the shift alone)."""
    shift = count_shift(m, exp, sig, name=name)
    return shift["exp"], shift_normal(m, sig, shift["left"], shift.get("right"), name=name)


def count_zeros(m: Module, exp: Value, sig: Value, *, name: str) -> dict[str, Value]:
    """The leading-zero count of ``sig`` (``zeros``) and ``room``, how far it may move left
    before its exponent reaches 1 (negative when ``exp`` is below 1): :func:`count_shift`'s
    inputs, for an operator that cuts between the two."""
    zeros = Signal(range(len(sig) + 1), name=f"{name}_lz")
    room = Signal(signed(len(exp) + 1), name=f"{name}_room")
    m.d.comb += [zeros.eq(leading_zeros(sig)), room.eq(exp - 1)]
    return {"zeros": zeros, "room": room}


def count_shift(m: Module, exp: Value, sig: Value, *, name: str, zeros: Value | None = None,
                room: Value | None = None) -> dict[str, Value]:
    """:func:`normalize`'s first step: how far ``sig`` moves and the exponent it then has.
    ``left``: the left shift (the leading zeros, or fewer where the result is subnormal);
    ``exp``: the result's exponent; for a signed ``exp`` also ``right``: the right shift (0
    unless ``exp`` is below 1, and then ``left`` is 0). ``zeros`` and ``room`` are
    :func:`count_zeros`'s, when the caller has them (else they are counted here)."""
    width = len(sig)
    is_signed = exp.shape().signed
    exp_width = len(exp) - 1 if is_signed else len(exp)
    if zeros is None:
        counted = count_zeros(m, exp, sig, name=name)
        zeros, room = counted["zeros"], counted["room"]
    left = Signal(range(width + 1), name=f"{name}_left")
    out_exp = Signal(unsigned(exp_width), name=f"{name}_exp")
    shift = {"left": left, "exp": out_exp}

    with m.If(zeros <= room):
        m.d.comb += [left.eq(zeros), out_exp.eq(Mux(~sig.any(), 1, exp - zeros))]
    # Otherwise room < zeros <= width, so a non-negative room fits zeros' width.
    subnormal = [left.eq(room[:len(zeros)]), out_exp.eq(1)]
    if not is_signed:
        with m.Else():  # exp >= 1 is the caller's promise for an unsigned exponent
            m.d.comb += subnormal
    else:
        # 1 <= 1 - exp <= 2**(len(exp) - 1) + 1 fits len(exp) unsigned bits. Past `width`
        # every bit is shifted out, so larger shifts are clamped (when they can occur).
        right = Signal(range(min(width, (1 << len(exp)) - 1) + 1), name=f"{name}_right")
        shift["right"] = right
        with m.Elif(room >= 0):
            m.d.comb += subnormal
        with m.Else():
            below = (1 - exp)[:len(exp)]
            if (1 << len(exp)) - 1 > width:
                below = Mux(below > width, width, below)
            m.d.comb += [right.eq(below), out_exp.eq(1)]
    return shift


def shift_normal(m: Module, sig: Value, left: Value, right: Value | None = None, *,
                 name: str) -> Value:
    """:func:`normalize`'s second step: ``sig`` shifted as :func:`count_shift` found, as wide
    as it was; a right shift ORs every bit it drops into the lowest (a sticky bit)."""
    width = len(sig)
    out_sig = Signal(width, name=f"{name}_sig")
    m.d.comb += out_sig.eq((sig << left)[:width])
    if right is not None:
        with m.If(right != 0):
            m.d.comb += out_sig.eq(shift_right_sticky(sig, right))
    return out_sig


def shift_right_sticky(value: Value, amount: Value) -> Value:
    """``value >> amount``, as wide as ``value``, with every bit shifted out OR-ed into the
    lowest bit (a sticky bit: the result is rounded to odd). The bits that fall out (those
    below bit ``amount``) are found by a mask beside the shifter, not after it, so that the
    sticky bit adds no depth of its own."""
    width = len(value)
    kept = (value >> amount)[:width]
    lost = Cat(*[value[bit] & (amount > bit) for bit in range(width)]).any()
    return Cat(kept[0] | lost, kept[1:])


# -- round and pack ------------------------------------------------------------------------------

def round_pack(m: Module, fmt: FloatFormat, sign: Value, exp: Value, sig: Value, *, ftz: bool,
               name: str) -> Value:
    """Round ``(exp, sig)`` to nearest, ties to even, and pack it with ``sign``.

    Rounding may carry out of the significand (one more exponent step) or lift a subnormal to
    the smallest normal; both fall out of adding the carried significand bits to the exponent
    field. A result past the largest finite value is an infinity. With ``ftz`` a result whose
    *rounded* exponent field is 0 becomes a zero of the same sign. In two steps, between which
    a pipelined operator may cut: :func:`round_nearest` and :func:`pack`."""
    return pack(m, fmt, sign, exp, round_nearest(m, fmt, sig, name=name), ftz=ftz, name=name)


def round_nearest(m: Module, fmt: FloatFormat, sig: Value, *, name: str) -> Value:
    """:func:`round_pack`'s first step: the significand rounded to ``fmt.precision`` bits, with
    a carry bit above (``precision + 1`` bits)."""
    p = fmt.precision
    g = len(sig) - p
    assert g >= 2, "round_pack needs a round bit and at least one sticky bit"
    lsb, rnd, sticky = sig[g], sig[g - 1], sig[:g - 1].any()
    rounded = Signal(p + 1, name=f"{name}_rounded")
    m.d.comb += rounded.eq(sig[g:] + (rnd & (sticky | lsb)))
    return rounded


def pack(m: Module, fmt: FloatFormat, sign: Value, exp: Value, rounded: Value, *, ftz: bool,
         name: str) -> Value:
    """:func:`round_pack`'s second step: the exponent field, overflow and the bits."""
    M, E = fmt.man_bits, fmt.exp_bits
    # rounded[M:] is the integer part of the significand: 0 (still subnormal), 1, or 2 (carried
    # out of a full significand). Field = exp - 1 + that: exp counts subnormals as 1.
    field_plus_one = Signal(unsigned(max(len(exp), E) + 1), name=f"{name}_field1")
    m.d.comb += field_plus_one.eq(exp + rounded[M:])
    overflow = field_plus_one > fmt.exp_max
    field = (field_plus_one - 1)[:E]
    finite = Cat(rounded[:M], field)
    if ftz:
        finite = Mux(~field.any(), 0, finite)
    infinity = Const(fmt.exp_max << M, M + E)
    packed = Signal(fmt.width, name=f"{name}_packed")
    m.d.comb += packed.eq(Cat(Mux(overflow, infinity, finite), sign))
    return packed


# -- special values ------------------------------------------------------------------------------

def special_layout() -> data.StructLayout:
    """What the datapath cannot compute: a NaN result, or an infinity of a given sign."""
    return data.StructLayout({"nan": 1, "inf": 1, "sign": 1})


def override_special(fmt: FloatFormat, special: data.View, value: Value) -> Value:
    """``value``, unless ``special`` asks for the canonical NaN or a signed infinity."""
    nan = Const(fmt.canonical_nan, fmt.width)
    inf = Cat(Const(fmt.exp_max << fmt.man_bits, fmt.width - 1), special.sign)
    return Mux(special.nan, nan, Mux(special.inf, inf, value))


# -- pipelining ------------------------------------------------------------------------------------

class Stages:
    """Pipeline registers at the cut points a latency asks for.

    An operator names its cut points in datapath order (``points``) and, per latency, which of
    them hold a register (``plan``); ``cuts`` (a subset of ``points``) overrides the plan, for a
    search of the best placement. Latencies beyond the table add registers at the output.
    Every register advances when ``en`` is high, so a stream wrapper stalls the whole pipeline
    at once.
    """

    def __init__(self, m: Module, en: Value | None, latency: int,
                 plan: dict[int, tuple[str, ...]], points: tuple[str, ...] | None = None,
                 cuts: tuple[str, ...] | None = None):
        assert all(len(chosen) == k for k, chosen in plan.items()), "plan[k] must hold k cuts"
        assert points is None or all(set(chosen) <= set(points) for chosen in plan.values())
        self.m = m
        self.en = en
        if cuts is None:
            cuts = plan[min(latency, max(plan))]
        elif len(cuts) > latency or not set(cuts) <= set(points or ()):
            raise ValueError(f"cuts {cuts} are not {latency} or fewer of the cut points {points}")
        self.cuts = set(cuts)
        self.output_cuts = latency - len(self.cuts)

    def cut(self, point: str, **values) -> SimpleNamespace:
        """``values`` on the far side of cut point ``point``: registered if the point is cut,
        else wires. Either way each becomes one named signal, so an expression used by several
        later steps is built once (and is easy to find in the Verilog)."""
        cut = point in self.cuts
        return SimpleNamespace(**{key: self._signal(f"{point}_{key}", value, cut)
                                  for key, value in values.items()})

    def output(self, value: Value) -> Value:
        for index in range(self.output_cuts):
            value = self._signal(f"out{index}", value, True)
        return value

    def _signal(self, name: str, value, registered: bool):
        signal = Signal.like(value, name=name)
        if registered:
            with self.m.If(self.en):
                self.m.d.sync += signal.eq(value)
        else:
            self.m.d.comb += signal.eq(value)
        return signal
