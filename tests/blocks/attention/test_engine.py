"""attention_engine: bit-exact against the golden twin on a small engine in every mode (the
compiled bench on Verilator; a few cases on Amaranth's simulator) and on Verilator at full size
(head_dim 64 and 128, seq_len 1 to 2048, 1, 4 and 8 flash channels, both softmax kinds, both
modes, fp16 and bf16), with random stalls on every stream and the flash model's latency and
bandwidth; the cycle model equal to the RTL's cycle count; the flash traces (which pages were
read, each once and whole); parameter and input errors."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks, toolchain
from hwgen.blocks.attention import golden, system
from hwgen.blocks.attention.params import PAGE_TOKENS, geometry
from hwgen.core.params import ParamError
from hwgen.generate import generate
from sim.pysim import simulate_pysim
from sim.runner import simulate
from tests.support.suite_points import in_suite_or_long

# a small engine for Amaranth's simulator: 4 beats per row, 64-beat pages over 2 channels
TINY = dict(head_dim=8, lanes=2, max_seq_len=64, flash_channels=2, top_k=4, top_r=2, flash_latency=20)
KINDS = [(softmax, mode) for mode in ("dense", "sparf") for softmax in ("two_pass", "online")]


def engine(**params):
    return blocks.get("attention_engine", **params)


def inputs_for(block, seq_len, queries=2, kind="random", seed=0):
    rng = np.random.default_rng(seed)
    inputs = golden.attention_inputs(rng, head_dim=block.p.head_dim, seq_len=seq_len,
                                     queries=queries, dtype=block.p.dtype, kind=kind)
    inputs["q"] = np.asarray(inputs["q"]).reshape(-1, block.p.head_dim)
    return inputs


def expected_pages(block, inputs) -> list[list[int]]:
    """The pages one query must read, from the layout rules and the twin's selection (not from
    the engine): dense, K and V of every page holding a token; SparF, the V-mean page, the
    channel-major pages of the selected channels, then K and V of the pages holding a
    selected token."""
    geo = geometry(block.p)
    seq_len = np.asarray(inputs["K"]).shape[0]
    pages = -(-seq_len // PAGE_TOKENS)
    if block.p.mode == "dense":
        return [[geo.k_page(j) for j in range(pages)] + [geo.v_page(j) for j in range(pages)]] \
            * len(inputs["q"])
    twin = golden.attention_twin(inputs["q"], inputs["K"], inputs["V"], dtype=block.p.dtype,
                                 softmax=block.p.softmax, mode="sparf", top_r=block.p.top_r,
                                 top_k=block.p.top_k, lanes=block.p.lanes)
    lists = []
    for channels, tokens in zip(twin["channels"], twin["tokens"]):
        touched = sorted({t // PAGE_TOKENS for t in tokens})
        blocks_used = -(-seq_len // geo.cm_tokens)
        lists.append([geo.mean_page()] + [geo.cm_page(c, b) for c in channels for b in range(blocks_used)]
                     + [geo.k_page(j) for j in touched] + [geo.v_page(j) for j in touched])
    return lists


def check_flash_traces(block, inputs, result):
    """Every page read is one the query needs, read once and whole, on its channel; together
    they are exactly the pages the queries need."""
    geo = geometry(block.p)
    wanted = sorted(page for query in expected_pages(block, inputs) for page in query)
    read = []
    for c in range(block.p.flash_channels):
        trace = result.traces[f"flash{c}"]
        assert (trace["first"] >= 0).all() and (trace["last"] >= trace["first"]).all()
        for page in trace["page"]:
            page = int(page)
            if page < geo.token_pages:
                assert geo.token_channel(page) == c
            elif page < 2 * geo.token_pages:
                assert geo.token_channel(page - geo.token_pages) == c
            read.append(page)
    assert sorted(read) == wanted


# -- parameters and inputs ----------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    (dict(head_dim=8, lanes=16), "lanes=16 exceeds head_dim=8: allowed 2..8"),
    (dict(head_dim=16, top_r=17, mode="sparf"), "top_r=17 exceeds head_dim=16: allowed 1..16"),
    (dict(max_seq_len=32, top_k=33, mode="sparf"), "top_k=33 exceeds max_seq_len=32: allowed 1..32"),
    (dict(max_seq_len=40), "max_seq_len=40 is out of range: allowed 16..8192 in steps of 16"),
    (dict(flash_channels=3), "flash_channels=3"),
    (dict(softmax="three_pass"), "softmax='three_pass'"),
    (dict(flash_queue=0), "flash_queue=0"),
])
def test_parameter_errors_name_the_parameter(params, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine(**params)


def test_bad_inputs_are_rejected_before_simulation():
    block = engine(**TINY)
    good = inputs_for(block, 10)
    with pytest.raises(ValueError, match="'V' is missing"):
        block.fields_to_beats({"q": good["q"], "K": good["K"]})
    with pytest.raises(ValueError, match=r"field 'q' must have shape \(8,\)"):
        block.fields_to_beats({**good, "q": good["q"][:, :4]})
    with pytest.raises(ValueError, match="seq_len=65 .* allowed 1..64"):
        block.fields_to_beats({**good, "K": np.zeros((65, 8), np.uint64), "V": np.zeros((65, 8), np.uint64)})
    with pytest.raises(ValueError, match="give float16 arrays"):
        block.fields_to_beats({**good, "K": good["K"].astype(np.float32)})
    with pytest.raises(ValueError, match="outside 0..65535"):
        block.fields_to_beats({**good, "V": good["V"] + 70000})
    # float16 arrays, as the npz format says, are the same as their bit patterns
    as_float = {key: value.astype(np.uint16).view(np.float16) for key, value in good.items()}
    assert np.array_equal(block.golden(as_float)["o"], block.golden(good)["o"])


# -- a small engine, every mode: the compiled bench on Verilator, one build per mode ------------

# seq_len and seed of the unstalled runs: one token, a page, a partial page, a full cache
TINY_LENGTHS = (1, 16, 37, 64)
# (seq_len, stimulus kind) of the stalled runs
TINY_STALLED = [(37, "random"), (64, "concentrated"), (23, "ties"), (50, "random")]


# Each softmax and each mode once on Verilator in the suite (a build of the small engine takes
# 20-40 s on a new machine), the other two pairings on Amaranth's simulator
# (test_pysim_full_tables) and on Verilator with ``-m long``.
VERILATOR_KINDS = [("two_pass", "dense"), ("online", "sparf")]


@pytest.mark.verilator
@pytest.mark.parametrize("softmax, mode", in_suite_or_long(KINDS, suite=VERILATOR_KINDS))
def test_small_engine_bit_exact_model_exact_stalled_and_special(softmax, mode, rtl_out, tmp_path):
    """The small engine in each mode: every length bit-exact with the model's cycle count and
    the pages the queries need (6 queries each where Amaranth's simulator ran 2); four
    stimulus kinds under 30% stalls on every stream and the flash; zeros, large magnitudes,
    subnormals, Inf and NaN (the twin's IEEE behaviour, NaN canonical) over four seeds. The
    engine lints clean too (the Verilog the runs build)."""
    block = engine(**TINY, softmax=softmax, mode=mode)
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []
    for seq_len in TINY_LENGTHS:
        inputs = inputs_for(block, seq_len, queries=6, seed=seq_len)
        result = simulate(block, inputs, seed=seq_len, rtl_out=rtl_out, out=tmp_path / f"len{seq_len}")
        assert result.passed, (seq_len, result.summary()["verdict"])
        assert result.cycles == block.model(block.workload(inputs)).cycles, seq_len
        check_flash_traces(block, inputs, result)
    for seed, (seq_len, kind) in enumerate(TINY_STALLED):
        inputs = inputs_for(block, seq_len, queries=4, kind=kind, seed=seed)
        result = simulate(block, inputs, seed=seed, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                          out=tmp_path / f"stalled{seed}")
        assert result.passed, (seq_len, kind, result.summary()["verdict"])
        check_flash_traces(block, inputs, result)
    for seed in range(4):
        inputs = inputs_for(block, 29, queries=4, kind="special", seed=seed)
        result = simulate(block, inputs, seed=seed, rtl_out=rtl_out, out=tmp_path / f"special{seed}")
        assert result.passed, result.summary()["verdict"]


# heads: query i against head i mod heads, each head its own K and V (dense: the next query's
# pages are read while the current one computes)
HEAD_KINDS = [("two_pass", "dense"), ("online", "dense"), ("online", "sparf"), ("two_pass", "sparf")]


@pytest.mark.verilator
@pytest.mark.parametrize("softmax, mode", in_suite_or_long(HEAD_KINDS, suite=HEAD_KINDS[:1]))
def test_heads_back_to_back(softmax, mode, rtl_out, tmp_path):
    """Three heads on the small engine, seven queries (the heads wrap round): each output
    bit-exact against its own head's twin, the model's cycles equal to the RTL's, and every
    page read belongs to its query's head (the head above the page id bits); under stalls on
    every stream too."""
    block = engine(**TINY, softmax=softmax, mode=mode, heads=3)
    geo = geometry(block.p)
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []
    for run, (seq_len, stalls) in enumerate([(37, 0.0), (16, 0.0), (50, 0.3)]):
        inputs = block.stimulus(np.random.default_rng(run), 7)
        if seq_len != np.asarray(inputs["K"]).shape[1]:
            rng = np.random.default_rng(100 + run)
            heads = [golden.attention_inputs(rng, head_dim=8, seq_len=seq_len, dtype="fp16")
                     for _ in range(3)]
            inputs["K"] = np.stack([h["K"] for h in heads])
            inputs["V"] = np.stack([h["V"] for h in heads])
        # each head's twin on its own queries (written here, not with the block's helpers)
        expected = block.golden(inputs)["o"]
        for head in range(3):
            twin = golden.attention_twin(inputs["q"][head::3], inputs["K"][head], inputs["V"][head],
                                         dtype="fp16", softmax=softmax, mode=mode, top_r=2, top_k=4,
                                         lanes=2)
            assert np.array_equal(expected[head::3], twin["o"])
        result = simulate(block, inputs, seed=run, idle=stalls, backpressure=stalls, rtl_out=rtl_out,
                          out=tmp_path / f"run{run}")
        assert result.passed, (run, result.summary()["verdict"])
        if not stalls:
            assert result.cycles == block.model(block.workload(inputs)).cycles, run
        read = [int(page) for c in range(block.p.flash_channels) for page in result.traces[f"flash{c}"]["page"]]
        assert all(page >> geo.local_id_bits < 3 for page in read)
        used = -(-seq_len // PAGE_TOKENS)
        for head in range(3):
            of_head = [page for page in read if page >> geo.local_id_bits == head]
            queries = len(range(head, 7, 3))
            if mode == "dense":
                # K and V of every used page, once per query of the head
                wanted = [geo.head_page(head, geo.k_page(j)) for j in range(used)] + \
                    [geo.head_page(head, geo.v_page(j)) for j in range(used)]
                assert sorted(of_head) == sorted(wanted * queries), (run, head)
            else:
                assert of_head.count(geo.head_page(head, geo.mean_page())) == queries, (run, head)


def test_pysim_small_engine():
    """The Amaranth-simulator path on one small engine (the modes run on Verilator above)."""
    block = engine(**TINY, softmax="online", mode="sparf")
    inputs = inputs_for(block, 20, queries=1, seed=2)
    result = simulate_pysim(block, inputs, seed=2, idle=0.2, backpressure=0.2)
    assert result.passed, result.summary()["verdict"]
    check_flash_traces(block, inputs, result)


# (bf16 in dense mode with ``-m long``: the suite runs dense mode in fp16 elsewhere)
@pytest.mark.parametrize("mode", ["sparf", pytest.param("dense", marks=pytest.mark.long)])
def test_pysim_bf16_and_more_channels(mode):
    block = engine(**{**TINY, "flash_channels": 4, "lanes": 4, "dtype": "bf16"}, mode=mode,
                   softmax="online")
    inputs = inputs_for(block, 50, queries=2, seed=3)
    result = simulate_pysim(block, inputs, seed=3)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(inputs)).cycles


def test_the_score_fifo_credit_holds_the_k_side():
    """Two lanes over eight elements: the K side makes a score every 4 cycles while a slow V
    side (bandwidth-starved flash) lets scores pile up; the 32-entry FIFO must stop the K
    side, not overflow (a lost score would corrupt o)."""
    block = engine(**{**TINY, "max_seq_len": 256, "flash_channels": 1, "flash_queue": 8},
                   softmax="online", mode="dense")
    inputs = inputs_for(block, 200, queries=1, seed=9)
    result = simulate_pysim(block, inputs, seed=9, backpressure=0.5)
    assert result.passed, result.summary()["verdict"]


SMALLEST = dict(head_dim=8, lanes=8, max_seq_len=16, flash_channels=1, top_k=16, top_r=8,
                flash_latency=3)
# The pairings the small engine does not run on Verilator in the suite (a smallest engine
# takes 10-15 s to generate and lint), the other two with ``-m long``.
SMALLEST_KINDS = in_suite_or_long(KINDS, suite=[k for k in KINDS if k not in VERILATOR_KINDS])


# With ``-m long``: in the suite the small engine above lints its two Verilator pairings, and the
# conformance suite a two_pass dense engine smaller still (lanes 2, one-entry queues).
@pytest.mark.long
@pytest.mark.parametrize("softmax, mode", KINDS)
def test_lint_clean_smallest_engines(softmax, mode, rtl_out):
    # (the Verilator points below are linted too: 1 channel and head_dim 64 in the suite, 4 and 8
    # channels and head_dim 128 with -m long)
    generated = generate(engine(**SMALLEST, softmax=softmax, mode=mode), rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []


@pytest.mark.parametrize("softmax, mode", SMALLEST_KINDS)
def test_pysim_full_tables(softmax, mode):
    """The smallest engine: one flash channel, one page of cache, one beat per row, SparF
    keeping every channel and every token (top_r = head_dim, top_k = max_seq_len), a cache
    filled to max_seq_len (partial pages and caches run on the small engine above)."""
    block = engine(**SMALLEST, softmax=softmax, mode=mode)
    inputs = inputs_for(block, 16, queries=2, seed=16)
    result = simulate_pysim(block, inputs, seed=16)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(inputs)).cycles
    check_flash_traces(block, inputs, result)


# -- the cycle model -----------------------------------------------------------------------------

def test_model_counts_pages_and_bytes():
    block = engine()
    work = {"queries": 1, "seq_len": 2048}
    # 128 K pages + 128 V pages of 4 KB
    assert block.model(work).bytes_in == 256 * 4096 + 128 * 2 + 2
    assert block.model(work).bytes_out == 256


@pytest.mark.parametrize("softmax", ["two_pass", "online"])
@pytest.mark.parametrize("channels", [1, 4, 8])
def test_exact_model_agrees_with_the_analytic_head_model(softmax, channels):
    """The system model's closed form (max of flash and compute per pass, plus latencies) and
    the engine's event model, written separately, agree within 5% on long contexts."""
    block = engine(flash_channels=channels, softmax=softmax)
    exact = block.model({"queries": 1, "seq_len": 2048}).cycles
    analytic = system.head_cycles(128, 2048, lanes=8, flash_channels=channels, softmax=softmax)
    assert abs(exact - analytic) <= 0.05 * exact, (exact, analytic)


# -- Verilator ----------------------------------------------------------------------------------

VERILATOR_POINTS = {
    # head_dim 64, one channel, the paper's softmax: the flow's point (its Verilog and build
    # are shared with 'hwgen flow' and the bench tests)
    "d64_f1_two_pass_dense": dict(head_dim=64, lanes=8, flash_channels=1, softmax="two_pass",
                                  mode="dense", flash_latency=50, flash_mbps=5700),
    # head_dim 128, four channels, online, the default flash latency (20 us)
    "d128_f4_online_dense": dict(head_dim=128, lanes=8, flash_channels=4, softmax="online",
                                 mode="dense"),
    # head_dim 128, eight channels, 16 lanes, SparF with the paper's softmax
    "d128_f8_two_pass_sparf": dict(head_dim=128, lanes=16, flash_channels=8, softmax="two_pass",
                                   mode="sparf", top_r=32, top_k=64, flash_latency=1000),
    # head_dim 64, four channels, SparF online, bf16
    "d64_f4_online_sparf_bf16": dict(head_dim=64, lanes=8, flash_channels=4, softmax="online",
                                     mode="sparf", top_r=16, top_k=32, dtype="bf16",
                                     flash_latency=500),
}

# (seq_len, queries, stimulus kind) per point: 1 token, a partial page, and 2048 tokens
RUNS = {
    "d64_f1_two_pass_dense": [(1, 2, "random"), (37, 2, "special"), (2048, 1, "random")],
    "d128_f4_online_dense": [(1, 1, "random"), (100, 2, "random"), (2048, 1, "concentrated")],
    "d128_f8_two_pass_sparf": [(17, 2, "random"), (1000, 2, "ties"), (2048, 1, "concentrated")],
    "d64_f4_online_sparf_bf16": [(5, 2, "random"), (333, 2, "concentrated"), (2048, 1, "random")],
}


# The flow's point runs in the suite; the other three (a minute or more each to generate, lint
# and build) run with ``-m long``. The small engine above covers every mode in the suite.
SUITE_POINTS = ("d64_f1_two_pass_dense",)


@pytest.fixture(scope="module", params=in_suite_or_long(sorted(VERILATOR_POINTS), SUITE_POINTS))
def point(request, rtl_out):
    block = engine(**VERILATOR_POINTS[request.param])
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []
    return request.param, block


@pytest.mark.verilator
def test_verilator_bit_exact_and_model_exact(point, rtl_out, tmp_path):
    name, block = point
    for index, (seq_len, queries, kind) in enumerate(RUNS[name]):
        inputs = inputs_for(block, seq_len, queries=queries, kind=kind, seed=index)
        result = simulate(block, inputs, seed=index, rtl_out=rtl_out, out=tmp_path / f"run{index}")
        assert result.passed, (name, seq_len, result.summary()["verdict"])
        assert result.cycles == block.model(block.workload(inputs)).cycles, (name, seq_len)
        check_flash_traces(block, inputs, result)


@pytest.mark.verilator
def test_verilator_under_random_stalls(point, rtl_out, tmp_path):
    name, block = point
    inputs = inputs_for(block, 77, queries=3, kind="random", seed=5)
    result = simulate(block, inputs, seed=5, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    assert result.passed, (name, result.summary()["verdict"])
    check_flash_traces(block, inputs, result)
