"""The harness itself, on designs made for the purpose: 1-bit payloads, designs without a
clock, missing inputs, wide integers through .npz files, the critical path of a graph."""

from __future__ import annotations


import numpy as np
import pytest
from amaranth.hdl import Module, unsigned
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from hwgen import blocks
from hwgen.core.block import Block, Estimate
from hwgen.core.params import Param, ParamSet
from hwgen.generate import generate
from hwgen.graph import Graph
from sim.runner import load_npz, save_npz, simulate

from tests.support.cli import hwgen


class Parity(Block):
    """Odd parity of each input word, registered: a 1-bit output stream. Not registered by
    name, so it stays out of ``hwgen list`` and the flow."""

    name = "parity_test"
    params = ParamSet(params=(Param("width", int, 5, "input width", min=1, max=64),))

    def signature_members(self):
        return {"words": In(stream.Signature(unsigned(self.p.width))),
                "parity": Out(stream.Signature(unsigned(1)))}

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.words.ready.eq(~self.parity.valid | self.parity.ready)
        with m.If(self.words.ready):
            m.d.sync += [self.parity.valid.eq(self.words.valid),
                         self.parity.payload.eq(self.words.payload.xor())]
        return m

    def golden(self, inputs):
        return {"p": np.array([bin(int(v)).count("1") % 2 for v in inputs["w"]], dtype=np.uint64)}

    def stimulus(self, rng, n):
        return {"w": rng.integers(0, 1 << self.p.width, size=n, dtype=np.uint64)}

    def workload(self, inputs):
        return {"words": len(inputs["w"])}

    def model(self, workload):
        return Estimate(cycles=workload["words"] + 1, latency=1, busy=workload["words"])

    def fields_to_beats(self, fields):
        return {port: fields[key] for key, port in (("w", "words"), ("p", "parity")) if key in fields}

    def beats_to_fields(self, beats):
        return {key: beats[port] for key, port in (("w", "words"), ("p", "parity")) if port in beats}


class Combinational(Parity):
    name = "comb_test"

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.parity.valid.eq(self.words.valid), self.words.ready.eq(self.parity.ready),
                     self.parity.payload.eq(self.words.payload.xor())]
        return m


@pytest.mark.verilator
def test_one_bit_payload(rtl_out, tmp_path):
    result = simulate(Parity(width=9), vectors=1000, seed=3, idle=0.3, backpressure=0.3,
                      rtl_out=rtl_out, out=tmp_path)
    assert result.passed, result.summary()["verdict"]
    assert set(result.outputs["p"].tolist()) == {0, 1}


def test_design_without_clock_is_refused(rtl_out):
    with pytest.raises(ValueError, match="comb_test has no clocked logic"):
        generate(Combinational(), rtl_out)


def test_missing_input_field_is_reported_before_anything_runs(rtl_out):
    with pytest.raises(ValueError, match="requant inputs need field .x. \\(given: z\\): input stream samples has no data"):
        simulate(blocks.get("requant"), {"z": np.zeros(3, dtype=np.int64)}, rtl_out=rtl_out)
    with pytest.raises(ValueError, match="mac_array inputs need both 'a' and 'b', 'b' is missing"):
        simulate(blocks.get("mac_array"), {"a": np.zeros((1, 16, 8), dtype=np.int64)}, rtl_out=rtl_out)


def test_npz_round_trip_of_wide_integers(tmp_path):
    fields = {"wide": np.array([-(1 << 100), 0, (1 << 90) + 7], dtype=object),
              "narrow": np.array([1, -2], dtype=np.int64)}
    save_npz(tmp_path / "f.npz", fields)
    with np.load(tmp_path / "f.npz", allow_pickle=False) as raw:  # no pickle needed
        assert raw["wide"].dtype.kind == "U"
    back = load_npz(tmp_path / "f.npz")
    assert back["wide"].tolist() == fields["wide"].tolist() and back["wide"].dtype == object
    assert back["narrow"].dtype == np.int64 and back["narrow"].tolist() == [1, -2]
    np.savez(tmp_path / "bad.npz", x=np.array(["12", "twelve"]))
    with pytest.raises(ValueError, match="field 'x' holds strings that are not integers"):
        load_npz(tmp_path / "bad.npz")


@pytest.mark.verilator
def test_wide_stimulus_through_the_command_line(tmp_path):
    x = [-(1 << 99), (1 << 99) - 1, 0, 12345678901234567890123, -98765432109876543210987]
    np.savez(tmp_path / "in.npz", x=np.array([str(v) for v in x]))
    done = hwgen("sim", "requant", "-p", "in_width=100", "-p", "out_width=64", "-p", "shift=20",
                 "--stimulus", "in.npz", "--out", "res", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    y = np.load(tmp_path / "res" / "outputs.npz")["y"]
    clip = lambda v: min(max(v, -(1 << 63)), (1 << 63) - 1)  # noqa: E731
    assert y.tolist() == [clip((v + (1 << 19)) >> 20) for v in x]


def two_chains() -> Graph:
    graph = Graph("two_chains")
    # chain a -> b (latencies 3 + 1) beside chain c -> d -> e (1 + 1 + 1)
    mac = blocks.get("mac_array", lanes=2, vector_length=1, tree_stages=1)
    graph.add("a", mac)
    graph.add("b", blocks.get("requant", in_width=mac.info()["acc_width"], out_width=8, shift=0))
    for name in "cde":
        graph.add(name, blocks.get("requant", in_width=8, out_width=8, shift=0))
    graph.connect("a.result", "b.samples")
    graph.connect("c.scaled", "d.samples")
    graph.connect("d.scaled", "e.samples")
    return graph


def test_critical_path_is_the_longest_by_latency():
    graph = two_chains()
    latency = {"a": 3, "b": 1, "c": 1, "d": 1, "e": 1}
    assert graph.longest_path(latency) == ["a", "b"]
    latency["e"] = 5
    assert graph.longest_path(latency) == ["c", "d", "e"]


@pytest.mark.verilator
def test_graph_with_two_inputs_and_two_outputs(rtl_out, tmp_path):
    graph = two_chains()
    top = graph.elaborate_top()
    inputs = top.stimulus(np.random.default_rng(5), 800)
    assert set(inputs) == {"a.a", "a.b", "c.x"}
    result = simulate(top, inputs, seed=5, idle=0.3, backpressure=0.3, rtl_out=rtl_out, out=tmp_path / "s")
    assert result.passed, result.summary()["verdict"]
    assert set(result.outputs) == {"b.y", "e.y"} and result.verdict.compared == 1600
    clean = simulate(top, inputs, seed=5, rtl_out=rtl_out, out=tmp_path / "c")
    assert clean.passed and clean.cycles == graph.estimate(inputs).total.cycles
