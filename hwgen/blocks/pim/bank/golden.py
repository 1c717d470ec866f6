"""NumPy reference of the PIM bank MAC (``pim_bank_mac``), written from the reduction contract
in docs/pim_bank_mac.md, never from the RTL. No Amaranth import.

One beat of ``lanes`` weights ``w`` and vector elements ``x`` is reduced as:

1. products ``p[i] = w[i] * x[i]``, rounded once into the accumulator format (for an fp32
   accumulator the bf16/fp16 operands are widened exactly first, so only underflow and
   overflow can round; bf16 products under a bf16 accumulator are rounded to bf16); integer
   products are exact;
2. a pairwise adder tree in the accumulator format: level 1 adds (p0+p1), (p2+p3), ...; an odd
   element passes up unchanged; repeat until one value ``s``;
3. ``acc <- acc + s``, one rounding in the accumulator format; integers wrap modulo
   ``2**acc_bits`` (only beyond the range the accumulator width is checked for).

Representation: float operands, biases and results are unsigned bit patterns (``np.uint64``)
of their format; integer operands are signed values (an unsigned array is read as
two's-complement patterns of the element width), integer biases and results are signed
``np.int64`` values already wrapped to ``acc_bits`` (``value & (2**acc_bits - 1)`` is the
register pattern).

How the float arithmetic is computed: with NumPy float32, whose operations are IEEE-754
binary32 with round to nearest even and gradual underflow, one rounding per operation. That is
exactly an fp32 accumulator. A bf16 accumulator rounds each float32 result once more, to bf16
(round to nearest even on the bit pattern); this double rounding is harmless because the
exact sum or product of two bf16 values is never within 2**-24 (relative) of a bf16 rounding
boundary without lying on it (24 >= 2 * 8 + 2 bits, Figueroa's condition), and float32 and bf16
share the exponent range. The IEEE details float32 leaves open are made explicit: every NaN
result becomes the canonical quiet NaN, and with ``ftz`` every subnormal operand is read as a
zero of its sign and every subnormal result becomes a zero of its sign. tests/blocks/pim/test_bank.py
checks this against the scalar twins of ``hwgen.numerics.golden``, which share nothing with it.
"""

from __future__ import annotations

import numpy as np

from ....numerics.formats import PRESETS, FloatFormat
from ....numerics.golden import fp_accumulate
from ...common.dtypes import acc_format, acc_kind, element_bits, element_format, is_float

__all__ = ["accumulate", "bank_dot", "dot_rows", "float_operands", "int_operands",
           "interleaved_reads", "wrap"]

FP32 = PRESETS["fp32"]
BF16 = PRESETS["bf16"]


# -- operand checking ---------------------------------------------------------------------------

def float_operands(values, fmt: FloatFormat, name: str) -> np.ndarray:
    """``values`` checked as ``fmt`` bit patterns, as ``np.uint64``."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu" and not (arr.dtype == object or arr.size == 0):
        raise TypeError(f"{name}: expected integer bit patterns, got dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >> fmt.width):
        raise ValueError(f"{name}: {fmt.name} bit patterns must lie in 0..{(1 << fmt.width) - 1}")
    return arr.astype(np.uint64)


def int_operands(values, bits: int, name: str) -> np.ndarray:
    """``values`` as signed ``bits``-bit integers (``np.int64``): a signed array must hold values
    in range, an unsigned one is read as two's-complement patterns."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu" and not (arr.dtype == object or arr.size == 0):
        raise TypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "u":
        if arr.size and int(arr.max()) >> bits:
            raise ValueError(f"{name}: {bits}-bit patterns must lie in 0..{(1 << bits) - 1}")
        return wrap(arr.astype(np.uint64).view(np.int64), bits)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if arr.size and (int(arr.min()) < low or int(arr.max()) > high):
        raise ValueError(f"{name}: {bits}-bit signed values must lie in {low}..{high}")
    return arr.astype(np.int64)


def wrap(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` (int64) reduced modulo ``2**bits`` into the signed range (two's complement)."""
    values = np.asarray(values, dtype=np.int64)
    if bits >= 64:
        return values
    shift = np.int64(64 - bits)
    return (values << shift) >> shift


# -- float32 as the carrier of fp32 and bf16 ------------------------------------------------------

def _subnormal32(v: np.ndarray) -> np.ndarray:
    return (v != 0) & (np.abs(v) < np.float32(2.0 ** -126))


def _flush32(v: np.ndarray, ftz: bool) -> np.ndarray:
    """Subnormal values (fp32 and bf16 share this range) become zeros of their sign."""
    if not ftz:
        return v
    return np.where(_subnormal32(v), np.copysign(np.float32(0), v), v).astype(np.float32)


def _to_bf16(v: np.ndarray) -> np.ndarray:
    """float32 values rounded to nearest even into bf16, still carried as float32. A NaN becomes
    the canonical NaN (the bit trick below could otherwise carry a NaN into Inf)."""
    bits = v.view(np.uint32).astype(np.uint64)
    rounded = ((bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1)))
               >> np.uint64(16)) << np.uint64(16)
    rounded = np.where(np.isnan(v), np.uint64(BF16.canonical_nan << 16), rounded)
    return rounded.astype(np.uint32).view(np.float32)


def _element_values(patterns: np.ndarray, dtype: str, ftz: bool) -> np.ndarray:
    """bf16/fp16 patterns as exact float32 values (after DAZ when ``ftz``)."""
    fmt = element_format(dtype)
    if ftz:
        exp_field = (patterns >> np.uint64(fmt.man_bits)) & np.uint64(fmt.exp_max)
        patterns = np.where(exp_field == 0, patterns & np.uint64(1 << (fmt.width - 1)), patterns)
    if dtype == "bf16":
        return (patterns.astype(np.uint32) << np.uint32(16)).view(np.float32)
    return patterns.astype(np.uint16).view(np.float16).astype(np.float32)


def _acc_values(patterns, kind: str, name: str) -> np.ndarray:
    fmt = PRESETS[kind]
    bits = float_operands(patterns, fmt, name).astype(np.uint32)
    if kind == "bf16":
        bits = bits << np.uint32(16)
    return np.asarray(bits).view(np.float32)


def _acc_patterns(values: np.ndarray, kind: str) -> np.ndarray:
    """float32 carriers back to accumulator patterns, NaNs canonical."""
    values = np.asarray(values, dtype=np.float32)
    bits = values.view(np.uint32).astype(np.uint64)
    if kind == "bf16":
        bits = bits >> np.uint64(16)
    return np.where(np.isnan(values), np.uint64(PRESETS[kind].canonical_nan), bits)


class _FloatOps:
    """Multiply and add in the accumulator format, on float32 carriers."""

    def __init__(self, kind: str, ftz: bool):
        self.round = _to_bf16 if kind == "bf16" else (lambda v: v)
        self.ftz = ftz

    def mul(self, a, b):
        # Operands are already DAZ'd element values; the product rounds once (float32), then
        # once more to bf16 for a bf16 accumulator.
        return _flush32(self.round(a * b), self.ftz)

    def add(self, a, b):
        a, b = _flush32(a, self.ftz), _flush32(b, self.ftz)
        return _flush32(self.round(a + b), self.ftz)


def _tree(products: np.ndarray, add) -> np.ndarray:
    """The pairwise tree over the last axis: (p0+p1), (p2+p3), ...; an odd one passes up."""
    level = products
    while level.shape[-1] > 1:
        pairs = level.shape[-1] // 2
        sums = add(level[..., 0:2 * pairs:2], level[..., 1:2 * pairs:2])
        if level.shape[-1] % 2:
            sums = np.concatenate([sums, level[..., -1:]], axis=-1)
        level = sums
    return level[..., 0]


def _float_sums(weights, vector, dtype: str, kind: str, ftz: bool) -> np.ndarray:
    """Tree sums as float32 carriers (unrounded NaN payloads allowed), shape weights.shape[:-1]."""
    fmt = element_format(dtype)
    w = _element_values(float_operands(weights, fmt, "weights"), dtype, ftz)
    x = _element_values(float_operands(vector, fmt, "vector"), dtype, ftz)
    ops = _FloatOps(kind, ftz)
    with np.errstate(all="ignore"):
        return _tree(ops.mul(w, x), ops.add)


def _check_lanes(weights, vector):
    w, x = np.shape(weights), np.shape(vector)
    if not w or not x or w[-1] != x[-1] or w[-1] < 1:
        raise ValueError(f"weights {w} and vector {x} must share a last (lanes) axis of at least 1")


# -- public API ---------------------------------------------------------------------------------

def bank_dot(weights, vector, dtype: str, acc: str = "auto", ftz: bool = False) -> np.ndarray:
    """The tree sum ``s`` of each beat: ``weights`` (..., lanes) times ``vector`` (broadcast,
    (..., lanes)), products and tree in the accumulator format. Floats: accumulator bit
    patterns (``np.uint64``); integers: exact ``np.int64`` values."""
    _check_lanes(weights, vector)
    kind = acc_kind(dtype, acc)
    if is_float(dtype):
        return _acc_patterns(_float_sums(weights, vector, dtype, kind, ftz), kind)
    bits = element_bits(dtype)
    products = int_operands(weights, bits, "weights") * int_operands(vector, bits, "vector")
    return _tree(products, np.add)


def accumulate(total, sums, dtype: str, acc: str = "auto", ftz: bool = False,
               acc_bits: int = 64) -> np.ndarray:
    """``total + sums`` elementwise with one rounding in the accumulator format (floats, bit
    patterns), or exactly and wrapped to ``acc_bits`` (integers, signed values)."""
    kind = acc_kind(dtype, acc)
    if kind == "int":
        total = int_operands(total, acc_bits, "total")
        return wrap(total + np.asarray(sums, dtype=np.int64), acc_bits)
    ops = _FloatOps(kind, ftz)
    with np.errstate(all="ignore"):
        out = ops.add(_acc_values(total, kind, "total"), _acc_values(sums, kind, "sums"))
    return _acc_patterns(out, kind)


def dot_rows(weights, vector, dtype: str, acc: str = "auto", bias=None, ftz: bool = False,
             acc_bits: int = 64, slots: int = 0) -> np.ndarray:
    """The accumulator after a whole matrix-vector pass: for each row ``r``, ``acc`` starts at
    ``bias[r]`` (default 0, i.e. +0 for floats) and takes ``acc <- acc + s[r, b]`` for each beat
    ``b`` in order, ``s`` being :func:`bank_dot` of ``weights[r, b]`` and ``vector[b]``.

    ``slots`` > 0 (floats): a pipelined accumulator's order instead (``slots`` partial sums:
    ``acc_latency + 1`` for the interleaved one, what :func:`interleaved_reads` returns for a
    load of the bias, the beats and a read; 1 or 2 for the spaced one a channel builds): the row's elements ``bias, s[r, 0], ..., s[r, beats - 1], -0`` summed as
    ``hwgen.numerics.golden.fp_accumulate`` sums one run.

    ``weights`` is (rows, beats, lanes), ``vector`` (beats, lanes). Returns (rows,): float
    accumulator patterns (``np.uint64``) or signed integers wrapped to ``acc_bits``. With no
    beats the bias comes back unchanged (a loaded pattern is not rounded).
    """
    weights = np.asarray(weights)
    vector = np.asarray(vector)
    if weights.ndim != 3 or vector.ndim != 2 or weights.shape[1:] != vector.shape:
        raise ValueError(f"weights must be (rows, beats, lanes) and vector (beats, lanes), "
                         f"got {weights.shape} and {vector.shape}")
    rows, beats, _ = weights.shape
    kind = acc_kind(dtype, acc)
    fmt = acc_format(dtype, acc)
    if kind == "int":
        start = np.zeros(rows, np.int64) if bias is None else \
            int_operands(np.broadcast_to(bias, (rows,)), acc_bits, "bias")
        if beats == 0:
            return start.copy()
        sums = bank_dot(weights, vector, dtype, acc, ftz)
        # int64 arithmetic wraps modulo 2**64, and acc_bits <= 64: one wrap at the end is the
        # same as a wrap after every beat.
        return wrap(start + sums.sum(axis=1, dtype=np.int64), acc_bits)
    start = np.zeros(rows, np.uint64) if bias is None else \
        float_operands(np.broadcast_to(bias, (rows,)), fmt, "bias")
    if slots:
        elements = np.empty((rows, beats + 2), dtype=np.uint64)
        elements[:, 0] = start
        elements[:, 1:-1] = bank_dot(weights, vector, dtype, acc, ftz).reshape(rows, beats)
        elements[:, -1] = 1 << (fmt.width - 1)
        ends = np.zeros(elements.shape, dtype=np.int64)
        ends[:, -1] = 1
        return fp_accumulate(elements, ends, fmt, slots, ftz)
    if beats == 0:
        return start.copy()
    sums = _float_sums(weights, vector, dtype, kind, ftz)
    ops = _FloatOps(kind, ftz)
    total = _acc_values(start, kind, "bias")
    with np.errstate(all="ignore"):
        for beat in range(beats):
            total = ops.add(total, sums[:, beat])
    return _acc_patterns(total, kind)


def interleaved_reads(ops, sums, bias, fmt: FloatFormat, slots: int, ftz: bool = False) -> np.ndarray:
    """What the reads of an operation stream return under an interleaved float accumulator
    (``acc_latency`` > 0: ``slots = acc_latency + 1``), in the order docs/pim_bank_mac.md states.

    The accumulator holds one running sum of elements, summed as
    ``hwgen.numerics.golden.fp_accumulate`` sums a run with ``slots`` partial sums. The first
    sum starts with +0 (a cleared accumulator). A MAC (op 0) appends its beat sum (``sums``, in
    order). A load or read (ops 1-3: bit 0 loads, bit 1 reads) appends -0 and closes the sum; a
    read returns its value; the next sum starts with the bias (a load; a read-and-clear loads
    +0) or, after a read alone, with the value read. Patterns of ``fmt`` in and out
    (``np.uint64``)."""
    minus_zero = 1 << (fmt.width - 1)
    elements, reads, index = [0], [], 0
    for op, loaded in zip(np.asarray(ops).tolist(), np.asarray(bias).tolist()):
        if op == 0:
            elements.append(int(sums[index]))
            index += 1
            continue
        elements.append(minus_zero)
        ends = np.zeros(len(elements), dtype=np.int64)
        ends[-1] = 1
        total = int(fp_accumulate(np.asarray(elements, dtype=np.uint64), ends, fmt, slots, ftz)[0])
        if op >> 1:
            reads.append(total)
        elements = [(0 if op >> 1 else int(loaded)) if op & 1 else total]
    return np.asarray(reads, dtype=np.uint64)
