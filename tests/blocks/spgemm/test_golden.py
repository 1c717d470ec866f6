"""SpGEMM inputs and golden models: the CSR container, the Matrix Market reader and writer, the
generators and edge cases, and C = A x B checked against scipy.sparse (int32, exactly), a
row-by-row twin and NumPy float32 (fp32, bit for bit) and float64 (fp32, within the stated
bound), on every shared real matrix and on random and R-MAT ones."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from hwgen.blocks.spgemm import golden as g
from hwgen.blocks.spgemm import matrices as m
from hwgen.numerics import golden as ng
from hwgen.numerics.formats import PRESETS
from tests.support.shared_matrices import NAMES, shared

REAL_VALUED = ("bcsstk01", "bp___200")
F32 = PRESETS["fp32"]
NAN32 = F32.canonical_nan



def operands(A: m.Csr) -> tuple[m.Csr, m.Csr]:
    return (A, A) if A.rows == A.cols else (A, A.transpose())


def to_scipy(A: m.Csr, value_type: str = "int32") -> sp.csr_matrix:
    vals = A.values(value_type).astype(np.int64 if value_type == "int32" else np.float64)
    return sp.csr_matrix((vals, A.indices, A.indptr), shape=A.shape)


def wrap32(x: np.ndarray) -> np.ndarray:
    return ((np.asarray(x, dtype=np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def check_int32_against_scipy(A: m.Csr, B: m.Csr) -> m.Csr:
    """C's values equal scipy's int64 product modulo 2**32, and its pattern is the symbolic
    product (scipy's product of |A| and |B|, where nothing cancels)."""
    C = g.spgemm(A, B, "int32")
    assert C.shape == (A.rows, B.cols)
    ref = (to_scipy(A) @ to_scipy(B)).toarray() if min(C.shape) else np.zeros(C.shape, np.int64)
    assert np.array_equal(C.to_dense("int32").astype(np.int64), wrap32(ref))
    pattern = (abs(to_scipy(A)) @ abs(to_scipy(B))).tocsr()
    pattern.sort_indices()
    pattern.eliminate_zeros()
    assert np.array_equal(C.indptr, pattern.indptr) and np.array_equal(C.indices, pattern.indices)
    return C


# -- bit patterns ---------------------------------------------------------------------------

def test_value_bits_round_trip():
    ints = np.array([0, 1, -1, 2**31 - 1, -2**31])
    bits = m.to_bits(ints, "int32")
    assert bits.dtype == np.uint32 and bits.tolist() == [0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000]
    assert m.from_bits(bits, "int32").tolist() == ints.tolist()
    f = m.to_bits([1.0, -0.0, float("inf"), 1e40, 0.1], "fp32")
    assert f[:4].tolist() == [0x3F800000, 0x80000000, 0x7F800000, 0x7F800000]
    assert m.from_bits(f, "fp32")[4] == np.float32(0.1)
    with pytest.raises(ValueError, match="int32 values must lie in"):
        m.to_bits([2**31], "int32")
    with pytest.raises(ValueError, match="value_type='int8'"):
        m.to_bits([1], "int8")
    assert m.ones(3, "fp32").tolist() == [0x3F800000] * 3
    r = m.random_values(1000, np.random.default_rng(1), "int32").view(np.int32)
    assert r.min() >= -8 and r.max() <= 8 and not (r == 0).any()


# -- Csr ------------------------------------------------------------------------------------

def test_csr_dense_round_trip_and_transpose():
    rng = np.random.default_rng(3)
    dense = rng.integers(-5, 6, size=(7, 9)) * (rng.random((7, 9)) < 0.3)
    A = m.Csr.from_dense(dense, "int32")
    assert A.nnz == int((dense != 0).sum())
    assert np.array_equal(A.to_dense("int32"), dense)
    assert np.array_equal(A.transpose().to_dense("int32"), dense.T)
    assert A.transpose().transpose() == A
    assert A.data.dtype == np.uint32 and not A.data.flags.writeable
    empty = m.Csr((0, 4), [0], [], [])
    assert empty.nnz == 0 and empty.transpose().shape == (4, 0) and empty.to_dense().shape == (0, 4)
    # a stored -0.0 is kept, +0.0 is not, unless a mask says so
    f = m.Csr.from_dense(np.array([[0.0, -0.0, 1.0]]), "fp32")
    assert f.indices.tolist() == [1, 2]
    f = m.Csr.from_dense(np.array([[0.0, -0.0, 1.0]]), "fp32", mask=[[True, True, False]])
    assert f.indices.tolist() == [0, 1] and f.data.tolist() == [0, 0x80000000]


@pytest.mark.parametrize("args, field", [
    (((2, 3), [0, 1], [0], [1]), "indptr: expected rows \\+ 1"),
    (((2, 3), [1, 1, 1], [0], [1]), "indptr: must start at 0"),
    (((2, 3), [0, 2, 1], [0, 1], [1, 1]), "indptr: decreases at row 1"),
    (((2, 3), [0, 1, 3], [0, 1], [1, 1]), "indptr: ends at 3"),
    (((2, 3), [0, 1, 2], [0, 3], [1, 1]), "indices: column 3 at position 1 is out of range"),
    (((1, 3), [0, 2], [1, 1], [1, 1]), "indices: row 0 repeats"),
    (((1, 3), [0, 2], [2, 1], [1, 1]), "indices: row 0 is not sorted"),
    (((1, 3), [0, 2], [0, 1], [1]), "data: 1 values for 2 indices"),
    (((1, 3), [0, 1], [0], [1.5]), "data: expected uint32 bit patterns"),
    (((1, 3), [0, 1], [0], np.array([-1], np.int64)), "data: bit patterns must lie in"),
    (((1, -3), [0, 0], [], []), "shape: expected \\(rows, cols\\)"),
    (((1, 3), [0, 1], [0.0], [1]), "indices: expected integers"),
])
def test_csr_validation_names_the_field(args, field):
    with pytest.raises(ValueError, match="Csr " + field):
        m.Csr(*args)


def test_csr_accepts_int32_as_twos_complement_and_rejects_duplicates():
    A = m.Csr((1, 2), [0, 2], [0, 1], np.array([-1, 5], np.int32))
    assert A.data.tolist() == [0xFFFFFFFF, 5]
    with pytest.raises(ValueError, match="duplicate entry at \\(0, 1\\)"):
        m.Csr.from_coo((2, 2), [0, 0], [1, 1], [1, 2])


# -- Matrix Market ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_read_shared_matrix_matches_scipy(name):
    path = shared(name)
    ref = scipy.io.mmread(path).tocsr()
    ref.sum_duplicates()
    ref.sort_indices()
    A = m.read_mtx(path, values="ones", value_type="int32")
    assert A.shape == ref.shape
    assert np.array_equal(A.indptr, ref.indptr) and np.array_equal(A.indices, ref.indices)
    if name in REAL_VALUED:
        F = m.read_mtx(path, values="file", value_type="fp32")
        assert np.array_equal(F.values("fp32"), ref.data.astype(np.float32))
        with pytest.raises(ValueError, match=rf"{name}\.mtx:\d+: value \S+ is not an integer"):
            m.read_mtx(path, values="file", value_type="int32")
    else:
        with pytest.raises(ValueError, match="pattern matrix has no values"):
            m.read_mtx(path, values="file")


def test_read_random_values_are_seeded_and_symmetric():
    path = shared("ash85")
    A = m.read_mtx(path, values="random", seed=5, value_type="int32")
    assert A == m.read_mtx(path, values="random", seed=5, value_type="int32")
    assert A != m.read_mtx(path, values="random", seed=6, value_type="int32")
    dense = A.to_dense("int32")
    assert np.array_equal(dense, dense.T)


def write(tmp_path, text: str, name="m.mtx") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_read_symmetry_kinds_fields_and_duplicates(tmp_path):
    skew = write(tmp_path, "%%MatrixMarket matrix coordinate integer skew-symmetric\n% c\n3 3 2\n2 1 5\n3 2 -7\n")
    A = m.read_mtx(skew, values="file")
    assert A.to_dense("int32").tolist() == [[0, -5, 0], [5, 0, 7], [0, -7, 0]]
    assert m.read_mtx(skew, values="ones").to_dense("int32").tolist() == [[0, -1, 0], [1, 0, -1], [0, 1, 0]]
    dup = write(tmp_path, "%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 0.5\n1 1 0.25\n2 1 3e0\n")
    assert m.read_mtx(dup, values="file", value_type="fp32").to_dense("fp32").tolist() == [[0.75, 0], [3, 0]]
    with pytest.raises(ValueError, match="m.mtx:3: value 0.5 is not an integer"):
        m.read_mtx(dup, values="file", value_type="int32")
    assert m.read_mtx(dup, values="ones").to_dense("int32").tolist() == [[2, 0], [1, 0]]
    sym = write(tmp_path, "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n1 1 2.0\n2 1 -4\n")
    assert m.read_mtx(sym, values="file").to_dense("int32").tolist() == [[2, -4], [-4, 0]]
    wrap = write(tmp_path, "%%MatrixMarket matrix coordinate integer general\n1 1 2\n1 1 2147483647\n1 1 1\n")
    assert m.read_mtx(wrap, values="file").to_dense("int32").tolist() == [[-2**31]]
    empty = write(tmp_path, "%%MatrixMarket matrix coordinate pattern general\n0 5 0\n")
    assert m.read_mtx(empty).shape == (0, 5)


@pytest.mark.parametrize("text, message", [
    ("hello\n", ":1: not a Matrix Market file"),
    ("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n", ":1: format 'array' is not supported"),
    ("%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 0\n", ":1: field 'complex' is not supported"),
    ("%%MatrixMarket matrix coordinate real hermitian\n1 1 1\n1 1 1\n", ":1: symmetry 'hermitian' is not supported"),
    ("%%MatrixMarket matrix coordinate real general\n% only comments\n", ":2: end of file before the size line"),
    ("%%MatrixMarket matrix coordinate real general\n2 x 1\n1 1 1\n", ":2: size line '2 x 1'"),
    ("%%MatrixMarket matrix coordinate real symmetric\n2 3 1\n1 1 1\n", ":2: a symmetric matrix must be square"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 2\n1 1 1\n% end\n", ":4: the size line declares 2 entries, the file has 1"),
    # checked before anything is allocated
    ("%%MatrixMarket matrix coordinate real general\n2 2 5\n1 1 1\n", ":2: size line declares 5 entries, the file has only 1 lines"),
    ("%%MatrixMarket matrix coordinate real general\n16777217 2 1\n1 1 1\n", ":2: size line declares 16777217 x 2: allowed up to 16777216"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 1\n2 2 2\n", ":4: more entries than the 1"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1\n", ":3: expected 3 fields for a real entry, got 2"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n3 1 1\n", ":3: entry \\(3, 1\\) is outside"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n0 1 1\n", ":3: entry \\(0, 1\\) is outside"),
    ("%%MatrixMarket matrix coordinate real general\n2 2 1\n1 1 abc\n", ":3: value 'abc' is not a valid real"),
    ("%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 1.5\n", ":3: value '1.5' is not a valid integer"),
    ("%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 4294967296\n", ":3: value 4294967296 is out of the int32"),
    ("%%MatrixMarket matrix coordinate integer skew-symmetric\n2 2 1\n1 1 3\n", ":3: skew-symmetric matrix with a diagonal"),
    ("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 x\n", ":3: row and column must be integers"),
])
def test_read_malformed_files_name_the_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match="m.mtx" + message):
        m.read_mtx(path, values="file" if "pattern" not in text else "ones")


def test_read_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        m.read_mtx(tmp_path / "none.mtx")
    path = shared("ash85")
    with pytest.raises(ValueError, match="values='zeros' is out of range"):
        m.read_mtx(path, values="zeros")


@pytest.mark.parametrize("value_type", ["int32", "fp32"])
def test_write_read_round_trip(tmp_path, value_type):
    rng = np.random.default_rng(9)
    A = m.uniform_random(13, 7, density=0.3, rng=rng, value_type=value_type)
    if value_type == "fp32":           # special values survive the text form
        data = A.data.copy()
        data[:5] = m.to_bits([float("nan"), float("inf"), -float("inf"), -0.0, 2.0**-140], "fp32")
        data[0] = NAN32
        A = A.with_data(data)
    else:
        A = A.with_data(np.concatenate([m.to_bits([-2**31, 2**31 - 1], "int32"), A.data[2:]]))
    path = m.write_mtx(tmp_path / "w.mtx", A, value_type, comment="round trip\nsecond line")
    assert m.read_mtx(path, values="file", value_type=value_type) == A
    pattern = m.write_mtx(tmp_path / "p.mtx", A, value_type, field="pattern")
    assert np.array_equal(m.read_mtx(pattern).indices, A.indices)


# -- generators and edge cases ---------------------------------------------------------------

def test_generators_are_seeded_and_exact():
    A = m.uniform_random(40, 30, density=0.1, rng=np.random.default_rng(2))
    assert A.nnz == 120 and A == m.uniform_random(40, 30, density=0.1, rng=np.random.default_rng(2))
    B = m.uniform_random(40, 30, nnz_per_row=5, rng=1, value_type="fp32")
    assert (B.row_lengths() == 5).all()
    R = m.rmat(scale=10, edge_factor=8, rng=np.random.default_rng(4))
    assert R.shape == (1024, 1024) and 0.5 * 8192 < R.nnz <= 8192
    lengths = R.row_lengths()
    assert lengths.max() > 10 * lengths.mean()                  # power law: a few hub rows
    assert R == m.rmat(scale=10, edge_factor=8, rng=np.random.default_rng(4))
    assert m.rmat(rows=1000, rng=1).shape == (1000, 1000)
    P = m.power_law_rows(500, 400, 6, alpha=1.8, rng=3)
    assert P.row_lengths().max() > 5 * P.row_lengths().mean()
    with pytest.raises(ValueError, match="exactly one of density and nnz_per_row"):
        m.uniform_random(3, 3)
    with pytest.raises(ValueError, match="a \\+ b \\+ c <= 1"):
        m.rmat(scale=3, a=0.6, b=0.3, c=0.3)


@pytest.mark.parametrize("table", [2, 16, 64])
def test_edge_cases_have_their_shape(table):
    for vt in ("int32", "fp32"):
        cases = m.edge_cases(vt, table)
        for A, B in cases.values():
            assert A.cols == B.rows
        C = {name: g.spgemm(A, B, vt) for name, (A, B) in cases.items()}
        assert C["table_exact"].row_lengths()[0] == table
        assert C["table_overflow"].row_lengths()[0] == table + 1
        assert C["table_exact"].row_lengths()[1:].max() < table
        assert (C["heavy_collision"].row(0)[0] % table == 0).all()
        assert C["heavy_collision"].row_lengths()[0] == max(2, table // 2)
        assert C["same_column"].row(0)[0].tolist() == [3, 7]
        assert g.flops(*cases["same_column"]) >= 17
        assert C["empty_rows"].row_lengths()[[0, 3, 4, 7, 11]].tolist() == [0] * 5
        assert C["zero_inner"].shape == (4, 6) and C["zero_inner"].nnz == 0
        assert C["zero_rows"].shape == (0, 4) and C["zero_cols"].shape == (5, 0)
        assert C["empty_a"].nnz == 0 and C["empty_b"].nnz == 0
        assert C["non_square"].shape == (30, 20)
        assert (C["dense_row"].row_lengths()[3] == 16)
        assert cases["dense_row"][0].row_lengths()[3] == 24


# -- int32 golden against scipy --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_int32_golden_equals_scipy_on_shared_matrices(name):
    A = m.read_mtx(shared(name), values="random", seed=11, value_type="int32")
    C = check_int32_against_scipy(*operands(A))
    assert C.nnz > 0


@pytest.mark.parametrize("make", [
    lambda rng: (m.uniform_random(200, 300, density=0.02, rng=rng), m.uniform_random(300, 150, density=0.03, rng=rng)),
    lambda rng: (m.uniform_random(2000, 2000, nnz_per_row=3, rng=rng),) * 2,
    lambda rng: (m.rmat(scale=9, edge_factor=6, rng=rng),) * 2,
    lambda rng: (m.power_law_rows(300, 300, 5, rng=rng), m.rmat(rows=300, rng=rng)),
], ids=["uniform", "uniform2000", "rmat", "powerlaw_x_rmat"])
def test_int32_golden_equals_scipy_on_random_matrices(make):
    A, B = make(np.random.default_rng(21))
    check_int32_against_scipy(A, B)


def test_int32_golden_wraps_and_handles_edge_cases():
    for name, (A, B) in m.edge_cases("int32", 16).items():
        C = check_int32_against_scipy(A, B)
        if name == "int32_wrap":
            # row 0: (2**31-1)*(2**31-1) + (2**31-1)*1 = 2**62 - 2**31 = 0x3FFF_FFFF_8000_0000 -> 0x80000000
            assert C.to_dense()[0, 0] == ((2**31 - 1) ** 2 + (2**31 - 1)) % 2**32 == 0x80000000
    # cancellation keeps the entry: the pattern is symbolic
    A = m.Csr.from_dense(np.array([[1, 1]]), "int32")
    B = m.Csr.from_dense(np.array([[3], [-3]]), "int32")
    C = g.spgemm(A, B, "int32")
    assert C.nnz == 1 and C.data.tolist() == [0]


def test_spgemm_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="inner dimensions differ: A is 2 x 3, B is 4 x 2"):
        g.spgemm(m.Csr((2, 3), [0, 0, 0], [], []), m.Csr((4, 2), [0] * 5, [], []))
    with pytest.raises(ValueError, match="value_type"):
        g.spgemm(m.Csr((1, 1), [0, 0], [], []), m.Csr((1, 1), [0, 0], [], []), "fp64")


# -- fp32 golden: order, IEEE cases, bound -----------------------------------------------------

def rowwise_twin(A: m.Csr, B: m.Csr) -> dict:
    """Gustavson row by row with the numerics scalars: for each A[i, k] in order, each B[k, j]
    in order: p = fp_mul; the first p of (i, j) starts it, later ones are fp_add-ed."""
    out = {}
    for i in range(A.rows):
        acc: dict[int, int] = {}
        for k, a in zip(*A.row(i)):
            for j, b in zip(*B.row(int(k))):
                p = int(ng.fp_mul([int(a)], [int(b)], F32)[0])
                acc[int(j)] = p if int(j) not in acc else int(ng.fp_add([acc[int(j)]], [p], F32)[0])
        out.update({(i, j): v for j, v in acc.items()})
    return out


def numpy_twin(A: m.Csr, B: m.Csr) -> dict:
    """The same order in NumPy float32 (IEEE, round to nearest even), NaN made canonical."""
    out = {}
    a_vals, b_vals = A.values("fp32"), B.values("fp32")
    with np.errstate(all="ignore"):
        for i in range(A.rows):
            acc: dict[int, np.float32] = {}
            for pos in range(A.indptr[i], A.indptr[i + 1]):
                k = A.indices[pos]
                for q in range(B.indptr[k], B.indptr[k + 1]):
                    j = int(B.indices[q])
                    p = np.float32(a_vals[pos] * b_vals[q])
                    acc[j] = p if j not in acc else np.float32(acc[j] + p)
            for j, v in acc.items():
                bits = int(np.float32(v).view(np.uint32))
                out[(i, j)] = NAN32 if math.isnan(v) else bits
    return out


def as_dict(C: m.Csr) -> dict:
    return {(int(i), int(j)): int(v) for i, j, v in zip(C.row_ids(), C.indices, C.data)}


@pytest.mark.parametrize("case", ["ash85", "random", "edge"])
def test_fp32_golden_matches_rowwise_and_numpy_twins(case):
    rng = np.random.default_rng(31)
    if case == "ash85":
        pairs = [operands(m.read_mtx(shared("ash85"), values="random", seed=3, value_type="fp32"))]
    elif case == "random":
        pairs = [(m.uniform_random(40, 50, density=0.15, rng=rng, value_type="fp32"),
                  m.uniform_random(50, 30, density=0.2, rng=rng, value_type="fp32"))]
    else:
        pairs = list(m.edge_cases("fp32", 8).values())
    for A, B in pairs:
        C = g.spgemm(A, B, "fp32")
        assert as_dict(C) == rowwise_twin(A, B) == numpy_twin(A, B)


def test_fp32_ieee_special_values():
    cases = m.edge_cases("fp32", 16)
    z = g.spgemm(*cases["fp32_signed_zeros"], "fp32").to_dense()
    NEG0 = 0x80000000
    assert z[0, 0] == NEG0          # -0 product first, then + -0: -0 (0 + p would give +0)
    assert z[2, 1] == NEG0          # -0 + -0
    assert z[0, 1] == 0             # +0 + -0 = +0
    assert z[2, 2] == 0 and g.spgemm(*cases["fp32_signed_zeros"], "fp32").nnz == 12   # 5 + -5 = +0, kept
    assert z[0, 2] == m.to_bits([-5.0], "fp32")[0]
    s = g.spgemm(*cases["fp32_inf_nan"], "fp32").to_dense()
    INF, NINF = 0x7F800000, 0xFF800000
    assert s[0, 0] == NAN32         # Inf * 0
    assert s[0, 2] == NAN32         # Inf + (-Inf)
    assert (s[2] == NAN32).all()    # a NaN input poisons its row, canonically
    assert s[1, 0] == NINF and s[1, 1] == INF
    assert s[4, 0] == NINF          # 0 + (-Inf)
    h = g.spgemm(*cases["fp32_huge_tiny"], "fp32").to_dense("fp32").astype(np.float64)
    fmax = float(np.finfo(np.float32).max)
    assert h[0, 0] == math.inf      # fmax + fmax overflows in the sum
    assert h[0, 2] == math.inf      # fmax * 2 overflows in the product
    assert h[1, 1] == 2.0**-127     # subnormal result; 1e-30 * 1e-30 underflows to 0
    assert h[3, 1] == 2.0**-131
    assert h[2, 0] == 0.0           # (1e30 + 1) - 1e30: the order of the sum decides
    assert h[0, 1] == float(np.float32(np.float32(fmax * 0.5) + np.float32(fmax * np.float32(1e-30))))
    assert h[3, 2] == float(np.float32(2.0**-129) + np.float32(3 * np.float32(1e-40)))
    assert abs(h[0, 1]) < fmax


@pytest.mark.parametrize("name", NAMES)
def test_fp32_within_bound_of_float64_on_shared_matrices(name):
    values = "file" if name in REAL_VALUED else "random"
    A = m.read_mtx(shared(name), values=values, seed=7, value_type="fp32")
    check = g.check_fp32_bound(*operands(A))
    assert check.ok and check.checked > 0, check.violations
    assert check.skipped_nonfinite == check.skipped_overflow == 0
    assert 0 < check.max_ratio <= 1


def test_fp32_bound_on_random_edge_and_broken_products():
    rng = np.random.default_rng(41)
    A = m.rmat(scale=8, edge_factor=8, rng=rng, value_type="fp32")
    assert g.check_fp32_bound(A, A).ok
    for name, (A, B) in m.edge_cases("fp32", 16).items():
        check = g.check_fp32_bound(A, B)
        assert check.ok, (name, check.violations)
        if name == "fp32_huge_tiny":
            assert check.skipped_overflow == 2
        if name == "fp32_inf_nan":
            assert check.skipped_nonfinite > 0
    # a product off by one unit in the last place is caught where it exceeds the bound
    A = m.uniform_random(30, 30, density=0.2, rng=rng, value_type="fp32")
    C = g.spgemm(A, A, "fp32")
    bad = C.with_data(C.data + np.uint32(64) * (C.data != 0))
    assert not g.check_fp32_bound(A, A, bad).ok
    assert g.gamma(1) == pytest.approx(2.0**-24 / (1 - 2.0**-24))
    ref = g.spgemm_float64(A, A)
    assert np.allclose(ref.to_dense(), A.to_dense("fp32").astype(np.float64) @ A.to_dense("fp32").astype(np.float64))
