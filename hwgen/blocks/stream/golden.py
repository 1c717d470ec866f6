"""What the stream adapters compute, from their definition: plain NumPy."""

from __future__ import annotations

import numpy as np


def split(beats: np.ndarray, counts: list[int]) -> dict[str, np.ndarray]:
    """Beat i goes to the output whose turn it is: ``counts[0]`` beats to ``y0``, then
    ``counts[1]`` to ``y1``, ..., repeating."""
    pattern = np.repeat(np.arange(len(counts)), counts)
    owner = pattern[np.arange(len(beats)) % len(pattern)]
    return {f"y{k}": beats[owner == k] for k in range(len(counts))}


def fork(beats: np.ndarray, outputs: int) -> dict[str, np.ndarray]:
    """Every output gets every beat, in order."""
    return {f"y{k}": beats.copy() for k in range(outputs)}
