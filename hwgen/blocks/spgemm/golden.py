"""Golden models of C = A x B for sparse A, B (:class:`~.matrices.Csr`), independent of any RTL.

Definition (Gustavson's row-wise product). Row i of C is the sum over the stored entries
A[i, k] of A[i, k] times row k of B. C's *pattern* is the symbolic product: C[i, j] is stored
exactly when some stored A[i, k] meets some stored B[k, j], even when the products cancel to 0
(a hash-accumulate engine keeps every key it ever inserted). Columns are sorted within a row.

Arithmetic, per value type (values are uint32 bit patterns, see ``matrices``):

* ``int32``: two's complement, products and sums modulo 2**32 (wrapping, like the RTL's
  adders), so the order does not matter.
* ``fp32``: the numerics library's twins (``hwgen.numerics.golden.fp_mul`` / ``fp_add`` on the
  ``fp32`` preset ``FloatFormat(8, 23)``: round to nearest even, subnormals kept, overflow to
  +-Inf, any NaN operand or invalid operation giving the canonical quiet NaN 0x7FC00000). The
  order is fixed: every product is rounded, p = fl32(A[i, k] * B[k, j]); C[i, j] starts as the
  product with the smallest k (not as 0 + p, which would turn a -0 product into +0) and each
  later product, in increasing k, is added with one rounding: C = fl32(C + p).

:func:`spgemm` forms every partial product at once (NumPy), then sorts them by (i, j, k), so
the accumulation order above holds exactly; ``tests/blocks/spgemm/test_golden.py`` also checks it
against a plain row-by-row Python loop.

Accuracy of fp32 against the exact product (:func:`fp32_error_bound`). For an entry with n
products and S = sum_k |A[i, k]| |B[k, j]|, recursive summation in the order above gives

    |C32 - C| <= gamma_n(2**-24) * S + n * 2**-149,   gamma_n(u) = n u / (1 - n u),

when nothing overflows (the second term covers products that fall below the normal range,
each rounded with an absolute error of at most 2**-150; sums are exact there). The float64
reference :func:`spgemm_float64` forms every product exactly (24 + 24 significand bits fit in
53, and no fp32 product underflows in float64) and adds them in float64, itself within
gamma_{n-1}(2**-53) * S of C; :func:`check_fp32_bound` allows the sum of both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...numerics import golden as ng
from ...numerics.formats import PRESETS
from .matrices import Csr, check_value_type

__all__ = ["BoundCheck", "check_fp32_bound", "expand", "flops", "fp32_error_bound", "gamma",
           "Product64", "spgemm", "spgemm_float64", "symbolic"]

FP32 = PRESETS["fp32"]
_MASK32 = np.uint64((1 << 32) - 1)
U32 = 2.0 ** -24           # unit roundoff of fp32
U64 = 2.0 ** -53           # unit roundoff of float64
FP32_UNDERFLOW = 2.0 ** -149


def _check_shapes(A: Csr, B: Csr) -> None:
    if not isinstance(A, Csr) or not isinstance(B, Csr):
        raise ValueError("spgemm: A and B must be Csr matrices")
    if A.cols != B.rows:
        raise ValueError(f"spgemm: inner dimensions differ: A is {A.rows} x {A.cols}, "
                         f"B is {B.rows} x {B.cols}")


@dataclass(frozen=True)
class Expansion:
    """Every partial product A[i, k] B[k, j] as parallel arrays, sorted by (i, j, k): ``rows``
    (i), ``cols`` (j), ``a_pos`` / ``b_pos`` (positions in A's / B's data). ``starts`` are the
    positions where a new (i, j) begins; ``indptr`` / ``indices`` are C's pattern."""

    rows: np.ndarray
    cols: np.ndarray
    a_pos: np.ndarray
    b_pos: np.ndarray
    starts: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray


def expand(A: Csr, B: Csr) -> Expansion:
    """All partial products of A x B in (i, j, k) order, and C's pattern."""
    _check_shapes(A, B)
    b_len = B.row_lengths()
    lens = b_len[A.indices]                           # products of each stored A[i, k]
    total = int(lens.sum())
    a_pos = np.repeat(np.arange(A.nnz, dtype=np.int64), lens)
    first = np.cumsum(lens) - lens                    # first product of each A entry
    b_pos = np.arange(total, dtype=np.int64) - np.repeat(first, lens) + np.repeat(B.indptr[A.indices], lens)
    rows = A.row_ids()[a_pos]
    cols = B.indices[b_pos]
    # generated in (i, k, j) order; a stable sort on (i, j) leaves k increasing within (i, j)
    order = np.argsort(rows * max(B.cols, 1) + cols, kind="stable")
    rows, cols, a_pos, b_pos = rows[order], cols[order], a_pos[order], b_pos[order]
    if total:
        new = np.concatenate([[True], (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])])
        starts = np.flatnonzero(new)
    else:
        starts = np.zeros(0, dtype=np.int64)
    indptr = np.zeros(A.rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows[starts], minlength=A.rows), out=indptr[1:])
    return Expansion(rows, cols, a_pos, b_pos, starts, indptr, cols[starts])


def flops(A: Csr, B: Csr) -> int:
    """Partial products of A x B: the sum over A's stored entries of the length of B's row."""
    _check_shapes(A, B)
    return int(B.row_lengths()[A.indices].sum())


def symbolic(A: Csr, B: Csr) -> tuple[np.ndarray, np.ndarray]:
    """C's pattern: ``(indptr, indices)``."""
    e = expand(A, B)
    return e.indptr, e.indices


def _accumulate_fp32(products: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum each group of ``products`` (uint64 fp32 patterns; groups begin at ``starts``) in
    order: the first product, then fl32(acc + p) for each later one."""
    if starts.size == 0:
        return np.zeros(0, dtype=np.uint64)
    lengths = np.diff(np.append(starts, products.size))
    acc = products[starts].copy()
    for t in range(1, int(lengths.max())):
        g = np.flatnonzero(lengths > t)
        acc[g] = ng.fp_add(acc[g], products[starts[g] + t], FP32)
    return acc


def spgemm(A: Csr, B: Csr, value_type: str = "int32") -> Csr:
    """C = A x B with the pattern and arithmetic of the module doc (``value_type`` int32 or
    fp32). C is ``A.rows x B.cols``; its data are uint32 patterns."""
    check_value_type(value_type)
    e = expand(A, B)
    a = A.data.astype(np.uint64)[e.a_pos]
    b = B.data.astype(np.uint64)[e.b_pos]
    if value_type == "int32":
        products = (a * b) & _MASK32                  # (2**32 - 1)**2 < 2**64: exact, then mod 2**32
        sums = np.add.reduceat(products, e.starts) if e.starts.size else np.zeros(0, np.uint64)
        data = (sums & _MASK32).astype(np.uint32)     # uint64 sums wrap mod 2**64: still exact mod 2**32
    else:
        products = ng.fp_mul(a, b, FP32) if a.size else np.zeros(0, np.uint64)
        data = _accumulate_fp32(products, e.starts).astype(np.uint32)
    return Csr((A.rows, B.cols), e.indptr, e.indices, data)


@dataclass(frozen=True)
class Product64:
    """The float64 reference on C's pattern: ``values`` (the products of the decoded inputs
    summed in float64), ``abs_sum`` (sum of |A[i, k]| |B[k, j]|, NaN when a term is NaN) and
    ``terms`` (n, the products per entry)."""

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    abs_sum: np.ndarray
    terms: np.ndarray

    def to_dense(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.float64)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        out[rows, self.indices] = self.values
        return out


def _decode(bits: np.ndarray, value_type: str) -> np.ndarray:
    u = bits.astype(np.uint32)
    return (u.view(np.int32) if value_type == "int32" else u.view(np.float32)).astype(np.float64)


def spgemm_float64(A: Csr, B: Csr, value_type: str = "fp32") -> Product64:
    """A x B in float64 on the decoded values (fp32 or int32), on the same pattern as
    :func:`spgemm`. For fp32 inputs every product is exact; the sums are rounded in float64."""
    check_value_type(value_type)
    e = expand(A, B)
    a = _decode(A.data, value_type)[e.a_pos]
    b = _decode(B.data, value_type)[e.b_pos]
    with np.errstate(invalid="ignore", over="ignore"):
        p = a * b
        if e.starts.size:
            values = np.add.reduceat(p, e.starts)
            abs_sum = np.add.reduceat(np.abs(p), e.starts)
        else:
            values = abs_sum = np.zeros(0)
    terms = np.diff(np.append(e.starts, p.size)).astype(np.int64)
    return Product64((A.rows, B.cols), e.indptr, e.indices, values, abs_sum, terms)


def gamma(n, u: float = U32):
    """gamma_n = n u / (1 - n u) (Higham), for n u < 1."""
    n = np.asarray(n, dtype=np.float64)
    if np.any(n * u >= 1):
        raise ValueError(f"gamma: n * u must be < 1 (n up to {1 / u:.0f})")
    return n * u / (1 - n * u)


def fp32_error_bound(terms, abs_sum):
    """The allowed |C32 - C64| per entry: (gamma_n(2**-24) + gamma_{n-1}(2**-53)) * S
    + n * 2**-149, with n = ``terms`` and S = ``abs_sum`` (see the module doc)."""
    n = np.asarray(terms, dtype=np.float64)
    s = np.asarray(abs_sum, dtype=np.float64)
    return (gamma(n, U32) + gamma(np.maximum(n - 1, 0), U64)) * s + n * FP32_UNDERFLOW


@dataclass(frozen=True)
class BoundCheck:
    """Result of :func:`check_fp32_bound`. ``checked`` entries were held to the bound;
    ``skipped_nonfinite`` had a NaN or infinite term (IEEE special cases, checked elsewhere);
    ``skipped_overflow`` had S beyond fp32's largest finite value, where an intermediate sum may
    overflow. ``violations`` lists (i, j, c32, c64, bound); ``max_ratio`` is the largest
    |C32 - C64| / bound over the checked entries (0 when there are none)."""

    checked: int
    skipped_nonfinite: int
    skipped_overflow: int
    max_ratio: float
    violations: tuple

    @property
    def ok(self) -> bool:
        return not self.violations


def check_fp32_bound(A: Csr, B: Csr, C: Csr | None = None) -> BoundCheck:
    """Check the fp32 product ``C`` (default: :func:`spgemm` in fp32) against float64 within
    :func:`fp32_error_bound`, entry by entry. C must have the symbolic pattern."""
    C = spgemm(A, B, "fp32") if C is None else C
    ref = spgemm_float64(A, B, "fp32")
    if not (np.array_equal(C.indptr, ref.indptr) and np.array_equal(C.indices, ref.indices)):
        raise ValueError("check_fp32_bound: C's pattern is not the symbolic product of A and B")
    got = _decode(C.data, "fp32")
    finite = np.isfinite(ref.abs_sum)
    overflow = finite & (ref.abs_sum > float(np.finfo(np.float32).max))
    use = finite & ~overflow
    bound = fp32_error_bound(ref.terms[use], ref.abs_sum[use])
    with np.errstate(invalid="ignore"):
        err = np.abs(got[use] - ref.values[use])
    bad_mask = ~(err <= bound)                        # NaN or Inf in C32 counts as a violation
    ratio = np.where(bound > 0, err / np.where(bound > 0, bound, 1), np.where(err == 0, 0.0, np.inf))
    rows = np.repeat(np.arange(C.rows), np.diff(C.indptr))[use]
    cols = C.indices[use]
    bad = np.flatnonzero(bad_mask)
    violations = tuple((int(rows[x]), int(cols[x]), float(got[use][x]), float(ref.values[use][x]),
                        float(bound[x])) for x in bad[:20])
    max_ratio = float(np.nanmax(ratio)) if ratio.size else 0.0
    return BoundCheck(int(use.sum()), int((~finite).sum()), int(overflow.sum()),
                      max_ratio, violations)
