"""The compiled bench's cocotb test: apply the settings, reset, run, wait for ``done``.

Python wakes up a handful of times per run, not once per cycle: to start the clock (Icarus;
hwgen's Verilator main drives it itself), twice during reset, once when ``done`` rises. The
stimulus is already in the stores (the cells read it at time zero); the outputs are in the
cells' logs, which the host reads after the simulator exits (``sim.compiled.host.collect``).
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import First, RisingEdge, Timer

JOB_ENV = "HWGEN_COMPILED_JOB"


def clock_is_external() -> bool:
    """Whether the simulator's main loop drives ``clk`` (hwgen's Verilator main does)."""
    return "verilator" in cocotb.SIM_NAME.lower()


@cocotb.test()
async def compiled_bench(dut):
    with open(os.environ[JOB_ENV]) as f:
        job = json.load(f)
    if not clock_is_external():
        Clock(dut.clk, 10, unit="ns").start(start_high=False)  # first edge after the settings
    dut.rst.value = 1
    dut.run.value = 0
    dut.external.value = 0
    for name, value in job["settings"].items():
        getattr(dut, name).value = value
    await RisingEdge(dut.clk)
    dut.run.value = 1   # registered: the agents start with the first cycle after reset
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    started = time.perf_counter()
    # the bench stops itself at max_cycles; the deadline only guards against a bench that never
    # starts (a broken build), so that no run waits forever
    finished = RisingEdge(dut.done)
    if await First(finished, Timer(10 * (job["settings"]["max_cycles"] + 1000), unit="ns")) is not finished:
        raise RuntimeError("hwgen_bench never raised done")
    wall = time.perf_counter() - started
    # the cells write memory images and flush their logs at the edge after done rises
    for _ in range(2):
        await RisingEdge(dut.clk)
    status = {}
    for name in job["status"]:
        value = getattr(dut, name).value
        status[name] = int(value) if len(getattr(dut, name)) == 1 else value.to_unsigned()
    with open(job["result_path"], "w") as f:
        json.dump({"status": status, "wall": wall}, f)
