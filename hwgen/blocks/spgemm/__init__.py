"""Row-wise SpGEMM with atomic scratchpad hashing, after SMASH (Shivdikar, 2021)."""

from . import traffic  # noqa: F401  (registers the system model: hwgen model spgemm)
from .rtl import SpgemmHash

__all__ = ["SpgemmHash"]
