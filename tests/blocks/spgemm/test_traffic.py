"""SpGEMM dataflow traffic models: hand-computed small cases for each dataflow, relations
between them on real and random matrices, the exact LRU cache, and `hwgen model spgemm`."""

from __future__ import annotations


import numpy as np
import pytest

from hwgen.blocks.spgemm import golden as g
from hwgen.blocks.spgemm import matrices as m
from hwgen.blocks.spgemm import traffic as t
from hwgen.cli import main
from tests.support.shared_matrices import NAMES, shared




def rows(shape, row_cols) -> m.Csr:
    return m._from_rows(shape, row_cols, np.random.default_rng(0), "int32", values="ones")


# A (3 x 3): row 0 = {0, 1}, row 1 empty, row 2 = {1, 2}
# B (3 x 3): row 0 = {0, 2}, row 1 = {1}, row 2 = {0, 1, 2}
# products: row 0: 2 + 1 = 3, row 2: 1 + 3 = 4 (flops 7); C rows 0 and 2 = {0, 1, 2} (nnz 6)
# whole-matrix bytes 4 (3 + 1) + 8 nnz: A 48, B 64, C 64; row fetches 8 + 8 len: B0 24, B1 16, B2 32
A1 = rows((3, 3), [[0, 1], [], [1, 2]])
B1 = rows((3, 3), [[0, 2], [1], [0, 1, 2]])


def test_structure_of_the_hand_case():
    s = t.structure(A1, B1)
    assert s.flops == 7 == g.flops(A1, B1) and s.nnz_c == 6
    assert s.row_flops.tolist() == [3, 0, 4] and s.c_row_nnz.tolist() == [3, 0, 3]
    assert t.matrix_bytes(3, 4) == 48 and t.row_fetch_bytes([2, 1, 3]).tolist() == [24, 16, 32]


def test_inner_product_by_hand():
    # stream: B (CSC: every column has 2 entries, 16 + 48 = 64 B) re-read for 2 nonempty A rows
    r = t.inner_product(A1, B1)
    assert (r.read_a, r.read_b, r.partial_write, r.partial_read, r.write_c) == (48, 128, 0, 0, 64)
    assert r.dram_bytes == 240 and r.details["schedule"] == "stream" and r.details["pairs"] == 6
    assert r.work == 3 * 4 + 2 * 6 == 24 and r.onchip_bytes == 16          # A row of 2 entries
    # tiles of 40 B hold two 20-byte columns: 2 tiles, A read twice (96 + 64 = 160 < 176)
    r = t.inner_product(A1, B1, cache_bytes=40)
    assert (r.read_a, r.read_b, r.details["schedule"], r.onchip_bytes) == (96, 64, "tiled", 16 + 40)
    # one tile: both read once; a cache too small for one column: stream
    assert (t.inner_product(A1, B1, cache_bytes=1000).read_a, t.inner_product(A1, B1, cache_bytes=1000).read_b) == (48, 64)
    assert t.inner_product(A1, B1, cache_bytes=19).details["schedule"] == "stream"


def test_outer_product_by_hand():
    r = t.outer_product(A1, B1)
    # 4 fragments (every A entry meets a nonempty B row): 7 * 8 + 4 * 8 = 88 each way
    assert (r.read_a, r.read_b, r.partial_write, r.partial_read, r.write_c) == (48, 64, 88, 88, 64)
    assert r.dram_bytes == 352 and r.work == 7
    assert r.onchip_bytes == 8 * 4          # row 2's four partial products


def test_outer_product_merger_by_hand():
    # condensed: 2 partial matrices (max row length 2), one merge, nothing spilled;
    # B fetched in (i, c) order: rows 0, 1, 1, 2
    r = t.outer_product_merger(A1, B1, row_buffer_bytes=0, fifo_entries=1)
    assert (r.read_a, r.read_b, r.partial_write, r.partial_read, r.write_c) == (48, 24 + 16 + 16 + 32, 0, 0, 64)
    assert r.details["partial_matrices"] == 2 and r.details["merges"] == 1
    assert r.onchip_bytes == 64 * 1 * 8
    assert t.outer_product_merger(A1, B1, row_buffer_bytes=1024).read_b == 24 + 16 + 32
    # not condensed: one partial matrix per column of A, each B row fetched once and held
    r = t.outer_product_merger(A1, B1, condense=False, fifo_entries=0)
    assert (r.read_a, r.read_b, r.details["partial_matrices"]) == (48, 72, 3)
    assert r.onchip_bytes == 8 * (2 + 1 + 3)


def test_outer_product_merger_spills_by_hand():
    # A (2 x 3): row 0 = {0, 1, 2}, row 1 = {0}; B (3 x 2): row 0 = {0}, row 1 = {0, 1}, row 2 = {1}
    # condensed partial matrices: P0 = {(0,0), (1,0)} (2 entries, 2 rows: 16 + 16 = 32 B),
    # P1 = {(0,0), (0,1)} (24 B), P2 = {(0,1)} (16 B). With 2 ways, Huffman merges P2 + P1
    # first into {(0,0), (0,1)} (24 B, spilled and read back), then that with P0 into C.
    A = rows((2, 3), [[0, 1, 2], [0]])
    B = rows((3, 2), [[0], [0, 1], [1]])
    r = t.outer_product_merger(A, B, ways=2, row_buffer_bytes=0)
    assert (r.partial_write, r.partial_read, r.details["merges"]) == (24, 24, 2)
    # B order: merge 1 uses P1, P2 (rows 1, 2), merge 2 uses P0 (row 0 for A rows 0 and 1)
    assert r.read_b == 24 + 16 + 16 + 16
    assert t.outer_product_merger(A, B, ways=2, row_buffer_bytes=16).read_b == 24 + 16 + 16
    assert (r.read_a, r.write_c) == (12 + 32, 12 + 24)
    assert t.outer_product_merger(A, B, ways=3).partial_write == 0


def test_row_wise_by_hand():
    r = t.row_wise(A1, B1, cache_bytes=0)
    assert (r.read_a, r.read_b, r.partial_write, r.partial_read, r.write_c) == (48, 88, 0, 0, 64)
    assert r.details["b_fetches"] == 4 and r.work == 7
    assert t.row_wise(A1, B1, cache_bytes=None).read_b == 72
    # 20 bytes: B1 (16) is kept, B0 (24) and B2 (32) never fit
    assert t.row_wise(A1, B1, cache_bytes=20).read_b == 24 + 16 + 32
    # a 2-entry table: rows 0 and 2 (3 outputs each) take 2 passes: A rows re-read (8 * 4 B),
    # B fetched 0 1 0 1 | 1 2 1 2 without a cache, and every product scanned twice
    r = t.row_wise(A1, B1, cache_bytes=0, table_entries=2)
    assert (r.read_a, r.read_b, r.work) == (48 + 32, 2 * (24 + 16) + 2 * (16 + 32), 14)
    assert r.details["overflow_rows"] == 2 and r.details["extra_passes"] == 2
    assert r.onchip_bytes == 2 * 8
    assert t.row_wise(A1, B1, cache_bytes=0, table_entries=None).onchip_bytes == 3 * 8


def test_cycles_are_the_roofline():
    machine = t.Machine(bandwidth_gbs=16, clock_mhz=1000, multipliers=2)   # 16 B / cycle
    r = t.outer_product(A1, B1, machine=machine)
    assert r.transfer_cycles == 352 // 16 and r.compute_cycles == 4 and r.cycles == 22
    assert r.bound == "memory"
    r = t.inner_product(A1, B1, machine=t.Machine(bandwidth_gbs=1e6, clock_mhz=1, multipliers=3))
    assert r.cycles == r.compute_cycles == 8 and r.bound == "compute"
    for bad in (dict(bandwidth_gbs=0), dict(clock_mhz=-1), dict(multipliers=0)):
        with pytest.raises(ValueError, match="must be"):
            t.Machine(**bad)


def test_lru_cache_is_exact():
    sizes = [10, 10, 10, 25]
    assert t.lru_traffic([0, 1, 0, 2, 1, 0], sizes, 20) == (50, 5, 20)  # 0 1 h 2(evicts 1) 1(evicts 0) 0
    assert t.lru_traffic([0, 1, 0, 2, 1, 0], sizes, 30) == (30, 3, 30)
    assert t.lru_traffic([3, 3, 0], sizes, 20) == (60, 3, 10)          # row 3 never fits
    assert t.lru_traffic([0, 1, 0], sizes, None) == (20, 2, 20)
    assert t.lru_traffic([0, 1, 0], sizes, 0) == (30, 3, 0)


def test_empty_and_degenerate_products():
    for name, (A, B) in m.edge_cases("int32", 8).items():
        results = t.compare(A, B)
        assert [r.dataflow for r in results] == list(t.DATAFLOWS)
        for r in results:
            assert r.dram_bytes >= r.write_c >= t.POINTER_BYTES * (A.rows + 1)
            if g.flops(A, B) == 0:
                assert r.partial_write == 0 and (r.dataflow == "inner" or r.work == 0)


@pytest.fixture(scope="module")
def products():
    out = {}
    for name in NAMES:
        A = m.read_mtx(shared(name))
        out[name] = (A, A if A.rows == A.cols else A.transpose())
    rng = np.random.default_rng(5)
    out["rmat"] = (m.rmat(scale=10, edge_factor=8, rng=rng),) * 2
    out["uniform"] = (m.uniform_random(500, 400, nnz_per_row=6, rng=rng), m.uniform_random(400, 600, density=0.01, rng=rng))
    out["powerlaw"] = (m.power_law_rows(600, 600, 8, rng=rng),) * 2
    return out


def test_relations_between_dataflows(products):
    for name, (A, B) in products.items():
        s = t.structure(A, B)
        needed = np.unique(A.indices)
        once = int(t.row_fetch_bytes(B.row_lengths()[needed]).sum())
        outer = t.outer_product(A, B, s=s)
        for condense in (True, False):
            merger = t.outer_product_merger(A, B, condense=condense, s=s)
            assert outer.dram_bytes >= merger.dram_bytes, name
            assert merger.partial_write == merger.partial_read
        unlimited = t.row_wise(A, B, cache_bytes=None, table_entries=None, s=s)
        assert unlimited.read_b == once and unlimited.details["b_fetches"] == needed.size, name
        assert unlimited.read_a == t.matrix_bytes(A.rows, A.nnz)
        none = t.row_wise(A, B, cache_bytes=0, table_entries=None, s=s)
        assert none.read_b == int(t.row_fetch_bytes(B.row_lengths()[A.indices]).sum())
        some = t.row_wise(A, B, cache_bytes=16 * 1024, table_entries=None, s=s)
        assert once <= some.read_b <= none.read_b
        # rowwise and outer write C once and never spill (with an unlimited table)
        assert unlimited.partial_write == 0 and unlimited.write_c == outer.write_c == t.matrix_bytes(A.rows, s.nnz_c)
        # OuterSPACE spills every partial product, and reads each once
        assert outer.partial_write >= t.ENTRY_BYTES * s.flops
        # the inner product without a buffer streams B once per nonempty row of A
        inner = t.inner_product(A, B, cache_bytes=0, s=s)
        assert inner.read_b == int((A.row_lengths() > 0).sum()) * t.matrix_bytes(B.cols, B.nnz)
        assert t.inner_product(A, B, cache_bytes=1 << 30, s=s).read_b == t.matrix_bytes(B.cols, B.nnz)
        # a one-entry table makes every output its own pass
        tiny = t.row_wise(A, B, cache_bytes=None, table_entries=1, s=s)
        assert tiny.work == int((np.maximum(s.c_row_nnz, 1) * s.row_flops).sum())


def test_compare_and_table(products):
    A, B = products["bcspwr04"]
    results = t.compare(A, B, bandwidth_gbs=64, clock_mhz=500)
    text = t.format_table(results)
    assert text.splitlines()[0].startswith("| dataflow | A read | B read")
    assert len(text.splitlines()) == 2 + 4 and "1.00x" in text
    assert all(r.machine.bytes_per_cycle == 128 for r in results)
    assert [r.dataflow for r in t.compare(A, B, dataflows="rowwise")] == ["rowwise"]
    with pytest.raises(ValueError, match="dataflow='diagonal' is out of range"):
        t.compare(A, B, dataflows="diagonal")
    with pytest.raises(ValueError, match="computed for other matrices"):
        t.row_wise(A, B, s=t.structure(*products["ash85"]))


# -- the command line ---------------------------------------------------------------------------

def test_cli_model_spgemm(capsys, tmp_path):
    assert main(["model", "spgemm", "--matrix", str(shared("bcspwr04")), "--bandwidth", "64",
                 "--clock", "800"]) == 0
    out = capsys.readouterr().out
    assert "bcspwr04.mtx: C = A x A;" in out and "| dataflow |" in out
    for name in t.DATAFLOW_NAMES.values():
        assert name in out
    assert "64 GB/s at 800 MHz (80 B/cycle)" in out
    A = m.uniform_random(30, 50, density=0.1, rng=3)
    path = m.write_mtx(tmp_path / "wide.mtx", A)
    assert main(["model", "spgemm", "--matrix", str(path), "--dataflow", "rowwise", "--values", "random"]) == 0
    out = capsys.readouterr().out
    assert "C = A x A^T" in out and "row-wise" in out and "inner product" not in out
    expected = t.row_wise(A, A.transpose())
    assert f"| {expected.dram_bytes:,} |" in out


@pytest.mark.parametrize("args, message", [
    (["--matrix", "missing.mtx"], "matrix file missing.mtx does not exist"),
    (["--matrix", "{bad}", "--dataflow", "diagonal"], "dataflow='diagonal' is out of range"),
    (["--matrix", "{bad}", "--bandwidth", "0"], "spgemm: parameter bandwidth=0.0 is out of range: allowed > 0"),
    (["--matrix", "{bad}", "--values", "file"], "values='file' is out of range"),
    (["--matrix", "{bad}"], "bad.mtx:3: entry (5, 1) is outside the 2 x 2 matrix"),
])
def test_cli_model_spgemm_errors(capsys, tmp_path, args, message):
    bad = tmp_path / "bad.mtx"
    bad.write_text("%%MatrixMarket matrix coordinate pattern general\n2 2 1\n5 1\n")
    args = [a.replace("{bad}", str(bad)) for a in args]
    assert main(["model", "spgemm", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwgen: error: ") and message in err and len(err.strip().splitlines()) == 1
