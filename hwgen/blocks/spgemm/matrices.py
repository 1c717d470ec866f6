"""Sparse matrices for SpGEMM: a CSR container, a Matrix Market reader and writer, seeded
generators (uniform random, R-MAT, power-law rows) and named edge cases.

Values travel as ``uint32`` bit patterns, exactly as they would on the engine's memory port:

* ``int32``: two's complement (``-1`` is ``0xFFFFFFFF``);
* ``fp32``: IEEE-754 binary32 bits (``1.0`` is ``0x3F800000``; ``-0.0`` is ``0x80000000``).

:func:`to_bits` and :func:`from_bits` convert between readable values and patterns.

A :class:`Csr` stores only its listed entries: a stored entry may hold the value 0 (an explicit
zero, e.g. an fp32 ``+0``), and a position that is not stored is not part of the sparsity
pattern. Column indices are sorted within each row and never repeat. Shapes with zero rows or
columns (``0 x n``, ``n x 0``) are allowed.

Nothing here needs SciPy: the tests use it only to check the golden model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...core import checks

__all__ = [
    "Csr", "edge_cases", "from_bits", "ones", "power_law_rows", "random_values", "read_mtx",
    "rmat", "to_bits", "uniform_random", "VALUE_MODES", "VALUE_TYPES", "write_mtx",
]

VALUE_TYPES = ("int32", "fp32")
VALUE_MODES = ("ones", "random", "file")
# rows and columns a Matrix Market file may declare: the CSR row pointers (8 bytes a row) and
# the product's per-row work stay within a few hundred MiB
MAX_MTX_DIMENSION = 1 << 24
RANDOM_INT_LIMIT = 8            # random int32 values: -8..8, never 0
_MASK32 = (1 << 32) - 1
_ONE_BITS = {"int32": 1, "fp32": 0x3F800000}


def check_value_type(value_type: str) -> str:
    if value_type not in VALUE_TYPES:
        raise ValueError(f"value_type={value_type!r} is out of range: allowed {', '.join(VALUE_TYPES)}")
    return value_type


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng={rng!r}: expected a numpy Generator, an integer seed or None (seed 0)")


# -- values <-> bit patterns ----------------------------------------------------------------------

def to_bits(values, value_type: str) -> np.ndarray:
    """Readable values as ``uint32`` patterns. ``int32``: integers in -2**31 .. 2**31-1;
    ``fp32``: any real numbers, rounded to float32 (nearest even; beyond the range, +-Inf)."""
    check_value_type(value_type)
    arr = np.asarray(values)
    if value_type == "int32":
        if arr.size == 0:
            return np.zeros(arr.shape, dtype=np.uint32)
        if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "O" and all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr.ravel().tolist())):
            raise ValueError(f"int32 values: expected integers, got an array of dtype {arr.dtype}")
        if arr.dtype == np.uint32:
            raise ValueError("int32 values: got a uint32 array; bit patterns need no conversion")
        wide = arr.astype(object) if arr.dtype.kind == "O" else arr.astype(np.int64)
        low, high = -(1 << 31), (1 << 31) - 1
        if arr.dtype == np.uint64 and arr.size and int(arr.max()) > high:
            raise ValueError(f"int32 values: {int(arr.max())} is out of range {low}..{high}")
        if wide.size and (min(wide.ravel().tolist()) < low or max(wide.ravel().tolist()) > high):
            raise ValueError(f"int32 values must lie in {low}..{high}")
        return (np.asarray(wide, dtype=np.int64) & _MASK32).astype(np.uint32)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"fp32 values: expected real numbers, got an array of dtype {arr.dtype}")
    with np.errstate(over="ignore"):
        return np.asarray(arr, dtype=np.float64).astype(np.float32).view(np.uint32)


def from_bits(bits, value_type: str) -> np.ndarray:
    """``uint32`` patterns as ``np.int32`` (int32) or ``np.float32`` (fp32) values."""
    check_value_type(value_type)
    arr = np.asarray(bits)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"bits: expected integer bit patterns, got an array of dtype {arr.dtype}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > _MASK32):
        raise ValueError("bits: patterns must lie in 0..2**32-1")
    u = arr.astype(np.uint32)
    return u.view(np.int32) if value_type == "int32" else u.view(np.float32)


def ones(n: int, value_type: str) -> np.ndarray:
    """``n`` patterns of the value 1."""
    return np.full(int(n), _ONE_BITS[check_value_type(value_type)], dtype=np.uint32)


def random_values(n: int, rng, value_type: str) -> np.ndarray:
    """``n`` seeded random patterns: int32 -8..8 without 0; fp32 standard normal (never 0)."""
    check_value_type(value_type)
    rng = _rng(rng)
    if value_type == "int32":
        magnitude = rng.integers(1, RANDOM_INT_LIMIT + 1, size=int(n))
        sign = rng.integers(0, 2, size=int(n)) * 2 - 1
        return to_bits(magnitude * sign, "int32")
    values = rng.standard_normal(int(n)).astype(np.float32)
    values[values == 0] = np.float32(1.0)
    return values.view(np.uint32)


def _values(n: int, values: str, rng, value_type: str) -> np.ndarray:
    if values == "ones":
        return ones(n, value_type)
    if values == "random":
        return random_values(n, rng, value_type)
    raise ValueError(f"values={values!r} is out of range: allowed ones, random")


# -- CSR ------------------------------------------------------------------------------------------

def _index_array(field: str, value) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"Csr {field}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"Csr {field}: expected integers, got an array of dtype {arr.dtype}")
    return arr.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Csr:
    """A sparse matrix in compressed sparse row form.

    ``shape`` is ``(rows, cols)``; row ``i`` holds the entries ``indices[indptr[i]:indptr[i+1]]``
    (column indices, strictly increasing) with the values ``data[...]`` (``uint32`` bit patterns,
    see the module doc). The arrays are copied and made read-only: ``indptr`` and ``indices`` as
    int64, ``data`` as uint32 (an ``int32`` array is taken as two's complement patterns; any
    other integer array must lie in 0..2**32-1; floats are refused, see :func:`to_bits`).
    Every inconsistency raises a ``ValueError`` that names the field.
    """

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    def __post_init__(self):
        shape = self.shape
        try:
            dims = tuple(shape)
        except TypeError:
            dims = ()
        if (len(dims) != 2 or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                      for s in dims) or min(dims) < 0):
            raise ValueError(f"Csr shape: expected (rows, cols) of non-negative integers, got {shape!r}")
        rows, cols = int(dims[0]), int(dims[1])
        indptr = _index_array("indptr", self.indptr)
        indices = _index_array("indices", self.indices)
        data = np.asarray(self.data)
        if data.ndim != 1:
            raise ValueError(f"Csr data: expected a 1-D array, got shape {data.shape}")
        if data.size == 0:
            data = np.zeros(0, dtype=np.uint32)
        elif data.dtype == np.int32:
            data = data.view(np.uint32)
        elif data.dtype.kind in "iu":
            if int(data.min()) < 0 or int(data.max()) > _MASK32:
                raise ValueError("Csr data: bit patterns must lie in 0..2**32-1 (pass int32 "
                                 "values as an int32 array, or convert with to_bits)")
        else:
            raise ValueError(f"Csr data: expected uint32 bit patterns, got an array of dtype "
                             f"{data.dtype} (convert values with to_bits)")
        if indptr.size != rows + 1:
            raise ValueError(f"Csr indptr: expected rows + 1 = {rows + 1} entries, got {indptr.size}")
        if indptr[0] != 0:
            raise ValueError(f"Csr indptr: must start at 0, starts at {indptr[0]}")
        if rows and np.any(np.diff(indptr) < 0):
            row = int(np.flatnonzero(np.diff(indptr) < 0)[0])
            raise ValueError(f"Csr indptr: decreases at row {row} ({indptr[row]} -> {indptr[row + 1]})")
        if indptr[-1] != indices.size:
            raise ValueError(f"Csr indptr: ends at {indptr[-1]} but indices has {indices.size} entries")
        if data.size != indices.size:
            raise ValueError(f"Csr data: {data.size} values for {indices.size} indices")
        if indices.size:
            if indices.min() < 0 or indices.max() >= cols:
                bad = int(np.flatnonzero((indices < 0) | (indices >= cols))[0])
                raise ValueError(f"Csr indices: column {indices[bad]} at position {bad} is out of "
                                 f"range 0..{cols - 1}")
            step = np.diff(indices)
            row_start = np.zeros(indices.size, dtype=bool)
            row_start[indptr[:-1][indptr[:-1] < indices.size]] = True
            bad = np.flatnonzero((step <= 0) & ~row_start[1:])
            if bad.size:
                pos = int(bad[0]) + 1
                row = int(np.searchsorted(indptr, pos, side="right") - 1)
                what = "repeats" if step[bad[0]] == 0 else "is not sorted"
                raise ValueError(f"Csr indices: row {row} {what} (column {indices[pos]} after "
                                 f"{indices[pos - 1]}); columns must be strictly increasing")
        for arr in (indptr, indices):
            arr.setflags(write=False)
        data = data.astype(np.uint32)      # a copy: never alias the caller's array
        data.setflags(write=False)
        object.__setattr__(self, "shape", (rows, cols))
        object.__setattr__(self, "indptr", indptr)
        object.__setattr__(self, "indices", indices)
        object.__setattr__(self, "data", data)

    # -- basic views -------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return self.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def row_lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and value patterns of row ``i``."""
        lo, hi = self.indptr[i], self.indptr[i + 1]
        return self.indices[lo:hi], self.data[lo:hi]

    def row_ids(self) -> np.ndarray:
        """The row of every stored entry (COO row indices)."""
        return np.repeat(np.arange(self.rows, dtype=np.int64), self.row_lengths())

    def __eq__(self, other) -> bool:
        if not isinstance(other, Csr):
            return NotImplemented
        return (self.shape == other.shape and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.indices, other.indices) and np.array_equal(self.data, other.data))

    __hash__ = None

    def __repr__(self) -> str:
        return f"Csr(shape={self.shape}, nnz={self.nnz})"

    # -- constructors and conversions --------------------------------------------------------
    @classmethod
    def from_coo(cls, shape, rows, cols, data) -> "Csr":
        """From entries in any order; a repeated position raises ``ValueError`` (sum them first)."""
        r = _index_array("rows", rows)
        c = _index_array("cols", cols)
        d = np.asarray(data)
        if not (r.size == c.size == d.size):
            raise ValueError(f"Csr.from_coo: rows, cols and data differ in length "
                             f"({r.size}, {c.size}, {d.size})")
        nrows, ncols = int(shape[0]), int(shape[1])
        if r.size and (r.min() < 0 or r.max() >= nrows):
            raise ValueError(f"Csr rows: row index out of range 0..{nrows - 1}")
        if c.size and (c.min() < 0 or c.max() >= ncols):
            raise ValueError(f"Csr cols: column index out of range 0..{ncols - 1}")
        key = r * max(ncols, 1) + c
        order = np.argsort(key, kind="stable")
        key = key[order]
        if key.size > 1 and np.any(key[1:] == key[:-1]):
            pos = int(np.flatnonzero(key[1:] == key[:-1])[0])
            raise ValueError(f"Csr.from_coo: duplicate entry at ({r[order][pos]}, {c[order][pos]})")
        indptr = np.zeros(nrows + 1, dtype=np.int64)
        np.cumsum(np.bincount(r, minlength=nrows), out=indptr[1:])
        return cls((nrows, ncols), indptr, c[order], d[order] if d.size else np.zeros(0, np.uint32))

    @classmethod
    def from_dense(cls, dense, value_type: str | None = None, mask=None) -> "Csr":
        """From a 2-D array. ``dense`` holds bit patterns (uint32, or int32 two's complement) when
        ``value_type`` is None, else values converted with :func:`to_bits`. The stored entries
        are those of ``mask`` (a boolean array of the same shape) when given, else every entry
        whose bit pattern is not 0 (so an fp32 ``-0.0`` is stored, a ``+0.0`` is not)."""
        arr = np.asarray(dense)
        if arr.ndim != 2:
            raise ValueError(f"Csr.from_dense: expected a 2-D array, got shape {arr.shape}")
        bits = to_bits(arr, value_type) if value_type is not None else arr
        if value_type is None and bits.dtype == np.int32:
            bits = bits.view(np.uint32)
        if mask is None:
            keep = bits != 0
        else:
            keep = np.asarray(mask, dtype=bool)
            if keep.shape != arr.shape:
                raise ValueError(f"Csr.from_dense: mask shape {keep.shape} differs from {arr.shape}")
        r, c = np.nonzero(keep)
        return cls.from_coo(arr.shape, r, c, bits[r, c])

    def to_dense(self, value_type: str | None = None) -> np.ndarray:
        """A dense array: bit patterns (uint32, 0 where nothing is stored) when ``value_type`` is
        None, else int32 / float32 values."""
        out = np.zeros(self.shape, dtype=np.uint32)
        out[self.row_ids(), self.indices] = self.data
        return out if value_type is None else from_bits(out, value_type)

    def values(self, value_type: str) -> np.ndarray:
        """The stored values as int32 / float32."""
        return from_bits(self.data, value_type)

    def with_data(self, data) -> "Csr":
        """The same pattern with other value patterns."""
        return Csr(self.shape, self.indptr, self.indices, data)

    def transpose(self) -> "Csr":
        """The transpose in CSR (equivalently, this matrix in CSC)."""
        order = np.argsort(self.indices, kind="stable")     # by column, rows stay ascending
        indptr = np.zeros(self.cols + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.cols), out=indptr[1:])
        return Csr((self.cols, self.rows), indptr, self.row_ids()[order], self.data[order])

    @property
    def T(self) -> "Csr":
        return self.transpose()


# -- Matrix Market ----------------------------------------------------------------------------

_FIELDS = ("real", "integer", "pattern")
_SYMMETRIES = ("general", "symmetric", "skew-symmetric")


def _mtx_error(path, line_no: int | None, message: str) -> ValueError:
    where = f"{path}:{line_no}" if line_no is not None else f"{path}"
    return ValueError(f"{where}: {message}")


def read_mtx(path, values: str = "ones", seed: int = 0, value_type: str = "int32") -> Csr:
    """Read a Matrix Market coordinate file into a :class:`Csr` of ``value_type`` patterns.

    Supported: ``matrix coordinate`` with field ``real``, ``integer`` or ``pattern`` and symmetry
    ``general``, ``symmetric`` or ``skew-symmetric`` (``array`` files, ``complex`` and
    ``hermitian`` are refused). A symmetric file's off-diagonal entry (i, j) also stands for
    (j, i) with the same value (skew-symmetric: the negated value; a diagonal entry is an error);
    either triangle may be stored.

    ``values``:

    * ``"ones"``: every stored entry is 1 (skew-symmetric mirrors are -1);
    * ``"random"``: seeded random values (:func:`random_values` with ``seed``), one per stored
      entry of the file, mirrored like the file's own values;
    * ``"file"``: the file's values (not for pattern files). fp32: rounded to float32 (nearest
      even). int32: every value must be an integer in the int32 range, else the read fails
      naming the line (use ``"random"`` to put integers on a real matrix).

    Entries that land on the same position (repeated lines, or a symmetric file that stores both
    triangles) are summed: int32 in two's complement (wrapping), fp32 in float64 from the
    file's values and then rounded once to float32 (``"ones"``/``"random"``: summed as int32, or
    as fp32 in float64 the same way). Malformed files raise ``ValueError`` naming the file and
    line.
    """
    check_value_type(value_type)
    if values not in VALUE_MODES:
        raise ValueError(f"values={values!r} is out of range: allowed {', '.join(VALUE_MODES)}")
    path = checks.input_file("matrix file", path)
    with open(path, encoding="ascii", errors="replace") as f:
        lines = f.read().splitlines()
    if not lines or not lines[0].lower().startswith("%%matrixmarket"):
        raise _mtx_error(path, 1, "not a Matrix Market file: the first line must start with %%MatrixMarket")
    banner = lines[0].split()
    if len(banner) != 5:
        raise _mtx_error(path, 1, f"banner {lines[0]!r}: expected '%%MatrixMarket matrix "
                                  f"coordinate <field> <symmetry>'")
    obj, fmt, field, symmetry = (t.lower() for t in banner[1:])
    if obj != "matrix":
        raise _mtx_error(path, 1, f"object {obj!r} is not supported: only 'matrix'")
    if fmt != "coordinate":
        raise _mtx_error(path, 1, f"format {fmt!r} is not supported: only 'coordinate' (sparse)")
    if field not in _FIELDS:
        raise _mtx_error(path, 1, f"field {field!r} is not supported: allowed {', '.join(_FIELDS)}")
    if symmetry not in _SYMMETRIES:
        raise _mtx_error(path, 1, f"symmetry {symmetry!r} is not supported: allowed {', '.join(_SYMMETRIES)}")
    if field == "pattern" and symmetry == "skew-symmetric":
        raise _mtx_error(path, 1, "a pattern matrix cannot be skew-symmetric")
    if values == "file" and field == "pattern":
        raise ValueError(f"{path}: a pattern matrix has no values; use values='ones' or 'random'")

    # size line: the first line after the comments
    n = 1
    while n < len(lines) and (not lines[n].strip() or lines[n].lstrip().startswith("%")):
        n += 1
    if n == len(lines):
        raise _mtx_error(path, n, "end of file before the size line (rows cols entries)")
    size = lines[n].split()
    try:
        rows, cols, declared = (int(t) for t in size)
    except ValueError:
        raise _mtx_error(path, n + 1, f"size line {lines[n].strip()!r}: expected three integers "
                                      f"'rows cols entries'") from None
    if rows < 0 or cols < 0 or declared < 0:
        raise _mtx_error(path, n + 1, "size line: rows, cols and entries must be >= 0")
    if symmetry != "general" and rows != cols:
        raise _mtx_error(path, n + 1, f"a {symmetry} matrix must be square, got {rows} x {cols}")
    # checked before anything is allocated: the entries against the lines that could hold them,
    # the sizes against the stated limit (row pointers and products grow with them)
    if max(rows, cols) > MAX_MTX_DIMENSION:
        raise _mtx_error(path, n + 1, f"size line declares {rows} x {cols}: allowed up to "
                                      f"{MAX_MTX_DIMENSION} rows and columns")
    entry_lines = len(lines) - n - 1
    if declared > entry_lines:
        raise _mtx_error(path, n + 1, f"size line declares {declared} entries, the file has only "
                                      f"{entry_lines} lines after it")

    tokens = 2 if field == "pattern" else 3
    r = np.empty(declared, dtype=np.int64)
    c = np.empty(declared, dtype=np.int64)
    raw: list = []
    count = 0
    for line_no, line in enumerate(lines[n + 1:], start=n + 2):
        parts = line.split()
        if not parts or parts[0].startswith("%"):
            continue
        if count == declared:
            raise _mtx_error(path, line_no, f"more entries than the {declared} the size line declares")
        if len(parts) != tokens:
            raise _mtx_error(path, line_no, f"expected {tokens} fields for a {field} entry, got "
                                            f"{len(parts)}: {line.strip()!r}")
        try:
            i, j = int(parts[0]), int(parts[1])
        except ValueError:
            raise _mtx_error(path, line_no, f"row and column must be integers: {line.strip()!r}") from None
        if not (1 <= i <= rows and 1 <= j <= cols):
            raise _mtx_error(path, line_no, f"entry ({i}, {j}) is outside the {rows} x {cols} matrix "
                                            f"(indices are 1-based)")
        if symmetry == "skew-symmetric" and i == j:
            raise _mtx_error(path, line_no, f"skew-symmetric matrix with a diagonal entry ({i}, {j})")
        if field != "pattern":
            text = parts[2]
            try:
                v = int(text) if field == "integer" else float(text)
            except ValueError:
                raise _mtx_error(path, line_no, f"value {text!r} is not a valid {field} number") from None
            if values == "file" and value_type == "int32":
                if isinstance(v, float):
                    if not v.is_integer():
                        raise _mtx_error(path, line_no, f"value {text} is not an integer; int32 needs "
                                                        f"integer values (use values='random' or 'ones')")
                    v = int(v)
                if not -(1 << 31) <= v < (1 << 31):
                    raise _mtx_error(path, line_no, f"value {text} is out of the int32 range")
            raw.append(v)
        r[count], c[count] = i - 1, j - 1
        count += 1
    if count != declared:
        raise _mtx_error(path, len(lines), f"the size line declares {declared} entries, the file has {count}")

    # values of the stored entries (as Python / float64 numbers for the duplicate sums)
    if values == "file":
        if value_type == "int32":
            vals = np.array(raw, dtype=np.int64)
        else:
            vals = np.array(raw, dtype=np.float64)
    else:
        bits = _values(declared, values, np.random.default_rng(seed), value_type)
        vals = (bits.view(np.int32).astype(np.int64) if value_type == "int32"
                else bits.view(np.float32).astype(np.float64))
    if symmetry != "general":
        off = r != c
        sign = -1 if symmetry == "skew-symmetric" else 1
        r, c, vals = (np.concatenate([r, c[off]]), np.concatenate([c, r[off]]),
                      np.concatenate([vals, sign * vals[off]]))
    return _sum_duplicates((rows, cols), r, c, vals, value_type)


def _sum_duplicates(shape, r, c, vals, value_type) -> Csr:
    key = r * max(shape[1], 1) + c
    order = np.argsort(key, kind="stable")
    key, r, c, vals = key[order], r[order], c[order], vals[order]
    if key.size:
        first = np.concatenate([[True], key[1:] != key[:-1]])
        starts = np.flatnonzero(first)
        if value_type == "int32":
            sums = np.add.reduceat(vals.astype(np.int64), starts) if starts.size < key.size else vals
            bits = (sums.astype(np.int64) & _MASK32).astype(np.uint32)
        else:
            sums = np.add.reduceat(vals, starts) if starts.size < key.size else vals
            with np.errstate(over="ignore", invalid="ignore"):
                bits = np.asarray(sums, dtype=np.float64).astype(np.float32).view(np.uint32)
        r, c = r[starts], c[starts]
    else:
        bits = np.zeros(0, dtype=np.uint32)
    return Csr.from_coo(shape, r, c, bits)


def write_mtx(path, matrix: Csr, value_type: str = "int32", field: str | None = None,
              comment: str | None = None) -> Path:
    """Write ``matrix`` as a general coordinate Matrix Market file. ``field``: ``integer``
    (default for int32), ``real`` (default for fp32: values written so that reading them back
    as fp32 gives the same bits, NaN as ``nan`` with the canonical payload, +-Inf as ``inf``,
    ``-inf``) or ``pattern`` (no values)."""
    check_value_type(value_type)
    field = field or ("integer" if value_type == "int32" else "real")
    if field not in _FIELDS:
        raise ValueError(f"field={field!r} is out of range: allowed {', '.join(_FIELDS)}")
    if field == "integer" and value_type == "fp32":
        raise ValueError("field='integer' needs value_type='int32'")
    path = Path(path)
    rows = matrix.row_ids() + 1
    cols = matrix.indices + 1
    out = [f"%%MatrixMarket matrix coordinate {field} general"]
    for text in (comment or "").splitlines():
        out.append(f"% {text}")
    out.append(f"{matrix.rows} {matrix.cols} {matrix.nnz}")
    if field == "pattern":
        out.extend(f"{i} {j}" for i, j in zip(rows.tolist(), cols.tolist()))
    else:
        vals = matrix.values(value_type)
        text = ([str(int(v)) for v in vals.tolist()] if value_type == "int32"
                else [repr(float(v)) for v in vals.tolist()])
        out.extend(f"{i} {j} {v}" for i, j, v in zip(rows.tolist(), cols.tolist(), text))
    path.write_text("\n".join(out) + "\n")
    return path


# -- generators ---------------------------------------------------------------------------------

def _pattern(shape, r, c, rng, value_type, values) -> Csr:
    return Csr.from_coo(shape, r, c, _values(len(r), values, rng, value_type))


def uniform_random(rows: int, cols: int, density: float | None = None, nnz_per_row: int | None = None,
                   rng=None, value_type: str = "int32", values: str = "random") -> Csr:
    """A uniform random sparse matrix: ``density`` (round(density * rows * cols) positions drawn
    without replacement) or ``nnz_per_row`` (exactly min(nnz_per_row, cols) distinct columns in
    every row). Give exactly one."""
    check_value_type(value_type)
    rng = _rng(rng)
    if rows < 0 or cols < 0:
        raise ValueError(f"uniform_random: shape {rows} x {cols} must be non-negative")
    if (density is None) == (nnz_per_row is None):
        raise ValueError("uniform_random: give exactly one of density and nnz_per_row")
    if density is not None:
        if not 0 <= density <= 1:
            raise ValueError(f"uniform_random: density={density} is out of range 0..1")
        total = int(round(density * rows * cols))
        flat = rng.choice(rows * cols, size=total, replace=False) if total else np.zeros(0, np.int64)
        r, c = np.divmod(np.asarray(flat, dtype=np.int64), max(cols, 1))
    else:
        if nnz_per_row < 0:
            raise ValueError(f"uniform_random: nnz_per_row={nnz_per_row} must be >= 0")
        k = min(int(nnz_per_row), cols)
        c = np.concatenate([rng.choice(cols, size=k, replace=False) for _ in range(rows)]) \
            if rows and k else np.zeros(0, np.int64)
        r = np.repeat(np.arange(rows), k)
    return _pattern((rows, cols), r, c, rng, value_type, values)


def rmat(scale: int | None = None, edge_factor: int = 8, a: float = 0.57, b: float = 0.19,
         c: float = 0.19, rng=None, rows: int | None = None, value_type: str = "int32",
         values: str = "random") -> Csr:
    """An R-MAT (Chakrabarti et al.) power-law matrix: ``edge_factor * n`` edges dropped one bit
    level at a time into the quadrants with probabilities a, b, c, d = 1 - a - b - c (Graph500
    defaults 0.57, 0.19, 0.19, 0.05). ``n = 2**scale``, or give ``rows`` for an n x n matrix of
    any size (edges are drawn on the next power of two and those outside are dropped).
    Repeated edges are merged into one entry, so nnz <= edge_factor * n."""
    check_value_type(value_type)
    rng = _rng(rng)
    if (scale is None) == (rows is None):
        raise ValueError("rmat: give exactly one of scale and rows")
    if rows is not None:
        if rows < 1:
            raise ValueError(f"rmat: rows={rows} must be >= 1")
        n = int(rows)
        scale = max(0, math.ceil(math.log2(n)))
    else:
        if not 0 <= scale <= 30:
            raise ValueError(f"rmat: scale={scale} is out of range 0..30")
        n = 1 << scale
    d = 1.0 - a - b - c
    if min(a, b, c) < 0 or d < -1e-12:
        raise ValueError(f"rmat: probabilities a={a}, b={b}, c={c} must be >= 0 with a + b + c <= 1")
    if edge_factor < 0:
        raise ValueError(f"rmat: edge_factor={edge_factor} must be >= 0")
    edges = int(edge_factor * n)
    r = np.zeros(edges, dtype=np.int64)
    col = np.zeros(edges, dtype=np.int64)
    for _ in range(scale):
        u = rng.random(edges)
        down = u >= a + b                        # quadrants c, d: lower half (row bit 1)
        right = ((u >= a) & (u < a + b)) | (u >= a + b + c)   # quadrants b, d: right half
        r = 2 * r + down
        col = 2 * col + right
    keep = (r < n) & (col < n)
    key = np.unique(r[keep] * n + col[keep])
    rr, cc = np.divmod(key, n)
    return _pattern((n, n), rr, cc, rng, value_type, values)


def power_law_rows(rows: int, cols: int, mean_nnz_per_row: float, alpha: float = 2.0, rng=None,
                   value_type: str = "int32", values: str = "random") -> Csr:
    """Rows whose lengths follow a Pareto law with tail index ``alpha`` (> 1), scaled to the mean
    ``mean_nnz_per_row`` and capped at ``cols``; columns uniform, distinct within a row. A few
    very long rows among many short ones: the skew that stresses row-wise SpGEMM."""
    check_value_type(value_type)
    rng = _rng(rng)
    if alpha <= 1:
        raise ValueError(f"power_law_rows: alpha={alpha} must be > 1 (finite mean)")
    if rows < 0 or cols < 0 or mean_nnz_per_row < 0:
        raise ValueError("power_law_rows: rows, cols and mean_nnz_per_row must be >= 0")
    raw = rng.pareto(alpha, rows) + 1.0               # Pareto(x_m = 1): mean alpha / (alpha - 1)
    lengths = np.minimum(np.rint(raw * mean_nnz_per_row * (alpha - 1) / alpha).astype(np.int64), cols)
    c = [rng.choice(cols, size=int(k), replace=False) for k in lengths]
    c = np.concatenate(c) if c else np.zeros(0, np.int64)
    r = np.repeat(np.arange(rows), lengths)
    return _pattern((rows, cols), r, c.astype(np.int64), rng, value_type, values)


# -- edge cases -----------------------------------------------------------------------------------

def _from_rows(shape, row_cols, rng, value_type, values="random") -> Csr:
    """A matrix from a list of column lists, one per row (rows beyond the list are empty)."""
    cols = [sorted(set(cs)) for cs in row_cols]
    r = np.repeat(np.arange(len(cols), dtype=np.int64), [len(cs) for cs in cols])
    c = np.array([j for cs in cols for j in cs], dtype=np.int64)
    return _pattern(shape, r, c, rng, value_type, values)


def _fp32(rows) -> Csr:
    """An fp32 matrix from a list of rows of values, ``None`` marking a position not stored."""
    dense = np.array([[0.0 if v is None else v for v in row] for row in rows], dtype=np.float64)
    mask = np.array([[v is not None for v in row] for row in rows], dtype=bool)
    return Csr.from_dense(dense, "fp32", mask=mask)


def edge_cases(value_type: str = "int32", table_entries: int = 16, seed: int = 0) -> dict[str, tuple[Csr, Csr]]:
    """Named (A, B) pairs that probe the corners of an SpGEMM engine whose hash table holds
    ``table_entries`` entries (the hash taken as ``column mod table_entries``):

    * ``empty_rows``: rows of A with no entries, and rows of A whose columns hit only empty rows
      of B (both give empty rows of C);
    * ``empty_a``, ``empty_b``: one operand with no stored entries;
    * ``zero_rows`` (0 x 5 times 5 x 4), ``zero_inner`` (4 x 0 times 0 x 6: a 4 x 6 C with no
      entries), ``zero_cols`` (5 x 6 times 6 x 0);
    * ``table_exact``: row 0 of C has exactly ``table_entries`` distinct columns, made of three
      overlapping B rows (so most columns receive several partial products);
    * ``table_overflow``: the same with ``table_entries + 1`` distinct columns;
    * ``dense_row``: a fully dense row of A and a dense row of B;
    * ``heavy_collision``: every output column is a multiple of ``table_entries`` (all collide
      under ``j mod table_entries``), ``table_entries // 2`` of them, fed by several B rows;
    * ``same_column``: 16 consecutive partial products of row 0 land on one column (back-to-back
      updates of one key);
    * ``non_square``: 30 x 50 times 50 x 20;
    * int32 only: ``int32_wrap``: products and sums that wrap around 2**32;
    * fp32 only: ``fp32_signed_zeros`` (stored +0 and -0, sums -0 + -0 = -0 and x + (-x) = +0),
      ``fp32_inf_nan`` (Inf, NaN, Inf * 0, Inf - Inf), ``fp32_huge_tiny`` (overflow to Inf,
      underflow to subnormals and zero, and cancellation whose result depends on the order).

    Values are seeded random (``random_values``) except in the value cases."""
    check_value_type(value_type)
    t = int(table_entries)
    if t < 2:
        raise ValueError(f"edge_cases: table_entries={table_entries} must be >= 2")
    rng = np.random.default_rng(seed)
    vt = value_type
    cases: dict[str, tuple[Csr, Csr]] = {}

    def rand(shape, density):
        return uniform_random(shape[0], shape[1], density=density, rng=rng, value_type=vt)

    # empty rows: A rows 0, 3, 4, 11 empty; A row 7 reads only B rows 2 and 5, which are empty
    a_rows = [[], [1, 4], [0, 9], [], [], [3, 6, 8], [7], [2, 5], [0, 1, 2, 3], [9], [4, 8], []]
    b_rows = [[0, 3], [1, 2, 8], [], [4], [5, 6, 7], [], [0, 8], [2, 4], [1], [3, 7]]
    cases["empty_rows"] = (_from_rows((12, 10), a_rows, rng, vt), _from_rows((10, 9), b_rows, rng, vt))
    cases["empty_a"] = (Csr.from_coo((6, 7), [], [], np.zeros(0, np.uint32)), rand((7, 5), 0.4))
    cases["empty_b"] = (rand((6, 7), 0.4), Csr.from_coo((7, 5), [], [], np.zeros(0, np.uint32)))
    cases["zero_rows"] = (Csr.from_coo((0, 5), [], [], np.zeros(0, np.uint32)), rand((5, 4), 0.5))
    cases["zero_inner"] = (Csr.from_coo((4, 0), [], [], np.zeros(0, np.uint32)),
                           Csr.from_coo((0, 6), [], [], np.zeros(0, np.uint32)))
    cases["zero_cols"] = (rand((5, 6), 0.4), Csr.from_coo((6, 0), [], [], np.zeros(0, np.uint32)))

    # table fill: columns 1 .. distinct (offset 1, so column t wraps to hash 0)
    def fill(distinct):
        n = distinct + 3
        half = (distinct + 1) // 2
        b = [list(range(1, half + 1)),                       # first half
             list(range(1 + distinct // 4, distinct + 1)),   # overlaps the first half, to the end
             [1, distinct, half],                            # columns already present
             [n - 1]]                                        # row for the other A rows
        a = [[0, 1, 2], [3], [], [0]]
        return _from_rows((4, 4), a, rng, vt), _from_rows((4, n), b, rng, vt)

    cases["table_exact"] = fill(t)
    cases["table_overflow"] = fill(t + 1)

    dense_b = [sorted(rng.choice(16, size=4, replace=False).tolist()) for _ in range(24)]
    dense_b[5] = list(range(16))
    cases["dense_row"] = (_from_rows((8, 24), [[1, 5], [], [5, 9, 20], list(range(24)), [7], [], [23], [0, 5]],
                                     rng, vt), _from_rows((24, 16), dense_b, rng, vt))

    distinct = max(2, t // 2)
    colliding = [m * t for m in range(distinct)]
    b = [colliding[::2], colliding[1::2], colliding, colliding[: distinct // 2 + 1], [1]]
    a = [[0, 1, 2, 3], [2], [4], [3, 4]]
    cases["heavy_collision"] = (_from_rows((4, 5), a, rng, vt), _from_rows((5, distinct * t), b, rng, vt))

    cases["same_column"] = (_from_rows((3, 16), [list(range(16)), [3, 4], []], rng, vt),
                            _from_rows((16, 8), [[3]] * 15 + [[3, 7]], rng, vt))
    cases["non_square"] = (rand((30, 50), 0.12), rand((50, 20), 0.15))

    if vt == "int32":
        big, small = (1 << 31) - 1, -(1 << 31)
        a = Csr.from_dense(np.array([[big, big, 0], [small, small, 1], [65536, 65536, 3], [0, 0, 0]],
                                    dtype=np.int64), "int32")
        b = Csr.from_dense(np.array([[big, 2, 65536], [1, small, 65536], [-1, 0, big]], dtype=np.int64), "int32")
        cases["int32_wrap"] = (a, b)
    else:
        n, inf, fmax, tiny = None, float("inf"), float(np.finfo(np.float32).max), 2.0 ** -126
        cases["fp32_signed_zeros"] = (
            _fp32([[-0.0, 1.0, n], [0.0, -1.0, 2.0], [1.0, 1.0, n], [-0.0, -0.0, n]]),
            _fp32([[1.0, -0.0, 5.0], [-0.0, -0.0, -5.0], [n, 3.0, 0.0]]))
        cases["fp32_inf_nan"] = (
            _fp32([[inf, 1.0, n], [2.0, n, inf], [float("nan"), 2.0, n], [-inf, -inf, 0.0], [0.0, inf, n]]),
            _fp32([[0.0, 2.0, 1.0], [-3.0, n, -inf], [-inf, 1.0, 7.0]]))
        sub = 2.0 ** -130                               # a subnormal input
        cases["fp32_huge_tiny"] = (
            _fp32([[fmax, fmax, n], [tiny, 1e-30, n], [1e30, 1.0, -1e30], [sub, n, 3.0]]),
            _fp32([[1.0, 0.5, 2.0], [1.0, 1e-30, n], [1.0, n, 1e-40]]))
    return cases
