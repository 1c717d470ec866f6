"""Parameters of ``requant``."""

from __future__ import annotations

from ...core.params import Param, ParamSet
from ...numerics.formats import OVERFLOWS, ROUNDINGS


def _shift_within_width(p):
    # shift = in_width is a division by the whole input range: the result is the rounding of
    # x / 2**in_width (0, or -1..1 signed), still a well-defined requantization
    if p["shift"] > p["in_width"]:
        return (f"shift={p['shift']} exceeds in_width={p['in_width']}: "
                f"allowed 0..{p['in_width']}")
    return None


PARAMS = ParamSet(
    params=(
        Param("in_width", int, 32, "input sample width in bits", min=2, max=256),
        Param("out_width", int, 8, "output sample width in bits", min=2, max=64),
        Param("shift", int, 8, "right shift (division by 2**shift) before saturation; unset, 8 or "
              "in_width - 1 when that is less", min=0, max=255, depends_on=("in_width",),
              follows=lambda p: min(8, p["in_width"] - 1)),
        Param("signed", bool, True, "samples are two's complement"),
        Param("rounding", str, "half_up", "how the shifted-out bits round the result: toward "
              "-inf, to nearest with ties up, to nearest with ties to even", choices=ROUNDINGS),
        Param("overflow", str, "saturate", "a result outside the output range: clamp, or keep "
              "its low bits", choices=OVERFLOWS),
    ),
    rules=(_shift_within_width,),
)
