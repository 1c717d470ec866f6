"""Oblivious key-value map with a trusted HBM cache, after BOLT (Guo et al., CCS 2025)."""

from .rtl import OmapController

__all__ = ["OmapController"]
