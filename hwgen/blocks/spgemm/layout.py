"""Where A, B and C live in the engine's memory, and the npz fields <-> memory words.

Every array is a run of 64-bit elements (index or start pointer in the low 32 bits, value or
end pointer in the high 32), ``lanes`` to a memory word, each run starting on a word:

    A pairs (start, end) per row | A elements | B pairs | B elements | C row ends | C elements

Values are 32-bit patterns: int32 in two's complement, fp32 as IEEE bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FIELDS_IN = ("A_indptr", "A_indices", "A_data", "B_indptr", "B_indices", "B_data")


def _bits32(values, name: str) -> np.ndarray:
    """Values as uint32 patterns: float32 arrays by their bits, integers as two's complement
    (int32 range) or patterns (0 .. 2^32 - 1)."""
    values = np.asarray(values).reshape(-1)
    if values.dtype == np.float32:
        return values.view(np.uint32).astype(np.uint64)
    if values.dtype.kind == "f":
        raise ValueError(f"field '{name}' is {values.dtype}: give float32 values or 32-bit patterns")
    if values.dtype == object or values.dtype.kind in "iu":
        ints = [int(v) for v in values]
        bad = [v for v in ints if not -(1 << 31) <= v < (1 << 32)]
        if bad:
            raise ValueError(f"field '{name}' holds {bad[0]}, out of range: allowed -2^31 .. 2^32 - 1")
        return np.asarray([v & 0xFFFFFFFF for v in ints], dtype=np.uint64)
    raise ValueError(f"field '{name}' must hold integers or float32 values")


def _shape(fields, name: str, indptr) -> tuple[int, int]:
    if name in fields:
        shape = tuple(int(v) for v in np.asarray(fields[name]).reshape(-1))
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"field '{name}' must be two non-negative integers (rows, cols), got {shape}")
        return shape
    raise ValueError(f"spgemm_hash inputs need field '{name}' (rows, cols)")


@dataclass(frozen=True)
class Matrix:
    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray          # uint32 patterns (as uint64)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1]) if len(self.indptr) else 0


def matrices(fields) -> tuple[Matrix, Matrix]:
    """A and B from the npz fields, checked: CSR with sorted, unique, in-range column indices,
    and inner dimensions that agree."""
    missing = [name for name in FIELDS_IN if name not in fields]
    if missing:
        raise ValueError(f"spgemm_hash inputs need {', '.join(FIELDS_IN)}, A_shape and B_shape; "
                         f"missing {', '.join(repr(name) for name in missing)}")
    out = []
    for side in ("A", "B"):
        indptr = np.asarray(fields[f"{side}_indptr"], dtype=np.int64).reshape(-1)
        indices = np.asarray(fields[f"{side}_indices"], dtype=np.int64).reshape(-1)
        values = _bits32(fields[f"{side}_data"], f"{side}_data")
        rows, cols = _shape(fields, f"{side}_shape", indptr)
        if len(indptr) != rows + 1 or (rows + 1 and indptr[0] != 0) or np.any(np.diff(indptr) < 0) \
                or indptr[-1] != len(indices) or len(indices) != len(values):
            raise ValueError(f"{side}: not a CSR matrix of {rows} rows: indptr must have {rows + 1} "
                             f"non-decreasing entries from 0 to nnz = len({side}_indices) = "
                             f"len({side}_data)")
        for r in range(rows):
            row = indices[indptr[r]:indptr[r + 1]]
            if len(row) and (row.min() < 0 or row.max() >= cols or np.any(np.diff(row) <= 0)):
                raise ValueError(f"{side} row {r}: column indices must be increasing and in 0..{cols - 1}")
        out.append(Matrix((rows, cols), indptr, indices, values))
    A, B = out
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"A is {A.shape[0]} x {A.shape[1]} and B is {B.shape[0]} x {B.shape[1]}: "
                         f"A's columns must equal B's rows")
    return A, B


@dataclass(frozen=True)
class Layout:
    lanes: int
    A: Matrix
    B: Matrix
    bases: dict

    @classmethod
    def of(cls, fields, lanes: int) -> "Layout":
        A, B = matrices(fields)
        words = lambda count: -(-count // lanes)  # noqa: E731
        bases, at = {}, 0
        for name, count in (("a_ptr", A.shape[0]), ("a_elem", A.nnz), ("b_ptr", B.shape[0]),
                            ("b_elem", B.nnz), ("c_ptr", A.shape[0]), ("c_elem", 0)):
            bases[name] = at
            at += words(count)
        return cls(lanes, A, B, bases)

    def c_bound(self) -> int:
        """At most how many elements C can have: per row of A, the partial products it makes,
        and never more than B's columns."""
        b_lengths = np.diff(np.asarray(self.B.indptr, dtype=np.int64))
        products = b_lengths[np.asarray(self.A.indices, dtype=np.int64)]
        running = np.concatenate([[0], np.cumsum(products)])
        indptr = np.asarray(self.A.indptr, dtype=np.int64)
        per_row = running[indptr[1:]] - running[indptr[:-1]]
        return int(np.minimum(per_row, self.B.shape[1]).sum())

    def words(self) -> int:
        """Memory words the engine can touch: everything up to the end of the largest C."""
        return self.bases["c_elem"] + max(1, -(-self.c_bound() // self.lanes))

    def command(self) -> dict[str, int]:
        return {"rows": self.A.shape[0], "cols": self.B.shape[1], **self.bases}

    def _words(self, elements: list[int], base: int) -> dict[int, int]:
        image = {}
        for e, value in enumerate(elements):
            address = base + e // self.lanes
            image[address] = image.get(address, 0) | value << (64 * (e % self.lanes))
        return image

    def image(self) -> dict[int, int]:
        image = {}
        for name, M in (("a", self.A), ("b", self.B)):
            pairs = [int(M.indptr[r]) | int(M.indptr[r + 1]) << 32 for r in range(M.shape[0])]
            elements = [int(j) | int(v) << 32 for j, v in zip(M.indices, M.data)]
            image.update(self._words(pairs, self.bases[f"{name}_ptr"]))
            image.update(self._words(elements, self.bases[f"{name}_elem"]))
        return {a: w for a, w in image.items() if w}

    def _read(self, image, base: int, count: int) -> list[int]:
        return [(image.get(base + e // self.lanes, 0) >> (64 * (e % self.lanes))) & ((1 << 64) - 1)
                for e in range(count)]

    def read_c(self, image) -> dict[str, np.ndarray]:
        rows = self.A.shape[0]
        ends = [e & 0xFFFFFFFF for e in self._read(image, self.bases["c_ptr"], rows)]
        nnz = ends[-1] if ends else 0
        elements = self._read(image, self.bases["c_elem"], nnz)
        return {"C_indptr": np.asarray([0] + ends, dtype=np.uint64),
                "C_indices": np.asarray([e & 0xFFFFFFFF for e in elements], dtype=np.uint64),
                "C_data": np.asarray([e >> 32 for e in elements], dtype=np.uint64)}


def fields_of(A, B) -> dict[str, np.ndarray]:
    """The npz input fields of C = A x B (``A``, ``B``: anything with shape, indptr, indices
    and data as 32-bit patterns, e.g. ``matrices.Csr``)."""
    fields = {}
    for side, M in (("A", A), ("B", B)):
        fields[f"{side}_indptr"] = np.asarray(M.indptr, dtype=np.int64)
        fields[f"{side}_indices"] = np.asarray(M.indices, dtype=np.int64)
        fields[f"{side}_data"] = np.asarray(M.data, dtype=np.uint64)
        fields[f"{side}_shape"] = np.asarray(M.shape, dtype=np.int64)
    return fields
