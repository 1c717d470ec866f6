"""The python bench: cocotb drives every port of the design from Python, cycle by cycle.

It runs on the same ``hwgen_bench`` build as the compiled bench, with ``external`` high: the
bench's own agents let go and the design's ports, which ``hwgen_bench`` carries under their own
names, are driven from here through the python models of ``sim.stream``. At each rising edge
``c`` the bench reads what the design showed in cycle ``c`` (cocotb sees an edge before the
model evaluates it), lets the models move, and writes what they drive in cycle ``c + 1``,
each signal only when it changes. One bench serves every block and graph: the host
(``sim.runner``) packed the stimulus into words and counted the expected beats.

An X or Z on a handshake signal, or on a payload as it moves (Icarus is 4-state), ends the
run with a problem naming the signal and the edge.
"""

from __future__ import annotations

import os
import pickle
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from sim.compiled.cocotb_bench import clock_is_external
from sim.stream import BenchState, ServedMemory, Sink

JOB_ENV = "HWGEN_SIM_JOB"


class Unresolved(Exception):
    """A signal read as X or Z."""


def _reader(handle):
    """A function returning a signal's value as an unsigned int, or raising ``Unresolved``:
    cocotb gives a 1-bit signal's value as a Logic, a wider one's as a LogicArray."""
    if len(handle) == 1:
        def read():
            value = handle.value
            if not value.is_resolvable:
                raise Unresolved
            return int(value)
    else:
        def read():
            value = handle.value
            if not value.is_resolvable:
                raise Unresolved
            return value.to_unsigned()
    return read


@cocotb.test()
async def stream_bench(dut):
    with open(os.environ[JOB_ENV], "rb") as f:
        job = pickle.load(f)
    state = BenchState(job)
    if not clock_is_external():
        Clock(dut.clk, 10, unit="ns").start(start_high=False)  # first edge after the settings
    handles, readers = {}, {}

    def write(values: dict) -> None:
        for name, value in values.items():
            handle = handles.get(name)
            if handle is None:
                handle = handles[name] = getattr(dut, name)
            handle.value = value

    edge = 0

    def read(name: str) -> int:
        reader = readers.get(name)
        if reader is None:
            reader = readers[name] = _reader(getattr(dut, name))
        try:
            return reader()
        except Unresolved:
            raise Unresolved(f"X/Z on {name} at edge {edge}") from None

    dut.rst.value = 1
    dut.run.value = 0
    dut.external.value = 1
    # the bench's signals are low in reset; cycle 0 starts after the last reset edge
    write({name: 0 for agent in state.agents for name in _driven(agent)})
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)   # hwgen_bench delays the reset a cycle: the last reset edge
    write(state.drive(0))
    edge_trigger = RisingEdge(dut.clk)
    started = time.perf_counter()
    while True:
        await edge_trigger
        try:
            if state.edge(edge, read):
                break
        except Unresolved as problem:
            state.stop(edge, str(problem))
            break
        edge += 1
        write(state.drive(edge))
    wall = time.perf_counter() - started

    with open(job["result_path"], "wb") as f:
        pickle.dump(state.report(wall), f)


def _driven(agent) -> list[str]:
    """The signals an agent drives (held low during reset)."""
    if isinstance(agent, ServedMemory):
        return list(agent.names[:3])
    if isinstance(agent, Sink):
        return [agent.ready_name]
    return [agent.valid_name]
