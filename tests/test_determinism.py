"""Same parameters, same bytes: across runs, across working folders, across checkout folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POINTS = [("mac_array", ["lanes=7", "signed=false", "tree_stages=2"]), ("requant", ["shift=3"])]


def generate_in_checkout(checkout: Path, workdir: Path, block: str, params: list[str]) -> Path:
    workdir.mkdir(parents=True)
    args = [sys.executable, "-m", "hwgen", "generate", block, *sum((["-p", p] for p in params), [])]
    done = subprocess.run(args, cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(checkout), "HWGEN_VERILOG_CACHE": "0"})
    assert done.returncode == 0, done.stderr
    return workdir / Path(done.stdout.splitlines()[0]).parent


def test_byte_identical_across_checkouts_and_folders(tmp_path):
    checkouts = []
    for place in ("first/checkout", "elsewhere/deeper/other_name"):
        target = tmp_path / place
        for package in ("hwgen", "sim"):
            shutil.copytree(REPO / package, target / package,
                            ignore=shutil.ignore_patterns("__pycache__"))
        checkouts.append(target)
    for block, params in POINTS:
        a = generate_in_checkout(checkouts[0], tmp_path / f"run_a_{block}", block, params)
        b = generate_in_checkout(checkouts[1], tmp_path / f"run_b_{block}" / "x", block, params)
        again = generate_in_checkout(checkouts[0], tmp_path / f"run_c_{block}", block, params)
        assert a.name == b.name == again.name
        for name in (f"{block}.v", "manifest.json"):
            assert (a / name).read_bytes() == (b / name).read_bytes() == (again / name).read_bytes()
        text = (a / f"{block}.v").read_text() + (a / "manifest.json").read_text()
        for place in [str(tmp_path), str(REPO), os.path.expanduser("~")]:
            assert place not in text, f"generated output mentions {place}"
        assert "src =" not in text  # Amaranth's source-location attributes carry absolute paths


def test_generated_verilog_has_timescale_trigger_net_and_compact_zero_memories():
    """The generator's three fixes on a small design with two zero memories: a timescale,
    the always-block trigger as a net, and zero memories as one loop each, the large one's
    under `ifndef SYNTHESIS (so Yosys, which defines it, never unrolls 4096 words)."""
    from amaranth.hdl import Module
    from amaranth.lib import memory, wiring
    from amaranth.lib.wiring import In, Out

    from hwgen.core import verilog

    class TwoMemories(wiring.Component):
        def __init__(self):
            super().__init__({"address": In(12), "small_data": Out(8), "large_data": Out(8)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.small = small = memory.Memory(shape=8, depth=1024, init=[])
            m.submodules.large = large = memory.Memory(shape=8, depth=4096, init=[])
            small_port, large_port = small.read_port(), large.read_port()
            m.d.comb += [small_port.addr.eq(self.address), large_port.addr.eq(self.address),
                         self.small_data.eq(small_port.data), self.large_data.eq(large_port.data)]
            return m

    text = verilog.convert(TwoMemories(), "two_memories")
    assert text.splitlines()[1] == "`timescale 1ns/1ps"
    assert "reg \\$auto$verilog_backend" not in text
    assert "[0] = 8'h00;" not in text and "[1023] =" not in text      # no word-by-word init
    assert text.count("for (i = 0; i < 1024; i = i + 1)") == 1
    large = text.index("for (i = 0; i < 4096; i = i + 1)")
    assert text.rfind("`ifndef SYNTHESIS", 0, large) > text.rfind("`endif", 0, large)
    assert text.count("`ifndef SYNTHESIS") == 1


def test_verilog_cache_returns_what_conversion_gives_and_keys_on_parameters(tmp_path, monkeypatch):
    """The disk cache of converted Verilog: a second process (here: the per-process memo
    cleared) reads exactly what conversion wrote; other parameters are another entry; with
    HWGEN_VERILOG_CACHE=0 nothing is stored."""
    from hwgen import blocks
    from hwgen import generate as gen

    monkeypatch.setenv("HWGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(gen, "_CONVERTED", {})
    first = gen.generate(blocks.get("requant", shift=5), tmp_path / "a").verilog.read_text()
    stored = list((tmp_path / "cache" / "verilog").glob("requant-*.v"))
    assert len(stored) == 1 and stored[0].read_text() == first
    monkeypatch.setattr(gen, "_CONVERTED", {})
    assert gen.generate(blocks.get("requant", shift=5), tmp_path / "b").verilog.read_text() == first
    gen.generate(blocks.get("requant", shift=6), tmp_path / "c")
    assert len(list((tmp_path / "cache" / "verilog").glob("requant-*.v"))) == 2
    monkeypatch.setenv("HWGEN_VERILOG_CACHE", "0")
    monkeypatch.setattr(gen, "_CONVERTED", {})
    gen.generate(blocks.get("requant", shift=7), tmp_path / "d")
    assert len(list((tmp_path / "cache" / "verilog").glob("requant-*.v"))) == 2
