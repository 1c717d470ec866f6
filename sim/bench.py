"""The generic cocotb bench: drives every input stream of a design and collects every output
stream, as described by a job file the host runner writes (see ``sim.runner``).

The host packs inputs into payload words and computes the expected beat counts from the golden
model; this module only moves words, so one bench serves every block and every graph.
"""

from __future__ import annotations

import os
import pickle
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge

from sim.stream import BenchState

JOB_ENV = "HWGEN_SIM_JOB"
# Cycles run after the last expected output, to catch a design that emits too many beats.
DRAIN_CYCLES = 32


def _word_reader(handle):
    """A function returning the payload as an unsigned int: cocotb gives a 1-bit signal's value
    as a Logic (no ``to_unsigned``), a wider one's as a LogicArray."""
    if len(handle) == 1:
        return lambda: int(handle.value)
    return lambda: handle.value.to_unsigned()


@cocotb.test()
async def stream_bench(dut):
    with open(os.environ[JOB_ENV], "rb") as f:
        job = pickle.load(f)
    state = BenchState(job)
    drivers = [(d, getattr(dut, f"{d.port}__valid"), getattr(dut, f"{d.port}__ready"),
                getattr(dut, f"{d.port}__payload")) for d in state.drivers]
    monitors = [(m, getattr(dut, f"{m.port}__valid"), getattr(dut, f"{m.port}__ready"),
                 _word_reader(getattr(dut, f"{m.port}__payload"))) for m in state.monitors]

    traces = [(port, getattr(dut, f"{port}__valid"), _word_reader(getattr(dut, f"{port}__payload")))
              for port in state.traces]
    memories = [(mem, getattr(dut, f"{mem.request}__valid"), _word_reader(getattr(dut, f"{mem.request}__payload")),
                 getattr(dut, f"{mem.request}__ready"), getattr(dut, f"{mem.response}__valid"),
                 getattr(dut, f"{mem.response}__payload"), getattr(dut, f"{mem.response}__ready"))
                for mem in state.memories]

    Clock(dut.clk, 10, unit="ns").start()
    edge_trigger = RisingEdge(dut.clk)
    dut.rst.value = 1
    for _, valid, _, _ in drivers:
        valid.value = 0
    for _, _, ready, _ in monitors:
        ready.value = 0
    for _, _, _, request_ready, response_valid, _, _ in memories:
        request_ready.value = 0
        response_valid.value = 0
    for _ in range(2):
        await edge_trigger
    dut.rst.value = 0

    valid_driven = {d.port: False for d in state.drivers}
    ready_driven = {m.port: False for m in state.monitors}
    memory_driven = [[False, False] for _ in memories]  # request ready, response valid
    edge = 0
    started = time.perf_counter()
    while True:
        # With Verilator, signal values read right at the rising edge are the ones the
        # design sampled at that edge, so one trigger per cycle suffices.
        await edge_trigger
        for driver, _, ready, _ in drivers:
            if driver.offering:
                driver.sample(edge, bool(ready.value))
        for monitor, valid, _, read_word in monitors:
            if monitor.taking(bool(valid.value)):
                monitor.take(edge, read_word())
        for port, valid, read_word in traces:
            if valid.value:
                state.record(port, edge, read_word())
        for mem, request_valid, read_request, _, _, _, response_ready in memories:
            if mem.offering and response_ready.value:
                mem.taken(edge)
            if mem.request_ready and request_valid.value:
                mem.accept(edge, read_request())
        if state.finished(edge, DRAIN_CYCLES):
            break
        for driver, valid, _, payload in drivers:
            offer, word = driver.plan()
            if word is not None:
                payload.value = word
            if offer != valid_driven[driver.port]:
                valid.value = int(offer)
                valid_driven[driver.port] = offer
        for monitor, _, ready, _ in monitors:
            take = monitor.plan()
            if take != ready_driven[monitor.port]:
                ready.value = int(take)
                ready_driven[monitor.port] = take
        for (mem, _, _, request_ready, response_valid, response_payload, _), driven in \
                zip(memories, memory_driven):
            if edge >= mem.next_plan:
                ready, offer, word = mem.plan(edge)
                if word is not None:
                    response_payload.value = word
                if ready != driven[0]:
                    request_ready.value = int(ready)
                    driven[0] = ready
                if offer != driven[1]:
                    response_valid.value = int(offer)
                    driven[1] = offer
        edge += 1
    wall = time.perf_counter() - started

    with open(job["result_path"], "wb") as f:
        pickle.dump(state.report(edge, wall), f)
