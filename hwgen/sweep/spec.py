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

Everything is checked when the spec is loaded, before any point runs, and an error names the
spec file, the table and the key: parameter names and values against the block's declaration
(so a misspelled name, a float where an integer is needed or a value out of range is refused
at once), metric options against their ranges, the model's workload against the block's own
workload keys, and every derived expression at every point by a bounded evaluator (results
within 2**64, exponents within 0..64, at most ``MAX_POINTS`` points and ``DERIVED_SECONDS`` of
evaluation). A spec whose every point breaks one of the block's rules is refused with the first
reasons; one with some such points runs the others and records those as ``invalid``.
"""

from __future__ import annotations

import ast
import hashlib
import itertools
import json
import math
import operator
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import checks

METRICS = ("lint", "sim", "model", "synth_generic", "synth_ecp5", "formal")
_METRIC_OPTIONS = {
    "lint": set(),
    "sim": {"vectors", "seed", "idle", "backpressure"},
    "model": None,  # a workload: whatever keys the block's model takes
    "synth_generic": set(),
    "synth_ecp5": {"device", "freq", "seed"},
    "formal": {"mode", "depth", "timeout"},
}
FORMAL_MODES = ("bmc", "prove", "cover")   # hwgen.formal.MODES (not imported: it loads Amaranth)
_TOP_KEYS = {"block", "name", "timeout", "imports", "fixed", "axes", "derived", "metrics"}
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
MAX_POINTS = 100_000          # points one spec may expand to
MAX_MAGNITUDE = 1 << 64       # a derived value (and every step of computing it) stays below this
MAX_EXPONENT = 64
MAX_EXPRESSION = 500          # characters of one derived expression
DERIVED_SECONDS = 5.0         # evaluating every derived expression at every point
MAX_WORKLOAD = 10 ** 12       # a model workload count


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
        deadline = time.monotonic() + DERIVED_SECONDS
        for values in itertools.product(*(self.axes[n] for n in names)):
            point = {**self.fixed, **dict(zip(names, values))}
            for name, expression in self.derived.items():
                point[name] = evaluate(expression, point, f"derived.{name}", deadline)
            points.append(point)
        return points

    def as_dict(self) -> dict[str, Any]:
        return {"block": self.block, "name": self.name, "fixed": self.fixed, "axes": self.axes,
                "derived": self.derived, "metrics": self.metrics, "timeout": self.timeout,
                "imports": list(self.imports)}

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def evaluate(expression: str, names: dict[str, Any], where: str, deadline: float | None = None) -> int:
    """Integer arithmetic over parameter names, without Python's eval, bounded: every value
    within ``MAX_MAGNITUDE``, exponents within 0..``MAX_EXPONENT``, and (given ``deadline``, a
    ``time.monotonic()``) no later than that."""
    def bounded(value):
        if abs(value) >= MAX_MAGNITUDE:
            raise SpecError(f"{where}: {expression!r} reaches {_short(value)} at {names}: "
                            f"allowed |value| < 2**64")
        if deadline is not None and time.monotonic() > deadline:
            raise SpecError(f"{where}: evaluating the derived expressions took longer than "
                            f"{DERIVED_SECONDS:g} s")
        return value

    def walk(node):
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return bounded(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise SpecError(f"{where}: {node.id!r} is not a parameter of this point "
                                f"(known: {', '.join(names)})")
            value = names[node.id]
            if isinstance(value, bool) or not isinstance(value, int):
                raise SpecError(f"{where}: {node.id}={value!r} is not an integer")
            return value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and right == 0:
                raise SpecError(f"{where}: division by zero in {expression!r} at {names}")
            if isinstance(node.op, ast.Pow):
                if not 0 <= right <= MAX_EXPONENT:
                    raise SpecError(f"{where}: exponent {_short(right)} in {expression!r} at {names}: "
                                    f"allowed 0..{MAX_EXPONENT}")
                if abs(left) > 1 and right * math.log2(abs(left)) >= 64:
                    raise SpecError(f"{where}: {expression!r} reaches 2**64 or more at {names}: "
                                    f"allowed |value| < 2**64")
            return bounded(_OPERATORS[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -walk(node.operand)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("min", "max") and node.args and not node.keywords:
            return (min if node.func.id == "min" else max)(walk(arg) for arg in node.args)
        raise SpecError(f"{where}: {expression!r} may use integers, parameter names, "
                        f"+ - * // % **, min() and max() only")

    if len(expression) > MAX_EXPRESSION:
        raise SpecError(f"{where}: the expression is {len(expression)} characters long: allowed "
                        f"up to {MAX_EXPRESSION}")
    try:
        tree = ast.parse(expression, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise SpecError(f"{where}: {expression!r} is not an expression") from None
    return walk(tree)


def _short(value: int) -> str:
    return str(value) if abs(value) < 10 ** 30 else f"about 2**{abs(value).bit_length() - 1}"


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
        count = (bounds[1] - bounds[0]) // step + 1
        if count > MAX_POINTS:
            raise SpecError(f"axes.{name}.range: {count} values: allowed up to {MAX_POINTS} points "
                            f"in a sweep")
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
    count = math.prod(len(values) for values in axes.values())
    if count > MAX_POINTS:
        raise SpecError(f"axes: {' x '.join(str(len(v)) for v in axes.values())} = {count} points: "
                        f"allowed up to {MAX_POINTS}")
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
        metrics[metric] = _checked_options(metric, options)
    if "model" in metrics and not metrics["model"]:
        raise SpecError("metrics.model: give the workload, e.g. model = { vectors = 1000 }")

    timeout = data.get("timeout", 600)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not \
            (math.isfinite(timeout) and 0 < timeout <= checks.MAX_SECONDS):
        raise SpecError(f"timeout={timeout!r}: expected a number of seconds, 0 < timeout <= "
                        f"{checks.MAX_SECONDS} (7 days)")
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
    _check_against_block(spec)
    return spec


def _checked_options(metric: str, options: dict[str, Any]) -> dict[str, Any]:
    """A metric's options, each within its range (the model's workload is checked against the
    block, in ``_check_against_block``)."""
    where = f"metrics.{metric}"
    try:
        for key, value in options.items():
            option = f"{where}.{key}"
            if metric == "sim" and key == "vectors":
                checks.vectors(option, _number(option, value))
            elif key == "seed":
                checks.seed(option, _number(option, value))
            elif metric == "sim":  # idle, backpressure
                checks.probability(option, _number(option, value))
            elif metric == "synth_ecp5" and key == "device":
                from ..synth import DEVICES

                if value not in DEVICES:
                    raise SpecError(f"{option}={value!r} is not an ECP5 density: allowed "
                                    f"{', '.join(DEVICES)}")
            elif metric == "synth_ecp5" and key == "freq":
                checks.real(option, _number(option, value), checks.MIN_FREQ_MHZ, checks.MAX_FREQ_MHZ)
            elif metric == "formal" and key == "mode":
                if value not in FORMAL_MODES:
                    raise SpecError(f"{option}={value!r}: allowed {', '.join(FORMAL_MODES)}")
            elif metric == "formal" and key == "depth":
                checks.integer(option, _number(option, value), 1, checks.MAX_FORMAL_DEPTH)
            elif metric == "formal":  # timeout
                checks.real(option, _number(option, value), 1, checks.MAX_SECONDS)
            elif metric == "model":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WORKLOAD:
                    raise SpecError(f"{option}={value!r}: expected an integer count, allowed "
                                    f"0..{MAX_WORKLOAD}")
    except checks.InputError as error:
        raise SpecError(str(error)) from None
    return options


def _number(option: str, value):
    """TOML gives ints and floats; a string or a boolean here is a mistake, not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{option}={value!r}: expected a number")
    return value


def _check_against_block(spec: SweepSpec) -> None:
    """Names and values against the block's parameters, the model's workload against the
    block's, every derived expression at every point; refuse a spec with no valid point."""
    from .. import blocks
    from ..core.params import ParamError
    from .point import import_extras

    import_extras(spec.imports)
    try:
        cls = blocks.block_class(spec.block)
    except ParamError as error:
        raise SpecError(f"block: {error}") from None
    names = cls.params.names()
    for table, values in (("fixed", spec.fixed), ("axes", spec.axes), ("derived", spec.derived)):
        for name in values:
            if name not in names:
                raise SpecError(f"{table}.{name}: {spec.block} has no parameter {name!r}; its "
                                f"parameters are {', '.join(names)}")
    for table, name, value in [*(("fixed", n, v) for n, v in spec.fixed.items()),
                               *(("axes", n, v) for n, values in spec.axes.items() for v in values)]:
        try:
            cls.params[name].check(value)
        except ParamError as error:
            raise SpecError(f"{table}.{name}: {error}") from None
    points = spec.points()  # evaluates every derived expression, bounded
    reasons: list[str] = []
    valid = None
    for point in points:
        try:
            valid = cls(**point)
            break
        except ParamError as error:
            reasons.append(str(error))
    if valid is None:
        shown = "; ".join(list(dict.fromkeys(reasons))[:3])
        raise SpecError(f"every one of the {len(points)} points is invalid: {shown}")
    if "model" in spec.metrics:
        _check_workload(spec, valid)


def _check_workload(spec: SweepSpec, block) -> None:
    """``metrics.model`` names the keys of the block's own workload (from its stimulus), each a
    count; a block whose workload is not a set of counts cannot take one from a spec."""
    import numpy as np

    own = block.workload(block.stimulus(np.random.default_rng(1), 2))
    given = spec.metrics["model"]
    not_counts = [key for key, value in own.items()
                  if isinstance(value, bool) or not isinstance(value, int)]
    if not_counts:
        raise SpecError(f"metrics.model: {spec.block}'s model takes a workload of its inputs "
                        f"({not_counts[0]!r} is not a count); measure it with sim, whose points "
                        f"record model_sim_cycles")
    unknown = sorted(set(given) - set(own))
    if unknown:
        raise SpecError(f"metrics.model.{unknown[0]}: {spec.block}'s workload has no {unknown[0]!r}; "
                        f"its keys are {', '.join(own)}")
    absent = [key for key in own if key not in given]
    if absent:
        raise SpecError(f"metrics.model: {spec.block}'s workload needs {', '.join(absent)} "
                        f"(its keys are {', '.join(own)})")


def load_spec(path: Path | str) -> SweepSpec:
    """Read and check a spec file; every error names the file."""
    path = checks.input_file("sweep spec", path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(f"{path}: not a text (UTF-8) TOML file: byte {error.start} is "
                        f"{error.object[error.start:error.start + 1]!r}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{path}: {error}") from None
    try:
        return parse_spec(data, default_name=path.stem, base=path.parent)
    except SpecError as error:
        raise SpecError(f"{path}: {error}") from None
