"""The error contract, command by command: a bad input is refused before any work starts, in
one line (``hwgen: error: ...``) naming the option, parameter, file or field, the value and what
is allowed, with exit code 2 and no traceback. One row per input found breaking it (issue 17),
run in-process (no interpreter start per case); the sweep-store cases that need processes of
their own follow the table."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from hwgen.cli import main

from tests.support.cli import REPO, hwgen

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


# -- files the cases read, written into the case's folder --------------------------------------

def npz(**fields):
    def write(folder: Path) -> None:
        np.savez(folder / "in.npz", **fields)
    return write


def text(name: str, content: str | bytes):
    def write(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return write


def folder(name: str):
    return lambda base: (base / name).mkdir(parents=True, exist_ok=True)


def pickled_npz(folder_: Path) -> None:
    np.savez(folder_ / "in.npz", x=np.array([{"a": 1}, None], dtype=object))


def sqlite_file(name: str, tables: str):
    def write(base: Path) -> None:
        with sqlite3.connect(base / name) as connection:
            connection.executescript(tables)
    return write


def spec(body: str, block: str = "mac_array", axes: str = "lanes = [1, 2]", top: str = ""):
    """A sweep spec, ``spec.toml``: a block, ``top`` keys, its axes, then the given tables."""
    return text("spec.toml", f'block = "{block}"\n{top}[axes]\n{axes}\n{textwrap.dedent(body)}')


def both(*setups):
    def write(base: Path) -> None:
        for setup in setups:
            setup(base)
    return write


MTX = "%%MatrixMarket matrix coordinate pattern general\n"
LINT = "[metrics]\nlint = true\n"

# (id, setup, command line, a fragment the one line must hold)
CASES = [
    # parameters
    ("param-nan", None, ["generate", "omap_controller", "-p", "alpha=nan"],
     "omap_controller: parameter alpha=nan: expected a finite number, allowed 0.0..1.0"),
    ("param-inf", None, ["generate", "omap_controller", "-p", "alpha=inf"],
     "parameter alpha=inf: expected a finite number"),
    ("target-beyond-best", None, ["synth", "fp_add", "-p", "fmt=fp32", "-p", "target_mhz=900"],
     "fp_add: target_mhz=900 is beyond add at fmt='fp32': its best is"),
    ("target-unmeasured-format", None, ["generate", "fp_mul", "-p", "fmt=6,9", "-p", "target_mhz=90"],
     "fp_mul: target_mhz=90: no measured Fmax for multiply at fmt='6,9'"),
    ("param-text", None, ["generate", "omap_controller", "-p", "alpha=abc"],
     "omap_controller: parameter alpha='abc': expected a number, allowed 0.0..1.0"),
    ("param-empty", None, ["generate", "omap_controller", "-p", "alpha="],
     "omap_controller: parameter alpha='': expected a number"),
    # stimulus files
    ("npz-text", text("in.npz", "lanes,width\n4,8\n"), ["sim", "requant", "--stimulus", "in.npz"],
     "stimulus file in.npz is not a NumPy .npz archive"),
    ("npz-empty-file", text("in.npz", b""), ["sim", "requant", "--stimulus", "in.npz"],
     "stimulus file in.npz is empty"),
    ("npz-pickled", pickled_npz, ["sim", "requant", "--stimulus", "in.npz"],
     "stimulus file in.npz: field 'x' holds Python objects (pickled)"),
    ("npz-folder", folder("in.npz"), ["sim", "requant", "--stimulus", "in.npz"],
     "stimulus file in.npz is a folder, not a file"),
    ("npz-empty-x", npz(x=np.array([], dtype=np.int64)), ["sim", "requant", "--stimulus", "in.npz"],
     "requant field 'x' is empty: give at least one vector"),
    ("npz-empty-mac", npz(a=np.zeros((0, 16, 8), np.int64), b=np.zeros((0, 16, 8), np.int64)),
     ["sim", "mac_array", "--stimulus", "in.npz"], "mac_array field 'a' is empty"),
    ("npz-empty-fp", npz(a=np.array([], np.float16), b=np.array([], np.float16)),
     ["sim", "fp_add", "--stimulus", "in.npz"], "fp_add field 'a' is empty"),
    ("npz-lengths", npz(a=np.ones(3, np.float16), b=np.ones(5, np.float16)),
     ["sim", "fp_add", "--stimulus", "in.npz"], "fp_add fields 'a' 3, 'b' 5 differ in length"),
    ("npz-no-fields", npz(), ["sim", "requant", "--stimulus", "in.npz"],
     "stimulus file in.npz holds no fields"),
    # options
    ("seed-negative", None, ["sim", "requant", "--seed", "-1"],
     "--seed=-1 is out of range: allowed 0..4294967295"),
    ("vectors-huge", None, ["sim", "requant", "--vectors", "99999999999"],
     "--vectors=99999999999 is out of range: allowed 1..10000000"),
    ("vectors-memory", None, ["sim", "attention_engine", "--vectors", "10000000"],
     "--vectors=10000000: attention_engine's stimulus would take"),
    ("vectors-text", None, ["sim", "requant", "--vectors", "many"],
     "--vectors='many': expected an integer, 1..10000000"),
    ("flow-vectors-negative", None, ["flow", "--vectors", "-5"],
     "--vectors=-5 is out of range: allowed 1..10000000"),
    ("idle-nan", None, ["sim", "requant", "--idle", "nan"], "--idle=nan: expected a finite number"),
    ("freq-zero", None, ["synth", "requant", "--freq", "0"], "--freq=0 is out of range: allowed 1 <= x <= 1000"),
    ("workers-zero", spec(LINT), ["sweep", "spec.toml", "--workers", "0"],
     "--workers=0 is out of range: allowed 1..1024"),
    ("model-batch-huge", None, ["model", "instinfer", "--batch", "99999999999999999999"],
     "batch=99999999999999999999 is out of range: allowed 1..4096"),
    # Matrix Market
    ("mtx-entries", text("a.mtx", MTX + "3 3 1000000000000\n1 1\n"),
     ["sim", "spgemm_hash", "--matrix", "a.mtx"],
     "a.mtx:2: size line declares 1000000000000 entries, the file has only 1 lines after it"),
    ("mtx-size", text("a.mtx", MTX + "1000000000000 1000000000000 2\n1 1\n2 2\n"),
     ["sim", "spgemm_hash", "--matrix", "a.mtx"],
     "a.mtx:2: size line declares 1000000000000 x 1000000000000: allowed up to 16777216"),
    ("mtx-folder", folder("a.mtx"), ["sim", "spgemm_hash", "--matrix", "a.mtx"],
     "matrix file a.mtx is a folder, not a file"),
    ("mtx-model-entries", text("a.mtx", MTX + "3 3 1000000000000\n1 1\n"),
     ["model", "spgemm", "--matrix", "a.mtx"], "size line declares 1000000000000 entries"),
    # sweep specs
    ("spec-binary", text("spec.toml", b"\x89PNG\r\n\x1a\n\x00\xff\xfe"), ["sweep", "spec.toml"],
     "spec.toml: not a text (UTF-8) TOML file"),
    ("spec-folder", folder("spec.toml"), ["sweep", "spec.toml"], "sweep spec spec.toml is a folder"),
    ("sweep-out-unwritable", both(spec(LINT), text("file", "x")), ["sweep", "spec.toml", "--out", "file/sub"],
     "--out file/sub: cannot write there"),
    ("spec-axis-range", spec(LINT, axes="lanes = [1, 300]"), ["sweep", "spec.toml"],
     "spec.toml: axes.lanes: parameter lanes=300 is out of range: allowed 1..256"),
    ("spec-misspelled", spec(LINT, axes="lane = [1, 2]"), ["sweep", "spec.toml"],
     "spec.toml: axes.lane: mac_array has no parameter 'lane'"),
    ("spec-fixed-value", spec("[fixed]\nsigned = \"yes\"\n" + LINT), ["sweep", "spec.toml"],
     "spec.toml: fixed.signed: parameter signed='yes': expected true or false"),
    ("spec-float-axis", spec(LINT, axes="lanes = [1.5, 2]"), ["sweep", "spec.toml"],
     "spec.toml: axes.lanes: parameter lanes=1.5: expected an integer"),
    ("spec-all-invalid", spec("[fixed]\nlanes = 1\n" + LINT, axes="tree_stages = [1, 2]"),
     ["sweep", "spec.toml"], "spec.toml: every one of the 2 points is invalid: mac_array: tree_stages=1"),
    ("spec-model-key", spec("[metrics]\nmodel = { bogus = 5 }\n"), ["sweep", "spec.toml"],
     "spec.toml: metrics.model.bogus: mac_array's workload has no 'bogus'; its keys are vectors"),
    ("spec-model-negative", spec("[metrics]\nmodel = { vectors = -100 }\n"), ["sweep", "spec.toml"],
     "spec.toml: metrics.model.vectors=-100: expected an integer count"),
    ("spec-model-inputs", spec("[metrics]\nmodel = { inputs = 5 }\n", block="spgemm_hash",
                               axes="lanes = [1, 2]"), ["sweep", "spec.toml"],
     "metrics.model: spgemm_hash's model takes a workload of its inputs"),
    ("spec-backpressure", spec("[metrics]\nsim = { backpressure = 1.5 }\n"), ["sweep", "spec.toml"],
     "spec.toml: metrics.sim.backpressure=1.5 is out of range: allowed 0 <= x < 1"),
    ("spec-sim-vectors", spec("[metrics]\nsim = { vectors = 0 }\n"), ["sweep", "spec.toml"],
     "metrics.sim.vectors=0 is out of range"),
    ("spec-device", spec("[metrics]\nsynth_ecp5 = { device = \"99k\" }\n"), ["sweep", "spec.toml"],
     "spec.toml: metrics.synth_ecp5.device='99k' is not an ECP5 density: allowed 25k, 45k, 85k"),
    ("spec-formal-mode", spec("[metrics]\nformal = { mode = \"induction\" }\n"), ["sweep", "spec.toml"],
     "spec.toml: metrics.formal.mode='induction': allowed bmc, prove, cover"),
    ("spec-formal-depth", spec("[metrics]\nformal = { depth = 0 }\n"), ["sweep", "spec.toml"],
     "metrics.formal.depth=0 is out of range: allowed 1..1000"),
    ("spec-timeout-nan", spec(LINT, top="timeout = nan\n"), ["sweep", "spec.toml"],
     "spec.toml: timeout=nan: expected a number of seconds"),
    ("spec-power-tower", spec("[derived]\nvector_length = \"9 ** 9 ** 9\"\n" + LINT), ["sweep", "spec.toml"],
     "spec.toml: derived.vector_length: exponent 387420489 in '9 ** 9 ** 9'"),
    ("spec-huge-range", spec(LINT, axes="lanes = { range = [1, 1000000000] }"), ["sweep", "spec.toml"],
     "axes.lanes.range: 1000000000 values: allowed up to 100000"),
    ("spec-unknown-block", text("spec.toml", 'block = "nosuch"\n[axes]\nlanes = [1]\n' + LINT),
     ["sweep", "spec.toml"], "spec.toml: block: unknown block 'nosuch'"),
    # reports
    ("report-folder", folder("db"), ["sweep", "report", "db"], "sweep database db is a folder"),
    ("report-missing", None, ["sweep", "report", "none.db"], "sweep database none.db does not exist"),
    ("report-not-sqlite", text("x.db", "hello"), ["sweep", "report", "x.db"],
     "x.db is not a sweep database"),
    ("report-other-sqlite", sqlite_file("x.db", "CREATE TABLE songs (title TEXT);"),
     ["sweep", "report", "x.db"], "x.db is not a sweep database"),
    ("report-empty-sqlite", text("x.db", b""), ["sweep", "report", "x.db"], "x.db is not a sweep database"),
    # outputs checked before work
    ("synth-out-unwritable", text("file", "x"), ["synth", "requant", "--out", "file/sub"],
     "--out file/sub: cannot write there"),
    ("sim-out-unwritable", text("file", "x"), ["sim", "requant", "--out", "file/sub"],
     "--out file/sub: cannot write there"),
    ("generate-out-is-file", text("file", "x"), ["generate", "requant", "-o", "file"],
     "--rtl-out file: is a file, not a folder"),
]


def run_in_process(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses an option this way
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("setup, argv, fragment", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_bad_input_is_one_line_exit_2_before_work(setup, argv, fragment, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HWGEN_CACHE_DIR", str(tmp_path / "cache"))
    if setup is not None:
        setup(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    started = time.monotonic()
    code, err = run_in_process(argv, capsys)
    assert code == 2, err
    assert err.startswith("hwgen: error: ") and err.count("\n") == 1, err
    assert fragment in err, err
    assert "Traceback" not in err
    assert time.monotonic() - started < 20, "the refusal came after work"
    # nothing given was changed (a report opens its database read-only), nothing was built
    assert {p: p.read_bytes() for p in before} == before
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in before]
    assert not [p for p in written if p.suffix in (".v", ".db", ".json", ".npz")], written


def test_a_corrupt_point_cache_is_rebuilt_with_a_warning(tmp_path, monkeypatch, capsys):
    from hwgen.sweep import load_spec, run_sweep

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "points.sqlite").write_text("this is not a database\n" * 10)
    monkeypatch.setenv("HWGEN_CACHE_DIR", str(cache))
    (tmp_path / "spec.toml").write_text('block = "requant"\n[axes]\nshift = [1, 2]\n'
                                        '[metrics]\nmodel = { samples = 9 }\n')
    counts = run_sweep(load_spec(tmp_path / "spec.toml"), tmp_path / "out" / "sweep.db", workers=2)
    assert counts == {"ok": 2, "failed": 0, "timeout": 0, "invalid": 0}
    err = capsys.readouterr().err
    assert f"hwgen: warning: point cache {cache / 'points.sqlite'} is unreadable" in err
    assert (cache / "points.sqlite.corrupt").read_text().startswith("this is not a database")
    # the rebuilt cache serves the next sweep
    again = run_sweep(load_spec(tmp_path / "spec.toml"), tmp_path / "again" / "sweep.db")
    assert again == counts and "warning" not in capsys.readouterr().err


SLOW_OR_BROKEN = '''
import time

import numpy as np

from hwgen.core.block import register
from hwgen.core.params import Param, ParamSet
from hwgen.blocks.requant.rtl import Requant


@register
class SlowOrBroken(Requant):
    """requant whose model sleeps (to hold a sweep open), or whose golden model is off by one
    (so that its simulation fails)."""
    name = "slow_or_broken_test"
    params = ParamSet(params=(*Requant.params.params,
                              Param("nap", int, 0, "seconds the model sleeps", min=0, max=60),
                              Param("broken", bool, False, "golden model off by one")),
                      rules=Requant.params.rules)

    def model(self, workload):
        time.sleep(self.p.nap)
        return super().model(workload)

    def golden(self, inputs):
        out = super().golden(inputs)
        if self.p.broken:
            out = {**out, "y": np.asarray(out["y"]) ^ 1}
        return out
'''


@pytest.mark.verilator
def test_a_failing_simulation_is_a_failed_point_and_a_failed_sweep(tmp_path):
    """A point whose simulation mismatches is ``failed`` with the verdict (not ``ok`` with
    sim_pass false), and the sweep exits 1 and says how many failed."""
    (tmp_path / "blocks.py").write_text(SLOW_OR_BROKEN)
    (tmp_path / "spec.toml").write_text(textwrap.dedent('''
        block = "slow_or_broken_test"
        imports = ["blocks.py"]
        [fixed]
        in_width = 8
        out_width = 8
        [axes]
        broken = [false, true]
        [metrics]
        sim = { vectors = 20, backpressure = 0.3 }
    '''))
    done = hwgen("sweep", "spec.toml", "--out", "out", "--quiet", "--no-cache", "--workers", "1",
                 cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "sweep spec: 1 ok, 1 failed, 0 timed out, 0 invalid" in done.stdout
    with sqlite3.connect(tmp_path / "out" / "sweep.db") as connection:
        rows = dict(connection.execute("SELECT params, status || ': ' || COALESCE(error, '') FROM points"))
    by_broken = {('"broken": true' in params): outcome for params, outcome in rows.items()}
    assert by_broken[False] == "ok: "
    assert by_broken[True].startswith("failed: simulation: FAIL"), by_broken[True]


def test_two_sweeps_on_one_database(tmp_path):
    """A second sweep, and a --resume, on a database a sweep is writing are refused in one line
    naming the writer's pid; the first finishes with every point exactly once."""
    (tmp_path / "blocks.py").write_text(SLOW_OR_BROKEN)
    (tmp_path / "spec.toml").write_text(textwrap.dedent('''
        block = "slow_or_broken_test"
        imports = ["blocks.py"]
        [fixed]
        nap = 2
        [axes]
        shift = [1, 2, 3, 4]
        [metrics]
        model = { samples = 9 }
    '''))
    args = [sys.executable, "-m", "hwgen", "sweep", "spec.toml", "--out", "out", "--quiet",
            "--no-cache", "--workers", "2"]
    first = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        lock = tmp_path / "out" / "sweep.db.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for extra in ([], ["--resume"], ["--fresh"]):
            second = subprocess.run(args + extra, cwd=tmp_path, env=ENV, capture_output=True, text=True)
            assert second.returncode == 2, second.stderr
            assert second.stderr == (f"hwgen: error: out/sweep.db is in use by another sweep "
                                     f"(pid {first.pid}); wait for it to finish, or give this one "
                                     f"another --out\n")
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert "4 ok, 0 failed, 0 timed out, 0 invalid" in out
    with sqlite3.connect(tmp_path / "out" / "sweep.db") as connection:
        ids = [row[0] for row in connection.execute("SELECT point_id FROM points ORDER BY point_id")]
    assert ids == [0, 1, 2, 3]
