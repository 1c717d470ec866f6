"""The command line as a user meets it: help, listings, one-line errors with exit code 2,
simulation with a stimulus file, waveforms, and the flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hwgen import blocks
from hwgen.cli import main
from hwgen.core import system_model

from tests.support.cli import hwgen




@pytest.mark.parametrize("command", ["list", "generate", "lint", "sim", "synth", "formal", "sweep", "flow", "model"])
def test_every_command_has_help(command):
    done = hwgen(command, "--help")
    assert done.returncode == 0 and "usage: hwgen " + command in done.stdout


def test_list_shows_parameters_with_ranges():
    out = hwgen("list").stdout
    assert "mac_array:" in out and "requant:" in out
    assert "lanes" in out and "1..256" in out and "true or false" in out


@pytest.mark.parametrize("args, message", [
    (["generate", "mac_array", "-p", "lanes=300"], "mac_array: parameter lanes=300 is out of range: allowed 1..256"),
    (["generate", "mac_array", "-p", "lanes"], "parameter assignment 'lanes': expected name=value"),
    (["generate", "nosuch"], "unknown block 'nosuch'"),
    (["sim", "mac_array", "--stimulus", "missing.npz"], "stimulus file missing.npz does not exist"),
    (["sim", "mac_array", "--backpressure", "1.5"], "--backpressure=1.5 is out of range"),
    (["lint", "requant", "-p", "shift=40"], "shift=40 exceeds in_width=32"),
    (["sim", "requant", "--bench", "fast"], "--bench 'fast' is not known: choose compiled or python"),
    (["flow", "--simulator", "vcs"], "--simulator 'vcs' is not known: choose verilator or icarus"),
])
def test_errors_are_one_line_exit_2(args, message, tmp_path):
    done = hwgen(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("hwgen: error: "), done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def out_of_range(p):
    """A command-line value that ``p`` (a system model argument) refuses, or None."""
    if p.type is bool:
        return None
    if p.choices is not None:
        return "nosuch" if p.type is str else str(max(p.choices) + 1)
    if p.min is not None:
        return str(p.min - 1)
    if getattr(p, "above", None) is not None:
        return f"{p.above:g}"
    return None


def test_every_system_model_has_help_and_checks_its_ranges(capsys, tmp_path):
    """Loops over the model registry: ``hwgen model --help`` lists every model; each has its own
    --help; every argument with a range refuses a value outside it with one line naming the
    parameter (exit 2), before the model runs."""
    models = system_model.registry()
    assert {"pim-gpt", "instinfer", "spgemm"} <= set(models)
    with pytest.raises(SystemExit) as done:
        main(["model", "--help"])
    listing = capsys.readouterr().out
    assert done.value.code == 0 and all(name in listing for name in models)
    for name, model in models.items():
        with pytest.raises(SystemExit) as done:
            main(["model", name, "--help"])
        assert done.value.code == 0 and f"usage: hwgen model {name}" in capsys.readouterr().out
        required = [arg for p in model.params if getattr(p, "required", False)
                    for arg in ("--" + p.name.replace("_", "-"), str(tmp_path / "missing"))]
        checked = 0
        for p in model.params:
            value = out_of_range(p)
            if value is None:
                continue
            checked += 1
            flag = "--" + p.name.replace("_", "-")
            assert main(["model", name, *required, flag, value]) == 2, (name, flag, value)
            out, err = capsys.readouterr()
            assert out == "" and err.count("\n") == 1, (name, flag, err)
            assert err.startswith(f"hwgen: error: {name}: parameter {p.name}="), err
            assert "allowed" in err, err
        assert checked, f"{name} declares no argument with a range"


def test_missing_icarus_names_the_install(tmp_path):
    """With no iverilog on PATH, --simulator icarus is one line saying how to install it."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "PATH": str(Path(sys.executable).parent)}
    for command in (["sim", "requant"], ["flow"]):
        done = subprocess.run([sys.executable, "-m", "hwgen", *command, "--simulator", "icarus"],
                              capture_output=True, text=True, cwd=tmp_path, env=env)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "iverilog) is not on PATH: install it, e.g. 'apt-get install iverilog'" in done.stderr


def test_debug_shows_traceback(tmp_path):
    done = hwgen("--debug", "generate", "mac_array", "-p", "lanes=0", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr and "ParamError" in done.stderr


def test_generate_writes_verilog_and_manifest(tmp_path):
    done = hwgen("generate", "mac_array", "-p", "lanes=4", "-p", "signed=false", "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    block = blocks.get("mac_array", lanes=4, signed=False)
    folder = tmp_path / "out" / f"mac_array-{block.param_hash}"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["block"] == "mac_array" and manifest["params"]["signed"] is False
    assert manifest["params"]["vector_length"] == 16  # defaults are recorded too
    assert manifest["info"]["acc_width"] == 22       # 64 products of 255 * 255 < 2**22
    assert set(manifest["versions"]) == {"hwgen", "amaranth", "yosys"}
    ports = {p["name"]: (p["direction"], p["width"]) for p in manifest["ports"]}
    assert ports["operands__payload"] == ("input", 2 * 4 * 8)
    assert ports["result__payload"] == ("output", 22) and ports["operands__ready"] == ("output", 1)
    import hashlib
    assert manifest["verilog_sha256"] == hashlib.sha256((folder / "mac_array.v").read_bytes()).hexdigest()


def test_lint_reports_clean(tmp_path):
    done = hwgen("lint", "mac_array", "-p", "lanes=3", "-o", "out", cwd=tmp_path)
    assert done.returncode == 0 and ": clean (verilator --lint-only -Wall, waived:" in done.stdout


@pytest.mark.verilator
def test_sim_with_stimulus_file(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(-8, 8, size=(300, 2, 3))
    b = rng.integers(-8, 8, size=(300, 2, 3))
    np.savez(tmp_path / "in.npz", a=a, b=b)
    done = hwgen("sim", "mac_array", "-p", "lanes=3", "-p", "width=4", "-p", "vector_length=2",
                 "--stimulus", "in.npz", "--backpressure", "0.3", "--out", "res", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS: 300 values bit-exact" in done.stdout
    results = json.loads((tmp_path / "res" / "results.json").read_text())
    assert results["pass"] is True and results["vectors"] == 300
    assert {"pass", "vectors", "cycles", "cycles_per_vector", "sim_cycles_per_second"} <= set(results)
    y = np.load(tmp_path / "res" / "outputs.npz")["y"]
    assert y.tolist() == [int((va * vb).sum()) for va, vb in zip(a, b)]


def test_sim_rejects_malformed_stimulus(tmp_path):
    np.savez(tmp_path / "in.npz", a=np.zeros((5, 16, 7), dtype=np.int64), b=np.zeros((5, 16, 7), dtype=np.int64))
    done = hwgen("sim", "mac_array", "--stimulus", "in.npz", cwd=tmp_path)
    assert done.returncode == 2
    assert "mac_array field 'a' must have shape (vectors, 16, 8), got (5, 16, 7)" in done.stderr
    np.savez(tmp_path / "big.npz", a=np.full((5, 16, 8), 200), b=np.zeros((5, 16, 8), dtype=np.int64))
    done = hwgen("sim", "mac_array", "--stimulus", "big.npz", cwd=tmp_path)
    assert done.returncode == 2 and "holds values outside -128..127" in done.stderr


def test_sim_refuses_floats_of_another_format(tmp_path):
    # float16 arrays for a bf16 block would otherwise be read as bf16 patterns: wrong values
    a = np.array([1.0, -2.5, 3.0], dtype=np.float16)
    np.savez(tmp_path / "in.npz", a=a, b=a)
    done = hwgen("sim", "fp_add", "-p", "fmt=bf16", "--stimulus", "in.npz", cwd=tmp_path)
    assert done.returncode == 2
    assert ("fp_add field 'a' holds float16 values, but its format is bfloat16: give "
            "ml_dtypes.bfloat16 values or 16-bit patterns") in done.stderr


@pytest.mark.verilator
def test_sim_exits_1_on_mismatch(tmp_path, monkeypatch, capsys):
    from hwgen.blocks.requant.rtl import Requant

    original = Requant.golden

    def off_by_one(self, inputs):
        out = original(self, inputs)
        out["y"] = out["y"] + 1
        return out

    monkeypatch.setattr(Requant, "golden", off_by_one)
    code = main(["sim", "requant", "--vectors", "40", "-o", str(tmp_path / "out"), "--out", str(tmp_path / "r")])
    assert code == 1
    assert "FAIL: 40 of 40 values differ, first at y[0]" in capsys.readouterr().out


@pytest.mark.verilator
def test_sim_waves_writes_fst(tmp_path):
    done = hwgen("sim", "requant", "-p", "in_width=12", "-p", "shift=3", "--vectors", "50", "--waves",
                 "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    line = next(l for l in done.stdout.splitlines() if l.strip().startswith("waves:"))
    fst = Path(line.split(":", 1)[1].strip())
    data = fst.read_bytes()
    # an FST file opens with its header block: type 0, then a 64-bit length of 329
    assert fst.suffix == ".fst" and data[0] == 0 and int.from_bytes(data[1:9], "big") == 329
    assert len(data) > 500


@pytest.mark.verilator
def test_flow(tmp_path):
    done = hwgen("flow", "--vectors", "200", "-o", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout.splitlines()
    assert table[0].split() == ["block", "params", "lint", "vectors", "pass", "sim", "cycles",
                                "model", "cycles", "wall", "s"]
    report = json.loads((tmp_path / "out" / "flow.json").read_text())
    designs = [row["design"] for row in report["rows"]]
    assert designs == blocks.names() + ["mac_requant"]
    for row in report["rows"]:
        assert row["ok"] and row["lint"] == "clean" and row["passed"] and row["vectors"] == 200
        assert row["sim_cycles"] == row["model_cycles"] > 0
