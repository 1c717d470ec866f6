"""The same bench on Amaranth's own Python simulator: no Verilog, no compile step.

Used where starting fast matters more than running fast (property tests over many parameter
draws) and as the baseline that ``bench/sim_speed.py`` measures Verilator against.
"""

from __future__ import annotations

import time
from amaranth.sim import Simulator

from sim.bench import DRAIN_CYCLES
from sim.runner import SimResult, bench_job, model_cycles, prepare, score
from sim.stream import BenchState


def _as_value(payload):
    return payload.as_value() if hasattr(payload, "as_value") else payload


def simulate_pysim(design, inputs=None, *, vectors: int = 100, seed: int = 1, idle: float = 0.0,
                   backpressure: float = 0.0) -> SimResult:
    prepared = prepare(design, inputs, vectors, seed)
    state = BenchState(bench_job(prepared, seed, idle, backpressure, model_cycles(design, prepared.inputs)))
    ports = design.signature.members
    drivers = [(d, getattr(design, d.port)) for d in state.drivers]
    monitors = [(m, getattr(design, m.port)) for m in state.monitors]
    # payloads are sampled as plain values (ints, negative when signed) and masked to words
    sampled = [p.ready for _, p in drivers] + \
        [s for _, p in monitors for s in (p.valid, _as_value(p.payload))]
    masks = [(1 << len(_as_value(p.payload))) - 1 for _, p in monitors]
    traces = [(port, getattr(design, port)) for port in state.traces]
    sampled += [s for _, p in traces for s in (p.valid, _as_value(p.payload))]
    trace_masks = [(1 << len(_as_value(p.payload))) - 1 for _, p in traces]
    memories = [(mem, getattr(design, mem.request), getattr(design, mem.response)) for mem in state.memories]
    sampled += [s for _, request, response in memories
                for s in (request.valid, _as_value(request.payload), response.ready)]
    page_masks = [(1 << len(_as_value(request.payload))) - 1 for _, request, _ in memories]
    assert all(name in ports for name in prepared.words)
    report = {}

    async def testbench(ctx):
        edge = 0
        started = time.perf_counter()
        while True:
            for driver, port in drivers:
                offer, word = driver.plan()
                if word is not None:
                    ctx.set(_as_value(port.payload), word)
                ctx.set(port.valid, offer)
            for monitor, port in monitors:
                ctx.set(port.ready, monitor.plan())
            for mem, request, response in memories:
                if edge - 1 >= mem.next_plan:  # plans for the edge about to come
                    ready, offer, word = mem.plan(edge - 1)
                    if word is not None:
                        ctx.set(_as_value(response.payload), word)
                    ctx.set(request.ready, ready)
                    ctx.set(response.valid, offer)
            _, _, *values = await ctx.tick().sample(*sampled)
            for driver, _ in drivers:
                driver.sample(edge, values.pop(0))
            for (monitor, _), mask in zip(monitors, masks):
                valid, word = values.pop(0), values.pop(0)
                if monitor.taking(valid):
                    monitor.take(edge, word & mask)
            for (port, _), mask in zip(traces, trace_masks):
                valid, word = values.pop(0), values.pop(0)
                if valid:
                    state.record(port, edge, word & mask)
            for (mem, _, _), mask in zip(memories, page_masks):
                request_valid, page, response_ready = values.pop(0), values.pop(0), values.pop(0)
                if mem.offering and response_ready:
                    mem.taken(edge)
                if mem.request_ready and request_valid:
                    mem.accept(edge, page & mask)
            if state.finished(edge, DRAIN_CYCLES):
                break
            edge += 1
        report.update(state.report(edge, time.perf_counter() - started))

    sim = Simulator(design)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return score(design, prepared, report, None)
