"""The two benches and the two simulators, on every registered block and example graph at its
flow point (``hwgen.flow.designs``), on one build per design and simulator (the slowest
engines' second runs with ``-m long``):

* the compiled bench and the python bench give the same outputs, cycle count, output beat
  edges, observation and memory traces and memory images, under stalls on every stream;
* a deliberately broken design fails on both;
* on Icarus Verilog, every design passes, without stalls in its model's cycle count, and under
  stalls the compiled bench gives there exactly what it gives on Verilator (the generated
  Verilog means the same to both simulators). Skipped only when ``iverilog`` is not on PATH
  (``.ci/run`` installs it).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from amaranth.hdl import Module

from hwgen import blocks, flow
from sim.runner import simulate

DESIGNS = {design.name: (design, model) for design, model in flow.designs()}
# vectors per design: enough to cross every kind of beat (loads and queries, several pages,
# rows that overflow the table) at a few thousand cycles
VECTORS = {"omap_controller": 3, "attention_engine": 2, "spgemm_hash": 8, "pim_channel": 2,
           "pim_vector_unit": 3}
STALLS = {"idle": 0.15, "backpressure": 0.25}
# The engines whose python-bench or Icarus run takes 10-25 s: with ``-m long`` only (their
# compiled-bench run on Verilator is checked in the suite by their family's tests and the
# flow). The small designs exercise every bench feature (stalls, traces, memories) in seconds.
SLOW_ON_PYTHON_BENCH = {"omap_controller", "pim_channel", "pim_host_splice"}
SLOW_ON_ICARUS = {"omap_controller", "attention_engine"}


def every_design(long_only):
    return [pytest.param(name, marks=[pytest.mark.long] if name in long_only else [])
            for name in sorted(DESIGNS)]

needs_icarus = pytest.mark.skipif(shutil.which("iverilog") is None,
                                  reason="Icarus Verilog (iverilog) is not on PATH")


def inputs_for(name: str, seed: int = 11):
    design, _ = DESIGNS[name]
    return design.stimulus(np.random.default_rng(seed), VECTORS.get(name, 12))


def assert_same_run(a, b) -> None:
    """Two results of the same design, inputs, seed and stalls: identical in everything the
    bench observed."""
    assert a.cycles == b.cycles and a.vectors == b.vectors
    assert set(a.outputs) == set(b.outputs)
    for name in a.outputs:
        assert np.asarray(a.outputs[name]).tolist() == np.asarray(b.outputs[name]).tolist(), name
    assert {k: v.tolist() for k, v in a.output_edges.items()} == {k: v.tolist() for k, v in b.output_edges.items()}
    assert set(a.traces) == set(b.traces)
    for port, fields in a.traces.items():
        for field, values in fields.items():
            assert np.asarray(values).tolist() == np.asarray(b.traces[port][field]).tolist(), (port, field)
    assert a.images == b.images
    assert a.problems == b.problems


@pytest.mark.verilator
@pytest.mark.parametrize("name", every_design(long_only=SLOW_ON_PYTHON_BENCH))
def test_compiled_and_python_benches_agree(name, rtl_out, tmp_path):
    design, _ = DESIGNS[name]
    inputs = inputs_for(name)
    runs = {bench: simulate(design, inputs, seed=5, rtl_out=rtl_out, out=tmp_path / bench, bench=bench,
                            **STALLS)
            for bench in ("compiled", "python")}
    for bench, result in runs.items():
        assert result.passed, f"{bench}: {result.summary()['verdict']}"
    assert_same_run(runs["compiled"], runs["python"])
    # the stalls were real: some output beat waited
    assert runs["compiled"].cycles > 0


class BrokenRequant(type(blocks.get("requant"))):
    """requant with its output's lowest bit inverted: wrong from the first beat."""

    name = "requant_broken"

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = type(blocks.get("requant"))(**self.param_values)
        m.d.comb += [inner.samples.valid.eq(self.samples.valid), inner.samples.payload.eq(self.samples.payload),
                     self.samples.ready.eq(inner.samples.ready), self.scaled.valid.eq(inner.scaled.valid),
                     inner.scaled.ready.eq(self.scaled.ready),
                     self.scaled.payload.eq(inner.scaled.payload ^ 1)]
        return m


@pytest.mark.verilator
@pytest.mark.parametrize("simulator", ["verilator", pytest.param("icarus", marks=needs_icarus)])
def test_a_broken_design_fails_on_both_benches(simulator, rtl_out, tmp_path):
    design = BrokenRequant()
    inputs = design.stimulus(np.random.default_rng(3), 40)
    for bench in ("compiled", "python"):
        result = simulate(design, inputs, seed=2, rtl_out=rtl_out, out=tmp_path / bench, bench=bench,
                          simulator=simulator, **STALLS)
        assert not result.passed
        assert result.verdict.mismatches == 40, result.summary()["verdict"]


@needs_icarus
@pytest.mark.verilator
@pytest.mark.parametrize("name", every_design(long_only=SLOW_ON_ICARUS))
def test_every_design_passes_on_icarus(name, rtl_out, tmp_path):
    design, model = DESIGNS[name]
    inputs = inputs_for(name, seed=4)
    clean = simulate(design, inputs, seed=4, rtl_out=rtl_out, out=tmp_path / "clean", simulator="icarus")
    assert clean.passed, clean.summary()["verdict"]
    assert clean.cycles == model(inputs)
    stalled = {simulator: simulate(design, inputs, seed=4, rtl_out=rtl_out, out=tmp_path / simulator,
                                   simulator=simulator, **STALLS)
               for simulator in ("icarus", "verilator")}
    assert stalled["icarus"].passed, stalled["icarus"].summary()["verdict"]
    assert_same_run(stalled["icarus"], stalled["verilator"])
