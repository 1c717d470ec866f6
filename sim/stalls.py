"""Stall patterns: which cycles a bench agent holds back, as a pure function of (seed, cycle).

Every random stall in the benches (a source leaving a cycle empty, a sink holding ``ready``
low, a memory refusing a request or withholding a due response beat) is one independent
pattern per agent and role: in cycle ``c`` the agent stalls when

    lowbias32((seed + c) mod 2^32) < threshold,     threshold = round(p * 2^32)

``lowbias32`` is a 32-bit integer hash (two multiply-xorshift rounds, constants from Chris
Wellons' hash-prospector search), so a pattern is a Bernoulli(p) coin per cycle that any bench
can evaluate for any cycle without drawing in order: the python bench reads it here, the
compiled bench computes the same function in hardware (``sim.compiled.agents.StallBit``), and
tests/sim/test_stalls.py checks the two agree cycle for cycle. Seeds for every agent are drawn
once on the host from the run's seed (``agent_seeds``) and handed to either bench.
"""

from __future__ import annotations

import random

import numpy as np

MASK32 = (1 << 32) - 1
# lowbias32: x ^= x >> 16; x *= M1; x ^= x >> 15; x *= M2; x ^= x >> 16 (all mod 2^32)
M1 = 0x7FEB352D
M2 = 0x846CA68B
# cycles evaluated at once by a pattern's cache (the python bench asks cycle by cycle)
BLOCK = 4096


def threshold(probability: float) -> int:
    """The 32-bit threshold of a stall probability ``0 <= p < 1`` (0: never stall)."""
    if not 0 <= probability < 1:
        raise ValueError(f"stall probability {probability} is out of range: allowed 0 <= p < 1")
    return min(MASK32, int(round(probability * (1 << 32))))


def lowbias32(x):
    """The hash, on a Python int or a NumPy uint64 array (values below 2^32)."""
    if isinstance(x, np.ndarray):
        x = x.astype(np.uint64)
        m32 = np.uint64(MASK32)
        x ^= x >> np.uint64(16)
        x = (x * np.uint64(M1)) & m32
        x ^= x >> np.uint64(15)
        x = (x * np.uint64(M2)) & m32
        x ^= x >> np.uint64(16)
        return x
    x &= MASK32
    x ^= x >> 16
    x = (x * M1) & MASK32
    x ^= x >> 15
    x = (x * M2) & MASK32
    x ^= x >> 16
    return x


def stall_bits(seed: int, limit: int, start: int, count: int) -> np.ndarray:
    """The pattern for cycles ``start .. start + count - 1`` as a bool array."""
    if limit == 0:
        return np.zeros(count, dtype=bool)
    cycles = (np.arange(start, start + count, dtype=np.uint64) + np.uint64(seed & MASK32)) & np.uint64(MASK32)
    return lowbias32(cycles) < np.uint64(limit)


class StallPattern:
    """One agent's pattern: ``pattern[c]`` is True when the agent stalls in cycle ``c``."""

    def __init__(self, seed: int, limit: int):
        self.seed = int(seed) & MASK32
        self.limit = int(limit)
        self._start = -1
        self._bits = np.zeros(0, dtype=bool)

    @property
    def never(self) -> bool:
        return self.limit == 0

    def __getitem__(self, cycle: int) -> bool:
        if self.limit == 0:
            return False
        offset = cycle - self._start
        if not 0 <= offset < len(self._bits):
            self._start = cycle - cycle % BLOCK
            self._bits = stall_bits(self.seed, self.limit, self._start, BLOCK)
            offset = cycle - self._start
        return bool(self._bits[offset])


def agent_seeds(seed: int, count: int) -> list[int]:
    """``count`` 32-bit seeds drawn from the run's ``seed``, in a fixed order (the benches
    assign them to sources, sinks and memories in that order: see ``sim.runner.bench_job``)."""
    rng = random.Random(seed)
    return [rng.getrandbits(32) for _ in range(count)]
