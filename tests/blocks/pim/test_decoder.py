"""One GPT decoder layer as a dataflow graph of PIM blocks (hwgen/blocks/pim/decoder.py), and
the adapters it needs (hwgen/blocks/pim/adapters/rtl.py): each adapter against its golden model on
pysim and Verilator (stalls, exact cycle model, lint, parameter errors); the composed golden
model against a float64 transformer layer; the layer's RTL on Verilator in five parts (the
whole layer on Amaranth's simulator and its lint: bench/pim_decoder_layer.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from hwgen import blocks, examples, toolchain
from hwgen.blocks.pim import decoder as dec
from hwgen.core.params import ParamError
from hwgen.generate import generate
from hwgen.numerics import golden as g
from hwgen.numerics.formats import PRESETS
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.suite_points import in_suite_or_long

BF16, FP32 = PRESETS["bf16"], PRESETS["fp32"]
ADAPTER_POINTS = [
    ("pim_acc_to_bf16", dict(banks=4, lanes=4)),
    ("pim_acc_to_bf16", dict(banks=3, lanes=4)),
    ("pim_acc_to_bf16", dict(banks=8, lanes=3, ftz=True)),
    ("pim_acc_to_bf16", dict(banks=2, lanes=2, acc="bf16")),
    ("stream_split", dict(lanes=4, counts="3,1,2")),
    ("stream_split", dict(lanes=2, width=7, counts="1,1")),
    ("stream_fork", dict(lanes=4, outputs=3, depth=4)),
    ("stream_fork", dict(lanes=1, width=32, outputs=2, depth=3)),
    ("pim_host_splice", dict(banks=4, lanes=4, row_columns=8, bank_rows=4, gb_columns=8)),
    ("pim_host_splice", dict(banks=3, lanes=2, dtype="int8", row_columns=5, bank_rows=3, gb_columns=3)),
]
# One Verilator point per adapter: builds are slow, many vectors per run are not.
VERILATOR_POINTS = [ADAPTER_POINTS[i] for i in (1, 4, 6, 8)]


def point_id(point):
    name, params = point
    return name + "-" + "-".join(f"{k}{v}" for k, v in params.items())


# -- adapters: hand-worked cases ------------------------------------------------------------------

def test_acc_to_bf16_rounds_packs_and_pads():
    """fp32 -> bf16 round to nearest even, only `count` accumulators, densely packed; a vector
    ends at `last` with +0 padding, and a beat without valid accumulators still ends one."""
    block = blocks.get("pim_acc_to_bf16", banks=4, lanes=4)
    acc = np.array([[0x3F808000, 0x3F818000, 0x3F80C000, 0x7FFFFFFF],   # tie down, tie up, above tie
                    [0x7F7FFFFF, 0x00000001, 0xFF800000, 0x12345678],   # overflow, tiny, -Inf, unused
                    [0x40000000, 0, 0, 0],                              # a beat with count 0
                    [0xBF800000, 0x3F800000, 0x40400000, 0x40800000]], dtype=np.uint64)
    inputs = {"acc": acc, "count": np.array([4, 3, 0, 4]), "last": np.array([0, 0, 1, 1])}
    y = block.golden(inputs)["y"]
    want = [[0x3F80, 0x3F82, 0x3F81, 0x7FC0],   # NaN -> canonical bf16 NaN
            [0x7F80, 0x0000, 0xFF80, 0x0000],   # 7 elements: the second beat padded with +0
            [0xBF80, 0x3F80, 0x4040, 0x4080]]
    np.testing.assert_array_equal(y, np.array(want, dtype=np.uint64))
    result = simulate_pysim(block, inputs, idle=0.3, backpressure=0.3, seed=3)
    assert result.passed, result.summary()["verdict"]


def test_split_deals_a_repeating_pattern():
    block = blocks.get("stream_split", lanes=1, counts="2,1,3")
    a = np.arange(14, dtype=np.uint64).reshape(-1, 1)
    y = block.golden({"a": a})
    assert y["y0"].ravel().tolist() == [0, 1, 6, 7, 12, 13]
    assert y["y1"].ravel().tolist() == [2, 8]
    assert y["y2"].ravel().tolist() == [3, 4, 5, 9, 10, 11]


def test_fork_lets_one_copy_run_ahead_by_depth():
    """With one output held back entirely, the fork takes exactly `depth` beats and then
    stalls: a consumer that starts late (the MLP's residual add) gets everything."""
    block = blocks.get("stream_fork", lanes=2, outputs=2, depth=16)
    inputs = {"a": np.arange(32, dtype=np.uint64).reshape(16, 2)}
    result = simulate_pysim(block, inputs, backpressure=0.9, seed=5)
    assert result.passed, result.summary()["verdict"]
    assert block.golden(inputs)["y1"].tolist() == inputs["a"].tolist()


def splice_inputs(block, beats: list[dict], data) -> dict:
    p = block.p
    fields = {f"host_{name}": [] for name in ("kind", "row", "col", "slots", "beats", "last_count",
                                              "mask", "data", "splice", "lane", "pop")}
    for beat in beats:
        full = {"kind": 0, "row": 0, "col": 0, "slots": 0, "beats": 0, "last_count": 0,
                "mask": np.zeros((p.banks, p.lanes)), "data": np.zeros((p.banks, p.lanes)),
                "splice": 0, "lane": 0, "pop": 0, **beat}
        for name, value in full.items():
            fields[f"host_{name}"].append(value)
    out = {k: np.array(v, dtype=np.int64) for k, v in fields.items()}
    out["data"] = np.array(data, dtype=np.int64).reshape(-1, p.lanes)
    return out


def test_splice_broadcasts_one_run_time_element_per_flagged_load():
    block = blocks.get("pim_host_splice", banks=2, lanes=2, row_columns=4, bank_rows=2, gb_columns=2)
    own = np.array([[1, 2], [3, 4]])
    mask = np.array([[0, 1], [0, 0]])
    inputs = splice_inputs(block, [
        {"row": 1, "col": 3, "mask": mask, "data": own},                 # a plain LOAD: unchanged
        {"row": 0, "col": 2, "mask": mask, "splice": 1, "lane": 1},      # 0xB0B
        {"row": 0, "col": 1, "mask": mask, "splice": 1, "lane": 0, "pop": 1},   # 0xA0A, pop
        {"kind": 1, "slots": 2, "beats": 1, "last_count": 2},            # a GEMV passes through
        {"row": 1, "col": 0, "mask": mask, "splice": 1, "lane": 1, "pop": 1},   # 0xD0D
    ], [[0xA0A, 0xB0B], [0xC0C, 0xD0D]])
    out = block.golden(inputs)
    assert out["out_data"][0].tolist() == own.tolist()
    assert out["out_data"][1].tolist() == [[0xB0B] * 2] * 2
    assert out["out_data"][2].tolist() == [[0xA0A] * 2] * 2
    assert out["out_data"][4].tolist() == [[0xD0D] * 2] * 2
    assert out["out_kind"].tolist() == [0, 0, 0, 1, 0] and out["out_row"].tolist() == [1, 0, 0, 0, 1]
    np.testing.assert_array_equal(out["out_mask"], inputs["host_mask"])
    result = simulate_pysim(block, inputs, idle=0.3, backpressure=0.3, seed=4)
    assert result.passed, result.summary()["verdict"]
    with pytest.raises(ValueError, match="never popped"):
        block.golden({**inputs, "data": np.zeros((3, 2), np.int64)})
    with pytest.raises(ValueError, match="no run-time column left"):
        block.golden({**inputs, "data": np.zeros((1, 2), np.int64)})


# -- adapters: random vectors on pysim, lint, parameters ------------------------------------------

@pytest.mark.parametrize("point", ADAPTER_POINTS, ids=point_id)
def test_adapter_pysim_under_stalls_and_unstalled_cycles(point):
    name, params = point
    block = blocks.get(name, **params)
    inputs = block.stimulus(np.random.default_rng(11), 150)
    stalled = simulate_pysim(block, inputs, idle=0.3, backpressure=0.3, seed=11)
    assert stalled.passed, stalled.summary()["verdict"]
    clean = simulate_pysim(block, inputs, seed=11)
    assert clean.passed, clean.summary()["verdict"]
    assert clean.cycles == block.model(block.workload(inputs)).cycles


@pytest.mark.parametrize("point", ADAPTER_POINTS, ids=point_id)
def test_adapter_lint_clean(point, rtl_out):
    name, params = point
    generated = generate(blocks.get(name, **params), rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []


@pytest.mark.parametrize("name, params, match", [
    ("pim_acc_to_bf16", dict(banks=0), "banks=0"),
    ("pim_acc_to_bf16", dict(acc="fp16"), "acc='fp16'"),
    ("pim_acc_to_bf16", dict(lanes=33), "lanes=33"),
    ("stream_split", dict(counts="4"), "counts='4'.*2..8 outputs"),
    ("stream_split", dict(counts="4,0"), "counts='4,0'.*1..4096"),
    ("stream_split", dict(counts="a,b"), "counts='a,b' is not"),
    ("stream_fork", dict(outputs=9), "outputs=9"),
    ("stream_fork", dict(depth=2), "depth=2"),
    ("pim_host_splice", dict(dtype="fp8"), "dtype='fp8'"),
    ("pim_host_splice", dict(row_columns=0), "row_columns=0"),
])
def test_adapter_param_errors(name, params, match):
    with pytest.raises(ParamError, match=match):
        blocks.get(name, **params)


def test_adapter_field_errors():
    block = blocks.get("pim_acc_to_bf16", banks=2, lanes=2)
    good = {"acc": np.zeros((2, 2), np.uint64), "count": np.array([2, 1]), "last": np.array([0, 1])}
    with pytest.raises(ValueError, match="above banks=2"):
        block.fields_to_beats({**good, "count": np.array([3, 1])})
    with pytest.raises(ValueError, match="shape"):
        block.fields_to_beats({**good, "acc": np.zeros((2, 3), np.uint64)})
    with pytest.raises(ValueError, match="0..4294967295"):
        block.fields_to_beats({**good, "acc": np.full((2, 2), 1 << 32, np.uint64)})
    splice = blocks.get("pim_host_splice", banks=2, lanes=2, row_columns=4, bank_rows=2, gb_columns=2)
    inputs = splice_inputs(splice, [{"splice": 1, "lane": 1, "pop": 1}], [[1, 2]])
    with pytest.raises(ValueError, match="host_lane"):
        splice.fields_to_beats({**inputs, "host_lane": np.array([2])})


@pytest.mark.verilator
@pytest.mark.parametrize("point", VERILATOR_POINTS, ids=point_id)
def test_adapter_verilator_stalls_and_cycles(point, rtl_out, tmp_path):
    name, params = point
    block = blocks.get(name, **params)
    inputs = block.stimulus(np.random.default_rng(21), 400)
    stalled = simulate(block, inputs, seed=21, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                       out=tmp_path / "stalled")
    assert stalled.passed, stalled.summary()["verdict"]
    for n in (1, 37, 400):
        part = block.stimulus(np.random.default_rng(n), n)
        clean = simulate(block, part, seed=n, rtl_out=rtl_out, out=tmp_path / f"clean{n}")
        assert clean.passed, clean.summary()["verdict"]
        assert clean.cycles == block.model(block.workload(part)).cycles


# -- the decoder layer: composition and accuracy ------------------------------------------------

SHAPE = dec.DecoderShape()


@pytest.fixture(scope="module")
def graph():
    return examples.decoder_layer_graph(SHAPE)


def layer(graph, seed):
    weights = dec.random_weights(np.random.default_rng(seed), SHAPE)
    return weights, dec.decoder_inputs(graph, weights, SHAPE)


def test_graph_structure(graph):
    """Six GEMV channels each followed by its converter, six vector-unit ops, the split, the
    fork and the two splices; the testbench feeds only host programs, op sequences, x and the
    LayerNorm parameters, and reads only the layer output."""
    top = graph.elaborate_top()
    from amaranth.lib.wiring import In, Out
    assert [f"{n}.{p}" for n, p in graph.open_ports(Out)] == ["mlp_add.y"]
    assert sorted(f"{n}.{p}" for n, p in graph.open_ports(In)) == sorted([
        "ln1.op", "ln1.a", "ln1.b", "qkv.host", "k_splice.host", "softmax.op", "softmax.b",
        "v_splice.host", "wo.host", "attn_add.op", "attn_add.b", "ln2.op", "ln2.b", "up.host",
        "gelu.op", "gelu.b", "down.host", "mlp_add.op"])
    assert len(graph.dag) == 22 and top.name == "gpt_decoder_layer"
    text = graph.mermaid()
    assert "qkv_split -- \"y2 → x" in text and "residual -- \"y1 → b" in text


bf16_error_units, TOLERANCE = dec.bf16_error_units, dec.TOLERANCE


def attention_output(evaluated) -> np.ndarray:
    """o (both heads) as the Wo channel received it."""
    return g.decode(np.asarray(evaluated["wo"]["inputs"]["x_columns"], np.uint64).reshape(-1), BF16)


@pytest.mark.parametrize("seed", [5, 6, 7, 8, 9, 10, 11, 12])
def test_golden_composition_matches_float64_layer(graph, seed):
    weights, inputs = layer(graph, seed)
    top = graph.elaborate_top()
    out = dec.layer_output(top.golden(inputs), SHAPE)
    ref = dec.reference_layer(weights, SHAPE)
    assert np.all(np.isfinite(out))
    assert bf16_error_units(out, ref["out"]) <= TOLERANCE
    # and not just a few elements near the bound: the rms error is within one unit
    assert np.sqrt(np.mean((out - ref["out"]) ** 2)) <= 2.0 ** -8 * np.abs(ref["out"]).max()
    assert bf16_error_units(attention_output(graph.run_golden(inputs)), ref["o"]) <= TOLERANCE


def test_tolerance_discriminates_wrong_layers(graph):
    """Plausible mistakes move the result far beyond the tolerance: swapping the heads' keys
    or skipping the 1/sqrt(d_head) scale (at the output), forgetting the appended token (at
    the attention output: the residual stream dilutes it at the layer output)."""
    weights, inputs = layer(graph, 5)
    evaluated = graph.run_golden(inputs)
    out = dec.layer_output(graph.elaborate_top().golden(inputs), SHAPE)
    dh = SHAPE.d_head
    swapped = dict(weights, K_cache=np.roll(weights["K_cache"], dh, axis=1))
    unscaled = dict(weights, Wq=weights["Wq"] * math.sqrt(dh))
    for wrong in (swapped, unscaled):
        assert bf16_error_units(out, dec.reference_layer(wrong, SHAPE)["out"]) > 3 * TOLERANCE
    no_append = dict(weights, K_cache=weights["K_cache"][:-1], V_cache=weights["V_cache"][:-1])
    short = dec.reference_layer(no_append, dec.DecoderShape(context=SHAPE.context - 1))
    assert bf16_error_units(attention_output(evaluated), short["o"]) > 3 * TOLERANCE


def test_kv_append_lands_the_new_key_and_value(graph):
    """The splices deliver the bf16 k and v that the QKV GEMV produced, and the K and V
    channels' GEMVs see them in the appended row / column."""
    weights, inputs = layer(graph, 6)
    evaluated = graph.run_golden(inputs)
    qkv = evaluated["qkv_split"]["inputs"]["a"].reshape(-1)
    d = SHAPE.d_model
    ref = dec.reference_layer(weights, SHAPE)
    for node, part, key in (("k_splice", 0, "k"), ("v_splice", 1, "v")):
        values = g.decode(qkv[part * d:(part + 1) * d], BF16)
        np.testing.assert_allclose(values, ref[key], rtol=2 ** -7, atol=2 ** -6)
        out = evaluated[node]["outputs"]
        spliced = np.flatnonzero(inputs[f"{node}.host_splice"])
        assert len(spliced) == d
        landed = out["out_data"][spliced][np.asarray(out["out_mask"][spliced], bool)]
        np.testing.assert_array_equal(landed, qkv[part * d:(part + 1) * d])
    # the scores the softmax sees are K q including the new token (context entries per head)
    scores = g.decode(evaluated["softmax"]["inputs"]["a"].reshape(-1), BF16)
    np.testing.assert_allclose(scores, ref["scores"], atol=0.1)


@pytest.mark.parametrize("side", ["k", "v"])
def test_kv_append_on_rtl(graph, side):
    """The append path on the hardware (pysim): the splice, the channel with its cache, both
    heads' GEMVs and the converter, cut out of the layer with the same block instances; the
    run-time k or v and the GEMV's input vector are what the full graph delivers there. Its
    output must be what the full graph passes on (the scores, or o), with stalls on every
    stream."""
    from hwgen.graph import Graph
    _, inputs = layer(graph, 6)
    evaluated = graph.run_golden(inputs)
    splice, channel, after = {"k": ("k_splice", "kc", "softmax"), "v": ("v_splice", "vc", "wo")}[side]
    part = Graph(f"{side}_append")
    for node in (splice, channel, f"{channel}_bf16"):
        part.add(node, graph.block(node))
    part.connect(f"{splice}.out", f"{channel}.host")
    part.connect(f"{channel}.y", f"{channel}_bf16.acc")
    fields = {k: v for k, v in inputs.items() if k.startswith(f"{splice}.")}
    fields[f"{splice}.data"] = evaluated[splice]["inputs"]["data"]
    fields[f"{channel}.x_columns"] = evaluated[channel]["inputs"]["x_columns"]
    result = simulate_pysim(part.elaborate_top(), fields, idle=0.3, backpressure=0.3, seed=6)
    assert result.passed, result.summary()["verdict"]
    arriving = evaluated[after]["inputs"]["a" if side == "k" else "x_columns"]
    np.testing.assert_array_equal(result.outputs[f"{channel}_bf16.y"], arriving)


def test_decoder_shape_errors():
    with pytest.raises(ValueError, match="multiple of heads"):
        dec.DecoderShape(d_model=64, heads=3)
    with pytest.raises(ValueError, match="multiple of lanes"):
        dec.DecoderShape(d_model=12, heads=2, lanes=4)
    with pytest.raises(ValueError, match="cached token"):
        dec.DecoderShape(context=1)


# -- the decoder layer on the simulators ---------------------------------------------------------
# The whole layer's Verilog is about 730,000 lines: its Verilator build (over an hour of C++
# compilation) is too slow for a test, its lint and Amaranth-simulator runs take seven minutes,
# so those run in bench/pim_decoder_layer.py. Here the layer runs on Verilator in five parts
# that together hold every node, each fed exactly what the layer feeds it. Each part takes
# 20-60 s to generate and build: the suite runs the smallest (the down projection's channel,
# its converter and the residual add; the splices run alone below), ``-m long`` all five.
SUITE_PARTS = ("gpt_mlp_down",)


@pytest.mark.verilator
@pytest.mark.parametrize("stalls", [0.0, 0.3])
@pytest.mark.parametrize("name", in_suite_or_long(dec.PARTS, SUITE_PARTS))
def test_layer_part_verilator(graph, name, stalls, rtl_out, tmp_path):
    """Each part on Verilator, fed what the layer feeds it, returns bit for bit what the
    layer's golden model has on the streams that leave the part; with and without stalls on
    every stream the testbench drives and reads."""
    part = dec.cut(graph, dec.PARTS[name], name)
    top = part.elaborate_top()
    _, inputs = layer(graph, 5)
    result = simulate(top, dec.cut_inputs(graph, inputs, part), seed=5, idle=stalls,
                      backpressure=stalls, rtl_out=rtl_out, out=tmp_path / "run")
    assert result.passed, result.summary()["verdict"]
    got = top.fields_to_beats(result.outputs)
    for port, beats in dec.cut_outputs(graph, inputs, part).items():
        np.testing.assert_array_equal(np.asarray(got[port]), np.asarray(beats), err_msg=port)


def test_docs_show_the_current_graph(graph):
    text = (Path(__file__).parents[3] / "docs" / "pim_decoder.md").read_text()
    assert graph.mermaid() in text
