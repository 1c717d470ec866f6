"""Sweeps: spec parsing, local pool vs Dask, resume after SIGKILL, failing and hanging points,
invalid points, the machine-wide cache, the command line."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hwgen.sweep import SpecError, load_spec, parse_spec, run_sweep
from hwgen.sweep.store import SweepDB

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def spec_of(**overrides):
    data = {"block": "mac_array", "fixed": {"vector_length": 2},
            "axes": {"lanes": [1, 2, 3, 4], "tree_stages": {"range": [0, 2]}},
            "metrics": {"lint": True, "model": {"vectors": 50}, "sim": {"vectors": 20, "seed": 3}}}
    data.update(overrides)
    return parse_spec(data, "test")


def rows(db_path):
    db = SweepDB(db_path)
    try:
        return list(db.rows())
    finally:
        db.close()


def test_axes_expand():
    spec = parse_spec({"block": "mac_array", "axes": {"lanes": {"pow2": [3, 40]},
                                                      "width": {"range": [4, 12], "step": 4},
                                                      "signed": [True, False]},
                       "metrics": {"lint": True}})
    assert spec.axes == {"lanes": [4, 8, 16, 32], "width": [4, 8, 12], "signed": [True, False]}
    points = spec.points()
    assert len(points) == 24 and points[0] == {"lanes": 4, "width": 4, "signed": True}
    assert points[1] == {"lanes": 4, "width": 4, "signed": False}  # last axis innermost


@pytest.mark.parametrize("data, message", [
    ({"axes": {"lanes": [1]}, "metrics": {"lint": True}}, "block: name the block"),
    ({"block": "mac_array", "metrics": {"lint": True}}, "axes: give at least one"),
    ({"block": "mac_array", "axes": {"lanes": []}, "metrics": {"lint": True}}, "empty list"),
    ({"block": "mac_array", "axes": {"lanes": [2, 2]}, "metrics": {"lint": True}}, "lists 2 more than once"),
    ({"block": "mac_array", "axes": {"lanes": {"range": [5, 1]}}, "metrics": {"lint": True}}, "below first"),
    ({"block": "mac_array", "axes": {"lanes": {"pow2": [5, 7]}}, "metrics": {"lint": True}}, "no power of two"),
    ({"block": "mac_array", "axes": {"lanes": "8"}, "metrics": {"lint": True}}, "expected a list"),
    ({"block": "mac_array", "axes": {"lanes": [1]}, "metrics": {"speed": True}}, "metrics.speed is not a metric"),
    ({"block": "mac_array", "axes": {"lanes": [1]}, "metrics": {"sim": {"vector": 3}}}, "unknown option vector"),
    ({"block": "mac_array", "axes": {"lanes": [1]}, "metrics": {"model": True}}, "give the workload"),
    ({"block": "mac_array", "fixed": {"lanes": 2}, "axes": {"lanes": [1]}, "metrics": {"lint": True}}, "both fixed and swept"),
    ({"block": "mac_array", "axes": {"lanes": [1]}, "metrics": {"lint": True}, "timeout": 0}, "timeout=0"),
    ({"block": "mac_array", "axes": {"lanes": [1]}, "metrics": {"lint": True}, "colour": 1}, "unknown key colour"),
])
def test_spec_errors_name_the_key(data, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(data)


def test_example_spec_parses():
    spec = load_spec(REPO / "examples" / "sweeps" / "mac_array.toml")
    assert spec.block == "mac_array" and len(spec.points()) == 30
    assert set(spec.metrics) == {"lint", "sim", "model", "synth_generic", "synth_ecp5"}


@pytest.mark.long
@pytest.mark.verilator
def test_local_pool_and_dask_agree(tmp_path):
    from distributed import LocalCluster

    # (three lane counts: every tree depth, the three invalid pairs, six Verilator builds)
    spec = spec_of(axes={"lanes": [1, 2, 3], "tree_stages": {"range": [0, 2]}})
    assert len(spec.points()) == 9
    local = run_sweep(spec, tmp_path / "local" / "sweep.db", workers=2, use_cache=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = run_sweep(spec, tmp_path / "dask" / "sweep.db", dask=cluster.scheduler_address,
                           use_cache=False)
    assert local == remote == {"ok": 6, "failed": 0, "timeout": 0, "invalid": 3}
    a, b = rows(tmp_path / "local" / "sweep.db"), rows(tmp_path / "dask" / "sweep.db")
    assert [r.point_id for r in a] == list(range(9))
    assert [(r.point_id, r.status, r.params, r.metrics, r.error) for r in a] == \
        [(r.point_id, r.status, r.params, r.metrics, r.error) for r in b]
    ok = [r for r in a if r.status == "ok"]
    assert all(r.metrics["sim_pass"] and r.metrics["lint_clean"] for r in ok)
    assert all(r.metrics["model_sim_cycles"] == r.metrics["sim_cycles"] for r in ok)
    invalid = [r for r in a if r.status == "invalid"]
    assert {(r.params["lanes"], r.params["tree_stages"]) for r in invalid} == {(1, 1), (1, 2), (2, 2)}
    assert all("exceeds the adder tree depth" in r.error for r in invalid)


def test_cache_reuses_points_and_resume_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("HWGEN_CACHE_DIR", str(tmp_path / "cache"))
    spec = spec_of(metrics={"lint": True, "model": {"vectors": 7}})
    first = run_sweep(spec, tmp_path / "a" / "sweep.db", workers=2)
    second = run_sweep(spec, tmp_path / "b" / "sweep.db", workers=2)
    assert first == second
    assert all(r.cached for r in rows(tmp_path / "b" / "sweep.db") if r.status == "ok")
    assert [r.metrics for r in rows(tmp_path / "a" / "sweep.db")] == \
        [r.metrics for r in rows(tmp_path / "b" / "sweep.db")]
    with pytest.raises(SpecError, match="already holds 12 points of this sweep; pass --resume"):
        run_sweep(spec, tmp_path / "a" / "sweep.db")
    assert run_sweep(spec, tmp_path / "a" / "sweep.db", resume=True) == first  # nothing to do
    other = spec_of(metrics={"lint": True})
    with pytest.raises(SpecError, match="holds a sweep of a different spec; use --fresh"):
        run_sweep(other, tmp_path / "a" / "sweep.db", resume=True)
    assert run_sweep(other, tmp_path / "a" / "sweep.db", fresh=True)["ok"] == 9


FLAKY = '''
import time
from hwgen.core.block import register
from hwgen.core.params import Param, ParamSet
from hwgen.blocks.requant.rtl import Requant

@register
class Flaky(Requant):
    """requant whose model raises or hangs on request: sweep error handling under test."""
    name = "flaky_test"
    params = ParamSet(params=(*Requant.params.params,
                              Param("mode", str, "ok", "behaviour", choices=("ok", "raise", "hang"))),
                      rules=Requant.params.rules)

    def model(self, workload):
        if self.p.mode == "raise":
            raise RuntimeError("model exploded")
        if self.p.mode == "hang":
            time.sleep(600)
        return super().model(workload)
'''


def test_failing_hanging_and_invalid_points_are_recorded(tmp_path):
    (tmp_path / "flaky.py").write_text(FLAKY)
    (tmp_path / "spec.toml").write_text(textwrap.dedent('''
        block = "flaky_test"
        imports = ["flaky.py"]
        timeout = 4
        [fixed]
        in_width = 8
        [axes]
        mode = ["ok", "raise", "hang"]
        shift = [1, 9]
        [metrics]
        lint = true
        model = { samples = 10 }
    '''))
    spec = load_spec(tmp_path / "spec.toml")
    started = time.monotonic()
    counts = run_sweep(spec, tmp_path / "out" / "sweep.db", workers=2, use_cache=False)
    assert time.monotonic() - started < 60, "a hanging point held up the sweep"
    assert counts == {"ok": 1, "failed": 1, "timeout": 1, "invalid": 3}
    by_mode = {(r.params["mode"], r.params["shift"]): r for r in rows(tmp_path / "out" / "sweep.db")}
    assert len(by_mode) == 6
    assert by_mode[("ok", 1)].metrics["model_cycles"] == 11
    assert "RuntimeError: model exploded" in by_mode[("raise", 1)].error
    assert by_mode[("hang", 1)].error == "timed out after 4 s"
    assert "shift=9 exceeds in_width=8" in by_mode[("ok", 9)].error


def wait_for_points(db_path: Path, count: int, limit: float) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                with sqlite3.connect(db_path, timeout=5) as connection:
                    done = connection.execute("SELECT COUNT(*) FROM points").fetchone()[0]
                if done >= count:
                    return done
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"{db_path} did not reach {count} points in {limit} s")


def test_resume_after_sigkill(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(textwrap.dedent('''
        block = "mac_array"
        [fixed]
        tree_stages = 0
        [axes]
        lanes = { range = [1, 20] }
        [metrics]
        lint = true
        model = { vectors = 3 }
    '''))
    db_path = tmp_path / "out" / "sweep.db"
    args = [sys.executable, "-m", "hwgen", "sweep", str(spec), "--out", str(db_path.parent),
            "--quiet", "--no-cache", "--workers", "2"]
    sweep = subprocess.Popen(args, env=ENV, start_new_session=True,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_points(db_path, 4, limit=120)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)
        sweep.wait()
    done = len(rows(db_path))
    assert 4 <= done < 20, f"the sweep was not killed part-way ({done} of 20 done)"

    refused = subprocess.run(args, env=ENV, capture_output=True, text=True)
    assert refused.returncode == 2 and "pass --resume" in refused.stderr

    resumed = subprocess.run(args + ["--resume"], env=ENV, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "20 ok, 0 failed, 0 timed out, 0 invalid" in resumed.stdout
    final = rows(db_path)
    assert [r.point_id for r in final] == list(range(20))  # every point exactly once
    assert [r.params["lanes"] for r in final] == list(range(1, 21))
    assert all(r.status == "ok" and r.metrics["lint_clean"] for r in final)


def test_sweep_and_report_on_the_command_line(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(textwrap.dedent('''
        block = "requant"
        [axes]
        out_width = [4, 8]
        shift = [0, 4]
        [metrics]
        model = { samples = 100 }
        synth_generic = true
    '''))
    done = subprocess.run([sys.executable, "-m", "hwgen", "sweep", str(spec), "--quiet"],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "sweep tiny: 4 ok, 0 failed, 0 timed out, 0 invalid" in done.stdout
    db = tmp_path / "rtl_out" / "sweeps" / "tiny" / "sweep.db"
    report = subprocess.run([sys.executable, "-m", "hwgen", "sweep", "report", str(db),
                             "--x", "generic_cells", "--y", "model_cycles"],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    for name in ("report.csv", "report.md", "pareto-generic_cells-model_cycles.png",
                 "pareto-generic_cells-model_cycles.svg"):
        assert (db.parent / name).exists(), name
    bad = subprocess.run([sys.executable, "-m", "hwgen", "sweep", "report", str(db), "--x", "foo"],
                         cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("hwgen: error: unknown metric 'foo'")
    helped = subprocess.run([sys.executable, "-m", "hwgen", "sweep", "report", "--help"],
                            env=ENV, capture_output=True, text=True)
    assert helped.returncode == 0 and "usage: hwgen sweep report" in helped.stdout


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_command_line_sweep_on_a_dask_scheduler_and_workers(tmp_path):
    """What the README says to do on a cluster: 'dask scheduler', 'dask worker', '--dask'."""
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=ENV, start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                               "--no-dashboard"], env=ENV, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        spec = tmp_path / "spec.toml"
        spec.write_text('block = "requant"\n[axes]\nshift = { range = [0, 5] }\nout_width = [4, 8]\n'
                        '[metrics]\nlint = true\nmodel = { samples = 9 }\n')
        done = subprocess.run([sys.executable, "-m", "hwgen", "sweep", str(spec), "--dask", address,
                               "--quiet", "--no-cache", "--out", "out"], cwd=tmp_path, env=ENV,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "12 ok, 0 failed, 0 timed out, 0 invalid" in done.stdout
        assert [r.point_id for r in rows(tmp_path / "out" / "sweep.db")] == list(range(12))
    finally:
        for process in (worker, scheduler):
            os.killpg(process.pid, signal.SIGTERM)
        for process in (worker, scheduler):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_derived_parameters():
    spec = parse_spec({"block": "mac_array", "axes": {"lanes": [1, 4, 16]},
                       "derived": {"vector_length": "64 // lanes", "tree_stages": "min(2, lanes // 4)"},
                       "metrics": {"lint": True}})
    assert spec.points() == [{"lanes": 1, "vector_length": 64, "tree_stages": 0},
                             {"lanes": 4, "vector_length": 16, "tree_stages": 1},
                             {"lanes": 16, "vector_length": 4, "tree_stages": 2}]
    for expression, message in [("lanes.bit_length()", "may use integers"),
                                ("__import__('os')", "may use integers"),
                                ("64 // depth", "'depth' is not a parameter"),
                                ("64 // (lanes - 1)", "division by zero"),
                                ("64 //", "is not an expression")]:
        with pytest.raises(SpecError, match=message):
            parse_spec({"block": "mac_array", "axes": {"lanes": [1, 4]},
                        "derived": {"vector_length": expression}, "metrics": {"lint": True}})
