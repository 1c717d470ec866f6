"""Block RAMs the way the FPGA's block RAMs work, so that Yosys maps them without glue logic."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib.memory import Memory, ReadPort, WritePort


def simple_dual_port(m: Module, name: str, *, shape, depth: int,
                     granularity: int | None = None) -> tuple[WritePort, ReadPort]:
    """A memory of ``depth`` words of ``shape`` (added to ``m`` as ``name``) with one write port
    and one synchronous, non-transparent read port, for a block that never uses a read of a
    word made in the cycle the write port writes that word.

    Why: a read that must return a word's old value while the other port writes that word in
    the same cycle is something a block RAM's two ports do not promise (ECP5's DP16KD, Xilinx's
    RAMB and Intel's M20K leave it undefined). Asked for it, as an Amaranth memory asks, Yosys
    delays every write by a cycle and routes reads around the delayed write: on ECP5 a
    register per data bit, an address comparator per RAM and a LUT between every read bit and
    the register behind it (the 4-bank, 8-lane ``pim_channel``: several thousand LUT4, and its
    critical path ran through that LUT). The memory's ``no_rw_check`` attribute tells Yosys
    that no such collision matters, and it maps the memory to bare block RAMs. Simulators still
    return the old word on a collision, the hardware may not: hence the promise. (Skipping the
    read in every write cycle would make the two agree always, but its enable, fanned out to
    every block RAM's clock enable, held the 4 x 8 channel to 62.5 MHz.)"""
    memory = Memory(shape=shape, depth=depth, init=[], attrs={"no_rw_check": 1})
    m.submodules[name] = memory
    return memory.write_port(granularity=granularity), memory.read_port(transparent_for=())
