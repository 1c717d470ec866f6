"""The InstInfer system model (hwgen/blocks/attention/system.py): the per-head engine time
against hand-computed points and its regimes, the model shapes against their published
parameter counts, the bytes each system moves by hand, the invariants (more drives or
bandwidth never slower; the baseline is PCIe-bound at large batch), and the CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest

from hwgen import cli
from hwgen.blocks.attention import system
from hwgen.core.params import ParamError

OPT13 = system.MODELS["opt-13b"]


# -- per-head engine cycles -----------------------------------------------------------------------
# The engine's pipeline depths at fp16, 8 lanes, head_dim 128 (docs/attention.md, Pipeline):
SCORE = 72          # a row's last K beat to its score
SCAN = 31           # a softmax scan's pipeline (SparF: 37), then the sum's 34
SUM = 34
RECIP = 16          # a phase waiting for the reciprocal (15 stages and a cycle)
V_DRAIN = 31        # the V GeMV empties (two_pass: 30 stages and a cycle; online 21 + 1)
CONVERT = 25        # CONVERT (16 words and 7 stages), a cycle, and the output cycle


def test_head_cycles_dense_two_pass_by_hand():
    """head_dim 128, seq 2048, 8 lanes, one flash channel: flash-bound. 128 pages of 256 beats
    at 2*8*285/1400 cycles a beat; the K pass ends at 20 us + that; the V pages were requested
    16 pages before the end of the K pass, so they are ready before the softmax (the score
    pipeline, 2048 scan cycles, the scan's pipeline, the sum, the reciprocal) ends; then the V
    pass, the V GeMV's drain and the output row."""
    beat = Fraction(4560, 1400)
    k_pass = 128 * 256 * beat
    softmax_end = 5700 + k_pass + SCORE + 2048 + SCAN + SUM + RECIP
    assert softmax_end > 5700 + k_pass * 112 / 128 + 5700
    expected = softmax_end + k_pass + V_DRAIN + CONVERT
    got = system.head_cycles(128, 2048, lanes=8, flash_channels=1, softmax="two_pass", mode="dense",
                             top_r=32, top_k=64, flash_latency=5700, flash_mbps=1400, clock_mhz=285)
    assert got == math.ceil(expected) == 221418


def test_head_cycles_compute_bound_by_hand():
    """16 channels deliver 16 / 3.26 beats a cycle, more than the one beat a cycle each GeMV
    takes: both passes run at the compute rate, seq_len * 16 beats each."""
    got = system.head_cycles(128, 2048, lanes=8, flash_channels=16, softmax="two_pass", mode="dense")
    assert got == 5700 + 2048 * 16 + SCORE + 2048 + SCAN + SUM + RECIP + 2048 * 16 + V_DRAIN + CONVERT
    # online overlaps K and V: one pass at the rate of the slower of flash (2 * 128 pages over
    # 16 channels) and compute (one K and one V beat a cycle); then the score pipeline, the
    # online softmax's (39), the V GeMV's drain (22), 1/l, NORM (16 words and the drain)
    online = system.head_cycles(128, 2048, lanes=8, flash_channels=16, softmax="online", mode="dense")
    flash = Fraction(2 * 128 // 16 * 256 * 4560, 1400)
    assert online == math.ceil(5700 + max(flash, 2048 * 16) + SCORE + 39 + 22 + RECIP + 16 + 22 + CONVERT)


def test_head_cycles_sparf_by_hand():
    """SparF at seq 2048, 4 channels, r 32, k 64, 20 concentrated pages touched: TOPR (128
    channels, a 9-stage ranking, the sums), SCALE1, SCALE2 (30), the channel-major pass and
    its writes (17), TOPK (a scan), BITMAP (64), EXPSCAN (a scan and its sum), ALPHA (the
    reciprocal and 20); the exact two_pass; MIX (16 words and the drain); the output."""
    beat = Fraction(4560, 1400)
    approx = max(math.ceil(33 / 4) * 256 * beat, 16 + 32 * 256)     # mean + 32 channel pages
    front = 128 + 9 + SUM + RECIP + 30 + 5700 + approx + 17 + (2048 + 37) + 64 + (2048 + 37 + SUM) \
        + RECIP + 20
    k_pass = max(5 * 256 * beat, 64 * 16)                            # 20 pages over 4 channels
    v_start = max(5700 + k_pass + SCORE + 2048 + 37 + SUM + RECIP, 5700 + 5700)
    expected = front + v_start + k_pass + V_DRAIN + (16 + V_DRAIN) + CONVERT
    got = system.head_cycles(128, 2048, lanes=8, flash_channels=4, softmax="two_pass", mode="sparf",
                             top_r=32, top_k=64, pages_touched=20)
    assert got == math.ceil(expected)


def test_heads_back_to_back_expose_one_latency():
    """Dense: 32 heads on one engine pay the page latency once; SparF every time."""
    head = system.head_cycles(128, 2048)
    assert system.heads_cycles(32, head, mode="dense", flash_latency=5700) == 5700 + 32 * (head - 5700)
    assert system.heads_cycles(32, head, mode="sparf", flash_latency=5700) == 32 * head
    assert system.heads_cycles(0, head) == 0


def test_head_cycles_moves_the_right_way():
    base = dict(lanes=8, flash_channels=4, softmax="two_pass", mode="dense")
    for mode in ("dense", "sparf"):
        for softmax in ("two_pass", "online"):
            kw = dict(base, mode=mode, softmax=softmax)
            by_channels = [system.head_cycles(128, 3072, **dict(kw, flash_channels=f)) for f in (1, 2, 4, 8, 16)]
            assert by_channels == sorted(by_channels, reverse=True) and by_channels[0] > by_channels[-1]
            by_mbps = [system.head_cycles(128, 3072, **kw, flash_mbps=b) for b in (700, 1400, 2800)]
            assert by_mbps == sorted(by_mbps, reverse=True)
            by_seq = [system.head_cycles(128, s, **kw) for s in (1, 15, 16, 17, 500, 2048, 4096)]
            assert by_seq == sorted(by_seq)
            by_latency = [system.head_cycles(128, 3072, **kw, flash_latency=t) for t in (0, 100, 5700)]
            assert by_latency[0] < by_latency[1] < by_latency[2]
    # online never slower than two_pass; SparF much faster than dense on a long context
    for f in (1, 4, 8):
        for mode in ("dense", "sparf"):
            kw = dict(base, flash_channels=f, mode=mode)
            assert (system.head_cycles(128, 3072, **dict(kw, softmax="online"))
                    <= system.head_cycles(128, 3072, **kw))
    assert system.head_cycles(128, 3072, **dict(base, mode="sparf")) < \
        0.7 * system.head_cycles(128, 3072, **base)
    # concentrated top-k tokens touch fewer pages than uniform ones
    uniform = system.head_cycles(128, 3072, **dict(base, mode="sparf", flash_channels=1))
    concentrated = system.head_cycles(128, 3072, **dict(base, mode="sparf", flash_channels=1), pages_touched=5)
    assert concentrated < uniform


def test_uniform_pages_touched():
    assert system.uniform_pages_touched(1, 64) == 1
    assert system.uniform_pages_touched(192, 1) == pytest.approx(1)
    assert system.uniform_pages_touched(192, 64) == pytest.approx(192 * (1 - (191 / 192) ** 64))
    assert 54 < system.uniform_pages_touched(192, 64) < 55
    assert system.uniform_pages_touched(4, 10_000) == pytest.approx(4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lanes=3), "lanes=3 is out of range"),
    (dict(lanes=256), "lanes=256 is out of range: allowed a power of two dividing head_dim=128"),
    (dict(flash_channels=0), "flash_channels=0 is out of range"),
    (dict(softmax="fast"), "softmax='fast' is out of range"),
    (dict(mode="sparse"), "mode='sparse' is out of range"),
    (dict(mode="sparf", pages_touched=200), "pages_touched=200 is out of range: allowed 1..128"),
    (dict(top_k=0, mode="sparf"), "top_k=0 is out of range"),
])
def test_head_cycles_rejects_bad_values(kwargs, message):
    with pytest.raises(ParamError, match=message.replace("(", r"\(")):
        system.head_cycles(128, 2048, **kwargs)


# -- shapes and bytes -------------------------------------------------------------------------------
def test_model_shapes_match_published_parameter_counts():
    """Hugging Face's counts for facebook/opt-13b, facebook/opt-30b, meta-llama/Llama-2-13b-hf."""
    assert system.MODELS["opt-13b"].parameters == 12_853_473_280
    assert system.MODELS["opt-30b"].parameters == 29_974_540_288
    assert system.MODELS["llama2-13b"].parameters == 13_015_864_320
    assert all(m.head_dim == 128 for m in system.MODELS.values())


def test_bytes_by_hand_opt13b_seq2048():
    """OPT-13B, one sequence, seq 2048 (mean context 3072). Baseline: K and V of 40 layers x
    3072 tokens x 5120 fp16 read, the new k and v written. In-storage: q, k, v, o of 40 layers
    x 5120 fp16. Dense flash: 192 K and 192 V pages of 4 KB per head, 1600 heads. SparF: the
    mean page, 32 channels x 2 channel-major blocks, 55 token pages for K and for V."""
    base = system.decode_step("opt-13b", "baseline", 1, 2048, 1)
    assert base.context == 3072
    assert base.drive_bytes == 2 * 40 * 3072 * 5120 * 2 + 2 * 40 * 5120 * 2 == 2_517_401_600
    assert base.flash_bytes == 2_516_582_400
    dense = system.decode_step("opt-13b", "dense", 1, 2048, 1)
    assert dense.drive_bytes == 4 * 40 * 5120 * 2 == 1_638_400
    assert dense.flash_bytes == 1600 * 384 * 4096 == base.flash_bytes
    sparf = system.decode_step("opt-13b", "sparf", 1, 2048, 4)
    assert sparf.drive_bytes == 1_638_400
    assert sparf.flash_bytes == 1600 * (1 + 64 + 2 * 55) * 4096 == 1_146_880_000
    # batch scales every byte count
    assert system.decode_step("opt-13b", "baseline", 8, 2048, 1).drive_bytes == 8 * base.drive_bytes


def test_weight_streaming_only_when_the_model_does_not_fit():
    assert system.decode_step("opt-13b", "dense", 4, 1024).weights_streamed == 0
    assert system.decode_step("llama2-13b", "baseline", 4, 1024).weights_streamed == 0
    streamed = system.decode_step("opt-30b", "dense", 4, 1024).weights_streamed
    assert streamed == 29_974_540_288 * 2 - 46_000_000_000


def test_step_time_is_the_busiest_part_and_parts_by_hand():
    r = system.decode_step("opt-13b", "baseline", 64, 1024, 2)
    kv = 2 * 40 * 1536 * 5120 * 2 * 64 + 2 * 40 * 5120 * 2 * 64
    assert r.parts_s["ssd_links"] == pytest.approx(kv / (2 * 7e9))
    assert r.parts_s["host_link"] == pytest.approx(kv / 28e9)
    assert r.step_s == max(r.parts_s.values()) and r.bound == "ssd_links"
    assert r.tokens_per_s == pytest.approx(64 / r.step_s)
    d = system.decode_step("opt-13b", "dense", 64, 1024, 2)
    clock = system.MEASURED_FMAX_MHZ
    latency = round(20 * clock)                       # a 20 us page read in engine cycles
    head = system.head_cycles(128, 1536, lanes=8, flash_channels=4, mode="dense", softmax="two_pass",
                              flash_latency=latency, clock_mhz=clock)
    # 20 heads per drive x 64 sequences over 2 engines, back to back (one exposed latency),
    # 40 layers, at the engine's measured clock; new k, v programmed at 11.2 GB/s
    engines = 40 * (latency + 640 * (head - latency)) / (clock * 1e6) + 40 * 64 * 20 * 128 * 2 * 2 / 11.2e9
    assert d.parts_s["engines"] == pytest.approx(engines)
    assert d.written_bytes == 40 * 64 * 40 * 128 * 2 * 2
    assert d.parts_s["drive_links"] == pytest.approx(4 * 40 * 64 * 20 * 128 * 2 / 7e9)


# -- invariants ------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", list(system.MODELS))
def test_more_drives_never_slower(model):
    for name in system.SYSTEMS:
        for seq in system.SEQUENCES:
            for batch in (4, 256):
                rates = [system.decode_step(model, name, batch, seq, n).tokens_per_s for n in system.DRIVES]
                assert rates == sorted(rates), (name, seq, batch, rates)
                assert rates[-1] > rates[0]


def test_more_bandwidth_never_slower():
    slow, fast = system.Hardware(), system.Hardware(flash_channels=16)
    for name in ("dense", "sparf"):
        for batch in (4, 64):
            assert (system.decode_step("opt-13b", name, batch, 2048, 1, fast).tokens_per_s
                    > system.decode_step("opt-13b", name, batch, 2048, 1, slow).tokens_per_s)
    fast_link = system.Hardware(drive_link=14e9, host_link=56e9)
    for drives in (1, 16):
        assert (system.decode_step("opt-13b", "baseline", 64, 2048, drives, fast_link).tokens_per_s
                > system.decode_step("opt-13b", "baseline", 64, 2048, drives).tokens_per_s)


def test_baseline_is_pcie_bound_at_large_batch():
    for model in system.MODELS:
        for seq in system.SEQUENCES:
            for drives in system.DRIVES:
                r = system.decode_step(model, "baseline", 256, seq, drives)
                assert r.bound in ("ssd_links", "host_link"), (model, seq, drives, r.parts_s)
    # one drive: its x4 link; many: the GPU's x16 link they all share
    assert system.decode_step("opt-13b", "baseline", 256, 2048, 1).bound == "ssd_links"
    assert system.decode_step("opt-13b", "baseline", 256, 2048, 16).bound == "host_link"


def test_in_storage_beats_the_baseline_and_sparf_beats_dense():
    """At InstInfer's engine clock (285 MHz) in-storage attention beats the baseline
    everywhere; at our engine's measured clock it does not at a small batch on one drive
    (the engines bound the step), and a faster clock never makes it slower."""
    paper = system.Hardware(clock_mhz=285)
    for r, base, gain in system.speedups(system.sweep(batches=(4, 256), hw=paper)):
        assert gain > 1, (r.model, r.system, r.batch, r.seq, r.drives)
    for n in system.DRIVES:
        assert (system.decode_step("opt-13b", "sparf", 64, 2048, n, paper).tokens_per_s
                > system.decode_step("opt-13b", "dense", 64, 2048, n, paper).tokens_per_s)
    measured = system.decode_step("opt-13b", "dense", 4, 1024, 1)
    assert measured.bound == "engines"
    assert measured.tokens_per_s < system.decode_step("opt-13b", "dense", 4, 1024, 1, paper).tokens_per_s


@pytest.mark.parametrize("call, message", [
    (lambda: system.decode_step("opt-7b", "dense", 4, 1024), "model='opt-7b' is out of range"),
    (lambda: system.decode_step("opt-13b", "flexgen", 4, 1024), "system=flexgen is out of range"),
    (lambda: system.decode_step("opt-13b", "dense", 0, 1024), "batch=0 is out of range"),
    (lambda: system.decode_step("opt-13b", "dense", 4, 1024, 0), "drives=0 is out of range"),
    (lambda: system.decode_step("opt-13b", "dense", 4, 1024, 1, system.Hardware(engine_channels=16)),
     "engine_channels=16 is out of range: allowed 1..flash_channels=8"),
])
def test_decode_step_rejects_bad_values(call, message):
    with pytest.raises(ParamError, match=message):
        call()


# -- command line --------------------------------------------------------------------------------
def run(capsys, *args):
    code = cli.main(["model", "instinfer", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_table(capsys):
    code, out, err = run(capsys, "--batch", "4,256", "--seq", "2048", "--drives", "1,16")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("| model | seq | context | drives | batch | baseline tok/s")
    rows = [line for line in lines if line.startswith("| opt-13b |")]
    assert len(rows) == 4 and all("| 2048 | 3072 |" in row for row in rows)
    best = max(system.speedups(system.sweep(["opt-13b"], batches=(4, 256), seqs=(2048,), drives=(1, 16))),
               key=lambda g: g[2])
    assert f"largest speedup: {best[2]:.2f}x, {best[0].system} over baseline" in out
    assert "assumptions: context = mean over the output" in out


def test_cli_json_and_filters(capsys):
    code, out, _ = run(capsys, "--model", "all", "--system", "sparf", "--batch", "8", "--seq", "1024",
                       "--drives", "2", "--flash-channels", "16", "--lanes", "16", "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["model"] for r in data] == list(system.MODELS)
    hw = system.Hardware(flash_channels=16, lanes=16)
    direct = system.decode_step("opt-30b", "sparf", 8, 1024, 2, hw)
    assert data[1]["tokens_per_s"] == pytest.approx(direct.tokens_per_s)
    assert data[1]["assumptions"]["hardware"]["flash_channels"] == 16


@pytest.mark.parametrize("args, message", [
    (["--model", "opt-7b"], "instinfer: parameter model='opt-7b' is out of range: allowed one of opt-13b, opt-30b, llama2-13b"),
    (["--batch", "4,x"], "batch='4,x': expected comma-separated integers"),
    (["--drives", "0"], "drives=0 is out of range"),
    (["--seq", "8192"], "seq=8192 is out of range"),
    (["--system", "flexgen"], "system='flexgen' is out of range"),
    (["--lanes", "3"], "lanes=3 is out of range"),
    (["--flash-channels", "3"], "flash_channels=3 is out of range"),
    (["--softmax", "fast"], "softmax='fast' is out of range"),
    (["--top-k", "0"], "top_k=0 is out of range"),
])
def test_cli_errors_are_one_line_exit_2(capsys, args, message):
    code, out, err = run(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("hwgen: error: "), err
    assert message in err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["model", "instinfer", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "usage: hwgen model instinfer" in out and "--flash-channels N" in out
