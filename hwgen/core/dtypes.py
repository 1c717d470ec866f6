"""The NumPy dtypes a user expects for a block's fields, and the bit patterns behind them.

Hardware fields travel as bit patterns: a float16 ``o`` as unsigned 16-bit integers, an int32
``C_data`` as unsigned 32-bit two's complement words. A block says which of its fields hold
numbers of a format NumPy can carry (``Block.field_dtypes()``: field name -> format), and the
functions here convert between the two views bit-exactly:

* ``natural(values, fmt)``: patterns (or already signed integer values) -> the format's NumPy
  dtype: ``float16``, ``float32``, ``float64``, ``ml_dtypes.bfloat16``, or the narrowest of
  ``int8 .. int64`` / ``uint8 .. uint64`` that holds an N-bit integer (sign-extended);
* ``bits(values, fmt)``: either view -> the unsigned patterns, as ``uint8 .. uint64``;
* ``to_natural(fields, formats)``: every declared field in its dtype, plus ``<field>_bits``
  with its patterns (what ``outputs.npz`` holds);
* ``from_natural(fields, formats)``: input fields given in a float format's dtype -> patterns
  (what the blocks' ``fields_to_beats`` take); integer fields are left to the block, which
  takes two's complement values.

A format is named by a string (``"float16"`` or ``"fp16"``, ``"bfloat16"`` or ``"bf16"``,
``"float32"`` / ``"fp32"``, ``"float64"`` / ``"fp64"``, ``"int<N>"``, ``"uint<N>"``), by an object
with ``exp_bits`` and ``man_bits`` (``hwgen.numerics.FloatFormat``) or by one with ``width`` and
``signed`` (an integer format), or is a :class:`FieldFormat`. Formats without a NumPy dtype
(fp8, other E,M float formats, integers wider than 64 bits) are kept as patterns: ``natural``
returns them unchanged and ``to_natural`` adds no ``_bits``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

# (exponent bits, mantissa bits) -> the dtype's name
FLOAT_DTYPES = {(5, 10): "float16", (8, 7): "bfloat16", (8, 23): "float32", (11, 52): "float64"}
_FLOAT_NAMES = {"float16": (5, 10), "fp16": (5, 10), "bfloat16": (8, 7), "bf16": (8, 7),
                "float32": (8, 23), "fp32": (8, 23), "float64": (11, 52), "fp64": (11, 52)}
BITS_SUFFIX = "_bits"


def bfloat16():
    """``ml_dtypes.bfloat16`` (NumPy has no bfloat16 of its own)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


@dataclass(frozen=True)
class FieldFormat:
    """A field's number format: ``kind`` "float" (IEEE-style, ``exp_bits`` and ``man_bits``)
    or "int" (``width`` bits, two's complement when ``signed``)."""

    kind: str
    width: int
    signed: bool = True
    exp_bits: int = 0
    man_bits: int = 0

    @property
    def name(self) -> str:
        if self.kind == "float":
            return FLOAT_DTYPES.get((self.exp_bits, self.man_bits),
                                    f"float E{self.exp_bits}M{self.man_bits}")
        return f"{'' if self.signed else 'u'}int{self.width}"

    @property
    def dtype(self) -> np.dtype | None:
        """The NumPy dtype of the values, or None when NumPy has none (patterns are kept)."""
        if self.kind == "float":
            name = FLOAT_DTYPES.get((self.exp_bits, self.man_bits))
            if name is None:
                return None
            return bfloat16() if name == "bfloat16" else np.dtype(name)
        if self.width > 64:
            return None
        return np.dtype(f"{'int' if self.signed else 'uint'}{_container(self.width)}")

    @property
    def bits_dtype(self) -> np.dtype | None:
        """The unsigned dtype of the patterns beside a converted field (``<field>_bits``)."""
        if self.dtype is None:
            return None
        return np.dtype(f"uint{8 * self.dtype.itemsize}")


def _container(width: int) -> int:
    return next(size for size in (8, 16, 32, 64) if width <= size)


def field_format(spec: Any) -> FieldFormat:
    """``spec`` (see the module's docstring) as a :class:`FieldFormat`."""
    if isinstance(spec, FieldFormat):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        if text in _FLOAT_NAMES:
            exp_bits, man_bits = _FLOAT_NAMES[text]
            return FieldFormat("float", 1 + exp_bits + man_bits, True, exp_bits, man_bits)
        match = re.fullmatch(r"(u?)int(\d+)", text)
        if match and int(match.group(2)) >= 1:
            return FieldFormat("int", int(match.group(2)), not match.group(1))
        raise ValueError(f"unknown field format {spec!r}: expected float16, bfloat16, float32, "
                         f"float64, int<N> or uint<N>")
    if hasattr(spec, "exp_bits") and hasattr(spec, "man_bits"):
        exp_bits, man_bits = int(spec.exp_bits), int(spec.man_bits)
        return FieldFormat("float", 1 + exp_bits + man_bits, True, exp_bits, man_bits)
    if hasattr(spec, "width") and hasattr(spec, "signed"):
        return FieldFormat("int", int(spec.width), bool(spec.signed))
    raise ValueError(f"unknown field format {spec!r}")


def _is_float_array(values: np.ndarray) -> bool:
    """A float dtype: NumPy's, or one of ml_dtypes' (bfloat16 has kind 'V')."""
    return values.dtype.kind == "f" or values.dtype.type.__module__.split(".")[0] == "ml_dtypes"


def _is_raw_void(values: np.ndarray) -> bool:
    """Plain bytes (``|V2``): how ``np.load`` gives back a saved ``ml_dtypes.bfloat16`` array."""
    return values.dtype.kind == "V" and values.dtype.names is None and not _is_float_array(values)


def bits(values, fmt, field: str = "field") -> np.ndarray:
    """``values`` (unsigned patterns, two's complement integer values, or the format's own
    dtype) as the format's unsigned patterns: ``uint8 .. uint64`` (the container of
    ``natural``), or ``uint64`` / Python ints for formats without a NumPy dtype. Values that do
    not fit the format, and floats of another dtype, are errors."""
    fmt = field_format(fmt)
    values = np.asarray(values)
    natural_dtype = fmt.dtype
    container = fmt.bits_dtype or (np.dtype(np.uint64) if fmt.width <= 64 else np.dtype(object))
    if fmt.kind == "float" and natural_dtype is not None and values.dtype == natural_dtype:
        return values.view(container)
    if (fmt.kind == "float" and natural_dtype is not None and _is_raw_void(values)
            and values.dtype.itemsize == natural_dtype.itemsize):
        return values.view(container)
    if _is_float_array(values) or _is_raw_void(values):
        raise ValueError(f"{field} holds {values.dtype} values, but its format is {fmt.name}: "
                         f"give {_wanted(fmt)}")
    if values.dtype != object and values.dtype.kind not in "iub":
        raise ValueError(f"{field} must hold {_wanted(fmt)}, got dtype {values.dtype}")
    low = -(1 << (fmt.width - 1)) if fmt.kind == "int" and fmt.signed else 0
    if values.size and (int(values.min()) < low or int(values.max()) >= 1 << fmt.width):
        raise ValueError(f"{field} holds values outside {low}..{(1 << fmt.width) - 1}: "
                         f"give {_wanted(fmt)}")
    mask = (1 << fmt.width) - 1
    if values.dtype == object or fmt.width > 64:
        flat = [int(v) & mask for v in values.ravel()]
        out = np.empty(len(flat), dtype=container)
        out[:] = flat
        return out.reshape(values.shape)
    if values.dtype.kind == "i":
        as_bits = values.astype(np.int64).view(np.uint64)
    else:
        as_bits = values.astype(np.uint64)
    return (as_bits & np.uint64(mask)).astype(container)


def natural(values, fmt, field: str = "field") -> np.ndarray:
    """``values`` (patterns, two's complement values or already natural) in the format's NumPy
    dtype, bit for bit (NaN payloads included); unchanged for a format without one."""
    fmt = field_format(fmt)
    values = np.asarray(values)
    natural_dtype = fmt.dtype
    if natural_dtype is None:
        return values
    if values.dtype == natural_dtype:
        return values
    patterns = bits(values, fmt, field)
    if fmt.kind == "float":
        return patterns.view(natural_dtype)
    if not fmt.signed:
        return patterns.astype(natural_dtype)
    wide = patterns.astype(np.uint64)
    sign = np.uint64(1 << (fmt.width - 1))
    # two's complement sign extension in wrapping 64-bit arithmetic: (x ^ sign) - sign
    return ((wide ^ sign) - sign).view(np.int64).astype(natural_dtype)


def to_natural(fields: Mapping[str, np.ndarray], formats: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``fields`` with every field ``formats`` declares (and NumPy has a dtype for) in that
    dtype, and beside it ``<field>_bits``: its unsigned patterns. Other fields as they are."""
    out = {}
    for name, values in fields.items():
        spec = formats.get(name)
        fmt = field_format(spec) if spec is not None else None
        if fmt is None or fmt.dtype is None:
            out[name] = values
            continue
        out[name] = natural(values, fmt, f"field '{name}'")
        out[name + BITS_SUFFIX] = bits(values, fmt, f"field '{name}'")
    return out


def from_natural(fields: Mapping[str, np.ndarray], formats: Mapping[str, Any],
                 block: str = "") -> dict[str, np.ndarray]:
    """Input ``fields`` as the blocks take them: a field whose format is a float and which
    holds floats (its format's dtype; for bfloat16 also the 2-byte voids ``np.load`` gives)
    becomes ``uint64`` patterns; a float field holding another float dtype, and an integer
    field holding floats, are errors (no silent rounding or reinterpretation). Everything
    else is left to the block (integer fields take two's complement values)."""
    out = dict(fields)
    for name, spec in formats.items():
        if name not in out:
            continue
        fmt = field_format(spec)
        values = np.asarray(out[name])
        if _is_float_array(values) or _is_raw_void(values):
            # floats for an integer field are refused here (bits() says what to give)
            where = f"{block + ' ' if block else ''}field '{name}'"
            out[name] = bits(values, fmt, where).astype(np.uint64)
    return out


def _wanted(fmt: FieldFormat) -> str:
    """What a field of ``fmt`` takes, for error messages."""
    dtype = fmt.dtype
    patterns = f"{fmt.width}-bit patterns"
    if dtype is None:
        return patterns
    name = "ml_dtypes.bfloat16" if dtype == bfloat16() else dtype.name
    if fmt.kind == "int":
        return f"{fmt.name} values (any integer dtype) or {patterns}"
    return f"{name} values or {patterns}"

