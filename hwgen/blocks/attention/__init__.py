"""Decode attention over a flash-resident KV cache, after InstInfer (Pan et al., 2024)."""

from . import system  # noqa: F401  (registers the system model: hwgen model instinfer)
from .rtl import AttentionEngine

__all__ = ["AttentionEngine"]
