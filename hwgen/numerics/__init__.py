"""Numerics: number formats, floating-point operators in RTL, and their bit-exact NumPy twins
(``golden``), written independently of the RTL from the IEEE-754 rules."""

from .formats import PRESETS, FloatFormat, parse_format

__all__ = ["PRESETS", "FloatFormat", "parse_format"]
