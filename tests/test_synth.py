"""Synthesis estimates with YoWASP Yosys and nextpnr-ecp5."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwgen import blocks
from hwgen.generate import generate
from hwgen.synth import SynthError, synth_ecp5, synth_generic

REPO = Path(__file__).resolve().parents[1]


def test_generic_cell_counts_grow_with_lanes(rtl_out):
    small = synth_generic(generate(blocks.get("mac_array", lanes=2), rtl_out))
    large = synth_generic(generate(blocks.get("mac_array", lanes=8), rtl_out))
    assert small["cells"] == sum(small["cells_by_type"].values()) > 0
    assert large["cells"] > 2 * small["cells"]
    # every register of the design is a flip-flop cell of some kind
    flops = sum(n for kind, n in large["cells_by_type"].items() if "DFF" in kind)
    assert flops > 0


def test_ecp5_resources_and_fmax(rtl_out):
    block = blocks.get("mac_array", lanes=4, width=8)
    result = synth_ecp5(generate(block, rtl_out), device="25k", freq=50, seed=1)
    assert result["dsp"] == 4               # one MULT18X18D per 8x8 lane multiplier
    assert result["ff"] >= 4 * 16            # at least the product registers
    assert result["lut4"] > 0 and 0 < result["comb_utilization"] < 0.05
    assert result["fmax_mhz"] > 50 and result["timing_met"]
    again = synth_ecp5(generate(block, rtl_out), device="25k", freq=50, seed=1)
    assert again["fmax_mhz"] == result["fmax_mhz"], "a seeded place and route must be reproducible"


def test_design_that_does_not_fit(rtl_out):
    # 32 lanes need 32 multipliers; the 25k device has 28 DSP multipliers
    with pytest.raises(SynthError, match="mac_array does not fit the ECP5 25k.*MULT18X18D"):
        synth_ecp5(generate(blocks.get("mac_array", lanes=32, vector_length=4, tree_stages=1), rtl_out))


def test_synth_command_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "hwgen", "synth", "requant", "-p", "shift=2",
                           "--target", "generic", "-o", "out"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    path = Path(done.stdout.splitlines()[-1].strip())
    result = json.loads((tmp_path / path).read_text())
    assert result["block"] == "requant" and result["target"] == "generic" and result["cells"] > 0
    assert result["params"]["shift"] == 2
    bad = subprocess.run([sys.executable, "-m", "hwgen", "synth", "requant", "--target", "ecp5",
                          "--freq", "0"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "--freq=0 is out of range: allowed 1 <= x <= 1000" in bad.stderr


def test_yosys_abc9_assertion_is_retried_with_private_names_renamed(rtl_out, monkeypatch):
    """Yosys 0.70's abc9 assertion on some designs' private names: the synthesis runs again
    with ``rename -enumerate`` first, and says so; any other Yosys failure is an error."""
    from hwgen import synth

    scripts = []

    def fake_yosys(tool, args, work, progress, timeout):
        script = args[args.index("-p") + 1]
        scripts.append(script)
        if "rename -enumerate" not in script:
            (work / "yosys.log").write_text(f"ERROR: Assert `{synth.ABC9_NAME_BUG}' failed in rtlil.cc\n")
            return subprocess.CompletedProcess(args, 1, "", "")
        (work / "stat.json").write_text(json.dumps({"modules": {"\\top": {"num_cells_by_type": {"LUT4": 3}}}}))
        return subprocess.CompletedProcess(args, 0, "", "")

    generated = generate(blocks.get("mac_array", lanes=2), rtl_out)
    monkeypatch.setattr(synth, "run_tool", fake_yosys)
    notes: list[str] = []
    work = rtl_out / "retry"
    work.mkdir()
    assert synth._yosys(generated, "synth_ecp5", work, lambda *_: None, None, notes) == {"LUT4": 3}
    assert len(scripts) == 2 and "rename -enumerate" in scripts[1] and notes == [synth.ABC9_WORKAROUND]

    def failing(tool, args, work, progress, timeout):
        (work / "yosys.log").write_text("ERROR: something else\n")
        return subprocess.CompletedProcess(args, 1, "", "")

    monkeypatch.setattr(synth, "run_tool", failing)
    with pytest.raises(SynthError, match="something else"):
        synth._yosys(generated, "synth_ecp5", work, lambda *_: None, None, [])
