"""The RAM model that serves ``RamMemory`` ports (sim/ram.py) in both benches, on a test block
made for it: ``ram_client`` takes (address, write, data) commands, forwards them to a RAM port
through a register, and returns the read data on an output stream. Its golden model is a Python
dict. Data must come back intact under random stalls, the trace must list every request in
order, the final image must match the dict's, and with no stalls every read accepted at edge
``a`` must be taken at ``a + latency``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from hwgen.core.block import Block, Estimate, PagedMemory, RamMemory, TraceSignature
from hwgen.core.ints import int_dtype
from hwgen.core.params import Param, ParamSet
from sim.pysim import simulate_pysim
from sim.ram import RamModel
from sim.stalls import StallPattern, threshold

NO_STALLS = StallPattern(0, 0)
from sim.runner import load_npz, memory_jobs, ram_job, simulate, write_results


def request_layout(address_width, data_width):
    return data.StructLayout({"address": address_width, "write": 1, "data": data_width})


class RamClient(Block):
    """Commands in on ``cmd`` (address, write, data), requests out on ``mem_req`` through one
    register, read data back on ``mem_resp`` and out on ``rdata`` through another. ``taken``
    is an observation port: valid at every edge a read's data moves on ``mem_resp``. Not
    registered (a registered block joins ``hwgen list``, the flow and the registry tests).

    The RAM's ``latency`` is not a parameter: it only changes the bench's model, so every
    latency shares one Verilator build. Inputs: ``address``, ``write``, ``data`` (commands,)
    and ``init_address``, ``init_data`` (the initial image)."""

    name = "ram_client"
    params = ParamSet(params=(
        Param("address_width", int, 6, "RAM address bits", min=1, max=16),
        Param("data_width", int, 130, "RAM word bits", min=1, max=2048),
    ))

    def __init__(self, latency=3, **values):
        super().__init__(**values)
        self.latency = latency

    def signature_members(self):
        layout = request_layout(self.p.address_width, self.p.data_width)
        word = unsigned(self.p.data_width)
        return {
            "cmd": In(stream.Signature(layout)),
            "mem_req": Out(stream.Signature(layout)),
            "mem_resp": In(stream.Signature(word)),
            "rdata": Out(stream.Signature(word)),
            "taken": Out(TraceSignature(word)),
        }

    def elaborate(self, platform):
        m = Module()
        cmd, req, resp, out = self.cmd, self.mem_req, self.mem_resp, self.rdata
        free = ~req.valid | req.ready
        m.d.comb += cmd.ready.eq(free)
        with m.If(free):
            m.d.sync += [req.valid.eq(cmd.valid), req.payload.eq(cmd.payload)]
        m.d.comb += resp.ready.eq(~out.valid | out.ready)
        with m.If(resp.ready):
            m.d.sync += [out.valid.eq(resp.valid), out.payload.eq(resp.payload)]
        m.d.comb += [self.taken.valid.eq(resp.valid & resp.ready), self.taken.payload.eq(resp.payload)]
        return m

    # -- reference ---------------------------------------------------------------------------
    def golden(self, inputs):
        image = dict(zip(map(int, inputs["init_address"]), map(int, inputs["init_data"])))
        reads = []
        for address, write, word in zip(map(int, inputs["address"]), map(int, inputs["write"]),
                                        map(int, inputs["data"])):
            if write:
                image[address] = word
            else:
                reads.append(image.get(address, 0))
        out = np.empty(len(reads), dtype=int_dtype(self.p.data_width, False))
        out[:] = reads
        return {"rdata": out}

    def stimulus(self, rng, n):
        aw, dw = self.p.address_width, self.p.data_width
        size = 1 << aw

        def words(count):
            values = [int.from_bytes(rng.bytes((dw + 7) // 8), "little") & ((1 << dw) - 1)
                      for _ in range(count)]
            edges = [0, (1 << dw) - 1, 1 << (dw - 1)]
            for i in range(min(count, 3)):  # edge values early on
                values[rng.integers(count)] = edges[i]
            array = np.empty(count, dtype=int_dtype(dw, False))
            array[:] = values
            return array

        init_address = rng.choice(size, size=min(size, 8), replace=False).astype(np.uint64)
        init_address[0] = size - 1
        init_data = words(len(init_address))
        init_data[-1] = 0  # an initial zero word: not in the image unless written
        # addresses crowd a few words (in and out of the image) so reads see earlier writes
        pool = np.concatenate([init_address, rng.choice(size, size=min(size, 4), replace=False)])
        address = rng.choice(pool, size=n).astype(np.uint64)
        return {"address": address, "write": (rng.random(n) < 0.4).astype(np.uint64),
                "data": words(n), "init_address": init_address, "init_data": init_data}

    def memories(self, inputs):
        return {"ram": RamMemory(request="mem_req", response="mem_resp",
                                 address_width=self.p.address_width, data_width=self.p.data_width,
                                 latency=self.latency,
                                 init={int(a): int(d) for a, d in zip(inputs["init_address"],
                                                                      inputs["init_data"])})}

    def workload(self, inputs):
        return {"commands": len(inputs["address"])}

    def model(self, workload):
        # a budget for the bench, not a prediction to check
        n = workload["commands"]
        return Estimate(cycles=n + self.latency + 4, latency=self.latency + 2, busy=n)

    def vector_count(self, inputs):
        return len(inputs["address"])

    def fields_to_beats(self, fields):
        beats = {}
        if "address" in fields:
            beats["cmd"] = {key: np.asarray(fields[key]) for key in ("address", "write", "data")}
        if "rdata" in fields:
            beats["rdata"] = np.asarray(fields["rdata"])
        return beats

    def beats_to_fields(self, beats):
        return {"rdata": beats["rdata"]} if "rdata" in beats else {}


def golden_image(inputs):
    """The final image as the model reports it: every nonzero or written word, by address."""
    image = dict(zip(map(int, inputs["init_address"]), map(int, inputs["init_data"])))
    written = set()
    for address, write, word in zip(map(int, inputs["address"]), map(int, inputs["write"]),
                                    map(int, inputs["data"])):
        if write:
            image[address] = word
            written.add(address)
    return {a: w for a, w in sorted(image.items()) if w or a in written}


def check_run(design, inputs, result, stalled):
    """Outputs, trace rows, final image and read timing of one run."""
    assert result.passed, result.summary()["verdict"]
    reads = inputs["write"] == 0
    trace = result.traces["ram"]
    assert list(trace) == ["address", "is_write", "cycle", "data"]
    assert trace["address"].dtype == trace["is_write"].dtype == trace["cycle"].dtype == np.int64
    assert trace["address"].tolist() == inputs["address"].tolist()
    assert trace["is_write"].tolist() == inputs["write"].tolist()
    assert np.all(np.diff(trace["cycle"]) > 0)
    data_rows = [int(v) for v in trace["data"]]
    assert [d for d, w in zip(data_rows, inputs["write"]) if w] == \
        [int(d) for d, w in zip(inputs["data"], inputs["write"]) if w]
    assert [d for d, w in zip(data_rows, inputs["write"]) if not w] == \
        [int(v) for v in result.expected["rdata"]]
    assert result.images["ram"] == golden_image(inputs)
    # the edges read data moved at (the block's observation port): in order, one per cycle
    taken = result.traces["taken"]
    assert [int(v) for v in taken["payload"]] == [int(v) for v in result.expected["rdata"]]
    earliest = trace["cycle"][reads] + design.latency
    assert len(taken["edge"]) == reads.sum()
    assert np.all(np.diff(taken["edge"]) > 0)
    if stalled:
        assert np.all(taken["edge"] >= earliest)
        assert np.any(taken["edge"] > earliest)  # at 0.3 some reads wait
    else:
        assert taken["edge"].tolist() == earliest.tolist()
        # nothing holds the commands back: one request per edge
        assert np.all(np.diff(trace["cycle"]) == 1)


# -- pysim ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("latency", [1, 4, 13])
@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_pysim_reads_writes_and_timing(latency, stall):
    design = RamClient(latency=latency, address_width=5, data_width=130)
    inputs = design.stimulus(np.random.default_rng(latency + int(stall * 10)), 300)
    result = simulate_pysim(design, inputs, seed=latency, idle=stall, backpressure=stall)
    check_run(design, inputs, result, stalled=stall > 0)
    assert result.traces["ram"]["data"].dtype == object  # 130-bit words do not fit int64
    assert result.memories == ["ram"]


def test_pysim_narrow_words_trace_and_npz(tmp_path):
    design = RamClient(latency=2, address_width=3, data_width=8)
    inputs = design.stimulus(np.random.default_rng(7), 200)
    result = simulate_pysim(design, inputs, seed=3, idle=0.2, backpressure=0.2)
    check_run(design, inputs, result, stalled=True)
    assert result.traces["ram"]["data"].dtype == np.int64
    # outputs.npz: every column fits int64, so data is the fourth column
    result.directory = tmp_path
    write_results(result, {})
    saved = np.load(tmp_path / "outputs.npz", allow_pickle=False)
    trace = result.traces["ram"]
    assert saved["ram_trace"].dtype == np.int64
    assert saved["ram_trace"].tolist() == np.stack([trace[k] for k in trace], axis=1).tolist()
    assert "taken_trace" not in saved.files  # observation ports are not memories


def test_reads_outstanding_at_the_end_are_a_problem():
    # a golden model that expects no reads ends the run (plus the drain) before any read's
    # data, behind a latency longer than the drain, comes back
    class ShortGolden(RamClient):
        def golden(self, inputs):
            return {"rdata": super().golden(inputs)["rdata"][:0]}

    design = ShortGolden(latency=200, address_width=4, data_width=16)
    inputs = design.stimulus(np.random.default_rng(2), 10)
    inputs["write"][:] = 0
    result = simulate_pysim(design, inputs)
    assert result.verdict.passed
    assert result.problems == ["ram: 10 reads requested but not returned"]


# -- Verilator: one build, 6-bit addresses, 130-bit words ------------------------------------------
@pytest.mark.verilator
@pytest.mark.parametrize("latency, stall", [(3, 0.0), (3, 0.3), (1, 0.0), (9, 0.3)])
def test_verilator_reads_writes_and_timing(rtl_out, tmp_path, latency, stall):
    design = RamClient(latency=latency, address_width=6, data_width=130)
    inputs = design.stimulus(np.random.default_rng(100 + latency), 400)
    result = simulate(design, inputs, seed=latency, idle=stall, backpressure=stall,
                      rtl_out=rtl_out, out=tmp_path)
    check_run(design, inputs, result, stalled=stall > 0)
    assert json.loads((tmp_path / "results.json").read_text())["pass"]
    saved = load_npz(tmp_path / "outputs.npz")
    assert [int(v) for v in saved["rdata"]] == [int(v) for v in result.expected["rdata"]]
    trace = result.traces["ram"]
    # the 130-bit data column does not fit int64 and is left out: address, is_write, cycle
    assert saved["ram_trace"].dtype == np.int64 and saved["ram_trace"].shape == (400, 3)
    assert saved["ram_trace"].tolist() == \
        np.stack([trace["address"], trace["is_write"], trace["cycle"]], axis=1).tolist()


# -- the job entry -------------------------------------------------------------------------------
def test_job_entry_and_refusals():
    design = RamClient(address_width=4, data_width=20)
    inputs = design.stimulus(np.random.default_rng(1), 5)
    job = memory_jobs(design, inputs)["ram"]
    assert job == {"kind": "ram", "request": "mem_req", "response": "mem_resp", "address_width": 4,
                   "data_width": 20, "latency": 3, "interval": 1, "size": 16, "depth_log2": 4,
                   "init": dict(zip(map(int, inputs["init_address"]), map(int, inputs["init_data"])))}

    def refused(match, **change):
        class Wrong(RamClient):
            def memories(self, inputs):
                memory = super().memories(inputs)["ram"]
                fields = {k: getattr(memory, k) for k in ("request", "response", "address_width",
                                                          "data_width", "latency", "init", "size")}
                return {"ram": RamMemory(**{**fields, **change})}

        with pytest.raises(ValueError, match=match):
            memory_jobs(Wrong(address_width=4, data_width=20), inputs)

    refused("request port 'mem_req' carries 25 bits; a RAM with address_width=5", address_width=5)
    refused("latency=0", latency=0)
    refused("init address 16 is outside its 16 words", init={16: 1})
    refused("init address 9 is outside its 8 words", init={9: 1}, size=8)
    refused("size=17: allowed 1 .. 2\\^address_width = 16 words", size=17)
    refused("init word at address 3 does not fit data_width=20", init={3: 1 << 20})
    refused("response port 'cmd' carries 25 bits, data_width=20", response="cmd")
    # a request layout of the right width with its fields elsewhere
    memory = design.memories(inputs)["ram"]
    swapped = data.StructLayout({"write": 1, "address": 4, "data": 20})
    with pytest.raises(ValueError, match="request port 'mem_req' has the layout"):
        ram_job("ram", memory, swapped, unsigned(20))
    assert ram_job("ram", memory, unsigned(25), unsigned(20)) == job  # a plain 25-bit port will do


def test_paged_memory_job_is_unchanged():
    from fractions import Fraction

    class OnePage(RamClient):
        def memories(self, inputs):
            return {"flash": PagedMemory(request="mem_req", response="mem_resp",
                                         pages={0: np.arange(2, dtype=np.uint64), 5: [7, 8]},
                                         page_beats=2, latency=4, beat_cycles=Fraction(3, 2))}

    design = OnePage(address_width=4, data_width=20)
    job = memory_jobs(design, design.stimulus(np.random.default_rng(1), 2))["flash"]
    assert list(job.items()) == [("kind", "paged"), ("request", "mem_req"), ("response", "mem_resp"),
                                 ("pages", {0: [0, 1], 5: [7, 8]}), ("page_beats", 2),
                                 ("latency", 4), ("beat_cycles", Fraction(3, 2))]


# -- the model alone -------------------------------------------------------------------------------
def request(address, write=0, data=0, address_width=4):
    return address | (write << address_width) | (data << (address_width + 1))


def drive(ram, requests, cycles, take_every=1):
    """Run a RamModel cycle by cycle against a requester that offers ``requests[i] = (cycle,
    word)`` from that cycle on, in order, and a consumer ready every ``take_every``-th cycle;
    (edge, word) of every read data beat that moved."""
    moved, queue = [], list(requests)
    for cycle in range(cycles):
        ram.plan(cycle)
        word = queue.pop(0)[1] if ram.req_ready and queue and queue[0][0] <= cycle else None
        taken = ram.resp_valid and cycle % take_every == 0
        if taken:
            moved.append((cycle, ram.resp_word))
        ram.step(cycle, word, taken)
    return moved


def spec(latency=3, init=None, data_width=200, **more):
    return {"request": "r", "response": "s", "address_width": 4, "data_width": data_width,
            "latency": latency, "init": init or {}, **more}


def test_model_serves_in_order_with_pipelined_reads():
    wide = (1 << 199) | 12345
    ram = RamModel("m", spec(latency=5, init={1: 11, 2: 0, 7: wide}), NO_STALLS, NO_STALLS)
    requests = [(0, request(1)), (0, request(1, 1, 99)), (0, request(1)), (0, request(7)),
                (0, request(3)), (0, request(3, 1, 0)), (0, request(2, 1, 0)), (0, request(9, 1, 5))]
    moved = drive(ram, requests, 40)
    # reads accepted at edges 0, 2, 3, 4 (one request per edge): data at accept + 5, in order,
    # each read seeing every earlier write
    assert moved == [(5, 11), (7, 99), (8, wide), (9, 0)]
    assert ram.trace() == {"address": [1, 1, 1, 7, 3, 3, 2, 9], "is_write": [0, 1, 0, 0, 0, 1, 1, 1],
                           "cycle": list(range(8)), "data": [11, 99, 99, wide, 0, 0, 0, 5]}
    # nonzero or written words: 2 and 3 were written with 0, 2's initial 0 alone would not count
    assert ram.image() == {1: 99, 2: 0, 3: 0, 7: wide, 9: 5}
    assert ram.results()["problems"] == []


def test_model_slow_consumer_gets_one_beat_per_cycle_in_order():
    ram = RamModel("m", spec(latency=1, init={a: a + 100 for a in range(16)}), NO_STALLS, NO_STALLS)
    moved = drive(ram, [(0, request(a)) for a in range(6)], 60, take_every=3)
    assert [w for _, w in moved] == [100, 101, 102, 103, 104, 105]
    assert [e for e, _ in moved] == [3, 6, 9, 12, 15, 18]
    # and a fast one: back to back, one per cycle, latency after each accept
    ram = RamModel("m", spec(latency=4), NO_STALLS, NO_STALLS)
    assert [e for e, _ in drive(ram, [(0, request(a)) for a in range(6)], 60)] == list(range(4, 10))


def test_model_stalls_only_delay():
    for seed in range(5):
        ram = RamModel("m", spec(latency=3, init={a: a for a in range(16)}),
                       StallPattern(2 * seed, threshold(0.4)), StallPattern(2 * seed + 1, threshold(0.4)))
        words = [request(a % 16, int(a % 3 == 0), a) for a in range(200)]
        moved = drive(ram, [(0, w) for w in words], 5000)
        trace = ram.trace()
        reads = [i for i, w in enumerate(trace["is_write"]) if not w]
        assert len(trace["cycle"]) == 200 and len(moved) == len(reads)
        assert all(e >= trace["cycle"][i] + 3 for (e, _), i in zip(moved, reads))
        assert [w for _, w in moved] == [trace["data"][i] for i in reads]
        assert len(set(trace["cycle"])) < trace["cycle"][-1] + 1  # ready was low at times
        assert sum(e > trace["cycle"][i] + 3 for (e, _), i in zip(moved, reads)) > 0


def test_model_reports_outstanding_reads_and_requests_beyond_its_size():
    ram = RamModel("m", spec(latency=4, size=12, depth_log2=4), NO_STALLS, NO_STALLS)
    drive(ram, [(0, request(3, 1, 8)), (0, request(3)), (0, request(13, 1, 5)), (0, request(14))], 4)
    assert ram.results()["problems"] == [
        "m: 2 requests at or beyond the memory's 12 words (first: address 13)",
        "m: 2 reads requested but not returned"]


def test_model_serves_only_its_store():
    # beyond 2^depth_log2 words (what the compiled bench allocates) writes are dropped and
    # reads return 0, in both benches
    ram = RamModel("m", spec(latency=1, depth_log2=3), NO_STALLS, NO_STALLS)
    moved = drive(ram, [(0, request(9, 1, 7)), (0, request(9)), (0, request(1, 1, 6)), (0, request(1))], 20)
    assert [w for _, w in moved] == [0, 6] and ram.image() == {1: 6}


def test_model_refuses_latency_below_one():
    with pytest.raises(ValueError, match="latency=0"):
        RamModel("m", spec(latency=0), NO_STALLS, NO_STALLS)


def test_model_interval_limits_the_request_rate():
    """interval = 3: requests move at most one every 3 edges (the memory's bandwidth); the
    reads' data still comes latency cycles after each moved."""
    ram = RamModel("m", spec(latency=2, init={a: a + 50 for a in range(16)}, interval=3), NO_STALLS, NO_STALLS)
    moved = drive(ram, [(0, request(a)) for a in range(5)], 40)
    assert ram.trace()["cycle"] == [0, 3, 6, 9, 12]
    assert moved == [(2, 50), (5, 51), (8, 52), (11, 53), (14, 54)]
