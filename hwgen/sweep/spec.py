"""Sweep specifications: a TOML file naming a block, its fixed parameters, the swept axes, the
metrics to collect and a per-point timeout.

    block = "mac_array"
    name = "mac_array_example"        # optional; default: the file's stem
    timeout = 900                     # seconds per point (default 600)
    imports = ["my_block.py"]         # optional: files or modules that register extra blocks

    [fixed]
    vector_length = 16

    [axes]                            # the cartesian product, first axis outermost
    lanes = { pow2 = [1, 16] }        # 1, 2, 4, 8, 16
    tree_stages = { range = [0, 2] }  # 0, 1, 2 (inclusive; optional step = N)
    width = [4, 8, 16]                # an explicit list

    [derived]                         # computed per point from the others: + - * // % **,
    vector_length = "64 // lanes"     # min(), max(), integers and parameter names

    [metrics]                         # any subset
    lint = true
    sim = { vectors = 200, seed = 1 }
    model = { vectors = 1000 }        # the workload passed to block.model()
    synth_generic = true
    synth_ecp5 = { device = "25k", freq = 100, seed = 1 }
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import operator
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

METRICS = ("lint", "sim", "model", "synth_generic", "synth_ecp5")
_METRIC_OPTIONS = {
    "lint": set(),
    "sim": {"vectors", "seed", "idle", "backpressure"},
    "model": None,  # a workload: whatever keys the block's model takes
    "synth_generic": set(),
    "synth_ecp5": {"device", "freq", "seed"},
}
_TOP_KEYS = {"block", "name", "timeout", "imports", "fixed", "axes", "derived", "metrics"}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}


class SpecError(ValueError):
    """The sweep specification is malformed; the message names the key at fault."""


@dataclass(frozen=True)
class SweepSpec:
    block: str
    name: str
    fixed: dict[str, Any]
    axes: dict[str, list[Any]]
    metrics: dict[str, dict[str, Any]]
    timeout: float = 600.0
    imports: tuple[str, ...] = field(default=())
    derived: dict[str, str] = field(default_factory=dict)

    def points(self) -> list[dict[str, Any]]:
        """Every parameter combination, fixed and derived values included, first axis
        outermost."""
        names = list(self.axes)
        points = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            point = {**self.fixed, **dict(zip(names, values))}
            for name, expression in self.derived.items():
                point[name] = evaluate(expression, point, f"derived.{name}")
            points.append(point)
        return points

    def as_dict(self) -> dict[str, Any]:
        return {"block": self.block, "name": self.name, "fixed": self.fixed, "axes": self.axes,
                "derived": self.derived, "metrics": self.metrics, "timeout": self.timeout,
                "imports": list(self.imports)}

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def evaluate(expression: str, names: dict[str, Any], where: str) -> int:
    """Integer arithmetic over parameter names, without Python's eval."""
    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise SpecError(f"{where}: {node.id!r} is not a parameter of this point "
                                f"(known: {', '.join(names)})")
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
                raise SpecError(f"{where}: division by zero in {expression!r} at {names}")
            return _OPERATORS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("min", "max") and node.args and not node.keywords:
            return (min if node.func.id == "min" else max)(walk(arg) for arg in node.args)
        raise SpecError(f"{where}: {expression!r} may use integers, parameter names, "
                        f"+ - * // % **, min() and max() only")

    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise SpecError(f"{where}: {expression!r} is not an expression") from None
    return walk(tree)


def expand_axis(name: str, value: Any) -> list[Any]:
    if isinstance(value, list):
        if not value:
            raise SpecError(f"axes.{name}: an empty list sweeps nothing")
        repeated = sorted({repr(v) for v in value if value.count(v) > 1})
        if repeated:
            raise SpecError(f"axes.{name} lists {', '.join(repeated)} more than once")
        return value
    if isinstance(value, dict) and set(value) <= {"range", "step"} and "range" in value:
        bounds, step = value["range"], value.get("step", 1)
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)):
            raise SpecError(f"axes.{name}.range: expected [first, last] integers, got {bounds!r}")
        if not isinstance(step, int) or step < 1:
            raise SpecError(f"axes.{name}.step: expected a positive integer, got {step!r}")
        if bounds[1] < bounds[0]:
            raise SpecError(f"axes.{name}.range: last {bounds[1]} is below first {bounds[0]}")
        return list(range(bounds[0], bounds[1] + 1, step))
    if isinstance(value, dict) and set(value) == {"pow2"}:
        bounds = value["pow2"]
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) and b >= 1 for b in bounds)):
            raise SpecError(f"axes.{name}.pow2: expected [low, high] positive integers, got {bounds!r}")
        powers = [1 << k for k in range(bounds[1].bit_length()) if bounds[0] <= 1 << k <= bounds[1]]
        if not powers:
            raise SpecError(f"axes.{name}.pow2: no power of two lies in {bounds[0]}..{bounds[1]}")
        return powers
    raise SpecError(f"axes.{name}: expected a list, {{ range = [first, last] }} (optional step) "
                    f"or {{ pow2 = [low, high] }}, got {value!r}")


def parse_spec(data: dict[str, Any], default_name: str = "sweep", base: Path | None = None) -> SweepSpec:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise SpecError(f"unknown key {', '.join(unknown)}; a sweep spec has {', '.join(sorted(_TOP_KEYS))}")
    block = data.get("block")
    if not isinstance(block, str):
        raise SpecError("block: name the block to sweep, e.g. block = \"mac_array\"")
    fixed = data.get("fixed", {})
    axes_in = data.get("axes", {})
    if not isinstance(fixed, dict) or not isinstance(axes_in, dict):
        raise SpecError("fixed and axes must be tables")
    if not axes_in:
        raise SpecError("axes: give at least one swept parameter")
    both = sorted(set(fixed) & set(axes_in))
    if both:
        raise SpecError(f"{', '.join(both)} is both fixed and swept")
    axes = {name: expand_axis(name, value) for name, value in axes_in.items()}
    derived = data.get("derived", {})
    if not isinstance(derived, dict) or not all(isinstance(e, str) for e in derived.values()):
        raise SpecError("derived: expected a table of name = \"expression\" strings")
    clash = sorted(set(derived) & (set(fixed) | set(axes)))
    if clash:
        raise SpecError(f"{', '.join(clash)} is derived and also fixed or swept")

    metrics_in = data.get("metrics", {})
    if not isinstance(metrics_in, dict) or not metrics_in:
        raise SpecError(f"metrics: choose at least one of {', '.join(METRICS)}")
    metrics: dict[str, dict[str, Any]] = {}
    for metric, options in metrics_in.items():
        if metric not in METRICS:
            raise SpecError(f"metrics.{metric} is not a metric; the metrics are {', '.join(METRICS)}")
        if options is False:
            continue
        options = {} if options is True else options
        if not isinstance(options, dict):
            raise SpecError(f"metrics.{metric}: expected true or a table of options")
        allowed = _METRIC_OPTIONS[metric]
        if allowed is not None and set(options) - allowed:
            raise SpecError(f"metrics.{metric}: unknown option {', '.join(sorted(set(options) - allowed))}; "
                            f"allowed {', '.join(sorted(allowed)) or 'none'}")
        metrics[metric] = options
    if "model" in metrics and not metrics["model"]:
        raise SpecError("metrics.model: give the workload, e.g. model = { vectors = 1000 }")

    timeout = data.get("timeout", 600)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise SpecError(f"timeout={timeout!r}: expected a positive number of seconds")
    imports = data.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise SpecError("imports: expected a list of module names or .py paths")
    # .py paths are relative to the spec file, and made absolute so every worker finds them
    imports = [str((base / i).resolve()) if i.endswith(".py") and base is not None else i
               for i in imports]
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
        raise SpecError(f"name={name!r}: use letters, digits, '-' and '_'")
    spec = SweepSpec(block, name, dict(fixed), axes, metrics, float(timeout), tuple(imports),
                     dict(derived))
    spec.points()  # evaluate every derived expression now, so a bad one fails here
    return spec


def load_spec(path: Path | str) -> SweepSpec:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep spec {path} does not exist")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: {error}") from None
    return parse_spec(data, default_name=path.stem, base=path.parent)
