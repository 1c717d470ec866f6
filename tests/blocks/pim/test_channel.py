"""pim_channel: the timed GEMV controller, its command-level model, the independent timing
checker, the mapping, and bit-exact GEMVs on pysim and Verilator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from hwgen import blocks, toolchain
from hwgen.blocks.pim import mapping
from hwgen.blocks.pim.channel.array import READ_LATENCY, BankArray
from hwgen.blocks.pim.schedule import Command
from hwgen.blocks.pim.timing import PRESETS, parse_timing
from hwgen.core.params import ParamError
from hwgen.generate import generate
from hwgen.blocks.pim.timing_check import check_trace
from sim.pysim import simulate_pysim
from sim.runner import simulate

SMALL = dict(banks=4, lanes=4, row_columns=8, bank_rows=16, gb_columns=8)
# A short refresh interval, so that refreshes land inside short simulations.
SMALL_REFRESH = dict(SMALL, timing="gddr6_2000,REFI=400")


def model_trace(block, inputs) -> dict:
    scheduler, _ = block.schedule(block.workload(inputs))
    issued = scheduler.trace
    return {"edge": np.array([i.cycle for i in issued]), "cmd": np.array([int(i.cmd) for i in issued]),
            "bank": np.array([i.bank for i in issued]), "row": np.array([i.row for i in issued]),
            "col": np.array([i.col for i in issued])}


def assert_trace_matches_model(block, inputs, result):
    """The RTL's command bus equals the scheduler's trace, command for command and cycle for
    cycle (up to the origin of the cycle count)."""
    want, got = model_trace(block, inputs), result.traces["cmd"]
    assert len(got["edge"]) == len(want["edge"])
    for key in ("cmd", "bank", "row", "col"):
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    np.testing.assert_array_equal(got["edge"] - got["edge"][0], want["edge"] - want["edge"][0])


def legal(block, trace):
    return check_trace(trace, block.timing, block.p.banks, block.p.bank_groups)


# -- the command-level model and the checker, without simulation --------------------------------
@pytest.mark.parametrize("shape", [(1, 1), (4, 4), (11, 11), (17, 33), (64, 32), (5, 30)])
@pytest.mark.parametrize("params", [SMALL, SMALL_REFRESH, dict(SMALL, bank_groups=1),
                                    dict(SMALL, banks=8, bank_groups=2)])
def test_model_trace_is_legal(shape, params):
    block = blocks.get("pim_channel", **params)
    rows, cols = shape
    inputs = {"W": np.zeros(shape, np.int64), "x": np.zeros((3, cols), np.int64)}
    trace = model_trace(block, inputs)
    assert legal(block, trace) == []
    counts = {c: int(np.sum(trace["cmd"] == c)) for c in Command}
    beats = mapping.beats_per_row(cols, block.p.lanes)
    assert counts[Command.MAC_ABK] == 3 * mapping.slots(rows, block.p.banks) * beats
    assert counts[Command.RD_MAC] == 3 * mapping.slots(rows, block.p.banks)
    assert counts[Command.WR_GB] == 3 * beats


def test_default_gemv_statistics():
    """1024 x 1024 bf16 on the default channel: each bank row holds one matrix row, so 64 ACT
    groups serve 4096 MAC_ABKs (98.4 % row hits, the paper's ~98 %)."""
    block = blocks.get("pim_channel")
    stats = block.statistics({"rows": 1024, "cols": 1024, "vectors": 1})
    assert stats["commands"]["MAC_ABK"] == 4096
    assert stats["commands"]["ACT"] == 64 * 16
    assert stats["row_hit_rate"] == pytest.approx(1 - 64 / 4096)
    assert stats["row_hit_rate"] == pytest.approx(stats["row_hit_rate_mapping"])
    assert stats["commands"]["REF"] >= stats["gemv_cycles"] // block.timing.REFI - 1
    assert 0 < stats["mac_utilization"] < 1


def _shift(trace, index, delta):
    moved = {k: v.copy() for k, v in trace.items()}
    moved["edge"][index:] += delta
    return moved


def _drop(trace, index):
    return {k: np.delete(v, index) for k, v in trace.items()}


def test_checker_catches_injected_violations():
    block = blocks.get("pim_channel", **SMALL_REFRESH)
    trace = model_trace(block, {"W": np.zeros((11, 30), np.int64), "x": np.zeros((4, 30), np.int64)})
    assert legal(block, trace) == []
    cmds = trace["cmd"]
    first = {c: int(np.flatnonzero(cmds == c)[0]) for c in (Command.ACT, Command.MAC_ABK, Command.PRE,
                                                           Command.REF)}

    def rules(bad):
        return " | ".join(str(v) for v in legal(block, bad))

    # the first MAC_ABK one cycle early breaks tRCDRD (the commands after it keep their times)
    early_mac = {k: v.copy() for k, v in trace.items()}
    early_mac["edge"][first[Command.MAC_ABK]] -= 1
    assert "tRCDRD" in rules(early_mac)
    # an ACT pulled next to its predecessor breaks tRRD
    second_act = first[Command.ACT] + 1
    close_act = {k: v.copy() for k, v in trace.items()}
    close_act["edge"][second_act] = close_act["edge"][second_act - 1] + 1
    assert "tRRD" in rules(close_act)
    # the same trace against a preset with longer row cycles: PREs come too early
    for name in ("RAS", "RTP", "RP", "RFC", "CCDL"):
        stricter = dataclasses.replace(block.timing, **{name: 300})
        text = " | ".join(map(str, check_trace(trace, stricter, block.p.banks, block.p.bank_groups)))
        assert f"t{name[:3] if name != 'CCDL' else 'CCD_L'}" in text, name
    # MAC_ABK on a row that is not open
    wrong_row = {k: v.copy() for k, v in trace.items()}
    wrong_row["row"][first[Command.MAC_ABK]] += 1
    assert "do not have row" in rules(wrong_row)
    # dropping a PRE leaves the next ACT to an open bank (and a REF with open banks)
    assert "already open" in rules(_drop(trace, first[Command.PRE]))
    # two commands in one cycle
    same = {k: v.copy() for k, v in trace.items()}
    same["edge"][5] = same["edge"][4]
    assert "same cycle" in rules(same)


def test_checker_catches_missing_refresh():
    block = blocks.get("pim_channel", **SMALL)
    # a long run with refresh disabled in the controller (REFI huge) owes refreshes under the
    # real preset
    lazy = blocks.get("pim_channel", **dict(SMALL, timing="gddr6_2000,REFI=60000"))
    trace = model_trace(lazy, {"W": np.zeros((64, 32), np.int64), "x": np.zeros((40, 32), np.int64)})
    span = int(trace["edge"][-1] - trace["edge"][0])
    assert int(np.sum(trace["cmd"] == Command.REF)) < span // block.timing.REFI - 8
    assert any("refresh" in str(v) for v in legal(block, trace))


def test_checker_catches_a_misconfigured_controller():
    """A controller built with a too-short tFAW and tRRD issues ACTs the real preset forbids."""
    eight = dict(SMALL, banks=8, bank_groups=2)
    block = blocks.get("pim_channel", **eight)
    broken = blocks.get("pim_channel", **dict(eight, timing="gddr6_2000,FAW=8,RRDS=2,RRDL=2"))
    trace = model_trace(broken, {"W": np.zeros((11, 30), np.int64), "x": np.zeros((2, 30), np.int64)})
    text = " | ".join(map(str, legal(block, trace)))
    assert "tFAW" in text and "tRRD" in text
    # the runners put the same finding into the verdict of a simulation
    problems = block.check_traces({"cmd": trace})
    assert len(problems) == 1 and problems[0].startswith("DRAM timing: cycle") and "more" in problems[0]
    assert broken.check_traces({"cmd": trace}) == []


# -- parameters and inputs -------------------------------------------------------------------
def test_timing_preset_parsing():
    assert parse_timing("gddr6_2000") == PRESETS["gddr6_2000"]
    assert parse_timing("gddr6_2000, FAW=32").FAW == 32
    for bad, words in [("ddr9", "unknown preset"), ("gddr6_2000,XYZ=3", "NAME=cycles"),
                       ("gddr6_2000,FAW=zero", "not an integer"), ("gddr6_2000,FAW=0", "out of range")]:
        with pytest.raises(ParamError, match=words):
            parse_timing(bad)
    with pytest.raises(ParamError, match="RC=10"):
        blocks.get("pim_channel", timing="gddr6_2000,RC=10")


@pytest.mark.parametrize("values, words", [
    (dict(banks=33), "banks=33"), (dict(banks=6, bank_groups=4), "bank_groups=4"),
    (dict(dtype="fp8"), "dtype='fp8'"), (dict(dtype="int8", acc="fp32"), "acc=fp32"),
    (dict(dtype="int8", acc_width=8), "acc_width=8"), (dict(dtype="fp16", acc="bf16"), "acc=bf16"),
])
def test_parameter_errors(values, words):
    with pytest.raises(ParamError, match=words):
        blocks.get("pim_channel", **values)


def test_input_errors():
    block = blocks.get("pim_channel", **SMALL)
    with pytest.raises(ValueError, match="global-buffer"):
        block.golden({"W": np.zeros((4, 33), np.int64), "x": np.zeros(33, np.int64)})
    with pytest.raises(ValueError, match="DRAM rows"):
        block.golden({"W": np.zeros((4 * 129, 1), np.int64), "x": np.zeros(1, np.int64)})
    with pytest.raises(ValueError, match="cols=4"):
        block.golden({"W": np.zeros((4, 4), np.int64), "x": np.zeros(5, np.int64)})
    with pytest.raises(ValueError, match="outside"):
        block.golden({"W": np.full((4, 4), 1 << 16, np.int64), "x": np.zeros(4, np.int64)})


def test_mapping_split_and_layout():
    layout = mapping.ChannelLayout(banks=16, lanes=16, row_columns=64, bank_rows=64, gb_columns=64)
    parts = mapping.split_gemv(1000, 3000, 8, layout)
    assert sum(p.rows for p in parts if p.col_start == 0) == 1000
    assert {p.cols for p in parts} == {1024, 3000 - 2048}
    assert {(p.channel, p.row_start) for p in parts} == {(c, sum(125 for _ in range(c))) for c in range(8)}
    assert mapping.column_address(1, 3, 40, 64) == (0, 43)
    assert mapping.column_address(2, 0, 40, 64) == (1, 16)
    assert mapping.row_hit_rate(1024, 1024, layout) == pytest.approx(1 - 1 / 64)


# -- a bank's array alone ------------------------------------------------------------------------
@pytest.mark.parametrize("words, lanes, element_bits, slice_bits, blocks", [
    (4096, 2, 16, 4, 1),      # each RAM four bits of every word (4096 x 4)
    (20000, 1, 8, 1, 2),      # deeper than one RAM at one bit a word: two blocks by depth
    (64, 4, 8, 32, 1),        # shallow: a RAM holds whole elements (one enable bit each)
    (576, 2, 16, 16, 1),      # 1024 deep after rounding up: an element a RAM
])
def test_bank_array_against_a_dictionary(words, lanes, element_bits, slice_bits, blocks):
    """Seeded random writes (random element enables) and reads on pysim against a dictionary:
    a write presented in cycle t reads back from t + 2, a read's data arrives READ_LATENCY
    cycles after its address; no read of the word written by the cycle before (undefined on
    the FPGA, which the channel never does). Addresses cluster at the ends of the array and
    of a block, so slices and blocks both switch."""
    array = BankArray(words, lanes, element_bits)
    assert (array.slice_bits, array.blocks) == (slice_bits, blocks)
    rng = np.random.default_rng(words + lanes)
    boundary = array.block_words
    pool = sorted({0, 1, words - 1, min(boundary, words - 1), boundary - 1,
                   *rng.integers(0, words, 12).tolist()})
    element_mask = (1 << element_bits) - 1
    cycles = 400
    writes = [(int(rng.choice(pool)), int(rng.integers(0, 1 << 62)) & ((1 << lanes * element_bits) - 1),
               int(rng.integers(1, 1 << lanes))) if rng.random() < 0.5 else None for _ in range(cycles)]
    reads, checked = [], []

    async def bench(ctx):
        memory = {}                  # the words as the array holds them
        pending = []                 # (cycle it is written at the end of, address, data, enables)
        expected = {}                # cycle -> word read_data shows then
        for cycle in range(cycles):
            write = writes[cycle]
            recent = {a for c, a, _, _ in pending}
            choices = [a for a in pool if a not in recent] or pool
            address = int(rng.choice(choices))
            ctx.set(array.read_addr, address)
            expected[cycle + READ_LATENCY] = memory.get(address, 0)
            reads.append(address)
            if write:
                ctx.set(array.write_addr, write[0])
                ctx.set(array.write_data, write[1])
                ctx.set(array.write_en, write[2])
                pending.append((cycle + 1, *write))
            else:
                ctx.set(array.write_en, 0)
            if cycle in expected:
                assert ctx.get(array.read_data) == expected.pop(cycle), f"cycle {cycle}"
                checked.append(cycle)
            await ctx.tick()
            for entry in [e for e in pending if e[0] == cycle]:
                _, waddr, data, enables = entry
                word = memory.get(waddr, 0)
                for lane in range(lanes):
                    if enables >> lane & 1:
                        shift = lane * element_bits
                        word = word & ~(element_mask << shift) | (data & (element_mask << shift))
                memory[waddr] = word
                pending.remove(entry)

    sim = Simulator(array)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(checked) == cycles - READ_LATENCY


# -- simulation --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["int8", "bf16"])
def test_pysim_gemv(dtype):
    block = blocks.get("pim_channel", **dict(SMALL_REFRESH, dtype=dtype))
    inputs = block.stimulus(np.random.default_rng(5), 3)
    result = simulate_pysim(block, inputs=inputs)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(inputs)).cycles
    assert_trace_matches_model(block, inputs, result)
    assert legal(block, result.traces["cmd"]) == []


VERILATOR_POINTS = {
    "int8": dict(SMALL_REFRESH, dtype="int8"),
    "int16": dict(SMALL_REFRESH, dtype="int16", banks=8, bank_groups=2, lanes=3),
    "fp16": dict(SMALL_REFRESH, dtype="fp16", banks=2, bank_groups=2, lanes=5),
}


@pytest.mark.verilator
@pytest.mark.parametrize("point", sorted(VERILATOR_POINTS))
def test_verilator_small_gemv(point, rtl_out, tmp_path):
    block = blocks.get("pim_channel", **VERILATOR_POINTS[point])
    generated = generate(block, rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []
    rng = np.random.default_rng(11)
    cols = block.p.gb_columns * block.p.lanes - 1
    inputs = block.stimulus(rng, 6, rows=3 * block.p.banks + 1, cols=cols)
    clean = simulate(block, inputs, seed=1, rtl_out=rtl_out, out=tmp_path / "clean")
    assert clean.passed, clean.summary()["verdict"]
    assert clean.cycles == block.model(block.workload(inputs)).cycles
    assert_trace_matches_model(block, inputs, clean)
    assert legal(block, clean.traces["cmd"]) == []
    # stalls on every stream: the x driver idles, y is back-pressured; results stay exact and
    # the (now different) command stream stays legal
    stalled = simulate(block, inputs, seed=2, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                       out=tmp_path / "stalled")
    assert stalled.passed, stalled.summary()["verdict"]
    assert legal(block, stalled.traces["cmd"]) == []
    assert stalled.cycles > clean.cycles


# Room for a 1024 x 1024 bf16 matrix (2 MiB) in 2 KiB rows. Four banks of eight lanes, not the
# default 16 x 16: the controller is the same, and the default channel's Verilog takes minutes
# to generate and build (the model covers it: see bench/pim_gemv.py).
GEMV1024 = dict(banks=4, bank_groups=4, lanes=8, row_columns=128, gb_columns=128, bank_rows=256)


@pytest.fixture(scope="module")
def channel_1024():
    return blocks.get("pim_channel", **GEMV1024)


# A minute to generate and build: with ``-m long`` (the small GEMVs above run in the suite).
@pytest.mark.long
@pytest.mark.verilator
@pytest.mark.parametrize("shape", [(1024, 1024), (1001, 1017), (37, 5)])
def test_verilator_gemv_up_to_1024(channel_1024, shape, rtl_out, tmp_path):
    """bf16 GEMVs up to 1024 x 1024 (and non-multiples of banks and lanes), bit-exact,
    cycle-exact, command-for-command equal to the model and legal under the preset."""
    block = channel_1024
    rows, cols = shape
    inputs = block.stimulus(np.random.default_rng(rows + cols), 1, rows=rows, cols=cols)
    result = simulate(block, inputs, seed=3, rtl_out=rtl_out, out=tmp_path)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(inputs)).cycles
    assert_trace_matches_model(block, inputs, result)
    assert legal(block, result.traces["cmd"]) == []


def _raw_sequence(block, matrices, rng):
    """Raw host beats that load several matrices at different base rows (the second one
    partly overwritten element by element, as a KV-cache append does) and run one GEMV on
    each; also the W/x each GEMV should see."""
    p = block.p
    host = {name: [] for name in ("kind", "row", "col", "slots", "beats", "last_count", "mask", "data")}
    columns, expected = [], []

    def beat(kind, row=0, col=0, slot_count=0, beats=0, last_count=0, mask=None, data=None):
        for name, value in zip(host, (kind, row, col, slot_count, beats, last_count,
                                      np.zeros((p.banks, p.lanes), np.int64) if mask is None else mask,
                                      np.zeros((p.banks, p.lanes), np.int64) if data is None else data)):
            host[name].append(value)

    base = 0
    for rows, cols in matrices:
        W = rng.integers(-100, 100, size=(rows, cols))
        beats = mapping.beats_per_row(cols, p.lanes)
        slot_count = mapping.slots(rows, p.banks)
        padded = np.zeros((slot_count * p.banks, beats * p.lanes), np.int64)
        padded[:rows, :cols] = W
        for s in range(slot_count):
            for b in range(beats):
                row, col = mapping.column_address(s, b, beats, p.row_columns, base)
                data = padded[s * p.banks:(s + 1) * p.banks, b * p.lanes:(b + 1) * p.lanes]
                beat(0, row, col, mask=np.ones((p.banks, p.lanes), np.int64), data=data)
        # append-style overwrite of single elements: matrix row 1, element 2 -> 7
        s, b = divmod(1, p.banks)[0], 2 // p.lanes
        row, col = mapping.column_address(s, b, beats, p.row_columns, base)
        mask = np.zeros((p.banks, p.lanes), np.int64)
        mask[1 % p.banks, 2 % p.lanes] = 1
        beat(0, row, col, mask=mask, data=np.full((p.banks, p.lanes), 7))
        W[1, 2] = 7
        x = rng.integers(-100, 100, size=cols)
        expected.append((W, x))
        base += mapping.dram_rows_used(rows, cols, block.layout)
    base = 0
    for (W, x) in expected:
        rows, cols = W.shape
        beats = mapping.beats_per_row(cols, p.lanes)
        slot_count = mapping.slots(rows, p.banks)
        beat(1, row=base, slot_count=slot_count, beats=beats, last_count=rows - (slot_count - 1) * p.banks)
        xp = np.zeros(beats * p.lanes, np.int64)
        xp[:cols] = x
        columns.append(xp.reshape(beats, p.lanes))
        base += mapping.dram_rows_used(rows, cols, block.layout)
    raw = {f"host_{name}": np.array(values) for name, values in host.items()}
    raw["x_columns"] = np.concatenate(columns)
    return raw, expected


# the second: 576 words a bank, two block RAM blocks (array.py), the second matrix in the second
@pytest.mark.parametrize("params, matrices", [
    (dict(SMALL, dtype="int16"), [(6, 9), (5, 13)]),
    (dict(banks=2, lanes=2, row_columns=8, bank_rows=72, gb_columns=16, dtype="int16"), [(66, 32), (3, 5)]),
])
def test_raw_mode_masked_loads_and_base_rows(params, matrices):
    """Graph use: host beats as fields. Element-masked LOADs and GEMVs at different base rows
    give, in the golden model and on pysim, what each matrix alone gives in W/x mode."""
    block = blocks.get("pim_channel", **params)
    raw, expected = _raw_sequence(block, matrices, np.random.default_rng(2))
    golden = block.golden(raw)
    assert set(golden) == {"y_acc", "y_count", "y_last"}
    vectors, current = [], []
    for acc, count, last in zip(golden["y_acc"], golden["y_count"], golden["y_last"]):
        current += [int(v) - (1 << block.acc_bits) if int(v) >> (block.acc_bits - 1) else int(v)
                    for v in acc[:count]]
        if last:
            vectors.append(current)
            current = []
    assert len(vectors) == len(expected)
    for got, (W, x) in zip(vectors, expected):
        np.testing.assert_array_equal(got, W.astype(np.int64) @ x.astype(np.int64))
    result = simulate_pysim(block, inputs=raw)
    assert result.passed, result.summary()["verdict"]
    assert result.cycles == block.model(block.workload(raw)).cycles
    assert legal(block, result.traces["cmd"]) == []


@pytest.mark.verilator
def test_channels_in_parallel(rtl_out, tmp_path):
    """A GEMV split over three channels (mapping.split_gemv: contiguous row blocks) runs as a
    graph of three independent channels; its cycle count is the slowest channel's model, and
    the parts' y put together are the whole product."""
    from hwgen.graph import Graph

    channels = 3
    params = dict(SMALL_REFRESH, dtype="int8")
    graph = Graph("channels")
    for index in range(channels):
        graph.add(f"ch{index}", blocks.get("pim_channel", **params))
    block = graph.block("ch0")
    rng = np.random.default_rng(4)
    W = rng.integers(-128, 128, size=(29, 23))
    x = rng.integers(-128, 128, size=(2, 23))
    parts = mapping.split_gemv(29, 23, channels, block.layout)
    assert [p.rows for p in parts] == [10, 10, 9] and all(p.cols == 23 for p in parts)
    inputs = {}
    for part in parts:
        inputs[f"ch{part.channel}.W"] = W[part.row_start:part.row_start + part.rows]
        inputs[f"ch{part.channel}.x"] = x
    top = graph.elaborate_top()
    result = simulate(top, inputs, seed=1, rtl_out=rtl_out, out=tmp_path)
    assert result.passed, result.summary()["verdict"]
    predicted = max(graph.block(f"ch{p.channel}").model(
        {"rows": p.rows, "cols": p.cols, "vectors": 2}).cycles for p in parts)
    assert result.cycles == predicted
    y = np.concatenate([result.outputs[f"ch{p.channel}.y"] for p in parts], axis=1)
    np.testing.assert_array_equal(y, x @ W.T)
    # every channel's command bus reaches the top, and each was checked (and is legal)
    for part in parts:
        trace = result.traces[f"ch{part.channel}__cmd"]
        assert int(np.sum(trace["cmd"] == Command.MAC_ABK)) == 2 * mapping.slots(part.rows, 4) * 6
        assert legal(block, trace) == []
