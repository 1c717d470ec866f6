"""The pipelined end of the function units: normalize, round and pack, with a cut point
between each step (``hwgen.numerics.plans.FINISH_POINTS``).

The same steps as :func:`~.common.normalize` and :func:`~.common.round_pack` (and
FloatMultiplier's end), split where a pipeline may register: after the leading-zero count
(``zeros``), after the shift amount and exponent (``counted``), after the shift
(``normalized``) and after the rounding increment (``rounded``)."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth.hdl import Module, Value

from ..formats import FloatFormat
from .common import Stages, count_shift, count_zeros, pack, round_nearest, shift_normal

__all__ = ["normalize_round"]


def normalize_round(m: Module, stages: Stages, fmt: FloatFormat, exp: Value, sig: Value, *,
                    sign: Value, ftz: bool, **carry) -> tuple[Value, SimpleNamespace]:
    """``(exp, sig)`` (``sig``'s top bit at biased exponent ``exp``) normalized and rounded
    to nearest even, packed with ``sign``. Returns the packed bits and ``carry`` (values the
    caller needs beside the result, e.g. its special-case flags) as they leave the last cut."""
    counted = count_zeros(m, exp, sig, name="norm")
    s = stages.cut("zeros", exp=exp, sig=sig, sign=sign, **counted, **carry)
    shift = count_shift(m, s.exp, s.sig, name="norm", zeros=s.zeros, room=s.room)
    s = stages.cut("counted", sig=s.sig, sign=s.sign, **shift, **_carried(s, carry))
    norm_sig = shift_normal(m, s.sig, s.left, getattr(s, "right", None), name="norm")
    s = stages.cut("normalized", exp=s.exp, sig=norm_sig, sign=s.sign, **_carried(s, carry))
    rounded = round_nearest(m, fmt, s.sig, name="round")
    s = stages.cut("rounded", exp=s.exp, rounded=rounded, sign=s.sign, **_carried(s, carry))
    packed = pack(m, fmt, s.sign, s.exp, s.rounded, ftz=ftz, name="round")
    return packed, SimpleNamespace(**_carried(s, carry))


def _carried(s: SimpleNamespace, carry: dict) -> dict:
    return {key: getattr(s, key) for key in carry}
