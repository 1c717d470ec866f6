"""Parameters of the floating-point blocks ``fp_mul`` and ``fp_add``."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ...core.params import Param, ParamError, ParamSet
from ...numerics import timing
from ...numerics.formats import PRESETS, FloatFormat, parse_format
from ...numerics.plans import FUNCTIONS, max_latency

# The clock the pipelined operators' default latency reaches (on ECP5-85k: hwgen.numerics.timing)
# with target_mhz unset: 100 MHz with a 5% margin, since the table measures an operator between
# registers while a block adds its stream handshake, and nextpnr's Fmax moves by a few MHz with
# placement (fp_accumulate at bf16, latency 5: 101.9 MHz in the table, 99.0 as the block).
# Latency follows the format (bf16's for an unmeasured one).
DEFAULT_MHZ = 105.0


def float_format(p: Mapping[str, Any]) -> FloatFormat:
    """The :class:`FloatFormat` a resolved parameter set names."""
    return parse_format(p["fmt"])


def _fmt_is_a_format(p: Mapping[str, Any]) -> str | None:
    try:
        parse_format(p["fmt"])
    except ParamError as error:
        return f"fmt={p['fmt']!r} is not a float format: {error}"
    return None


LATENCY_HELP = "pipeline registers inside the operator (the stream adds one output register)"


def _common(operator: str, latency_help: str = LATENCY_HELP,
            sizes: range | None = None) -> tuple[Param, ...]:
    """fmt, ftz, latency and target_mhz of a pipelined ``operator`` (one with a plan,
    ``hwgen.numerics.plans``, and measured speeds, ``hwgen.numerics.timing``): latencies up to
    its plan's last cut; ``target_mhz`` chooses the latency when it is not given. A function
    unit's plan depends on its size (``plans.FUNCTIONS``: its parameter ``iterations`` or
    ``degree``, over ``sizes``): the largest latency is its largest size's."""
    # the default clock: the smallest latency that reaches it at the default format
    latency = dict(min=0, max=max_latency(timing.PLANS[operator]),
                   follows=functools.partial(_latency_for_target, operator),
                   depends_on=("target_mhz",))
    if operator in FUNCTIONS:
        function = FUNCTIONS[operator]
        latency.update(max=function.max_latency(sizes),
                       follows=functools.partial(_function_latency, operator),
                       depends_on=("target_mhz", function.structure))
    default = _default_latency(operator)
    target = (Param("target_mhz", float, 0.0,
                    "clock target: the smallest latency that reaches it on ECP5-85k (the "
                    "measured table, docs/numerics.md) when latency is not given; 0: the default, "
                    f"{DEFAULT_MHZ:g} MHz (100 with a 5% margin)",
                    min=0.0, max=1000.0, depends_on=("fmt",)),)
    return (
        Param("fmt", str, "bf16",
              f"float format: {', '.join(PRESETS)} or 'E,M' (exponent, mantissa bits)"),
        Param("ftz", bool, False, "flush subnormal inputs and results to zero"),
        Param("latency", int, default, latency_help, **latency),
    ) + target


def _latency_for_target(operator: str, p: Mapping[str, Any]) -> int:
    target = p["target_mhz"] or DEFAULT_MHZ
    try:
        return timing.latency_for(operator, parse_format(p["fmt"]).name, target)
    except ValueError:
        # an unmeasured format: the default format's latency for the default clock (with a
        # target, _target_reachable names the problem)
        return _default_latency(operator)


def _function_latency(operator: str, p: Mapping[str, Any]) -> int:
    """The table's latency (measured at the unit's default size) carried to the unit's size."""
    function = FUNCTIONS[operator]
    return function.latency_at(_latency_for_target(operator, p), p[function.structure])


def _default_latency(operator: str, fmt: str = "bf16") -> int:
    """The smallest latency that reaches DEFAULT_MHZ at the default format (``fmt``); the
    largest when the table has no figures for the operator (tests/numerics/test_timing.py
    fails on such a table)."""
    try:
        return timing.latency_for(operator, fmt, DEFAULT_MHZ)
    except (ValueError, OSError):
        return max_latency(timing.PLANS[operator])


def _target_reachable(operator: str):
    def rule(p: Mapping[str, Any]) -> str | None:
        if not p["target_mhz"]:
            return None
        try:
            timing.latency_for(operator, parse_format(p["fmt"]).name, p["target_mhz"])
        except ValueError as error:
            return str(error)
        return None
    return rule


MUL_PARAMS = ParamSet(params=_common("multiply"),
                      rules=(_fmt_is_a_format, _target_reachable("multiply")))

ADD_PARAMS = ParamSet(
    params=_common("add") + (
        Param("op", str, "add", "add (a + b) or sub (a - b)", choices=("add", "sub")),
    ),
    rules=(_fmt_is_a_format, _target_reachable("add")),
)

MINMAX_PARAMS = ParamSet(
    params=_common("minmax") + (
        Param("op", str, "min", "min (IEEE minimum) or max (IEEE maximum)",
              choices=("min", "max")),
    ),
    rules=(_fmt_is_a_format, _target_reachable("minmax")),
)

COMPARE_PARAMS = ParamSet(params=_common("compare"),
                          rules=(_fmt_is_a_format, _target_reachable("compare")))

FMA_PARAMS = ParamSet(params=_common("fma"),
                      rules=(_fmt_is_a_format, _target_reachable("fma")))

# the accumulator's latency is its adders' (the loop's and the tree's); its own speed is
# measured beside the operators' (hwgen/numerics/fmax.json, "accumulate")
ACCUMULATE_PARAMS = ParamSet(
    params=_common("accumulate", "pipeline registers inside each adder: the loop holds "
                                 "latency + 1 partial sums (docs/fp_accumulate.md)"),
    rules=(_fmt_is_a_format, _target_reachable("accumulate")),
)


# -- function units (fp_recip, fp_rsqrt): fp16 and bf16 only ----------------------------------

FUNCTION_FORMATS = ("fp16", "bf16")


def _function_common(operator: str, sizes: range) -> tuple[Param, ...]:
    """fmt (fp16 or bf16), ftz, latency and target_mhz of a function unit whose number of
    repeated steps (its ``plans.FUNCTIONS`` structure) ranges over ``sizes``."""
    return (
        Param("fmt", str, "bf16", "float format of the input and the result",
              choices=FUNCTION_FORMATS),
    ) + _common(operator, LATENCY_HELP + "; target_mhz's table is measured at the default "
                f"{FUNCTIONS[operator].structure} and carried to others", sizes)[1:]


def _function_params(operator: str, sizes: range, *params: Param) -> ParamSet:
    return ParamSet(params=_function_common(operator, sizes) + params,
                    rules=(_target_reachable(operator),))


ITERATIONS = range(0, 4)

RECIP_PARAMS = _function_params(
    "reciprocal", ITERATIONS,
    Param("seed_bits", int, 7, "fraction bits indexing the reciprocal seed table "
          "(2**min(seed_bits, man_bits) entries)", min=2, max=10),
    Param("iterations", int, 1, "Newton-Raphson steps after the table seed", min=0, max=3),
)

RSQRT_PARAMS = _function_params(
    "rsqrt", ITERATIONS,
    Param("iterations", int, 2, "Newton-Raphson steps after the bit-trick seed", min=0, max=3),
)


# -- fp_convert: float and integer formats -------------------------------------------------------

@dataclass(frozen=True)
class IntFormat:
    """An integer format of ``fp_convert``: ``width`` bits, two's complement when ``signed``."""
    width: int
    signed: bool

    @property
    def name(self) -> str:
        return f"{'' if self.signed else 'u'}int{self.width}"


def convert_format(text: str) -> FloatFormat | IntFormat:
    """``int<N>`` / ``uint<N>`` (N in 2..64), or a float format as ``parse_format`` reads it."""
    match = re.fullmatch(r"\s*(u?)int(\d+)\s*", text)
    if match is None:
        return parse_format(text)
    width = int(match.group(2))
    if not 2 <= width <= 64:
        raise ParamError(f"integer format {text!r}: width {width} is out of range: allowed 2..64")
    return IntFormat(width, signed=not match.group(1))


def _convert_formats(p: Mapping[str, Any]) -> str | None:
    for name in ("fmt_in", "fmt_out"):
        try:
            convert_format(p[name])
        except ParamError as error:
            return (f"{name}={p[name]!r} is not a float or integer format: {error}; integer "
                    f"formats are int<N> or uint<N> with N in 2..64")
    if all(isinstance(convert_format(p[name]), IntFormat) for name in ("fmt_in", "fmt_out")):
        return (f"fmt_in={p['fmt_in']!r} and fmt_out={p['fmt_out']!r} are both integer "
                f"formats: at least one of fmt_in, fmt_out must be a float format")
    if p["ftz"] and any(isinstance(convert_format(p[name]), IntFormat)
                        for name in ("fmt_in", "fmt_out")):
        return (f"ftz=True needs float formats on both sides, not fmt_in={p['fmt_in']!r}, "
                f"fmt_out={p['fmt_out']!r} (integers have no subnormals)")
    return None


_CONVERT_FORMATS = f"{', '.join(PRESETS)}, 'E,M', int<N> or uint<N> (N in 2..64)"

def _convert_operator(p: Mapping[str, Any]) -> tuple[str, str]:
    """The measured operator a conversion is (``convert``: to a float, ``to_int``: to an
    integer) and the name of its pair of formats in the table, ``"fp32>bf16"``."""
    fmt_in, fmt_out = convert_format(p["fmt_in"]), convert_format(p["fmt_out"])
    operator = "to_int" if isinstance(fmt_out, IntFormat) else "convert"
    return operator, f"{fmt_in.name}>{fmt_out.name}"


def _convert_latency(p: Mapping[str, Any]) -> int:
    """The smallest latency that reaches the target (or the default clock) for this pair of
    formats; for a pair the table does not hold, the largest any measured pair of the same
    kind needs (with a target, _convert_target_reachable names the problem)."""
    try:
        operator, pair = _convert_operator(p)
    except ParamError:
        return 1                                    # _convert_formats names the problem
    target = p["target_mhz"] or DEFAULT_MHZ
    try:
        return timing.latency_for(operator, pair, target)
    except ValueError:
        latencies = []
        for measured in timing.table()["fmax"].get(operator, {}):
            try:
                latencies.append(timing.latency_for(operator, measured, target))
            except ValueError:
                continue
        return max(latencies, default=max_latency(timing.PLANS[operator]))


def _convert_target_reachable(p: Mapping[str, Any]) -> str | None:
    if not p["target_mhz"]:
        return None
    operator, pair = _convert_operator(p)
    try:
        timing.latency_for(operator, pair, p["target_mhz"])
    except ValueError as error:
        # name the block's parameters, not the table's key for the pair
        return str(error).replace(f"fmt={pair!r}",
                                  f"fmt_in={p['fmt_in']!r} -> fmt_out={p['fmt_out']!r}")
    return None


CONVERT_PARAMS = ParamSet(
    params=(
        Param("fmt_in", str, "fp32", f"input format: {_CONVERT_FORMATS}"),
        Param("fmt_out", str, "bf16", f"output format: {_CONVERT_FORMATS}"),
        Param("ftz", bool, False, "flush subnormal inputs and results to zero (float to float "
              "only)"),
        Param("latency", int, _default_latency("convert", "fp32>bf16"), LATENCY_HELP, min=0,
              max=max(max_latency(timing.PLANS["convert"]), max_latency(timing.PLANS["to_int"])),
              follows=_convert_latency, depends_on=("target_mhz",)),
        Param("target_mhz", float, 0.0,
              "clock target: the smallest latency that reaches it on ECP5-85k for this pair of "
              "formats (the measured table, docs/numerics.md) when latency is not given; 0: "
              f"the default, {DEFAULT_MHZ:g} MHz (100 with a 5% margin)",
              min=0.0, max=1000.0, depends_on=("fmt_in", "fmt_out")),
    ),
    rules=(_convert_formats, _convert_target_reachable),
)


# -- function units (fp_exp, fp_gelu): fixed-point piecewise Taylor polynomials ------------------

EXP_PARAMS = _function_params(
    "exp", range(1, 5),
    Param("base", str, "e", "e gives exp(x), 2 gives exp2(x) = 2**x", choices=("e", "2")),
    Param("table_bits", int, 5, "fraction bits of t = x*log2(base) indexing the 2**f table "
          "(2**table_bits segments)", min=2, max=8),
    Param("degree", int, 2, "degree of the Taylor polynomial within a segment", min=1, max=4),
)

GELU_PARAMS = _function_params(
    "gelu", range(1, 6),
    Param("range", int, 8, "|x| from which on GELU(x) is x (x > 0) or -0 (x < 0)",
          choices=(4, 8)),
    Param("segments", int, 64, "polynomial segments over [0, range) of |x|",
          choices=(8, 16, 32, 64, 128, 256)),
    Param("degree", int, 3, "degree of the Taylor polynomial within a segment", min=1, max=5),
)
