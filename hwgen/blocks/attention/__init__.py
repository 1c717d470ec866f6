"""Decode attention over a flash-resident KV cache, after InstInfer (Pan et al., 2024)."""

from .rtl import AttentionEngine

__all__ = ["AttentionEngine"]
