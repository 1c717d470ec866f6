"""The python bench on Amaranth's own simulator: no Verilog, no compile step.

Used where starting fast matters more than running fast (property tests over many parameter
draws, small timing checks) and as the slowest baseline ``bench/sim_speed.py`` measures. The
agents are the python bench's (``sim.stream``), with the same stall patterns, so a run gives the
same outputs, edges and traces as either cocotb bench.
"""

from __future__ import annotations

import time

from amaranth.sim import Simulator

from sim.runner import bench_job, model_cycles, prepare, score
from sim.stream import BenchState


def _signal(design, name: str):
    """The design's signal for a Verilog port name such as ``operands__payload``."""
    port, _, member = name.rpartition("__")
    value = getattr(getattr(design, port), member)
    return value.as_value() if hasattr(value, "as_value") else value


def _has(design, name: str) -> bool:
    try:
        _signal(design, name)
        return True
    except AttributeError:
        return False


def simulate_pysim(design, inputs=None, *, vectors: int = 100, seed: int = 1, idle: float = 0.0,
                   backpressure: float = 0.0):
    prepared = prepare(design, inputs, vectors, seed)
    state = BenchState(bench_job(prepared, seed, idle, backpressure, model_cycles(design, prepared.inputs)))
    signals: dict = {}

    def signal(name):
        found = signals.get(name)
        if found is None:
            found = signals[name] = _signal(design, name)
        return found

    # what the agents read at an edge: sampled with the tick, as the design showed it in the
    # cycle that ended there (after the tick, registers already hold their next values)
    readable = [f"{d.port}__ready" for d in state.drivers]
    readable += [f"{m.port}__{s}" for m in state.monitors for s in ("valid", "payload")]
    readable += [f"{port}__{s}" for port in state.traces for s in ("valid", "payload")]
    readable += [name for mem in state.memories for name in mem.names[3:]]
    readable = [name for name in readable if _has(design, name)]
    sampled_signals = [signal(name) for name in readable]
    masks = [(1 << len(s)) - 1 for s in sampled_signals]
    report = {}

    async def testbench(ctx):
        edge = 0
        started = time.perf_counter()
        for name, value in state.drive(0).items():
            ctx.set(signal(name), value)
        while True:
            _, _, *values = await ctx.tick().sample(*sampled_signals)
            sampled = {name: int(v) & mask for name, v, mask in zip(readable, values, masks)}
            if state.edge(edge, sampled.__getitem__):
                break
            edge += 1
            for name, value in state.drive(edge).items():
                ctx.set(signal(name), value)
        report.update(state.report(time.perf_counter() - started))

    sim = Simulator(design)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    result = score(design, prepared, report, None)
    result.bench, result.simulator = "python", "amaranth"
    return result
