"""Accuracy of the function units against float64, over every fp16 and bf16 input.

    python bench/numerics_accuracy.py [--write-docs]

Each unit's bit-exact twin (``hwgen.numerics.golden``; the RTL equals it bit for bit, which
the test suite checks exhaustively) is evaluated on all 65,536 bit patterns of the format at the
block's default parameters, and compared with the float64 value of the true function:

* ``ulp``: |y - f(x)| in units in the last place of the format *at f(x)* (the spacing of
  the format's values around f(x); below the normal range, the subnormal spacing). A correctly
  rounded result is within 0.5 ulp;
* ``rel``: |y - f(x)| / |f(x)|, over the inputs whose f(x) is a normal number of the format;
* ``exact %``: the share of inputs whose result equals f(x) rounded to nearest even.

Inputs are measured where f(x) is finite and no larger than the format's largest finite value
(beyond it, the right answer is infinity and every unit gives it; the counts of special inputs
checked for the right special result are listed apart).

``--write-docs`` replaces the text between the ``<!-- numerics-accuracy -->`` markers in
docs/numerics.md.
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from hwgen.numerics import golden, parse_format  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    """x * Phi(x) with Phi(x) = erfc(-x / sqrt 2) / 2: 1 + erf(x / sqrt 2) would cancel for
    negative x (2% off at -8, 0 from -8.5), where bf16 still has values. GELU(-Inf) = -0."""
    finite = np.where(np.isfinite(x), x, 0.0)
    value = 0.5 * finite * _erfc(-finite / math.sqrt(2.0))
    return np.where(np.isfinite(x), value, np.where(x > 0, x, np.where(x < 0, -0.0, x)))


# (label, twin, twin keyword arguments, float64 reference)
UNITS = [
    ("exp", golden.fp_exp, {"base": "e"}, np.exp),
    ("exp2", golden.fp_exp, {"base": "2"}, np.exp2),
    ("recip", golden.fp_recip, {}, lambda x: 1.0 / x),
    ("rsqrt", golden.fp_rsqrt, {}, lambda x: 1.0 / np.sqrt(x)),
    ("gelu", golden.fp_gelu, {}, _gelu),
]


def ulp_at(values: np.ndarray, fmt) -> np.ndarray:
    """The spacing of ``fmt``'s values at each |value| (finite, not NaN)."""
    emin = 1 - fmt.bias
    magnitude = np.abs(values)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log2(np.where(magnitude > 0, magnitude, 1.0)))
    exponent = np.maximum(exponent, emin)
    return np.ldexp(1.0, (exponent - fmt.man_bits).astype(np.int32))


def measure(label, twin, kwargs, reference, fmt_name: str) -> dict:
    fmt = parse_format(fmt_name)
    bits = np.arange(1 << fmt.width, dtype=np.uint64)
    x = golden.decode(bits, fmt)
    y = golden.decode(twin(bits, fmt, **kwargs), fmt)
    with np.errstate(all="ignore"):
        want = reference(x)
    largest = float(golden.decode(np.array([fmt.inf() - 1], dtype=np.uint64), fmt)[0])
    smallest_normal = 2.0 ** (1 - fmt.bias)

    measured = np.isfinite(x) & np.isfinite(want) & (np.abs(want) <= largest)
    # The special inputs: NaN, infinities, and results outside the finite range. The right
    # answer there is a NaN for a NaN, else the float64 value (an infinity) as the format has it.
    special = ~measured
    want_special = golden.decode(golden.encode(want[special], fmt), fmt)
    got_special = y[special]
    special_ok = (np.isnan(want_special) & np.isnan(got_special)) | (want_special == got_special)

    error = np.abs(y[measured] - want[measured])
    ulps = error / ulp_at(want[measured], fmt)
    normal = np.abs(want[measured]) >= smallest_normal
    rel = error[normal] / np.abs(want[measured][normal])
    rounded = golden.decode(golden.encode(want[measured], fmt), fmt)
    exact = (y[measured] == rounded) | (np.isnan(y[measured]) & np.isnan(rounded))
    return {
        "unit": label, "format": fmt_name, "params": _parameters(twin, kwargs),
        "inputs": int(measured.sum()),
        "max_ulp": float(ulps.max()), "mean_ulp": float(ulps.mean()),
        "max_rel": float(rel.max()) if rel.size else float("nan"),
        "mean_rel": float(rel.mean()) if rel.size else float("nan"),
        "exact": float(exact.mean()),
        "special": f"{int(special_ok.sum())}/{int(special.sum())}",
    }


def _parameters(twin, kwargs) -> str:
    """The algorithm parameters in effect: the twin's defaults (the block's) and ``kwargs``."""
    values = {name: p.default for name, p in inspect.signature(twin).parameters.items()
              if p.kind == p.KEYWORD_ONLY}
    values.update(kwargs)
    values.pop("base", None)
    return ", ".join(f"{k}={v}" for k, v in values.items())


def markdown(rows: list[dict]) -> str:
    lines = ["| unit | format | parameters | inputs measured | max ulp | mean ulp | max rel | "
             "mean rel | exact % | special inputs right |", "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['unit']} | {r['format']} | {r['params']} | {r['inputs']} | "
                     f"{r['max_ulp']:.3f} | "
                     f"{r['mean_ulp']:.4f} | {r['max_rel']:.2e} | {r['mean_rel']:.2e} | "
                     f"{100 * r['exact']:.2f} | {r['special']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    rows = [measure(*unit, fmt) for unit in UNITS for fmt in ("fp16", "bf16")]
    text = markdown(rows)
    print(text)
    if args.write_docs:
        write_between_markers(ROOT / "docs" / "numerics.md", "numerics-accuracy", text)


if __name__ == "__main__":
    main()
