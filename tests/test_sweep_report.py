"""Sweep reports from a hand-made ``sweep.db`` whose Pareto fronts are worked out by hand."""

from __future__ import annotations

import csv
import re

import pytest

from hwgen.sweep.report import default_axes, format_front, pareto_front, table, write_report
from hwgen.sweep.store import SweepDB

TRACEBACK = "Traceback (most recent call last):\n  File \"x.py\", line 1\nRuntimeError: boom | bang"

# point_id: (status, params, metrics, error). x = ecp5_lut4, y = sim_cycles_per_vector.
POINTS = {
    0: ("ok", {"lanes": 1, "tree_stages": 0},
        {"ecp5_lut4": 100, "sim_cycles_per_vector": 16.0, "sim_cycles": 1000,
         "model_sim_cycles": 1010, "lint_clean": True, "sim_verdict": "PASS",
         "generic_cells_by_type": {"$add": 3}}, None),
    1: ("ok", {"lanes": 2, "tree_stages": 0},
        {"ecp5_lut4": 180, "sim_cycles_per_vector": 8.0, "sim_cycles": 2000,
         "model_sim_cycles": 1990}, None),
    2: ("ok", {"lanes": 2, "tree_stages": 1},      # dominated by 1 (min/min)
        {"ecp5_lut4": 200, "sim_cycles_per_vector": 9.0, "sim_cycles": 2000}, None),
    3: ("ok", {"lanes": 4, "tree_stages": 0},      # tie with 4
        {"ecp5_lut4": 350, "sim_cycles_per_vector": 4.0, "model_sim_cycles": 500}, None),
    4: ("ok", {"lanes": 4, "tree_stages": 1},
        {"ecp5_lut4": 350, "sim_cycles_per_vector": 4.0}, None),
    5: ("ok", {"lanes": 8, "tree_stages": 0},
        {"ecp5_lut4": 700, "sim_cycles_per_vector": 2.0}, None),
    6: ("ok", {"lanes": 8, "tree_stages": 1},      # same x as 5, worse y
        {"ecp5_lut4": 700, "sim_cycles_per_vector": 2.5, "ecp5_fmax_mhz": None}, None),
    7: ("ok", {"lanes": 16, "tree_stages": 0},     # no y: never on a front
        {"ecp5_lut4": 90}, None),
    8: ("ok", {"lanes": 16, "tree_stages": 1},
        {"ecp5_lut4": 1300, "sim_cycles_per_vector": 1.0}, None),
    9: ("ok", {"lanes": 16, "tree_stages": 2},     # same y as 8, worse x
        {"ecp5_lut4": 1500, "sim_cycles_per_vector": 1.0}, None),
    10: ("invalid", {"lanes": 999, "tree_stages": 0}, {},
         "mac_array: parameter lanes=999 is out of range: allowed 1..256"),
    11: ("failed", {"lanes": 32, "tree_stages": 0},  # would dominate everything if counted
         {"ecp5_lut4": 10, "sim_cycles_per_vector": 0.5}, TRACEBACK),
}
MIN_MIN = [0, 1, 3, 4, 5, 8]
MAX_MAX = [0, 2, 3, 4, 6, 9]
HEADER = ["point_id", "status", "lanes", "tree_stages", "ecp5_fmax_mhz", "ecp5_lut4",
          "lint_clean", "model_sim_cycles", "sim_cycles", "sim_cycles_per_vector", "sim_verdict",
          "model_error", "error", "wall_s", "cached"]


def make_db(path, points):
    db = SweepDB(path)
    for point_id, (status, params, metrics, error) in points.items():
        db.record(point_id, f"key{point_id}", "mac_array", {**params, "vector_length": 16},
                  status, metrics, error, wall_s=1.5, cached=point_id % 2 == 1, version="0.1.0")
    db.close()
    return path


@pytest.fixture
def db_path(tmp_path):
    return make_db(tmp_path / "sweep.db", POINTS)


def ids(rows):
    return [row["point_id"] for row in rows]


def test_table_columns_and_order(db_path):
    rows = table(db_path)
    assert ids(rows) == sorted(POINTS)
    assert all(list(row) == HEADER[:4] + ["vector_length"] + HEADER[4:] for row in rows)
    assert rows[0]["lanes"] == 1 and rows[0]["lint_clean"] is True
    assert rows[1]["lint_clean"] is None          # absent metrics are None, not missing keys
    assert rows[10]["error"].startswith("mac_array: parameter lanes=999")
    assert rows[1]["cached"] is True and rows[0]["wall_s"] == 1.5


def test_model_error(db_path):
    rows = {row["point_id"]: row for row in table(db_path)}
    assert rows[0]["model_error"] == pytest.approx(0.01)
    assert rows[1]["model_error"] == pytest.approx(-0.005)
    assert rows[2]["model_error"] is None         # sim only
    assert rows[3]["model_error"] is None         # model only
    assert all(rows[i]["model_error"] is None for i in range(4, 12))


def test_no_model_error_column_without_both(tmp_path):
    path = make_db(tmp_path / "sweep.db", {0: ("ok", {"lanes": 1}, {"sim_cycles": 10}, None)})
    assert "model_error" not in table(path)[0]


def test_pareto_min_min(db_path):
    front = pareto_front(table(db_path), "ecp5_lut4", "sim_cycles_per_vector")
    assert ids(front) == MIN_MIN                   # sorted by x; the tie 3/4 both kept


def test_pareto_max_max(db_path):
    front = pareto_front(table(db_path), "ecp5_lut4", "sim_cycles_per_vector",
                         x_sense="max", y_sense="max")
    assert ids(front) == MAX_MAX


def test_pareto_mixed_senses(db_path):
    rows = table(db_path)
    # Fewest LUTs and most cycles: point 0 beats every other on both.
    assert ids(pareto_front(rows, "ecp5_lut4", "sim_cycles_per_vector", "min", "max")) == [0]
    # Most LUTs and fewest cycles: 9 has 8's y and more x.
    assert ids(pareto_front(rows, "ecp5_lut4", "sim_cycles_per_vector", "max", "min")) == [9]


def test_pareto_skips_non_numbers():
    rows = [{"point_id": 0, "status": "ok", "a": 1, "b": True},
            {"point_id": 1, "status": "ok", "a": None, "b": 1},
            {"point_id": 2, "status": "ok", "a": float("nan"), "b": 0},
            {"point_id": 3, "status": "ok", "a": 5, "b": 5}]
    assert ids(pareto_front(rows, "a", "b")) == [3]
    with pytest.raises(ValueError, match="x_sense='low'"):
        pareto_front(rows, "a", "b", x_sense="low")


def test_default_axes(db_path):
    assert default_axes(table(db_path)) == ("ecp5_lut4", "sim_cycles_per_vector")
    ok = {"point_id": 0, "status": "ok"}
    assert default_axes([{**ok, "generic_cells": 40, "model_cycles": 9}]) == \
        ("generic_cells", "model_cycles")
    # A metric measured only by a failed point is not present.
    rows = [{**ok, "point_id": 1, "generic_cells": 40, "model_bytes_moved": 1,
             "sim_cycles": 7, "model_cycles_per_vector": 2.0},
            {"point_id": 2, "status": "failed", "ecp5_lut4": 3, "sim_cycles_per_vector": 1.0}]
    assert default_axes(rows) == ("generic_cells", "model_cycles_per_vector")
    with pytest.raises(ValueError, match="no default x axis.*numeric metrics in this sweep: "
                                         "lint_warnings"):
        default_axes([{**ok, "lint_clean": True, "lint_warnings": 0}])


def test_write_report(db_path, tmp_path):
    result = write_report(db_path, tmp_path / "out")
    assert (result["x"], result["y"]) == ("ecp5_lut4", "sim_cycles_per_vector")
    assert ids(result["front"]) == MIN_MIN
    for key, name in [("csv", "report.csv"), ("markdown", "report.md"),
                      ("png", "pareto-ecp5_lut4-sim_cycles_per_vector.png"),
                      ("svg", "pareto-ecp5_lut4-sim_cycles_per_vector.svg")]:
        assert result[key] == tmp_path / "out" / name and result[key].stat().st_size > 0

    with open(result["csv"], newline="") as file:
        reader = csv.DictReader(file)
        csv_rows = list(reader)
    assert reader.fieldnames == HEADER[:4] + ["vector_length"] + HEADER[4:]
    assert [row["point_id"] for row in csv_rows] == [str(i) for i in sorted(POINTS)]
    assert csv_rows[11]["error"] == TRACEBACK     # the CSV keeps the whole error

    markdown = result["markdown"].read_text()
    assert markdown.startswith("# Sweep report: mac_array")
    all_rows, pareto = markdown.split("## Pareto front")
    assert all_rows.count("\n| ") == 1 + len(POINTS)
    assert "RuntimeError: boom \\| bang" in all_rows
    assert "6 of 10 ok points" in pareto
    assert pareto.count("\n| ") == 1 + len(MIN_MIN)

    # Text is drawn as paths; matplotlib keeps each string as an SVG comment.
    svg = result["svg"].read_text()
    labels = re.findall(r"<!-- (lanes=.*?) -->", svg)
    assert labels == ["lanes=1, tree_stages=0", "lanes=2, tree_stages=0",
                      "lanes=4, tree_stages=0", "lanes=4, tree_stages=1",  # the tie
                      "lanes=8, tree_stages=0", "lanes=16, tree_stages=1"]
    assert "<!-- ecp5_lut4 (lower is better) -->" in svg
    assert "<!-- mac_array: 6 Pareto points of 9 plotted (10 ok, 12 in sweep) -->" in svg


def test_plot_is_deterministic(db_path, tmp_path):
    first = write_report(db_path, tmp_path / "a")
    second = write_report(db_path, tmp_path / "b")
    assert first["svg"].read_bytes() == second["svg"].read_bytes()
    assert first["png"].read_bytes() == second["png"].read_bytes()
    assert b"<dc:date>" not in first["svg"].read_bytes()


def test_named_axes_and_senses(db_path, tmp_path):
    result = write_report(db_path, tmp_path, x="ecp5_lut4", y="sim_cycles_per_vector",
                          x_sense="max", y_sense="max")
    assert ids(result["front"]) == MAX_MAX
    result = write_report(db_path, tmp_path, x="model_error", y="sim_cycles")
    assert result["svg"].name == "pareto-model_error-sim_cycles.svg"
    assert ids(result["front"]) == [1, 0]         # -0.005 @ 2000, 0.01 @ 1000


def test_unknown_metric(db_path, tmp_path):
    with pytest.raises(ValueError, match=r"unknown metric 'foo'; numeric metrics in this sweep: "
                                         r".*ecp5_lut4.*sim_cycles_per_vector"):
        write_report(db_path, tmp_path / "out", x="foo")
    with pytest.raises(ValueError, match="unknown metric 'lanes'"):
        write_report(db_path, tmp_path / "out", y="lanes")  # a parameter, not a metric
    with pytest.raises(ValueError, match="metric 'ecp5_fmax_mhz' has no numeric value"):
        write_report(db_path, tmp_path / "out", x="ecp5_fmax_mhz")
    assert not (tmp_path / "out").exists()         # nothing written before the check


def test_nothing_to_plot(tmp_path):
    path = make_db(tmp_path / "sweep.db", {
        0: ("ok", {"lanes": 1}, {"lint_clean": True, "lint_warnings": 0}, None),
        1: ("failed", {"lanes": 2}, {}, "boom")})
    result = write_report(path, tmp_path / "out")
    assert result["png"] is None and result["svg"] is None and result["front"] == []
    assert result["csv"].exists()
    assert "No Pareto front: no default x axis" in result["markdown"].read_text()
    assert format_front(result["front"], result["x"], result["y"]).startswith("no Pareto front")
    with pytest.raises(ValueError, match="unknown metric 'ecp5_lut4'"):
        write_report(path, tmp_path / "out", x="ecp5_lut4")


def test_format_front(db_path):
    front = pareto_front(table(db_path), "ecp5_lut4", "sim_cycles_per_vector")
    lines = format_front(front, "ecp5_lut4", "sim_cycles_per_vector").splitlines()
    assert lines[0].split() == ["point_id", "ecp5_lut4", "sim_cycles_per_vector", "lanes",
                                "tree_stages", "vector_length"]
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == ["0", "100", "16", "1", "0", "16"]
    assert len(lines) == 2 + len(MIN_MIN)
    assert format_front([], "a", "b") == "no ok point has both a and b"


@pytest.mark.parametrize("senses", [("min", "min"), ("min", "max"), ("max", "min"), ("max", "max")])
def test_pareto_matches_definition(rng, senses):
    """The sorted sweep agrees with the definition, checked pair by pair, on data full of ties."""
    rows = [{"point_id": i, "status": "ok", "a": int(a), "b": float(b)}
            for i, (a, b) in enumerate(rng.integers(0, 8, size=(200, 2)))]
    sign = {"min": 1, "max": -1}
    sa, sb = sign[senses[0]], sign[senses[1]]

    def dominates(p, q):
        return (sa * p["a"] <= sa * q["a"] and sb * p["b"] <= sb * q["b"]
                and (sa * p["a"] < sa * q["a"] or sb * p["b"] < sb * q["b"]))

    expected = {r["point_id"] for r in rows if not any(dominates(o, r) for o in rows)}
    front = pareto_front(rows, "a", "b", *senses)
    assert {r["point_id"] for r in front} == expected
    assert [r["a"] for r in front] == sorted(r["a"] for r in front)
