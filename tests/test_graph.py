"""Dataflow graphs: connection checks, loop rejection, composed golden and performance models,
Mermaid export, and end-to-end simulation of a two-block pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks, examples
from hwgen.blocks.mac_array.golden import dot_products
from hwgen.blocks.requant.golden import requantize
from hwgen.graph import Graph, GraphError
from sim.pysim import simulate_pysim
from sim.runner import simulate


def test_connect_checks_payload_shapes():
    graph = Graph("g")
    graph.add("mac", blocks.get("mac_array"))           # result: signed(23)
    graph.add("rq", blocks.get("requant", in_width=32))
    with pytest.raises(GraphError, match=r"cannot connect mac.result to rq.samples: payload shapes "
                                         r"differ \(signed\(23\) vs signed\(32\)\)"):
        graph.connect("mac.result", "rq.samples")


def test_connect_checks_names_and_directions():
    graph = Graph("g")
    graph.add("a", blocks.get("requant", in_width=8, out_width=8, shift=0))
    graph.add("b", blocks.get("requant", in_width=8, out_width=8, shift=0))
    with pytest.raises(GraphError, match="has no output stream 'samples'; its output streams are scaled"):
        graph.connect("a.samples", "b.samples")
    with pytest.raises(GraphError, match="has no input stream 'scaled'"):
        graph.connect("a.scaled", "b.scaled")
    with pytest.raises(GraphError, match="graph 'g' has no node 'c'"):
        graph.connect("c.scaled", "b.samples")
    with pytest.raises(GraphError, match="name a port as 'node.port'"):
        graph.connect("a", "b.samples")
    with pytest.raises(GraphError, match="already in graph"):
        graph.add("a", blocks.get("requant"))
    with pytest.raises(GraphError, match="identifier"):
        graph.add("x__y", blocks.get("requant"))
    graph.connect("a.scaled", "b.samples")
    graph.add("c", blocks.get("requant", in_width=8, out_width=8, shift=0))
    with pytest.raises(GraphError, match="a.scaled already feeds b.samples"):
        graph.connect("a.scaled", "c.samples")


def test_loops_are_rejected():
    graph = Graph("ring")
    for name in "abc":
        graph.add(name, blocks.get("requant", in_width=8, out_width=8, shift=0))
    graph.connect("a.scaled", "b.samples")
    graph.connect("b.scaled", "c.samples")
    with pytest.raises(GraphError, match=r"closes a loop \(a -> b -> c -> a\)"):
        graph.connect("c.scaled", "a.samples")
    with pytest.raises(GraphError, match="closes a loop"):
        Graph_self = Graph("self")
        Graph_self.add("d", blocks.get("requant", in_width=8, out_width=8, shift=0))
        Graph_self.connect("d.scaled", "d.samples")


def test_composed_golden_equals_stagewise_reference(rng):
    graph = examples.mac_requant(lanes=4, vector_length=3, shift=5)
    top = graph.elaborate_top()
    inputs = top.stimulus(rng, 500)
    assert set(inputs) == {"mac.a", "mac.b"}
    out = top.golden(inputs)
    dots = dot_products(inputs["mac.a"], inputs["mac.b"])
    assert set(out) == {"rq.y"}
    assert out["rq.y"].tolist() == requantize(dots, 5, 8, True, "half_up").tolist()


def test_composed_model_and_mermaid(rng):
    graph = examples.mac_requant(lanes=4, vector_length=3)
    inputs = graph.elaborate_top().stimulus(rng, 100)
    estimate = graph.estimate(inputs)
    mac, rq = estimate.nodes["mac"], estimate.nodes["rq"]
    assert estimate.bottleneck == "mac" and estimate.critical_path == ["mac", "rq"]
    assert estimate.total.latency == mac.latency + rq.latency
    assert estimate.total.cycles == 100 * 3 + mac.latency + rq.latency
    text = graph.mermaid()
    assert text.startswith("flowchart LR\n")
    assert 'mac -- "result → samples: signed(' in text and "out_rq_scaled" in text


def test_graph_ports_and_verilog_names(rtl_out):
    from hwgen.generate import generate

    generated = generate(examples.mac_requant().elaborate_top(), rtl_out)
    names = {port["name"] for port in generated.manifest["ports"]}
    assert {"mac__operands__valid", "mac__operands__payload", "rq__scaled__ready"} <= names
    assert "module mac_requant(" in generated.verilog.read_text()


def test_pipeline_in_python_simulator():
    top = examples.mac_requant(lanes=3, vector_length=2).elaborate_top()
    result = simulate_pysim(top, vectors=150, seed=4, idle=0.3, backpressure=0.4)
    assert result.passed, result.summary()["verdict"]


@pytest.mark.verilator
def test_pipeline_end_to_end_on_verilator(rtl_out, tmp_path):
    graph = examples.mac_requant(lanes=5, vector_length=4, shift=7)
    top = graph.elaborate_top()
    inputs = top.stimulus(np.random.default_rng(9), 1500)
    stalled = simulate(top, inputs, seed=9, idle=0.2, backpressure=0.4, rtl_out=rtl_out, out=tmp_path / "s")
    assert stalled.passed, stalled.summary()["verdict"]
    assert stalled.verdict.compared == 1500
    clean = simulate(top, inputs, seed=9, rtl_out=rtl_out, out=tmp_path / "c")
    assert clean.passed and clean.cycles == graph.estimate(inputs).total.cycles
