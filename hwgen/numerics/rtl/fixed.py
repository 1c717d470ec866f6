"""Fixed-point requantization in Amaranth: move the binary point, round, wrap or saturate.

Same semantics as the NumPy twin ``hwgen.numerics.golden.fx_requantize`` (see its docstring):
rounding ``truncate`` (toward -infinity), ``half_up`` (ties toward +infinity) or ``half_even``
(ties to even) when fraction bits are dropped; ``wrap`` (keep the low bits) or ``saturate``
when the result does not fit. Raw values travel as ``signed(width)`` or ``unsigned(width)``
according to the :class:`~hwgen.numerics.formats.FixedFormat`.

``requantize`` is the combinational helper for operators that need it inside a datapath (an
accumulator brought back to an activation format, say); ``FixedRequantizer`` wraps it as a
component with optional pipeline registers.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Shape, Signal, Value, signed, unsigned
from amaranth.lib import wiring

from ..formats import OVERFLOWS, ROUNDINGS, FixedFormat
from .common import Stages, operator_ports

__all__ = ["FixedRequantizer", "fixed_shape", "requantize", "saturate", "shift_round"]


def fixed_shape(fmt: FixedFormat) -> Shape:
    return (signed if fmt.signed else unsigned)(fmt.width)


def shift_round(value: Value, shift: int, rounding: str) -> Value:
    """``value * 2**-shift`` rounded to an integer per ``rounding`` (a left shift, exact, when
    ``shift <= 0``). The result is as wide as it needs to be, never wrapped.

    Rounding to nearest adds half of the dropped weight before the shift (the adder is one bit
    wider than ``value``, so it cannot overflow); ties to even add one less, plus the bit that
    becomes the result's lowest, so that exactly the ties below an odd result carry."""
    value = Value.cast(value)
    if shift <= 0:
        return value.shift_left(-shift)
    if rounding == "truncate":
        return value.shift_right(shift)
    half = 1 << (shift - 1)
    if rounding == "half_up":
        return (value + Const(half)).shift_right(shift)
    # half_even. The truncated result's lowest bit is `value` bit `shift`, or beyond the top
    # its sign (a negative value shifted out entirely leaves -1, which is odd).
    if shift < len(value):
        odd = value[shift]
    else:
        odd = value[-1] if value.shape().signed else Const(0, 1)
    return (value + Const(half - 1) + odd).shift_right(shift)


def saturate(value: Value, low: int, high: int) -> Value:
    """``value`` clamped to ``low..high``, comparing only against the bounds it can cross (a
    comparison that is constant by its operand width is a lint error, and wasted logic)."""
    value = Value.cast(value)
    shape = value.shape()
    if shape.width == 0:
        return value
    reach_low = -(1 << (shape.width - 1)) if shape.signed else 0
    reach_high = (1 << (shape.width - shape.signed)) - 1
    if reach_high > high:
        value = Mux(value > high, high, value)
    if reach_low < low:
        value = Mux(value < low, low, value)
    return value


def requantize(m: Module, value: Value, fmt_in: FixedFormat, fmt_out: FixedFormat, *,
               rounding: str, overflow: str, name: str) -> Value:
    """Raw ``value`` of ``fmt_in`` as a raw ``fmt_out`` signal (combinational)."""
    _check_modes(rounding, overflow)
    rounded = shift_round(value, fmt_in.frac_bits - fmt_out.frac_bits, rounding)
    return fit(m, rounded, fmt_out, overflow=overflow, name=name)


def fit(m: Module, value: Value, fmt_out: FixedFormat, *, overflow: str, name: str) -> Value:
    """An integer ``value`` brought into ``fmt_out``'s raw range: ``wrap`` keeps the low bits
    (an assignment truncates or sign/zero-extends), ``saturate`` clamps."""
    out = Signal(fixed_shape(fmt_out), name=name)
    if overflow == "saturate":
        value = saturate(value, fmt_out.min_raw, fmt_out.max_raw)
    m.d.comb += out.eq(value)
    return out


def _check_modes(rounding: str, overflow: str):
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding={rounding!r}: allowed one of {', '.join(ROUNDINGS)}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow={overflow!r}: allowed one of {', '.join(OVERFLOWS)}")


class FixedRequantizer(wiring.Component):
    """``y`` = raw ``x`` of ``fmt_in`` requantized to ``fmt_out``.

    Pipeline cuts for ``latency``: 1 after rounding (before the overflow handling); more add
    registers at the output. Registers advance while ``en`` is high (``en`` exists only when
    ``latency > 0``).
    """

    PLAN = {0: (), 1: ("rounded",)}

    def __init__(self, fmt_in: FixedFormat, fmt_out: FixedFormat, *, rounding: str = "truncate",
                 overflow: str = "saturate", latency: int = 0):
        _check_modes(rounding, overflow)
        self.fmt_in, self.fmt_out = fmt_in, fmt_out
        self.rounding, self.overflow, self.latency = rounding, overflow, latency
        super().__init__(operator_ports(self, {"x": fixed_shape(fmt_in)}, fixed_shape(fmt_out),
                                        latency))

    def elaborate(self, platform):
        m = Module()
        stages = Stages(m, getattr(self, "en", None), self.latency, self.PLAN)
        rounded = shift_round(self.x, self.fmt_in.frac_bits - self.fmt_out.frac_bits,
                              self.rounding)
        if len(rounded) == 0:   # every bit shifted out of an unsigned value: the result is 0
            rounded = Const(0, 1)
        s = stages.cut("rounded", value=rounded)
        fitted = fit(m, s.value, self.fmt_out, overflow=self.overflow, name="fitted")
        m.d.comb += self.y.eq(stages.output(fitted))
        return m
