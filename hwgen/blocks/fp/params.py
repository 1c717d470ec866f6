"""Parameters of the floating-point blocks ``fp_mul`` and ``fp_add``."""

from __future__ import annotations

from typing import Any, Mapping

from ...core.params import Param, ParamError, ParamSet
from ...numerics.formats import PRESETS, FloatFormat, parse_format

MAX_LATENCY = 4


def float_format(p: Mapping[str, Any]) -> FloatFormat:
    """The :class:`FloatFormat` a resolved parameter set names."""
    return parse_format(p["fmt"])


def _fmt_is_a_format(p: Mapping[str, Any]) -> str | None:
    try:
        parse_format(p["fmt"])
    except ParamError as error:
        return f"fmt={p['fmt']!r} is not a float format: {error}"
    return None


def _common() -> tuple[Param, ...]:
    return (
        Param("fmt", str, "bf16",
              f"float format: {', '.join(PRESETS)} or 'E,M' (exponent, mantissa bits)"),
        Param("ftz", bool, False, "flush subnormal inputs and results to zero"),
        Param("latency", int, 1, "pipeline registers inside the operator (the stream adds one "
              "output register)", min=0, max=MAX_LATENCY),
    )


MUL_PARAMS = ParamSet(params=_common(), rules=(_fmt_is_a_format,))

ADD_PARAMS = ParamSet(
    params=_common() + (
        Param("op", str, "add", "add (a + b) or sub (a - b)", choices=("add", "sub")),
    ),
    rules=(_fmt_is_a_format,),
)
