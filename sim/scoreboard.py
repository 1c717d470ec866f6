"""Bit-exact comparison of a design's outputs with its golden model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np


@dataclass(frozen=True)
class Mismatch:
    field: str
    index: tuple
    expected: object
    actual: object

    def __str__(self) -> str:
        where = ",".join(str(i) for i in self.index)
        return f"{self.field}[{where}]: expected {self.expected}, got {self.actual}"


@dataclass(frozen=True)
class Verdict:
    compared: int
    mismatches: int
    first: Mismatch | None
    problems: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.mismatches == 0 and not self.problems

    def __str__(self) -> str:
        if self.passed:
            return f"PASS: {self.compared} values bit-exact"
        parts = list(self.problems)
        if self.first is not None:
            parts.append(f"{self.mismatches} of {self.compared} values differ, first at {self.first}")
        return "FAIL: " + "; ".join(parts)


def compare(expected: Mapping[str, np.ndarray], actual: Mapping[str, np.ndarray]) -> Verdict:
    """Compare every expected field element by element, as exact integers. A float array
    (``float16``, ``ml_dtypes.bfloat16``, ...: a field in its natural dtype) is compared by
    its bit patterns, so NaN payloads and the sign of zero count and NaN equals itself."""
    compared = mismatches = 0
    first = None
    problems = []
    for field, want in expected.items():
        want = _as_bits(np.asarray(want))
        got = actual.get(field)
        if got is None:
            problems.append(f"{field}: no output")
            continue
        got = _as_bits(np.asarray(got))
        if got.shape != want.shape:
            problems.append(f"{field}: expected shape {want.shape}, got {got.shape}")
            continue
        differ = _differ(want, got)
        compared += want.size
        count = int(differ.sum())
        if count and first is None:
            index = tuple(int(i) for i in np.argwhere(differ)[0])
            first = Mismatch(field, index, _plain(want[index]), _plain(got[index]))
        mismatches += count
    return Verdict(compared, mismatches, first, tuple(problems))


def _as_bits(values: np.ndarray) -> np.ndarray:
    """A float array's bit patterns (unsigned, same width); any other array as it is."""
    is_float = values.dtype.kind == "f" or values.dtype.type.__module__.split(".")[0] == "ml_dtypes"
    if is_float and values.dtype.itemsize in (1, 2, 4, 8):
        return values.view(f"uint{8 * values.dtype.itemsize}")
    return values


def _differ(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    if want.dtype == object or got.dtype == object:
        flat = [int(w) != int(g) for w, g in zip(want.ravel(), got.ravel())]
        return np.array(flat, dtype=bool).reshape(want.shape)
    if want.dtype.kind in "iu" and got.dtype.kind in "iu" and want.dtype.kind != got.dtype.kind:
        # int64 vs uint64: compare as Python ints so no value wraps
        return _differ(want.astype(object), got.astype(object))
    return want != got


def _plain(value):
    return int(value) if np.ndim(value) == 0 else value
