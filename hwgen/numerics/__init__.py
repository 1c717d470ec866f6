"""Numerics: number formats (floating and fixed point), the operators and function units in
RTL (``rtl``), and their bit-exact NumPy twins (``golden``), written independently of the RTL
from the IEEE-754 rules and the documented algorithms. See docs/numerics.md."""

from .formats import OVERFLOWS, PRESETS, ROUNDINGS, FixedFormat, FloatFormat, parse_format

__all__ = ["OVERFLOWS", "PRESETS", "ROUNDINGS", "FixedFormat", "FloatFormat", "parse_format"]
