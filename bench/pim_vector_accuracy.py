"""Accuracy of pim_vector_unit's four ops against float64, on GPT-like vectors.

    python bench/pim_vector_accuracy.py [--lanes 4] [--write-docs]

The golden model (``hwgen.blocks.pim.vector.golden``; the RTL equals it bit for bit, which
tests/blocks/pim/test_vector.py checks) runs each op on seeded random vectors of lengths 64 to
1024 with GPT-decoder-like statistics (``vector_golden.gpt_like``). The reference is the exact
definition in float64 on the same bf16 inputs:

* ADD: ``x + r``; GELU: ``x * Phi(x)``; SOFTMAX: ``exp(x - max x) / sum``;
* LAYERNORM: ``(x - mean) / sqrt(var + 1e-5) * gamma + beta`` (population variance).

Columns: ``abs`` = |y - ref|; ``ulp`` = that in units of bf16's last place at ref; ``rel`` =
|y - ref| / |ref|; ``ulp`` and ``rel`` are taken over the elements with |ref| at least 1% of
their vector's largest |ref| (below that, LayerNorm's outputs are differences that cancel,
and the absolute error is the meaningful one). ``exact %`` is the share of all elements equal
to ref rounded to bf16. A correctly rounded op has max ulp 0.5.

``--write-docs`` replaces the table between the ``<!-- pim-vector-accuracy -->`` markers in
docs/pim_vector_unit.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from hwgen.blocks.pim.vector import golden as vg  # noqa: E402
from hwgen.numerics import golden  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

LENGTHS = (64, 128, 256, 512, 768, 1024)
VECTORS_PER_LENGTH = 4
SEED = 2310
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def decode(bits) -> np.ndarray:
    return golden.decode(np.asarray(bits, dtype=np.uint64), vg.BF16)


def reference(op: str, item: dict) -> np.ndarray:
    x = decode(item["x"])
    if op == "add":
        return x + decode(item["r"])
    if op == "gelu":
        return 0.5 * x * _erfc(-x / math.sqrt(2.0))
    if op == "softmax":
        e = np.exp(x - x.max())
        return e / e.sum()
    return (x - x.mean()) / np.sqrt(x.var() + 1e-5) * decode(item["gamma"]) + decode(item["beta"])


def ulp_at(values: np.ndarray) -> np.ndarray:
    fmt = vg.BF16
    magnitude = np.abs(values)
    with np.errstate(divide="ignore"):
        exponent = np.floor(np.log2(np.where(magnitude > 0, magnitude, 1.0)))
    exponent = np.maximum(exponent, 1 - fmt.bias)
    return np.ldexp(1.0, (exponent - fmt.man_bits).astype(np.int32))


def measure(op: str, lanes: int, rng: np.random.Generator) -> dict:
    errors, ulps, rels, exact, count = [], [], [], 0, 0
    for length in LENGTHS:
        for _ in range(VECTORS_PER_LENGTH):
            item = vg.gpt_like(op, length, rng)
            y = decode(vg.apply(op, item, lanes=lanes))
            ref = reference(op, item)
            error = np.abs(y - ref)
            big = np.abs(ref) >= 0.01 * np.abs(ref).max()
            errors.append(error)
            ulps.append(error[big] / ulp_at(ref[big]))
            rels.append(error[big] / np.abs(ref[big]))
            exact += int(np.sum(y == decode(vg.bf16(ref))))
            count += length
    errors, ulps, rels = (np.concatenate(v) for v in (errors, ulps, rels))
    return {"op": op, "elements": count, "max_abs": errors.max(), "mean_abs": errors.mean(),
            "max_ulp": ulps.max(), "mean_ulp": ulps.mean(), "max_rel": rels.max(),
            "mean_rel": rels.mean(), "exact": exact / count}


def markdown(rows: list[dict], lanes: int) -> str:
    lines = [f"lanes={lanes}, lengths {', '.join(map(str, LENGTHS))} ({VECTORS_PER_LENGTH} vectors "
             f"each), seed {SEED}:", "",
             "| op | elements | max abs | mean abs | max ulp | mean ulp | max rel | mean rel | "
             "exact % |", "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r['op']} | {r['elements']} | {r['max_abs']:.2e} | {r['mean_abs']:.2e} | "
                     f"{r['max_ulp']:.2f} | {r['mean_ulp']:.3f} | {r['max_rel']:.2e} | "
                     f"{r['mean_rel']:.2e} | {100 * r['exact']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    rows = [measure(op, args.lanes, rng) for op in vg.OPS]
    text = markdown(rows, args.lanes)
    print(text)
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    if args.write_docs:
        write_between_markers(ROOT / "docs" / "pim_vector_unit.md", "pim-vector-accuracy", text)


if __name__ == "__main__":
    main()
