"""The PIM-GPT decode model (hwgen/blocks/pim/gpt.py): its GEMV times are the channel
scheduler's, its ASIC times the vector unit's, its parts add up, it moves the right way when
channels, context or model size change, its rooflines are right by hand, and the CLI reports
it (docs/pim_gpt.md)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwgen import blocks
from hwgen.blocks.pim import gpt
from hwgen.blocks.pim.schedule import Command
from hwgen.core.params import ParamError

# small enough that every GEMV is short: no refresh falls inside one, whatever the timer phase
TINY = gpt.GptModel("tiny", layers=1, d_model=64, heads=2, max_context=64, vocab=100)


def direct_cycles(rows, cols, segment=None):
    """A GEMV on a fresh default channel, straight from its scheduler: request accepted at
    cycle 0, done when the last RD_MAC's data has arrived (y_delay later), plus the hand-over."""
    block = blocks.get("pim_channel")
    scheduler = block.scheduler()
    _, reads = scheduler.gemv(0, rows, cols, segment=segment)
    assert not any(i.cmd == Command.REF for i in scheduler.trace)
    return reads[-1] + block.y_delay + 1


@pytest.fixture(scope="module")
def tiny():
    return gpt.decode_token(TINY, channels=2, context=20)


def test_gemv_times_are_the_schedulers(tiny):
    """Two channels: each weight GEMV's rows are halved; the K GEMV runs 10 tokens per channel
    with a RD_MAC per head (2 beats); each channel runs one head's 32 x 20 V GEMV."""
    ops = tiny.ops
    assert ops["qkv"].pim_cycles == direct_cycles(96, 64)
    assert ops["output_projection"].pim_cycles == direct_cycles(32, 64)
    assert ops["mlp_up"].pim_cycles == direct_cycles(128, 64)
    assert ops["mlp_down"].pim_cycles == direct_cycles(32, 256)
    assert ops["lm_head"].pim_cycles == direct_cycles(50, 64)
    assert ops["attention_scores"].pim_cycles == direct_cycles(10, 64, segment=2)
    assert ops["attention_v"].pim_cycles == direct_cycles(32, 20)
    # one RD_MAC per head and slot in the K GEMV
    block = blocks.get("pim_channel")
    scheduler = block.scheduler()
    scheduler.gemv(0, 10, 64, segment=2)
    assert sum(i.cmd == Command.RD_MAC for i in scheduler.trace) == 2


def test_odd_split_takes_the_slowest_channel():
    """97 vocabulary rows on 3 channels: 33, 32, 32 rows; the 33-row channel needs a third
    slot of 16 banks, so it sets the LM head's time."""
    result = gpt.decode_token(dataclasses.replace(TINY, vocab=97), channels=3, context=20)
    assert result.ops["lm_head"].pim_cycles == direct_cycles(33, 64)
    assert direct_cycles(33, 64) > direct_cycles(32, 64)


def test_score_tiles_hold_whole_heads():
    """gpt3-760m: 16 heads of 96 (6 beats); a 1024-element buffer holds 10 whole heads, so the
    1536-wide K rows run as tiles of 960 and 576 columns, a RD_MAC after every head. At 256
    tokens on 8 channels each channel has 32 token rows."""
    result = gpt.decode_token("gpt3-760m", 8, 256)
    per_layer = direct_cycles(32, 960, segment=6) + direct_cycles(32, 576, segment=6)
    assert result.ops["attention_scores"].pim_cycles == 24 * per_layer
    # a tile cut inside a head would also be a different schedule
    assert per_layer != direct_cycles(32, 1024, segment=6) + direct_cycles(32, 512, segment=6)


# pim_vector_unit at 16 lanes and its default 100 MHz pipeline (docs/pim_vector_unit.md,
# "Performance model"): a result leaves OUT cycles after its beat; between passes LayerNorm
# waits LN_WAIT cycles for its statistics, softmax SM_WAIT
OUT, LN_WAIT, SM_WAIT = 37, 230, 128


def test_asic_times_by_hand(tiny):
    """vector_cycles = op beat + passes x ceil(length / 16) + the statistics' waits, plus the
    pipeline to the output."""
    ops = tiny.ops
    assert ops["layernorm"].asic_cycles == 3 * (1 + 3 * 4 + LN_WAIT + OUT)   # two per layer, one final
    assert ops["softmax"].asic_cycles == 2 * (1 + 3 * 2 + SM_WAIT + OUT)     # two heads of 20 scores
    assert ops["gelu"].asic_cycles == 1 + 16 + OUT
    assert ops["residual"].asic_cycles == 3 * (1 + 4 + OUT)                  # embedding sum, two residuals
    # bias adds of 192, 64, 256, 64 and the partial sums of no tile (every GEMV fits the buffer)
    assert ops["adds"].asic_cycles == sum(1 + n // 16 + OUT for n in (192, 64, 256, 64))


def test_ops_add_up(tiny):
    for result in (tiny, gpt.decode_token("gpt2-medium", 8, 512, asic_clock_ns=1.0)):
        tck, asic = result.assumptions["tck_ns"], result.assumptions["asic_clock_ns"]
        for op in result.ops.values():
            assert op.ns == pytest.approx((op.pim_cycles + op.bus_cycles) * tck + op.asic_cycles * asic)
        assert result.latency_ns == pytest.approx(sum(op.ns for op in result.ops.values()))
        assert result.tokens_per_s == pytest.approx(1e9 / result.latency_ns)
        assert set(result.ops) == set(gpt.OPS)
        assert all(op.ns > 0 for op in result.ops.values())


def test_partial_sums_of_wide_gemvs():
    """gpt2-large: d = 1280 is wider than the 1024-element buffer, so QKV, output projection,
    MLP up and LM head run as two column tiles and MLP down (5120) as five; the ASIC adds the
    partial sums. The K GEMV is tiled at whole heads (16 of 64), so scores need none."""
    result = gpt.decode_token("gpt2-large", 8, 512)
    d, layers = 1280, 36

    def adds(length, count):
        return count * (1 + -(-length // 16) + OUT)

    partial = layers * (adds(3 * d, 1) + adds(d, 1) + adds(4 * d, 1) + adds(d, 4)) + adds(50257, 1)
    bias = layers * (adds(3 * d, 1) + adds(d, 1) + adds(4 * d, 1) + adds(d, 1))
    assert result.ops["adds"].asic_cycles == partial + bias


def test_refresh_counted_from_mid_interval():
    """A GEMV starts half way through the refresh interval: one much shorter than REFI / 2
    meets no REF; one of about 3300 cycles meets one, where a freshly refreshed start (the
    channel's own model of a first GEMV) would meet none."""
    s = gpt.system()
    short = gpt.gemv_cost(s.layout, s.timing, s.bank_groups, s.read_to_mac, s.result_delay, 32, 1024)
    longer = gpt.gemv_cost(s.layout, s.timing, s.bank_groups, s.read_to_mac, s.result_delay, 96, 1024)
    assert short.cycles < s.timing.REFI // 2 and short.count(Command.REF) == 0
    assert short.cycles == direct_cycles(32, 1024)
    assert longer.count(Command.REF) == 1       # direct_cycles checks the fresh start has none
    # it falls on a slot boundary, where the rows change anyway: it costs exactly tRFC
    assert longer.cycles == direct_cycles(96, 1024) + s.timing.RFC


def test_more_channels_not_slower():
    latencies = [gpt.decode_token("gpt2-small", c, 256).latency_ns for c in (1, 2, 3, 4, 8, 12, 16)]
    assert all(a >= b for a, b in zip(latencies, latencies[1:])), latencies
    assert latencies[0] > 6 * latencies[4]


def test_longer_context_not_faster():
    results = [gpt.decode_token("gpt2-medium", 8, n) for n in (1, 16, 100, 512, 1024)]
    latencies = [r.latency_ns for r in results]
    assert all(a <= b for a, b in zip(latencies, latencies[1:])), latencies
    scores = [r.ops["attention_scores"].pim_cycles for r in results]
    assert scores[-1] > scores[0]
    assert [r.kv_bytes for r in results] == [2 * 24 * n * 1024 * 2 for n in (1, 16, 100, 512, 1024)]


@pytest.mark.parametrize("family", [("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"),
                                    ("gpt3-125m", "gpt3-350m", "gpt3-760m", "gpt3-1.3b")])
def test_bigger_model_slower(family):
    latencies = [gpt.decode_token(name, 8, 512).latency_ns for name in family]
    assert all(a < b for a, b in zip(latencies, latencies[1:])), latencies


def test_roofline_by_hand():
    """gpt2-medium: 24 x (12 x 1024^2 + 13 x 1024) + (50257 + 1024) x 1024 + 2 x 1024 =
    354,823,168 parameters (GPT-2 medium's published count), of which all but 1023 position
    rows are read: 353,775,616; KV at 512 tokens: 2 x 24 x 512 x 1024 = 25,165,824. In fp16
    757,882,880 bytes: 2.368384 ms at 320 GB/s, 226.2337 us at 3.35 TB/s."""
    model = gpt.MODELS["gpt2-medium"]
    assert model.parameters == 354_823_168
    assert model.parameters_read == 353_775_616
    result = gpt.decode_token("gpt2-medium", 8, 512)
    t4, h100 = result.rooflines["t4"], result.rooflines["h100"]
    assert t4["bytes"] == h100["bytes"] == 757_882_880
    assert t4["ns"] == pytest.approx(2_368_384.0)
    assert h100["ns"] == pytest.approx(226_233.6955, rel=1e-9)
    assert t4["speedup"] == pytest.approx(2_368_384.0 / result.latency_ns)
    assert h100["speedup"] == pytest.approx(t4["speedup"] * 320 / 3350)
    assert result.weight_bytes == 353_775_616 * 2 and result.kv_bytes == 25_165_824 * 2


def test_published_parameter_counts():
    counts = {name: m.parameters for name, m in gpt.MODELS.items()}
    assert counts["gpt2-small"] == 124_439_808
    assert counts["gpt2-large"] == 774_030_080
    assert counts["gpt2-xl"] == 1_557_611_200


def test_row_hits_and_bytes():
    """Each bank's 2 KiB row serves 64 MAC_ABKs per ACT: about 98.4 % row hits (PIM-GPT
    reports about 98 %). The vector operands and results cross the channel bus; the weights
    never do."""
    result = gpt.decode_token("gpt2-medium", 8, 512)
    assert result.row_hit_rate == pytest.approx(1 - 1 / 64, abs=1e-3)
    assert 0 < result.bus_bytes < result.weight_bytes / 50
    assert 0 < result.capacity_used < 1
    assert gpt.decode_token("gpt2-xl", 1, 1024).capacity_used > 1


def test_channel_overrides_and_assumptions():
    base = gpt.decode_token("gpt2-small", 8, 128)
    assert base.assumptions["asic_clock_ns"] == base.assumptions["tck_ns"] == 0.57
    slower_asic = gpt.decode_token("gpt2-small", 8, 128, asic_clock_ns=1.0)
    assert slower_asic.latency_ns > base.latency_ns
    assert slower_asic.ops["qkv"].pim_cycles == base.ops["qkv"].pim_cycles
    narrow = gpt.decode_token("gpt2-small", 8, 128, channel_params={"lanes": 8})
    assert narrow.ops["qkv"].pim_cycles > base.ops["qkv"].pim_cycles


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown model 'gpt5': allowed gpt2-small"):
        gpt.decode_token("gpt5")
    with pytest.raises(ValueError, match=r"channels=0 is out of range: allowed 1\.\.64"):
        gpt.decode_token("gpt2-small", 0)
    with pytest.raises(ValueError, match=r"context=1025 is out of range for gpt2-small: allowed 1\.\.1024"):
        gpt.decode_token("gpt2-small", 8, 1025)
    with pytest.raises(ParamError, match="lanes=40 is out of range"):
        gpt.decode_token("gpt2-small", channel_params={"lanes": 40})
    with pytest.raises(ParamError, match="asic_lanes=0"):
        gpt.decode_token("gpt2-small", asic_lanes=0)
    with pytest.raises(ValueError, match="d_model=100 is not a multiple of heads=3"):
        gpt.GptModel("odd", layers=1, d_model=100, heads=3, max_context=8)


# -- command line ------------------------------------------------------------------------------
def hwgen(*args):
    return subprocess.run([sys.executable, "-m", "hwgen", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])})


def test_cli_breakdown_and_help():
    done = hwgen("model", "pim-gpt", "--model", "gpt2-medium", "--channels", "8")
    assert done.returncode == 0, done.stderr
    assert "gpt2-medium on 8 channels at context 512" in done.stdout
    for op in gpt.OPS:
        assert f"| {op} |" in done.stdout
    assert "roofline NVIDIA T4" in done.stdout and "assumptions: tCK 0.57 ns" in done.stdout
    for words in (("model", "--help"), ("model", "pim-gpt", "--help")):
        help_text = hwgen(*words)
        assert help_text.returncode == 0 and "usage: hwgen model" in help_text.stdout
    assert "--channels N" in hwgen("model", "pim-gpt", "--help").stdout


def test_cli_json():
    done = hwgen("model", "pim-gpt", "--model", "gpt2-small", "--channels", "4", "--context", "64", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    direct = gpt.decode_token("gpt2-small", 4, 64)
    assert data["latency_ns"] == pytest.approx(direct.latency_ns)
    assert data["ops"]["mlp_up"]["pim_cycles"] == direct.ops["mlp_up"].pim_cycles
    table = json.loads(hwgen("model", "pim-gpt", "--model", "all", "--json").stdout)
    assert [r["model"] for r in table] == list(gpt.MODELS)


def test_cli_table():
    done = hwgen("model", "pim-gpt", "--model", "all")
    assert done.returncode == 0, done.stderr
    assert all(f"| {name} |" in done.stdout for name in gpt.MODELS)


@pytest.mark.parametrize("args, message", [
    (["--model", "gpt5"], "pim-gpt: parameter model='gpt5' is out of range: allowed one of gpt2-small"),
    (["--channels", "0"], "channels=0 is out of range: allowed 1..64"),
    (["--channels", "65"], "channels=65 is out of range: allowed 1..64"),
    (["--context", "2049", "--model", "gpt3-125m"], "context=2049 is out of range for gpt3-125m"),
    (["-p", "banks=3", "-p", "bank_groups=4"], "pim_channel: banks=3 is not a multiple of bank_groups=4"),
    (["-p", "nosuch=1"], "pim_channel: unknown parameter 'nosuch'"),
])
def test_cli_errors_are_one_line_exit_2(args, message):
    done = hwgen("model", "pim-gpt", *args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hwgen: error: "), done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
