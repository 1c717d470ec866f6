"""Data types of the PIM MAC units: the element formats a column access carries and the
accumulator each one sums into. Shared by the bank MAC, the channel and their golden models.

Floats travel as bit patterns of their format; integers as two's-complement patterns of their
width. A float accumulator is fp32 (any float input: bf16 and fp16 products are exact in fp32)
or bf16 (bf16 inputs only, as GDDR6-AiM offers). An integer accumulator is a signed integer
whose width is checked against the longest sum it must hold.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...numerics.formats import PRESETS, FloatFormat

DTYPES = ("bf16", "fp16", "int8", "int16")
ACCS = ("auto", "fp32", "bf16", "int")
MAX_INT_ACC = 64


def is_float(dtype: str) -> bool:
    return not dtype.startswith("int")


def element_bits(dtype: str) -> int:
    return PRESETS[dtype].width if is_float(dtype) else int(dtype[3:])


def element_format(dtype: str) -> FloatFormat | None:
    return PRESETS[dtype] if is_float(dtype) else None


def acc_kind(dtype: str, acc: str) -> str:
    """The accumulator actually used: ``auto`` is fp32 for floats and int for integers."""
    if acc == "auto":
        return "fp32" if is_float(dtype) else "int"
    return acc


def acc_format(dtype: str, acc: str) -> FloatFormat | None:
    kind = acc_kind(dtype, acc)
    return None if kind == "int" else PRESETS[kind]


def required_int_acc_width(dtype: str, terms: int) -> int:
    """The narrowest signed accumulator that holds any sum of ``terms`` products of two
    ``dtype`` integers: the extreme product is (-2**(w-1))**2 = 2**(2w-2)."""
    width = element_bits(dtype)
    largest = terms * (1 << (2 * width - 2))
    return largest.bit_length() + 1


def acc_bits(dtype: str, acc: str, acc_width: int, terms: int) -> int:
    """Width of the accumulator register: the float format's, or for integers ``acc_width``
    (0 = the minimum for ``terms`` products)."""
    fmt = acc_format(dtype, acc)
    if fmt is not None:
        return fmt.width
    return acc_width or required_int_acc_width(dtype, terms)


def dtype_rule(p: Mapping[str, Any], terms: int, terms_doc: str) -> str | None:
    """The cross-parameter rule on ``dtype``, ``acc`` and ``acc_width``: a ParamSet rule
    for any block that carries these three. ``terms`` is the longest sum the accumulator must
    hold exactly, described by ``terms_doc`` in the error message."""
    dtype, acc, acc_width = p["dtype"], p["acc"], p["acc_width"]
    kind = acc_kind(dtype, acc)
    if is_float(dtype):
        if kind == "int":
            return f"acc={acc} needs an integer dtype, got dtype={dtype}: allowed fp32, bf16 or auto"
        if kind == "bf16" and dtype != "bf16":
            return f"acc=bf16 needs dtype=bf16 (got dtype={dtype}): allowed fp32 or auto"
        if acc_width:
            return f"acc_width={acc_width} applies to integer accumulators only: allowed 0 with dtype={dtype}"
        return None
    if kind != "int":
        return f"acc={acc} needs a float dtype, got dtype={dtype}: allowed int or auto"
    need = required_int_acc_width(dtype, terms)
    if acc_width and not need <= acc_width <= MAX_INT_ACC:
        return (f"acc_width={acc_width} cannot hold {terms_doc} ({terms} products of {dtype}) "
                f"exactly: allowed 0 (automatic, {need}) or {need}..{MAX_INT_ACC}")
    if need > MAX_INT_ACC:
        return f"{terms_doc} ({terms} products of {dtype}) needs a {need}-bit accumulator: at most {MAX_INT_ACC}"
    return None
