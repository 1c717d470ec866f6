"""The flash model that serves ``PagedMemory`` ports (sim/flash.py) in both benches, on a test
block made for it: ``page_reader`` takes page ids, asks a flash channel for them and streams the
pages' beats out. Data must come back intact under random stalls; with no stalls, the edges at
which each page's first and last beats move must follow the channel timing rule of the spec,
computed here on its own."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from hwgen.core.block import Block, Estimate, PagedMemory
from hwgen.core.params import Param, ParamSet
from sim.flash import FlashChannel
from sim.pysim import simulate_pysim
from sim.runner import simulate
from sim.stalls import StallPattern, threshold

NO_STALLS = StallPattern(0, 0)

ELEMENT = 16


class PageReader(Block):
    """Per channel c: page ids in on ``ids<c>``, requests out on ``mem<c>_req``, the pages'
    beats back on ``mem<c>_resp`` and out on ``data<c>``, at most ``window`` pages in flight
    (0: no limit). Not registered: a registered block joins ``hwgen list``, the flow and the
    tests that walk the registry.

    The flash timing (``latency``, one value or one per channel, and ``beat_cycles``) is not a
    parameter: it changes only the bench's model, so every timing shares one Verilator build.
    Inputs: ``ids<c>`` (pages,) and ``image<c>`` (image pages, page_beats, lanes)."""

    name = "page_reader"
    params = ParamSet(params=(
        Param("channels", int, 1, "flash channels", min=1, max=16),
        Param("lanes", int, 2, "16-bit elements per beat", min=1, max=8),
        Param("page_beats", int, 4, "beats per page", min=1, max=64),
        Param("window", int, 0, "pages in flight per channel (0: no limit)", min=0, max=15),
        Param("id_bits", int, 6, "page id width", min=1, max=16),
    ))

    def __init__(self, latency=3, beat_cycles=Fraction(1), **values):
        super().__init__(**values)
        channels = self.p.channels
        self.latency = list(latency) if isinstance(latency, (list, tuple)) else [latency] * channels
        self.beat_cycles = Fraction(beat_cycles)

    def signature_members(self):
        beat = data.ArrayLayout(unsigned(ELEMENT), self.p.lanes)
        members = {}
        for c in range(self.p.channels):
            members[f"ids{c}"] = In(stream.Signature(unsigned(self.p.id_bits)))
            members[f"mem{c}_req"] = Out(stream.Signature(unsigned(self.p.id_bits)))
            members[f"mem{c}_resp"] = In(stream.Signature(beat))
            members[f"data{c}"] = Out(stream.Signature(beat))
        return members

    def elaborate(self, platform):
        m = Module()
        p = self.p
        for c in range(p.channels):
            ids, req = getattr(self, f"ids{c}"), getattr(self, f"mem{c}_req")
            resp, out = getattr(self, f"mem{c}_resp"), getattr(self, f"data{c}")
            # one register each way, like a real requester: the bench must cope with a design
            # that answers a cycle later than it saw something
            load = Signal(name=f"load{c}")
            free = ~req.valid | req.ready  # the request register empties or is empty
            room = free
            if p.window:
                in_flight = Signal(range(p.window + 1), name=f"in_flight{c}")
                beat = Signal(range(p.page_beats), name=f"beat{c}")
                last_beat = resp.valid & resp.ready & (beat == p.page_beats - 1)
                with m.If(resp.valid & resp.ready):
                    m.d.sync += beat.eq(Mux(beat == p.page_beats - 1, 0, beat + 1))
                m.d.sync += in_flight.eq(in_flight + load - last_beat)
                room = free & (in_flight < p.window)
            m.d.comb += [ids.ready.eq(room), load.eq(ids.valid & room)]
            with m.If(free):
                m.d.sync += [req.valid.eq(load), req.payload.eq(ids.payload)]
            m.d.comb += resp.ready.eq(~out.valid | out.ready)
            with m.If(resp.ready):
                m.d.sync += [out.valid.eq(resp.valid), out.payload.eq(resp.payload)]
        return m

    # -- reference ---------------------------------------------------------------------------
    def golden(self, inputs):
        fields = {}
        for c in range(self.p.channels):
            image = np.asarray(inputs[f"image{c}"], dtype=np.uint64)
            pages = [image[i] if i < len(image) else np.zeros(image.shape[1:], dtype=np.uint64)
                     for i in np.asarray(inputs[f"ids{c}"]).tolist()]
            fields[f"data{c}"] = np.concatenate(pages) if pages else \
                np.zeros((0, self.p.lanes), dtype=np.uint64)
        return fields

    def stimulus(self, rng, n):
        fields = {}
        for c in range(self.p.channels):
            fields[f"image{c}"] = rng.integers(0, 1 << ELEMENT, size=(8, self.p.page_beats, self.p.lanes),
                                               dtype=np.uint64)
            fields[f"ids{c}"] = rng.integers(0, 8, size=n, dtype=np.uint64)
        return fields

    def memories(self, inputs):
        return {f"mem{c}": PagedMemory(request=f"mem{c}_req", response=f"mem{c}_resp",
                                       pages={i: page for i, page in enumerate(np.asarray(inputs[f"image{c}"]))},
                                       page_beats=self.p.page_beats, latency=self.latency[c],
                                       beat_cycles=self.beat_cycles)
                for c in range(self.p.channels)}

    def workload(self, inputs):
        return {"pages": max(len(inputs[f"ids{c}"]) for c in range(self.p.channels))}

    def model(self, workload):
        # a budget for the bench, not a prediction to check: every page paying the full latency
        beats = workload["pages"] * self.p.page_beats
        cycles = math.ceil(beats * max(1, self.beat_cycles)) + workload["pages"] * max(self.latency) + 4
        return Estimate(cycles=cycles, latency=max(self.latency), busy=beats)

    def vector_count(self, inputs):
        return len(inputs["ids0"])

    def fields_to_beats(self, fields):
        return {key: np.asarray(fields[key]) for c in range(self.p.channels)
                for key in (f"ids{c}", f"data{c}") if key in fields}

    def beats_to_fields(self, beats):
        return {key: beats[key] for key in beats if key.startswith(("ids", "data"))}


# -- the timing rule, written from the spec on its own ------------------------------------------
def spec_beat_edges(accepted, page_beats, latency, beat_cycles):
    """First and last beat edges of each page when every beat is taken as soon as allowed."""
    bus = Fraction(0)
    first, last = [], []
    for a in accepted:
        page_ready = a + latency
        for n in range(page_beats):
            start = max(bus, Fraction(page_ready))
            taken = math.ceil(start)
            bus = max(start + beat_cycles, Fraction(taken + 1))
            if n == 0:
                first.append(taken)
        last.append(taken)
    return first, last


def check_timing(result, design, memory="mem0", latency=None):
    trace = result.traces[memory]
    latency = design.latency[0] if latency is None else latency
    first, last = spec_beat_edges(trace["edge"].tolist(), design.p.page_beats, latency, design.beat_cycles)
    assert trace["first"].tolist() == first
    assert trace["last"].tolist() == last


# -- pysim ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("latency, beat_cycles, window", [
    (5, Fraction(13, 4), 0), (5, Fraction(13, 4), 1), (1, Fraction(1), 0), (1, Fraction(1), 1),
    (20, Fraction(1, 2), 2), (7, Fraction(1, 2), 0), (3, Fraction(5, 3), 2), (40, Fraction(9, 4), 3),
])
def test_beat_edges_follow_the_spec_without_stalls(latency, beat_cycles, window):
    design = PageReader(latency=latency, beat_cycles=beat_cycles, window=window, page_beats=4)
    inputs = design.stimulus(np.random.default_rng(latency), 12)
    result = simulate_pysim(design, inputs)
    assert result.passed, result.summary()["verdict"]
    trace = result.traces["mem0"]
    assert trace["page"].tolist() == inputs["ids0"].tolist()
    check_timing(result, design)
    if window == 0:
        # nothing holds the requests back: they go out on consecutive edges
        assert np.all(np.diff(trace["edge"]) == 1)
    else:
        # a window of w: request k + w waits for page k's last beat
        assert np.all(trace["edge"][window:] > trace["last"][:-window])


@pytest.mark.parametrize("window", [0, 1, 3])
def test_data_survives_stalls_on_every_stream(window):
    design = PageReader(channels=2, latency=(4, 11), beat_cycles=Fraction(7, 3), window=window)
    result = simulate_pysim(design, vectors=40, seed=5 + window, idle=0.3, backpressure=0.3)
    assert result.passed, result.summary()["verdict"]
    for c in range(2):
        trace = result.traces[f"mem{c}"]
        assert len(trace["edge"]) == 40 and np.all(trace["last"] >= trace["first"])
        # stalls only ever delay a beat
        first, last = spec_beat_edges(trace["edge"].tolist(), 4, design.latency[c], design.beat_cycles)
        assert np.all(trace["first"] >= first) and np.all(trace["last"] >= last)
        assert np.any(trace["last"] > last)  # and at 0.3 they do


def test_two_memories_keep_their_own_timing_and_images():
    design = PageReader(channels=2, latency=(2, 30), beat_cycles=Fraction(3, 2))
    rng = np.random.default_rng(9)
    inputs = design.stimulus(rng, 10)
    result = simulate_pysim(design, inputs)
    assert result.passed, result.summary()["verdict"]
    for c in range(2):
        check_timing(result, design, f"mem{c}", design.latency[c])
        assert result.traces[f"mem{c}"]["page"].tolist() == inputs[f"ids{c}"].tolist()
    assert result.traces["mem1"]["first"][0] - result.traces["mem0"]["first"][0] == 28


def test_unknown_page_is_a_problem_served_as_zeros():
    design = PageReader(latency=2)
    inputs = design.stimulus(np.random.default_rng(3), 6)
    inputs["ids0"][3] = 13  # the image holds pages 0..7
    result = simulate_pysim(design, inputs)
    assert result.verdict.passed  # the golden model reads zeros there too
    assert result.problems == ["mem0: request for page 13, not in the image"]
    assert not result.passed
    assert not result.outputs["data0"][12:16].any()


def test_pages_left_unread_are_a_problem():
    # The run ends once the expected outputs are in (memories do not hold it): a golden model
    # that expects one page fewer ends it while the last page, asked for only when the one
    # before it is read (window 1), waits out a latency longer than the drain.
    class ShortGolden(PageReader):
        def golden(self, inputs):
            return {"data0": super().golden(inputs)["data0"][:-self.p.page_beats]}

    result = simulate_pysim(ShortGolden(latency=300, window=1), vectors=5)
    assert result.verdict.passed
    assert result.problems == ["mem0: 1 page requested but not read"]
    assert result.traces["mem0"]["first"].tolist()[-1] == -1


def test_memory_ports_need_no_input_fields_and_are_not_compared():
    design = PageReader()
    inputs = design.stimulus(np.random.default_rng(1), 3)
    result = simulate_pysim(design, inputs)
    assert set(result.outputs) == {"data0"}
    assert set(result.traces["mem0"]) == {"edge", "page", "first", "last"}
    assert all(v.dtype == np.int64 for v in result.traces["mem0"].values())


def test_wrong_page_size_is_refused_before_a_run():
    design = PageReader(page_beats=4)
    inputs = design.stimulus(np.random.default_rng(1), 3)
    inputs["image0"] = inputs["image0"][:, :3]
    with pytest.raises(ValueError, match="page 0 has 3 beats, every page needs page_beats=4"):
        simulate_pysim(design, inputs)


# -- the model alone -------------------------------------------------------------------------------
def drive_model(channel, accept_at, cycles, take_every=1):
    """Run a FlashChannel cycle by cycle against a requester that offers page ``p`` from cycle
    ``accept_at[p]`` on and a consumer ready in every ``take_every``-th cycle; the edges at
    which beats moved."""
    moved, requests = [], list(enumerate(accept_at))
    for cycle in range(cycles):
        channel.plan(cycle)
        request = None
        if channel.req_ready and requests and requests[0][1] <= cycle:
            request = requests.pop(0)[0]
        taken = channel.resp_valid and cycle % take_every == 0
        if taken:
            moved.append(cycle)
        channel.step(cycle, request, taken)
    return moved


def spec(pages, page_beats, latency, beat_cycles):
    return {"request": "r", "response": "s", "pages": pages, "page_beats": page_beats,
            "latency": latency, "beat_cycles": Fraction(beat_cycles)}


def test_model_first_beat_is_offered_latency_cycles_after_the_request():
    channel = FlashChannel("m", spec({0: [1, 2]}, 2, 4, 1), NO_STALLS, NO_STALLS)
    assert drive_model(channel, [10], 40) == [14, 15]
    assert channel.results()["trace"] == {"edge": [10], "page": [0], "first": [14], "last": [15]}


def test_model_slow_consumer_stalls_the_bus():
    pages = {0: [0] * 4, 1: [0] * 4}
    moved = drive_model(FlashChannel("m", spec(pages, 4, 2, Fraction(1, 2)), NO_STALLS, NO_STALLS),
                        [0, 0], 100, take_every=3)
    # an untaken beat holds the bus; each then goes at the consumer's next ready edge
    assert moved == [3, 6, 9, 12, 15, 18, 21, 24]


def test_model_stalls_only_delay_and_keep_the_order():
    pages = {p: [10 * p + b for b in range(3)] for p in range(8)}
    order = [3, 1, 4, 1, 5, 0, 2, 6]
    ready, idle = StallPattern(11, threshold(0.4)), StallPattern(12, threshold(0.4))
    channel = FlashChannel("m", spec(pages, 3, 5, Fraction(7, 3)), ready, idle)
    words, requests = [], list(order)
    for cycle in range(2000):
        channel.plan(cycle)
        request = requests.pop(0) if channel.req_ready and requests else None
        if channel.resp_valid:
            words.append(channel.resp_word)
        channel.step(cycle, request, channel.resp_valid)
    assert words == [w for p in order for w in pages[p]]
    trace = channel.results()["trace"]
    first, last = spec_beat_edges(trace["edge"], 3, 5, Fraction(7, 3))
    assert all(t >= f for t, f in zip(trace["first"], first)) and trace["first"] != first
    assert all(t >= f for t, f in zip(trace["last"], last))
    assert len(set(trace["edge"])) == len(order) and trace["edge"] != list(range(len(order)))


# -- Verilator: one build, channels=2 --------------------------------------------------------------
VERILATOR_PARAMS = {"channels": 2, "lanes": 2, "page_beats": 4, "window": 2}


@pytest.mark.verilator
def test_verilator_data_under_stalls_and_exact_timing_without(rtl_out, tmp_path):
    stalled = PageReader(latency=(6, 17), beat_cycles=Fraction(13, 4), **VERILATOR_PARAMS)
    result = simulate(stalled, vectors=60, seed=2, idle=0.3, backpressure=0.3, rtl_out=rtl_out,
                      out=tmp_path / "stalled")
    assert result.passed, result.summary()["verdict"]
    for latency, beat_cycles in [(6, Fraction(13, 4)), (1, Fraction(1)), (25, Fraction(1, 2))]:
        design = PageReader(latency=(latency, latency + 9), beat_cycles=beat_cycles, **VERILATOR_PARAMS)
        result = simulate(design, vectors=20, seed=latency, rtl_out=rtl_out, out=tmp_path / f"l{latency}")
        assert result.passed, result.summary()["verdict"]
        for c in range(2):
            check_timing(result, design, f"mem{c}", design.latency[c])


@pytest.mark.verilator
def test_verilator_unknown_page(rtl_out, tmp_path):
    design = PageReader(latency=3, **VERILATOR_PARAMS)
    inputs = design.stimulus(np.random.default_rng(3), 6)
    inputs["ids1"][2] = 40
    result = simulate(design, inputs, rtl_out=rtl_out, out=tmp_path)
    assert result.verdict.passed
    assert result.problems == ["mem1: request for page 40, not in the image"]


def test_memory_on_a_port_the_design_lacks_is_refused():
    class Miswired(PageReader):
        def memories(self, inputs):
            memory = super().memories(inputs)["mem0"]
            return {"mem0": PagedMemory(request="mem9_req", response=memory.response, pages=memory.pages,
                                        page_beats=memory.page_beats, latency=1, beat_cycles=Fraction(1))}

    design = Miswired()
    with pytest.raises(ValueError, match="memory mem0: request port 'mem9_req' is not an output"):
        simulate_pysim(design, design.stimulus(np.random.default_rng(1), 2))


def test_latency_below_one_cycle_is_refused():
    with pytest.raises(ValueError, match="latency=0"):
        FlashChannel("m", spec({}, 1, 0, 1), NO_STALLS, NO_STALLS)
