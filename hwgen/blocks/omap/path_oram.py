"""Path ORAM (Stefanov et al., CCS 2013) with a recursive position map: the baseline the
oblivious map is compared with (issue 7). A Python reference, not hardware: it answers reads
and writes and records the host trace the same way the map's benches do (which bucket of
which tree is read or written, in order).

Each tree holds ``blocks`` blocks in a binary tree of buckets of ``Z`` slots with
2**ceil(log2(blocks)) leaves; a block lives somewhere on the path to its leaf. An access reads
the whole path of the block's current leaf into the stash, gives the block a fresh uniform
leaf, and writes the path back from the leaf up, each bucket taking the stash blocks whose
own path passes through it. The position map (block -> leaf) of a tree is itself stored,
``pack`` leaves per block, in a smaller tree, recursively, until it has at most ``on_chip``
entries, which stay in trusted memory.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


class StashOverflow(RuntimeError):
    """The stash outgrew its bound: Path ORAM's failure event (probability negligible in the
    bound for Z = 4)."""


@dataclass
class _Tree:
    blocks: int
    z: int
    levels: int = field(init=False)
    buckets: list = field(init=False)
    stash: dict = field(default_factory=dict)     # block -> (leaf, data)

    def __post_init__(self):
        self.levels = max(1, math.ceil(math.log2(max(2, self.blocks))))
        self.buckets = [[] for _ in range(2 ** (self.levels + 1) - 1)]

    @property
    def leaves(self) -> int:
        return 2 ** self.levels

    def path(self, leaf: int) -> list[int]:
        """Bucket indices from the root (0) to ``leaf``'s bucket (heap order)."""
        node = leaf + self.leaves - 1
        nodes = [node]
        while node:
            node = (node - 1) // 2
            nodes.append(node)
        return nodes[::-1]


class PathOram:
    """``read(address)`` and ``write(address, value)`` over ``blocks`` blocks (values start
    as 0). ``trace`` lists (tree, bucket, "r" or "w") per host access: tree 0 holds the data,
    tree i + 1 tree i's position map."""

    def __init__(self, blocks: int, *, z: int = 4, pack: int = 8, on_chip: int = 64,
                 stash_bound: int = 200, seed: int = 1):
        if blocks < 1:
            raise ValueError(f"blocks={blocks} is out of range: allowed >= 1")
        if pack < 2:
            raise ValueError(f"pack={pack} is out of range: allowed >= 2")
        self.z, self.pack, self.stash_bound = z, pack, stash_bound
        self.rng = random.Random(seed)
        self.trees: list[_Tree] = []
        count = blocks
        while True:
            self.trees.append(_Tree(count, z))
            if count <= on_chip:
                break
            count = -(-count // pack)
        # every block starts at a uniform leaf (it is placed on first access: the stash
        # and tree start empty, and a missing block reads as its initial value)
        self.on_chip = [self.rng.randrange(self.trees[-1].leaves) for _ in range(self.trees[-1].blocks)]
        self.initial_leaves: list[dict] = [{} for _ in self.trees]
        self.trace: list[tuple[int, int, str]] = []
        self.max_stash = 0

    def read(self, address: int) -> int:
        return self._access(0, address, lambda value: value)[0]

    def write(self, address: int, value: int) -> None:
        self._access(0, address, lambda _: value)

    def blocks_moved_per_access(self) -> int:
        """Blocks read and written per logical access, over all trees."""
        return sum(2 * self.z * (tree.levels + 1) for tree in self.trees)

    # -- one access to tree ``level`` --------------------------------------------------------
    def _initial(self, level: int) -> object:
        return [None] * self.pack if level else 0

    def _leaf_swap(self, level: int, address: int, new_leaf: int) -> int:
        """The old leaf of ``address`` in tree ``level``, replaced by ``new_leaf``."""
        if level == len(self.trees) - 1:
            old, self.on_chip[address] = self.on_chip[address], new_leaf
            return old
        slot = address % self.pack

        def swap(entries):
            entries = list(entries)
            entries[slot] = new_leaf
            return entries

        old = self._access(level + 1, address // self.pack, swap)[0][slot]
        if old is None:  # never placed yet: its initial leaf, drawn on first use
            old = self.initial_leaves[level].setdefault(address, self.rng.randrange(self.trees[level].leaves))
        return old

    def _access(self, level: int, address: int, update) -> tuple[object, object]:
        """Read block ``address`` of tree ``level``, store ``update(value)``; return (old
        value, new value)."""
        tree = self.trees[level]
        if not 0 <= address < tree.blocks:
            raise ValueError(f"address={address} is out of range: allowed 0..{tree.blocks - 1}")
        new_leaf = self.rng.randrange(tree.leaves)
        leaf = self._leaf_swap(level, address, new_leaf)
        path = tree.path(leaf)
        for bucket in path:
            self.trace.append((level, bucket, "r"))
            for block, block_leaf, data in tree.buckets[bucket]:
                tree.stash[block] = (block_leaf, data)
            tree.buckets[bucket] = []
        old = tree.stash[address][1] if address in tree.stash else self._initial(level)
        new = update(old)
        tree.stash[address] = (new_leaf, new)
        for depth in range(len(path) - 1, -1, -1):
            bucket = path[depth]
            fits = [b for b, (b_leaf, _) in tree.stash.items() if tree.path(b_leaf)[depth] == bucket]
            chosen = fits[:tree.z]
            tree.buckets[bucket] = [(b, *tree.stash.pop(b)) for b in chosen]
            self.trace.append((level, bucket, "w"))
        self.max_stash = max(self.max_stash, len(tree.stash))
        if len(tree.stash) > self.stash_bound:
            raise StashOverflow(f"tree {level}: stash holds {len(tree.stash)} blocks, bound "
                                f"{self.stash_bound}")
        return old, new
