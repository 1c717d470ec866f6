"""``mac_array``: a streaming dot-product unit (the building block of the PIM MAC units)."""

from .rtl import MacArray

__all__ = ["MacArray"]
