"""Accuracy of attention_engine's arithmetic (dense and SparF) against float64 attention.

    python bench/attention_accuracy.py [--queries 4] [--out FILE] [--write-docs]

The bit-exact twin (``hwgen.blocks.attention.golden.attention_twin``; the RTL equals it bit for
bit) runs ``--queries`` queries against one seeded KV cache per shape (head_dim 64 and 128,
seq_len 256, 1024 and 2048) for fp16 and bf16, on two stimulus kinds
(``golden.attention_inputs``): ``random`` (scores ~N(0, 1.5^2)) and ``concentrated`` (1-4
tokens per query with scores 10-14, the rest ~N(0, 1)). The reference is always dense
attention in float64 on the same decoded inputs, softmax(q K^T / sqrt(d)) V.

Cells are ``max / mean`` of |y - ref| in ulps of D at the query's max|ref| (so 1.0 is one
last-place unit of the output's largest element; relative to max|ref| that is between 0.5x
and 1x of ulps * 2**-(p-1), with p = 11 for fp16, 8 for bf16). A further table gives max |y - ref| / max|ref| at the largest shape. Rows: dense with each softmax kind; SparF (two_pass softmax) at several
(top_r, top_k); and, to separate the algorithm from the arithmetic, the float64 SparF algorithm
(``golden.sparf_float64``) at the same (r, k). The last table checks the dense bound of
docs/attention.md: the worst (|y - ref| - ulp_D(|ref|)) / (max|V| * 2**-p) over every element.

``--out`` also writes the text to a file; ``--write-docs`` replaces the text between the
``<!-- attention-accuracy -->`` markers in docs/attention.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402

from hwgen.blocks.attention import golden  # noqa: E402
from hwgen.numerics import golden as ng  # noqa: E402
from hwgen.numerics.formats import PRESETS  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

SEED = 6
SHAPES = ((64, 256), (64, 1024), (64, 2048), (128, 256), (128, 1024), (128, 2048))
SPARF_POINTS = ((16, 64), (32, 64), (32, 256), (64, 256))
KINDS = ("random", "concentrated")
DTYPES = ("fp16", "bf16")


def ulp(x: np.ndarray, dtype: str) -> np.ndarray:
    """The spacing of D at |x| (the subnormal spacing below the smallest normal)."""
    fmt = PRESETS[dtype]
    binade = np.maximum(np.floor(np.log2(np.maximum(np.abs(x), 1e-300))), 1 - fmt.bias)
    return np.ldexp(1.0, (binade - fmt.man_bits).astype(np.int32))


def methods() -> list[tuple[str, dict | None, tuple[int, int] | None]]:
    """(row label, twin keywords or None, float64 SparF (r, k) or None)."""
    rows = [("dense two_pass", {"mode": "dense", "softmax": "two_pass"}, None),
            ("dense online", {"mode": "dense", "softmax": "online"}, None)]
    for r, k in SPARF_POINTS:
        rows.append((f"SparF r={r} k={k}", {"mode": "sparf", "top_r": r, "top_k": k}, None))
    for r, k in SPARF_POINTS:
        rows.append((f"float64 SparF r={r} k={k}", None, (r, k)))
    return rows


def measure(dtype: str, kind: str, head_dim: int, seq_len: int, queries: int, rng):
    """{row label: (max ulps, mean ulps)} and the dense-bound coefficient for one shape."""
    fmt = PRESETS[dtype]
    x = golden.attention_inputs(rng, head_dim=head_dim, seq_len=seq_len, queries=queries,
                                dtype=dtype, kind=kind)
    ref = golden.attention_float64(x["q"], x["K"], x["V"], dtype)
    scale = ulp(np.max(np.abs(ref), axis=-1, keepdims=True), dtype)
    vmax = np.max(np.abs(ng.decode(x["V"], fmt)))
    cells, bound = {}, 0.0
    for label, twin_kwargs, sparf64 in methods():
        if twin_kwargs is not None:
            y = ng.decode(golden.attention_twin(x["q"], x["K"], x["V"], dtype=dtype,
                                                **twin_kwargs)["o"], fmt)
        else:
            y = golden.sparf_float64(x["q"], x["K"], x["V"], *sparf64, dtype=dtype)
        err = np.abs(y - ref) / scale
        relative = np.max(np.abs(y - ref) / np.max(np.abs(ref), axis=-1, keepdims=True))
        cells[label] = (float(err.max()), float(err.mean()), float(relative))
        if label.startswith("dense"):
            excess = (np.abs(y - ref) - ulp(ref, dtype)) / (vmax * 2.0 ** -fmt.precision)
            bound = max(bound, float(excess.max()))
    return cells, bound


def markdown(results: dict, bounds: dict, queries: int) -> str:
    out = []
    header = "| | " + " | ".join(f"d={d} n={n}" for d, n in SHAPES) + " |"
    rule = "|---|" + "---:|" * len(SHAPES)
    for dtype in DTYPES:
        for kind in KINDS:
            out += [f"**{dtype}, {kind}** ({queries} queries per shape; max / mean |y - ref| in "
                    f"ulps of {dtype} at max|ref|)", "", header, rule]
            for label, _, _ in methods():
                row = [f"{results[dtype, kind, shape][label][0]:.2f} / "
                       f"{results[dtype, kind, shape][label][1]:.3f}" for shape in SHAPES]
                out.append(f"| {label} | " + " | ".join(row) + " |")
            out.append("")
    largest = SHAPES[-1]
    columns = [(dtype, kind) for dtype in DTYPES for kind in KINDS]
    out += [f"**Largest relative error** max |y - ref| / max|ref| at d={largest[0]} "
            f"n={largest[1]}", "", "| | " + " | ".join(f"{d}, {k}" for d, k in columns) + " |",
            "|---|" + "---:|" * len(columns)]
    for label, _, _ in methods():
        out.append(f"| {label} | " + " | ".join(
            f"{results[dtype, kind, largest][label][2]:.2e}" for dtype, kind in columns) + " |")
    out.append("")
    out += ["**Dense bound check**: worst (|y - ref| - ulp_D(|ref|)) / (max|V| * 2^-p) over all "
            "elements, both softmax kinds (the documented bound allows 1.0)", "",
            "| | " + " | ".join(KINDS) + " |", "|---|" + "---:|" * len(KINDS)]
    for dtype in DTYPES:
        out.append(f"| {dtype} | " + " | ".join(f"{bounds[dtype, kind]:.3f}" for kind in KINDS)
                   + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    results, bounds = {}, {}
    for dtype in DTYPES:
        for kind in KINDS:
            bounds[dtype, kind] = 0.0
            for shape in SHAPES:
                rng = np.random.default_rng([SEED, DTYPES.index(dtype), KINDS.index(kind), *shape])
                cells, bound = measure(dtype, kind, *shape, args.queries, rng)
                results[dtype, kind, shape] = cells
                bounds[dtype, kind] = max(bounds[dtype, kind], bound)
    text = markdown(results, bounds, args.queries)
    print(text)
    print(f"({time.perf_counter() - started:.1f} s)", file=sys.stderr)
    if args.out:
        args.out.write_text(text + "\n")
    if args.write_docs:
        write_between_markers(ROOT / "docs" / "attention.md", "attention-accuracy", text)


if __name__ == "__main__":
    main()
