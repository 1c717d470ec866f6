"""``elapsed``: the cut variant (start registered first) gives the same flag in every cycle.
``register_copies``: the copies stay apart through hwgen's synthesis."""

from __future__ import annotations

import json

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hwgen.core.logic import elapsed, register_copies
from hwgen.synth import KEEP_REGISTERS, run_tool

CYCLES = 400


def _flags(starts, cycles: int):
    """Both flags of ``elapsed(cycles)`` over a start pattern, cycle by cycle."""
    m = Module()
    start = Signal()
    plain = elapsed(m, start, cycles, "plain")
    cut = elapsed(m, start, cycles, "cut", cut=True)
    seen = []

    async def bench(ctx):
        for value in starts:
            ctx.set(start, int(value))
            seen.append((ctx.get(plain), ctx.get(cut)))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(seen)


@pytest.mark.parametrize("cycles", [2, 3, 7])
def test_cut_equals_plain(cycles):
    rng = np.random.default_rng(cycles)
    # sparse starts, bursts of back-to-back starts, and long quiet stretches
    starts = (rng.random(CYCLES) < 0.15) | (np.arange(CYCLES) % 97 < 3)
    flags = _flags(starts, cycles)
    assert (flags[:, 0] == flags[:, 1]).all()
    # the flag follows its definition: high iff no start in the last `cycles` - 1 cycles before
    expected = [not starts[max(0, t - cycles + 1):t].any() for t in range(CYCLES)]
    assert (flags[:, 0] == np.array(expected)).all()
    assert 0 < flags[:, 0].sum() < CYCLES      # the pattern exercises both values


COPIES, WIDTH = 4, 8


class Broadcast(wiring.Component):
    """One input registered ``COPIES`` times, each copy into its own lane's logic."""

    def __init__(self):
        super().__init__({"value": In(WIDTH), **{f"out{i}": Out(WIDTH) for i in range(COPIES)}})

    def elaborate(self, platform):
        m = Module()
        for lane, copy in enumerate(register_copies(m, self.value, COPIES, "value_copy")):
            m.d.comb += getattr(self, f"out{lane}").eq(copy + lane + 1)
        return m


def _flip_flops(tmp_path, prefix: str) -> int:
    (tmp_path / "design.v").write_text(verilog.convert(Broadcast(), name="top"))
    done = run_tool("yosys", ["-q", "-p", f"read_verilog design.v; {prefix}synth_ecp5 -top top -json netlist.json"],
                    tmp_path, progress=lambda _: None, timeout=300)
    assert done.returncode == 0, done.stderr
    cells = json.loads((tmp_path / "netlist.json").read_text())["modules"]["top"]["cells"].values()
    return sum(cell["type"] == "TRELLIS_FF" for cell in cells)


def test_register_copies_survive_synthesis(tmp_path):
    assert _flip_flops(tmp_path, KEEP_REGISTERS) == COPIES * WIDTH
    # without hwgen's step Yosys merges them into one register (what the step is for)
    assert _flip_flops(tmp_path, "") == WIDTH
