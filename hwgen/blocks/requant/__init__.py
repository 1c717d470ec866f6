"""``requant``: rescale a stream of wide integers to a narrow one (shift, round, saturate)."""

from .rtl import Requant

__all__ = ["Requant"]
