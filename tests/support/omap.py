"""The omap controller's results against the independent reference, shared by the pysim and
Verilator tests."""

from __future__ import annotations

from hwgen.blocks.omap import reference


def check_against_reference(block, inputs, result):
    """The simulation's answers, host trace, events and final images equal the reference's."""
    assert result.passed, result.summary()["verdict"]
    ref, answers = reference.run(dict(block.param_values), inputs["op"], inputs["key"], inputs["value"])
    assert [a.found for a in answers] == [int(x) for x in result.outputs["found"]]
    assert [a.value for a in answers] == [int(x) for x in result.outputs["value_out"]]
    host = result.traces["host"]
    rows = list(zip(host["address"].tolist(), host["is_write"].tolist(), [int(d) for d in host["data"]]))
    want = [(t.address, t.is_write, t.word) for t in ref.trace]
    assert len(rows) == len(want)
    mismatch = next((i for i, (a, b) in enumerate(zip(rows, want)) if a != b), None)
    assert mismatch is None, f"host request {mismatch}: RTL {rows[mismatch]}, reference {want[mismatch]}"
    events = [int(code) for code in result.traces["events"]["payload"]]
    assert events == ref.events
    assert {a: w for a, w in result.images["host"].items() if w} == ref.host_image()
    assert {a: w for a, w in result.images["hbm"].items() if w} == ref.hbm_image()
    return ref
