"""Reports on a finished (or interrupted) sweep: a flat table of every point, the Pareto front
of two metrics, and files a person can read (``report.md``), load elsewhere (``report.csv``)
or put in a document (``pareto-<x>-<y>.png`` and ``.svg``).

A row of the table is one flat dict, so it goes straight into the CSV writer and the plot. Its
columns are, in order: ``point_id``, ``status``, the parameters, the scalar metrics (sorted),
``model_error`` and the bookkeeping columns ``error``, ``wall_s`` and ``cached``.

Metric names carry the prefix of the step that measured them (``lint_``, ``sim_``, ``model_``,
``generic_``, ``ecp5_``). That prefix is how the functions that take rows alone tell a metric
from a parameter; the table itself is built from the database, where the two are kept apart.

Everything written is a function of the database only: rows in ``point_id`` order, no dates
in the images, and a fixed SVG hash salt, so a report can be committed and diffed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Iterable

from .store import SweepDB

__all__ = ["table", "pareto_front", "default_axes", "write_report", "format_front"]

METRIC_PREFIXES = ("lint_", "sim_", "model_", "generic_", "ecp5_", "formal_")
# Columns that are neither a parameter nor a metric.
BOOKKEEPING = ("point_id", "status", "error", "wall_s", "cached")
# The axes a plot gets when none are named: the first one the sweep measured. Cost comes from
# the most concrete estimate available (mapped LUTs, then generic cells, then the model's
# traffic); speed from simulation when it ran, from the model otherwise.
DEFAULT_X = ("ecp5_lut4", "generic_cells", "model_bytes_moved")
DEFAULT_Y = ("sim_cycles_per_vector", "model_cycles_per_vector", "sim_cycles", "model_cycles")
SENSES = ("min", "max")
_SVG_SALT = "hwgen-sweep-report"


# -- the table -------------------------------------------------------------------------------

def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _is_number(value: Any) -> bool:
    """A value that can sit on a plot axis. Booleans are ints to Python but not quantities,
    and NaN or infinity would make every comparison of the Pareto test meaningless."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _model_error(metrics: dict[str, Any]) -> float | None:
    """How far the performance model is from simulation, as a fraction (+0.01: the model
    predicts 1% more cycles). Uses ``model_sim_cycles``, the model evaluated for the exact
    workload that was simulated, so the two counts describe the same run."""
    model, sim = metrics.get("model_sim_cycles"), metrics.get("sim_cycles")
    if not (_is_number(model) and _is_number(sim)) or sim == 0:
        return None
    return model / sim - 1


def table(db_path: Path | str) -> list[dict[str, Any]]:
    """One flat dict per point, in ``point_id`` order, every dict holding every column (``None``
    where a point lacks a value). Dict-valued metrics such as ``generic_cells_by_type`` do not
    fit a column and are left out; read them from the database."""
    db = SweepDB.read_only(db_path)
    try:
        points = list(db.rows())
    finally:
        db.close()

    params: dict[str, None] = {}  # an ordered set: first-seen order
    metrics: set[str] = set()
    for point in points:
        params.update(dict.fromkeys(point.params))
        metrics.update(name for name, value in point.metrics.items() if _is_scalar(value))
    errors = [_model_error(point.metrics) for point in points]
    with_error = ["model_error"] if any(e is not None for e in errors) else []

    rows = []
    for point, model_error in zip(points, errors):
        row: dict[str, Any] = {"point_id": point.point_id, "status": point.status}
        row.update({name: point.params.get(name) for name in params})
        row.update({name: point.metrics.get(name) for name in sorted(metrics)})
        row.update(dict.fromkeys(with_error, model_error))
        row.update(error=point.error, wall_s=point.wall_s, cached=point.cached)
        rows.append(row)
    return rows


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """The union of the rows' columns in first-seen order (for rows from ``table()``, simply
    the columns of the first row)."""
    return list(dict.fromkeys(name for row in rows for name in row))


def _is_metric(name: str) -> bool:
    return name.startswith(METRIC_PREFIXES)


def param_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The parameter columns of ``rows``, in table order."""
    return [name for name in _columns(rows) if name not in BOOKKEEPING and not _is_metric(name)]


def numeric_metrics(rows: list[dict[str, Any]]) -> list[str]:
    """The metrics that can be an axis: those with a number in at least one ``ok`` point."""
    ok = [row for row in rows if row.get("status") == "ok"]
    return [name for name in _columns(rows)
            if _is_metric(name) and any(_is_number(row.get(name)) for row in ok)]


def varying_params(rows: list[dict[str, Any]]) -> list[str]:
    """The parameters that take more than one value: the swept axes, which are what tells one
    point from another on a plot."""
    ok = [row for row in rows if row.get("status") == "ok"] or rows
    return [name for name in param_columns(rows)
            if len({repr(row.get(name)) for row in ok}) > 1]


# -- the Pareto front ------------------------------------------------------------------------

def _check_sense(name: str, sense: str) -> None:
    if sense not in SENSES:
        raise ValueError(f"{name}={sense!r}: expected 'min' or 'max'")


def pareto_front(rows: Iterable[dict[str, Any]], x: str, y: str, x_sense: str = "min",
                 y_sense: str = "min") -> list[dict[str, Any]]:
    """The rows no other row beats: among ``ok`` rows with a number for both ``x`` and ``y``,
    those for which no other is at least as good on both and strictly better on one. Points
    with equal ``x`` and ``y`` do not dominate each other, so duplicates are all kept: they are
    different designs with the same cost and speed, and the choice between them is the
    reader's. Sorted by ``x``, then ``y``, then ``point_id``."""
    _check_sense("x_sense", x_sense)
    _check_sense("y_sense", y_sense)
    candidates = [row for row in rows
                  if row.get("status") == "ok" and _is_number(row.get(x))
                  and _is_number(row.get(y))]
    # Minimize both: negate what is to be maximized.
    sx, sy = (1 if x_sense == "min" else -1), (1 if y_sense == "min" else -1)

    def key(row):
        return sx * row[x], sy * row[y]

    front = []
    best_y = math.inf  # the best y among rows with a strictly better x
    ordered = sorted(candidates, key=key)
    start = 0
    while start < len(ordered):
        # One group of rows sharing an x: only those with the group's best y can be on the
        # front, and only if no row with a better x is at least as good in y.
        end = start
        while end < len(ordered) and key(ordered[end])[0] == key(ordered[start])[0]:
            end += 1
        group_y = key(ordered[start])[1]
        if group_y < best_y:
            front += [row for row in ordered[start:end] if key(row)[1] == group_y]
            best_y = group_y
        start = end
    return sorted(front, key=lambda row: (row[x], row[y], row.get("point_id", 0)))


def _first_present(rows: list[dict[str, Any]], candidates: tuple[str, ...], axis: str) -> str:
    available = numeric_metrics(rows)
    for name in candidates:
        if name in available:
            return name
    raise ValueError(f"no default {axis} axis: none of {', '.join(candidates)} has a value in "
                     f"an ok point; numeric metrics in this sweep: "
                     f"{', '.join(available) or 'none'}")


def default_axes(rows: list[dict[str, Any]]) -> tuple[str, str]:
    """The metrics to plot when none are named: cost on x, cycles per result on y
    (``DEFAULT_X``, ``DEFAULT_Y``), each the first the sweep measured in an ``ok`` point."""
    return _first_present(rows, DEFAULT_X, "x"), _first_present(rows, DEFAULT_Y, "y")


def _check_axis(rows: list[dict[str, Any]], name: str) -> None:
    available = numeric_metrics(rows)
    if name in available:
        return
    listing = ", ".join(available) or "none"
    if name in _columns(rows) and _is_metric(name):
        raise ValueError(f"metric {name!r} has no numeric value in any ok point; "
                         f"numeric metrics in this sweep: {listing}")
    raise ValueError(f"unknown metric {name!r}; numeric metrics in this sweep: {listing}")


# -- text ------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _text_table(header: list[str], body: list[list[str]]) -> str:
    """Columns padded to their widest cell and a rule under the header, as ``hwgen flow``
    prints its table."""
    widths = [max(len(row[i]) for row in [header] + body) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header] + body]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _front_columns(front: list[dict[str, Any]], x: str, y: str) -> list[str]:
    return ["point_id", x, y] + [p for p in param_columns(front) if p not in (x, y)]


def format_front(front: list[dict[str, Any]], x: str | None, y: str | None) -> str:
    """The Pareto points as a plain-text table (point, x, y, every parameter) for a terminal."""
    if x is None or y is None:  # write_report() found nothing to plot
        return "no Pareto front: the sweep measured no metric to plot"
    if not front:
        return f"no ok point has both {x} and {y}"
    columns = _front_columns(front, x, y)
    return _text_table(columns, [[_cell(row.get(c)) for c in columns] for row in front])


def _md_cell(value: Any) -> str:
    """A value fit for one Markdown table cell: a multi-line error (a traceback) is cut to its
    last line, which names the exception, and pipes are escaped."""
    text = _cell(value)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    text = lines[-1] if lines else ""
    if len(text) > 120:
        text = text[:117] + "..."
    return text.replace("|", "\\|")


def _md_table(columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return lines


def _counts(rows: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _markdown(title: str, rows: list[dict[str, Any]], front: list[dict[str, Any]] | None,
              x: str | None, y: str | None, x_sense: str, y_sense: str, no_front: str) -> str:
    lines = [f"# Sweep report: {title}", "",
             f"{len(rows)} points ({_counts(rows) or 'none'}).", ""]
    lines += _md_table(_columns(rows), rows)
    lines += ["", "## Pareto front", ""]
    if front is None:
        lines.append(f"No Pareto front: {no_front}")
    else:
        ok = sum(row["status"] == "ok" for row in rows)
        lines += [f"x = `{x}` ({x_sense}imize), y = `{y}` ({y_sense}imize): "
                  f"{len(front)} of {ok} ok points are on the front.", ""]
        if front:
            lines += _md_table(_front_columns(front, x, y), front)
    return "\n".join(lines) + "\n"


# -- files -----------------------------------------------------------------------------------

def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=_columns(rows))
        writer.writeheader()
        writer.writerows(rows)


def _label(row: dict[str, Any], params: list[str]) -> str:
    return ", ".join(f"{name}={_cell(row.get(name))}" for name in params)


def _plot(rows: list[dict[str, Any]], front: list[dict[str, Any]], x: str, y: str,
          x_sense: str, y_sense: str, title: str, png: Path, svg: Path,
          axes_names: list[str] | None = None) -> None:
    """Every ok point in grey, the Pareto points on top joined by the staircase that bounds
    what the sweep achieved, each labelled with its swept parameters."""
    # Imported here so that reading a sweep does not need matplotlib. The figure is drawn on
    # an explicit Agg canvas, leaving pyplot and the process-wide backend alone.
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ok = [row for row in rows if row["status"] == "ok"
          and _is_number(row.get(x)) and _is_number(row.get(y))]
    # label with the sweep's own axes when the database records them (derived parameters
    # would only repeat them), else with whatever parameters vary
    params = [name for name in axes_names or [] if name in varying_params(rows)] or varying_params(rows)
    with matplotlib.rc_context({"svg.hashsalt": _SVG_SALT, "svg.fonttype": "path"}):
        figure = Figure(figsize=(8, 5.5))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.scatter([r[x] for r in ok], [r[y] for r in ok], s=14, color="0.7",
                     label=f"ok points ({len(ok)})", zorder=2)
        if front:
            # Between two front points the best y reachable keeps the value of the point that
            # is better in x: the step is taken after it when smaller x is better.
            axes.step([r[x] for r in front], [r[y] for r in front],
                      where="post" if x_sense == "min" else "pre", color="tab:red", lw=1.2,
                      zorder=3)
            axes.scatter([r[x] for r in front], [r[y] for r in front], s=36, color="tab:red",
                         label=f"Pareto front ({len(front)})", zorder=4)
            if params:
                # Tied points share a position, so they share one label, a line each.
                labels: dict[tuple, list[str]] = {}
                for row in front:
                    labels.setdefault((row[x], row[y]), []).append(_label(row, params))
                # neighbours on a staircase sit close together: alternate the label side
                for index, (position, lines) in enumerate(labels.items()):
                    above = index % 2 == 0
                    axes.annotate("\n".join(lines), position, xytext=(4, 6 if above else -6),
                                  textcoords="offset points", fontsize=6.5, rotation=20,
                                  va="bottom" if above else "top", rotation_mode="anchor")
        axes.set_xlabel(f"{x} ({'lower' if x_sense == 'min' else 'higher'} is better)")
        axes.set_ylabel(f"{y} ({'lower' if y_sense == 'min' else 'higher'} is better)")
        n_ok = sum(row["status"] == "ok" for row in rows)
        axes.set_title(f"{title}: {len(front)} Pareto points of {len(ok)} plotted "
                       f"({n_ok} ok, {len(rows)} in sweep)")
        axes.margins(x=0.08, y=0.1)  # room for the labels of the outermost points
        axes.grid(True, color="0.9", zorder=0)
        axes.legend(loc="best", fontsize=8)
        figure.tight_layout()
        figure.savefig(png, format="png", dpi=120, metadata={"Software": None})
        figure.savefig(svg, format="svg", metadata={"Date": None})


def _swept_axes(db_path: Path) -> list[str] | None:
    """The axes of the spec that made the sweep, if the database records it."""
    import json

    db = SweepDB.read_only(db_path)
    try:
        spec = db.meta("spec")
    finally:
        db.close()
    return list(json.loads(spec).get("axes", {})) if spec else None


def _title(db_path: Path) -> str:
    """The swept block(s), for headings."""
    db = SweepDB.read_only(db_path)
    try:
        blocks = sorted({point.block for point in db.rows()})
    finally:
        db.close()
    return ", ".join(blocks) or "empty sweep"


def write_report(db_path: Path | str, out_dir: Path | str, x: str | None = None,
                 y: str | None = None, x_sense: str = "min", y_sense: str = "min") -> dict:
    """Write ``report.csv``, ``report.md`` and the Pareto plot ``pareto-<x>-<y>.png``/``.svg``
    into ``out_dir``. Without ``x``/``y``, the axes are ``default_axes()``; a named axis must be
    a numeric metric of the sweep, or ``ValueError`` says which are. When no axis was named
    and the sweep measured nothing to plot (a lint-only sweep, or one whose points all
    failed), the table is still written and the plot is skipped (``png``/``svg`` are None).

    Returns ``{"csv", "markdown", "png", "svg": paths, "x", "y": axes, "front": rows}``.
    """
    _check_sense("x_sense", x_sense)
    _check_sense("y_sense", y_sense)
    db_path, out_dir = Path(db_path), Path(out_dir)
    SweepDB.read_only(db_path).close()  # a clear error for a file that is not a sweep's
    rows = table(db_path)
    title = _title(db_path)

    for name in (x, y):
        if name is not None:
            _check_axis(rows, name)
    named = x is not None or y is not None
    no_front = ""
    try:
        x = x if x is not None else _first_present(rows, DEFAULT_X, "x")
        y = y if y is not None else _first_present(rows, DEFAULT_Y, "y")
    except ValueError as error:
        if named:
            raise
        no_front = str(error)
    plotted = not no_front

    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"csv": out_dir / "report.csv", "markdown": out_dir / "report.md",
                              "png": None, "svg": None, "x": x, "y": y, "front": []}
    if plotted:
        result["front"] = pareto_front(rows, x, y, x_sense, y_sense)
        result["png"] = out_dir / f"pareto-{x}-{y}.png"
        result["svg"] = out_dir / f"pareto-{x}-{y}.svg"
        _plot(rows, result["front"], x, y, x_sense, y_sense, title, result["png"], result["svg"],
              _swept_axes(db_path))
    _write_csv(result["csv"], rows)
    result["markdown"].write_text(_markdown(title, rows, result["front"] if plotted else None,
                                            x, y, x_sense, y_sense, no_front))
    return result
