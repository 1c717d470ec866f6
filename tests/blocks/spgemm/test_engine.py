"""spgemm_hash (issue 8): the RTL against the golden models (C bit-exact, read back from the
memory it writes) and its cycle model, on the Amaranth simulator (edge cases, every small
configuration) and on Verilator (lanes 1, 2, 4; tables of 16 to 64 entries, 256 and the
lint of 1024 with ``-m long``, 1024 simulated by bench/sim_speed.py, whose build alone takes
minutes); banks 1, 2, 4; int32 and fp32; memory stalls and latency; every shared matrix;
random matrices up to 2000 x 2000 with ``-m long``)."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen.blocks.spgemm.layout import fields_of
from hwgen.blocks.spgemm.matrices import edge_cases, read_mtx, rmat, uniform_random
from hwgen.blocks.spgemm.model import engine_cycles
from hwgen.blocks.spgemm.rtl import SpgemmHash
from hwgen.core.params import ParamError
from sim.pysim import simulate_pysim
from sim.runner import simulate

from tests.support.shared_matrices import SHARED as MATRICES
from tests.support.shared_matrices import all_shared as shared_matrices


def square_product(path, value_type):
    """A x A, or A x A^T for a non-square A, with seeded random values."""
    A = read_mtx(path, values="random", value_type=value_type, seed=1)
    return fields_of(A, A if A.shape[0] == A.shape[1] else A.transpose())


def check(block, inputs, result, exact_cycles=True):
    """Bit-exact C; the model's memory traffic equals the recorded trace's, and (without
    stalls) its cycles the RTL's."""
    assert result.passed, result.summary()["verdict"] + "; ".join(result.problems)
    estimate = block.model(block.workload(inputs))
    trace = result.traces["mem"]
    word_bytes = 8 * block.p.lanes
    assert estimate.bytes_in == word_bytes * int((trace["is_write"] == 0).sum())
    assert estimate.bytes_out == word_bytes * int((trace["is_write"] == 1).sum())
    if exact_cycles:
        assert result.cycles == estimate.cycles


# -- Amaranth simulator: edge cases on small configurations --------------------------------

SMALL = [
    {"lanes": 1, "table_size": 16, "banks": 1, "hash": "modulo"},
    {"lanes": 2, "table_size": 16, "banks": 2},
    {"lanes": 4, "table_size": 16, "banks": 4},
    {"lanes": 8, "table_size": 32, "banks": 8},
]


def _edge_case_points():
    """Every small configuration in int32 and fp32; fp32 on 2, 4 and 8 lanes (15-30 s each on
    Amaranth's simulator) with ``-m long``: the suite runs the fp32 edge cases on one lane here
    and on 4 lanes on Verilator (``test_verilator_large_table_fp32``)."""
    for config in SMALL:
        name = "l{lanes}_t{table_size}_b{banks}".format(**config)
        for value_type in ("int32", "fp32"):
            marks = [pytest.mark.long] if value_type == "fp32" and config["lanes"] >= 2 else []
            yield pytest.param(config, value_type, marks=marks, id=f"{name}-{value_type}")


@pytest.mark.parametrize("config, value_type", list(_edge_case_points()))
def test_pysim_edge_cases(config, value_type):
    """Empty rows and matrices, zero-size shapes, a row that fills the table exactly and one
    that overflows it, a dense row, colliding columns, repeated updates of one column,
    non-square shapes, int32 wrap-around, fp32 signed zeros, Inf and NaN, huge and tiny."""
    block = SpgemmHash(value_type=value_type, **config)
    for name, (A, B) in edge_cases(value_type, config["table_size"]).items():
        inputs = fields_of(A, B)
        result = simulate_pysim(block, inputs)
        assert result.passed, f"{name}: {result.summary()['verdict']}"
        assert result.cycles == block.model(block.workload(inputs)).cycles, name


def test_pysim_random_with_stalls():
    block = SpgemmHash(lanes=2, table_size=16, banks=2)
    inputs = block.stimulus(np.random.default_rng(4), 16)
    check(block, inputs, simulate_pysim(block, inputs, idle=0.3, backpressure=0.3), exact_cycles=False)


@pytest.mark.parametrize("interval,latency", [(2, 1), (3, 4), (5, 2)])
def test_pysim_memory_bandwidth_and_latency(interval, latency):
    """A memory that takes one request every ``interval`` cycles: C still bit-exact, and the
    model's cycles still exact."""
    block = SpgemmHash(lanes=2, table_size=16, banks=2, mem_interval=interval, mem_latency=latency)
    inputs = block.stimulus(np.random.default_rng(interval), 12)
    check(block, inputs, simulate_pysim(block, inputs))


def test_model_reports_passes_and_probes():
    """The model's counts: a row wider than the table takes more than one pass."""
    A, B = edge_cases("int32", 16)["table_overflow"]
    detail = {}
    params = dict(SpgemmHash(table_size=16, banks=1).param_values)
    engine_cycles(params, fields_of(A, B), detail)
    assert detail["overflow_passes"] >= 1 and detail["passes"] > A.shape[0]
    assert detail["probes"] >= detail["updates"] > 0


@pytest.mark.parametrize("values,message", [
    ({"banks": 8, "table_size": 16, "lanes": 3}, "lanes=3 is out of range"),
    ({"table_size": 2048}, "table_size=2048 is out of range"),
    ({"value_type": "fp64"}, "value_type='fp64' is out of range"),
])
def test_bad_parameters(values, message):
    with pytest.raises(ParamError, match=message):
        SpgemmHash(**values)


def test_bad_inputs():
    block = SpgemmHash()
    A = uniform_random(3, 4, nnz_per_row=2, rng=np.random.default_rng(1))
    B = uniform_random(5, 4, nnz_per_row=2, rng=np.random.default_rng(2))
    with pytest.raises(ValueError, match="A's columns must equal B's rows"):
        block.fields_to_beats(fields_of(A, B))
    fields = fields_of(A, A.transpose())
    fields["A_indices"] = fields["A_indices"][::-1].copy()
    with pytest.raises(ValueError, match="column indices must be increasing"):
        block.fields_to_beats(fields)


# -- Verilator ---------------------------------------------------------------------------------

@pytest.mark.verilator
@pytest.mark.parametrize("config", SMALL + [pytest.param({"lanes": 1, "table_size": 1024, "banks": 1, "value_type": "fp32"},
                                                         marks=pytest.mark.long),
                                            {"lanes": 8, "table_size": 16, "banks": 8, "value_type": "fp32"}],
                         ids=lambda c: "l{lanes}_t{table_size}_b{banks}".format(**c) + c.get("value_type", ""))
def test_lint_clean(config, tmp_path):
    from hwgen import generate as gen
    from hwgen import toolchain

    generated = gen.generate(SpgemmHash(**config), tmp_path)
    assert toolchain.lint(generated.verilog, generated.top) == []


POINTS = {
    "l1_t16_b1_int32": {"lanes": 1, "table_size": 16, "banks": 1, "hash": "modulo"},
    "l2_t64_b2_int32": {},
    "l4_b4_fp32": {"lanes": 4, "banks": 4, "value_type": "fp32"},   # table size: the test's
}


LARGE_MATRICES = ("blckhole", "bp___200")     # a few hundred thousand cycles or more each


@pytest.mark.verilator
def test_verilator_shared_matrices_default(tmp_path):
    """The default engine (2 lanes, 64 entries, 2 banks, int32) on every shared matrix, A x A
    (A x A^T if not square): bit-exact with the model's cycle count exact; the smaller ones
    again with the memory stalled (latency 4, 15% of cycles)."""
    block = SpgemmHash()
    for path in shared_matrices():
        inputs = square_product(path, block.p.value_type)
        check(block, inputs, simulate(block, inputs, rtl_out=tmp_path))
        if path.stem not in LARGE_MATRICES:
            stalled = simulate(block, inputs, rtl_out=tmp_path, idle=0.15, backpressure=0.15)
            check(block, inputs, stalled, exact_cycles=False)


@pytest.mark.verilator
def test_verilator_one_lane_small_table(tmp_path):
    """1 lane, one bank of 16 entries, modulo hash: most rows overflow the table and take
    several passes; the smaller shared matrices under memory stalls, one also unstalled."""
    block = SpgemmHash(**POINTS["l1_t16_b1_int32"])
    for path in shared_matrices():
        if path.stem in LARGE_MATRICES:
            continue
        inputs = square_product(path, block.p.value_type)
        stalled = simulate(block, inputs, rtl_out=tmp_path, idle=0.15, backpressure=0.15)
        check(block, inputs, stalled, exact_cycles=False)
    inputs = square_product(MATRICES / "ash85.mtx", "int32")
    check(block, inputs, simulate(block, inputs, rtl_out=tmp_path))
    # a memory of a third the bandwidth (one request every 3 cycles): the same Verilog
    slow = SpgemmHash(**POINTS["l1_t16_b1_int32"], mem_interval=3, mem_latency=9)
    check(slow, inputs, simulate(slow, inputs, rtl_out=tmp_path))


@pytest.mark.verilator
@pytest.mark.parametrize("table_size", [64, pytest.param(256, marks=pytest.mark.long)])
def test_verilator_large_table_fp32(table_size, tmp_path):
    """fp32, 4 lanes, 4 banks, a 64-entry table (256 with ``-m long``: its build alone takes a
    minute): a shared matrix with real values and the fp32 edge cases, memory latency 12 and
    stalls; then unstalled, model exact."""
    block = SpgemmHash(**POINTS["l4_b4_fp32"], table_size=table_size, mem_latency=12)
    cases = [square_product(MATRICES / "bcsstk01.mtx", "fp32")]
    cases += [fields_of(A, B) for A, B in edge_cases("fp32", table_size).values()]
    for inputs in cases:
        check(block, inputs, simulate(block, inputs, rtl_out=tmp_path, idle=0.1, backpressure=0.1),
              exact_cycles=False)
    inputs = cases[0]
    check(block, inputs, simulate(block, inputs, rtl_out=tmp_path))


@pytest.mark.long
@pytest.mark.verilator
def test_verilator_random_2000(tmp_path):
    """2000 x 2000 uniform random (3 per row) squared, and an R-MAT power-law matrix
    (heavy rows: overflow passes), on the default engine, model exact."""
    block = SpgemmHash()
    rng = np.random.default_rng(8)
    A = uniform_random(2000, 2000, nnz_per_row=3, rng=rng)
    R = rmat(scale=9, edge_factor=6, rng=rng)
    for inputs in (fields_of(A, A), fields_of(R, R)):
        check(block, inputs, simulate(block, inputs, rtl_out=tmp_path))
