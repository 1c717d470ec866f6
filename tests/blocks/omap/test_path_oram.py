"""The Path ORAM baseline (hwgen/blocks/omap/path_oram.py): answers like a dict, its stash
stays small, and its host trace has the same shape whatever the workload."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from hwgen.blocks.omap.path_oram import PathOram, StashOverflow


def workload(kind: str, n: int, length: int, rng: random.Random):
    if kind == "one_key":
        return [("r", 7, None)] * length
    if kind == "sequential":
        return [("w", i % n, i) for i in range(length)]
    return [(rng.choice("rw"), rng.randrange(n), rng.randrange(1 << 30)) for _ in range(length)]


@pytest.mark.parametrize("blocks", [1, 5, 64, 1000])
def test_answers_like_a_dict(blocks):
    rng = random.Random(blocks)
    oram, reference = PathOram(blocks, seed=blocks), {}
    for _ in range(1500):
        address = rng.randrange(blocks)
        if rng.random() < 0.5:
            value = rng.randrange(1 << 30)
            oram.write(address, value)
            reference[address] = value
        else:
            assert oram.read(address) == reference.get(address, 0)


def test_recursion_and_stash():
    oram = PathOram(4096, pack=8, on_chip=64, seed=3)
    assert [t.blocks for t in oram.trees] == [4096, 512, 64]
    rng = random.Random(3)
    for i in range(3000):
        oram.write(rng.randrange(4096), i)
    assert oram.max_stash < 60
    # one slot per bucket and no stash overflow soon: the failure is reported, not hidden
    with pytest.raises(StashOverflow, match="stash holds"):
        tight = PathOram(64, z=1, stash_bound=0, seed=1)
        for i in range(200):
            tight.write(i % 64, i)


def test_trace_shape_is_the_same_for_every_workload():
    shapes = []
    for kind in ("one_key", "sequential", "random"):
        oram = PathOram(1000, seed=11)
        for op, address, value in workload(kind, 1000, 300, random.Random(1)):
            oram.read(address) if op == "r" else oram.write(address, value)
        shapes.append([(tree, op) for tree, _, op in oram.trace])
        assert len(oram.trace) == 300 * oram.blocks_moved_per_access() // oram.z
    assert shapes[0] == shapes[1] == shapes[2]


def test_leaves_read_are_uniform_even_for_one_key():
    oram = PathOram(256, seed=5)
    for _ in range(4000):
        oram.read(7)
    tree = oram.trees[0]
    leaves = Counter(bucket - (tree.leaves - 1) for level, bucket, op in oram.trace
                     if level == 0 and op == "r" and bucket >= tree.leaves - 1)
    expected = 4000 / tree.leaves
    chi_square = sum((leaves.get(leaf, 0) - expected) ** 2 / expected for leaf in range(tree.leaves))
    # 255 degrees of freedom: the 99.9% point is about 330
    assert chi_square < 330, chi_square


def test_bad_sizes():
    with pytest.raises(ValueError, match="blocks=0"):
        PathOram(0)
    with pytest.raises(ValueError, match="address=9 is out of range: allowed 0..7"):
        PathOram(8).read(9)
