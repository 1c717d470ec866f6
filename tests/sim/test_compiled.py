"""The compiled bench's host side (sim/compiled/host.py) and its hardware on its own: store
sizes and the refusal of a stimulus that does not fit, the files the cells write as both
simulators write them (X and Z digits, Icarus's image comments), the flash log's events, the
settings, and hwgen_bench's Verilog (deterministic, synthesizable around its I/O cells)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


import pytest

from hwgen import blocks
from hwgen import generate as gen
from hwgen import synth
from sim.compiled import host
from sim.compiled.top import BenchLayout, Port
from sim.runner import bench_job, prepare, simulate

REPO = Path(__file__).resolve().parents[2]


def job_of(design, vectors=5, seed=1, **stalls):
    prepared = prepare(design, None, vectors, seed)
    return bench_job(prepared, seed, stalls.get("idle", 0.0), stalls.get("backpressure", 0.0))


def test_stores_come_in_buckets_that_runs_of_similar_size_share():
    assert [host.bucket(n, 16) for n in (0, 15, 16, 17, 18, 19)] == [16, 16, 16, 18, 18, 20]
    design = blocks.get("mac_array", lanes=2)
    generated = gen.generate(design, REPO / "rtl_out" / "test-buckets")
    small = host.layout_for(generated.top, generated.manifest["ports"], job_of(design, 10))
    larger = host.layout_for(generated.top, generated.manifest["ports"], job_of(design, 4000))
    assert small == larger and small.source_depth_log2 == 16
    assert host.layout_for(generated.top, generated.manifest["ports"], job_of(design, 4100)).source_depth_log2 == 18


def test_a_stimulus_too_large_is_refused_before_the_build(monkeypatch, tmp_path):
    monkeypatch.setattr(host, "MAX_WORDS_LOG2", 18)
    design = blocks.get("mac_array", lanes=2)
    with pytest.raises(host.CapacityError, match=r"input stream operands \(320000 beats\) needs a store "
                                                 r"of 2\^20 words: the compiled bench's limit is 2\^18 words"):
        simulate(design, vectors=20000, rtl_out=tmp_path)
    assert not list(tmp_path.rglob("hwgen_bench-*.v"))  # nothing was wrapped, let alone built


def test_cell_logs_as_both_simulators_write_them(tmp_path):
    problems = []
    (tmp_path / "out.log").write_text("000000000005 0a\n000000000007 x1\n00000000000c zz\n")
    log = host._Log(tmp_path / "out.log", "y__payload", problems)
    assert log.edges == [5, 7, 12] and log.values == [10, 0, 0]
    assert problems == ["X/Z on y__payload at edge 7", "X/Z on y__payload at edge 12"]
    assert host._Log(tmp_path / "missing.log", "y__payload", problems).edges == []
    # $writememh: Verilator writes the words, Icarus an address comment before each; X reads 0
    (tmp_path / "a.image").write_text("// 0x00000000\n0005\n// 0x00000001\nxxxx\n@4\n0009\n")
    assert host._read_image(tmp_path / "a.image") == {0: 5, 1: 0, 4: 9}


def test_x_on_a_handshake_signal_names_it(tmp_path):
    layout = BenchLayout(dut="d", ports=(Port("a__valid", "input", 1), Port("a__ready", "output", 1),
                                         Port("y__valid", "output", 1), Port("y__ready", "input", 1)),
                         sources=(), source_depth_log2=16, sinks=(), traces=())
    assert layout.handshake_bits() == ["a__ready", "y__valid"]  # the design's outputs, LSB first
    (tmp_path / "x.log").write_text("00000000000a 1x\n000000000011 z0\n")
    assert host._x_problems(layout, tmp_path / "x.log") == ["X/Z on a__ready at edge 10",
                                                            "X/Z on y__valid at edge 17"]
    assert host._x_problems(layout, tmp_path / "none.log") == []


def test_flash_events_rebuild_the_trace():
    log = host._Log.__new__(host._Log)
    # id width 4: value = page | accepted << 4 | first << 5 | last << 6
    log.edges = [0, 1, 6, 7, 8, 9]
    log.values = [3 | 16, 5 | 16, 32, 64, 32, 64 | 16 | 2]
    assert host._flash_trace(log, 4) == {"edge": [0, 1, 9], "page": [3, 5, 2],
                                         "first": [6, 8, -1], "last": [7, 9, -1]}


def test_settings_carry_counts_stalls_and_timing():
    from fractions import Fraction

    design = blocks.get("attention_engine", **blocks.block_class("attention_engine").flow_params)
    generated = gen.generate(design, REPO / "rtl_out" / "test-buckets")
    job = job_of(design, 2, idle=0.1, backpressure=0.2)
    layout = host.layout_for(generated.top, generated.manifest["ports"], job)
    values = host.settings(layout, job)
    beat = Fraction(job["memories"]["flash0"]["beat_cycles"])
    assert values["mem0_scale"] == beat.denominator
    assert values["mem0_beat_int"] * beat.denominator + values["mem0_beat_frac"] == beat.numerator
    assert values["src0_count"] == len(job["inputs"]["query"]) and values["snk0_expected"] == 2
    assert values["src0_limit"] == job["stalls"]["sources"]["query"][1] > 0
    assert values["drain"] >= 32 and values["max_cycles"] == job["max_cycles"]
    assert set(values) == {name for name in _inputs(layout)} - {"run", "external"} - \
        {p.name for p in layout.ports}


def _inputs(layout):
    from sim.compiled.top import BenchTop

    top = BenchTop(layout)
    return [path[0] for path, member, _ in top.signature.flatten(top) if member.flow.name == "In"]


def test_hwgen_bench_verilog_is_deterministic(tmp_path):
    script = ("import sys, numpy as np; from hwgen import blocks, generate as gen; "
              "from sim.runner import bench_job, prepare, wrap; "
              "d = blocks.get('spgemm_hash'); g = gen.generate(d, 'out'); "
              "j = bench_job(prepare(d, None, 4, 1), 1, 0.1, 0.2); w = wrap(g, j); "
              "print(w.verilog.read_text())")
    texts = []
    for place in ("one", "two/deeper"):
        folder = tmp_path / place
        folder.mkdir(parents=True)
        done = subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        texts.append(done.stdout)
    assert texts[0] == texts[1] and "module hwgen_bench(" in texts[0]
    assert str(tmp_path) not in texts[0] and "src =" not in texts[0]


@pytest.mark.long
def test_hwgen_bench_synthesizes_around_its_cells(tmp_path):
    """The agents are ordinary logic: Yosys elaborates hwgen_bench to cells (``prep``: the
    front of synthesis, where anything unsynthesizable is refused) with the I/O cells and the
    design as black boxes (an FPGA test would put block RAM and a host link there)."""
    import shutil

    from hwgen.core import verilog
    from sim.compiled import cells
    from sim.compiled.top import BenchTop

    design = blocks.get("requant")
    generated = gen.generate(design, tmp_path)
    job = job_of(design, 4)
    layout = host.layout_for(generated.top, generated.manifest["ports"], job)
    (tmp_path / "bench.v").write_text(verilog.convert(BenchTop(layout), "hwgen_bench"))
    (tmp_path / "cells.v").write_text(cells.VERILOG)
    shutil.copyfile(generated.verilog, tmp_path / "dut.v")
    # (through hwgen's runner, which holds a lock while Yosys is compiled on a new machine, so
    # that a synthesis test on the other worker waits instead of compiling it again)
    done = synth.run_tool("yosys", ["-q", "-p", "read_verilog -lib cells.v; read_verilog -lib dut.v; "
                                    "read_verilog bench.v; prep -flatten -top hwgen_bench; "
                                    "tee -q -o stat.json stat -json"], tmp_path, progress=print)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads((tmp_path / "stat.json").read_text())
    kinds = stats["design"]["num_cells_by_type"]
    # the agents' logic, not a shell: two stall generators (two multiplies each), counters
    registers = sum(n for kind, n in kinds.items() if "dff" in kind)
    multiplies = sum(n for kind, n in kinds.items() if kind.startswith(("$mul", "$macc")))
    assert multiplies >= 4 and registers > 10 and kinds.get("hwgen_bench_rom") == 1, kinds


def test_hwgen_bench_is_converted_once_per_machine(tmp_path, monkeypatch):
    """The wrapper's Verilog is kept in ``<cache>/bench/``: a design generated into another
    folder, or at parameters that give the same ports, reads it instead of converting again
    and gets the same text; ``HWGEN_VERILOG_CACHE=0`` converts every time and stores nothing."""
    from hwgen.core import verilog
    from sim import runner

    monkeypatch.setenv("HWGEN_CACHE_DIR", str(tmp_path / "cache"))
    design = blocks.get("requant", shift=3)
    job = job_of(design, 6)
    first = runner.wrap(gen.generate(design, tmp_path / "a"), job)
    stored = sorted((tmp_path / "cache" / "bench").iterdir())
    assert [p.suffix for p in stored] == [".json", ".v"] and stored[1].read_text() == first.verilog.read_text()

    def no_conversion(*args, **kwargs):
        raise AssertionError("hwgen_bench converted again")

    # the same design in another folder, and another shift (other Verilog, the same ports)
    others = [gen.generate(design, tmp_path / "b"), gen.generate(blocks.get("requant", shift=5), tmp_path / "c")]
    monkeypatch.setattr(verilog, "convert", no_conversion)
    for generated in others:
        again = runner.wrap(generated, job)
        assert again.verilog.read_text() == first.verilog.read_text() and again.ports == first.ports
    monkeypatch.setenv("HWGEN_VERILOG_CACHE", "0")
    with pytest.raises(AssertionError, match="converted again"):
        runner.wrap(gen.generate(design, tmp_path / "d"), job)
