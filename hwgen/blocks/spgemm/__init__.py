"""Row-wise SpGEMM with atomic scratchpad hashing, after SMASH (Shivdikar, 2021)."""

from .rtl import SpgemmHash

__all__ = ["SpgemmHash"]
