"""The deep formal checks: every block at its flow point (or its smallest point) through
``hwgen formal``'s three modes, one table row per property and mode.

    python bench/formal.py [--blocks requant,fp_add,...] [--point flow|smallest]
                           [--depth 20] [--cover-depth 60] [--timeout 600]
    python bench/formal.py --equivalence [--blocks fp_gelu,...] [--depth 20] [--timeout 600]

For each block: ``bmc`` to ``--depth`` cycles, ``prove`` (k-induction with k = ``--depth``;
"proven" when it closes, else bounded to the depth its base case reached), ``cover`` to
``--cover-depth`` (the cycle each stream first moves a beat). A check that runs out of time is
reported with the depth it reached. The suite (tests/test_formal.py) runs the cheap part of
this at each block's smallest point.

``--equivalence``: every pair of variants a block declares (``Block.equivalent_variants``):
each float unit's latency 0 against its maximum at fp16, ``mac_array``'s ``tree_stages`` 0
against the whole tree, ``requant`` against its reference from the spec; by a miter
(``hwgen.formal.equivalence``) checked to ``--depth`` cycles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwgen import blocks, formal  # noqa: E402
from hwgen.generate import generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", default=",".join(blocks.names()))
    parser.add_argument("--point", choices=("flow", "smallest"), default="flow")
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--cover-depth", type=int, default=60)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--equivalence", action="store_true")
    args = parser.parse_args()
    if args.equivalence:
        return equivalences(args)

    totals = {"proven": 0, "bounded": 0, "failed": 0, "timeout": 0}
    with tempfile.TemporaryDirectory(prefix="hwgen-formal-") as scratch:
        for name in args.blocks.split(","):
            cls = blocks.block_class(name)
            params = dict(cls.flow_params) if args.point == "flow" else formal.formal_point(cls)
            block = cls(**params)
            generated = generate(block, Path(scratch) / "rtl")
            print(f"\n## {name} ({args.point} point: {params or 'defaults'})\n")
            print("| property | mode | depth | result | cycle | s |\n| --- | --- | --- | --- | --- | --- |")
            for mode, depth in (("bmc", args.depth), ("prove", args.depth), ("cover", args.cover_depth)):
                result = formal.check(generated, Path(scratch) / name / mode, mode=mode, depth=depth,
                                      timeout=args.timeout, relations=block.beat_relations(),
                                      covers=block.formal_covers,
                                      scenario=formal.Scenario.of(block) if mode == "cover" else None)
                reached = f"{result.depth_reached}/{depth}"
                for p in result.properties:
                    print(f"| {p.text} | {mode} | {reached} | {p.status or result.status.lower()} | "
                          f"{'' if p.step is None else p.step} | {result.wall_s:.1f} |")
                    if mode == "prove":
                        key = {"proven": "proven", "pass": "bounded", "fail": "failed"}.get(p.status, "timeout")
                        totals[key] += 1
                if result.failure:
                    print(f"\n{mode}: {result.failure}\n")
    print(f"\nassertions under prove: {totals['proven']} proven for all time, {totals['bounded']} bounded, "
          f"{totals['failed']} failed, {totals['timeout']} timed out or unknown")
    return 0


def variant_pairs(names):
    """(name, reference, candidate): the variants each of these blocks declares
    (``Block.equivalent_variants``) at its defaults, float units at fp16. mac_array at its
    default lanes and width, with 2 beats a vector, so that results leave within a few cycles
    (16 beats a vector would leave none within a BMC's reach)."""
    for name in names:
        cls = blocks.block_class(name)
        params = {"fmt": "fp16"} if "fmt" in cls.params.names() else {}
        if name == "mac_array":
            params = {"vector_length": 2}
        for reference, candidate in cls(**params).equivalent_variants():
            yield name, reference, candidate


def equivalences(args) -> int:
    print("| block | variants | depth | result | s |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="hwgen-equiv-") as scratch:
        for name, fast, slow in variant_pairs(args.blocks.split(",")):
            result = formal.equivalence(fast, slow, Path(scratch) / name, depth=args.depth,
                                        timeout=args.timeout)
            print(f"| {name} | {formal.pair_text(fast, slow)} | {result.depth_reached}/{args.depth} | "
                  f"{result.status} | {result.wall_s:.1f} |", flush=True)
            if result.failure:
                print(f"\n{name}: {result.failure}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
