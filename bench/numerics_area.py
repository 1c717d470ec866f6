"""Area and speed of the floating-point operators (``hwgen.numerics.rtl``): Yosys generic cell
counts of every operator at each preset and latency 0-3, and ECP5-85k LUT4, FF and DSP counts
and nextpnr Fmax of the pipelined operators (multiply, add, FMA, the accumulator, and the
function units reciprocal, rsqrt, exp and GELU at their default settings) at every latency of
their plans; and the searches that place those plans.

    python bench/numerics_area.py [--workers N] [--skip-ecp5] [--skip-generic] [--only NAME ...]
                                  [--write-docs]
    python bench/numerics_area.py --search-plans FloatAdder ... [--plan-formats fp16 ...]
                                  [--from-full]
    python bench/numerics_area.py --search-ranks FloatReciprocal ...

What is measured is the operator component itself, not its stream block:

* generic cells: the operator alone, flattened (``synth -flatten``; ``stat``);
* ECP5: the operator between a register on every input and one on its output (a "register
  sandwich"). Out of context, nextpnr times only register-to-register paths, so without the
  input registers the first pipeline stage (and the whole of a combinational operator) would
  go untimed. LUT4 counts are the operator's (the sandwich adds flip-flops only); Fmax is the
  slowest stage, input and output stages included.

``--write-docs`` replaces the tables between the ``<!-- numerics-area -->`` (generic) and the
ECP5 markers (``ECP5_SECTIONS``) in docs/numerics.md, and writes the operators measured into
``hwgen/numerics/fmax.json``, the table ``target_mhz`` chooses a latency from. Every ECP5 point
measured is also kept in ``bench/numerics_ecp5.json`` (operators not measured in a run keep
their points), so that a run of one operator (``--only fma``) rewrites the docs tables it
shares with others.

``--search-plans``: for each latency, the cut points to register (``hwgen.numerics.plans``),
chosen greedily by measured Fmax; prints each step and the plan to paste. ``--search-ranks``:
the same for a function unit's kinds of cut point (``hwgen.numerics.plans.FUNCTIONS``).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from amaranth.back import verilog  # noqa: E402
from amaranth.hdl import Elaboratable, Module, Signal  # noqa: E402

from hwgen.generate import Generated  # noqa: E402
from hwgen.numerics import parse_format, plans, rtl, timing  # noqa: E402
from hwgen.numerics.plans import max_latency  # noqa: E402
from hwgen.synth import synth_ecp5, synth_generic  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

FORMATS = ["fp16", "bf16", "fp32"]
FUNCTION_FORMATS = ["fp16", "bf16"]
LATENCIES = [0, 1, 2, 3]

FP32 = parse_format("fp32")



def _unit(cls, **settings):
    """The constructor of an operator taking the format first, at ``settings``."""
    return lambda fmt, latency, cuts=None: cls(fmt, latency=latency, cuts=cuts, **settings)


# name -> (formats, constructor(fmt, latency, cuts)); the operators at their default settings.
# For the conversion rows the format is the other end of the conversion; "convert" and
# "to_int" (ECP5 and fmax.json only) name both ends, "fp32>bf16", as fp_convert's target_mhz
# looks them up.
OPERATORS = {
    "multiply": (FORMATS, _unit(rtl.FloatMultiplier)),
    "add": (FORMATS, _unit(rtl.FloatAdder)),
    "fma": (FORMATS, _unit(rtl.FloatFMA)),
    "minmax": (FORMATS, _unit(rtl.FloatMinMax, op="min")),
    "compare": (FORMATS, _unit(rtl.FloatCompare)),
    "convert to fp32": (FUNCTION_FORMATS, lambda f, lat, cuts=None: rtl.FloatConverter(f, FP32, latency=lat, cuts=cuts)),
    "convert from fp32": (FUNCTION_FORMATS,
                          lambda f, lat, cuts=None: rtl.FloatConverter(FP32, f, latency=lat, cuts=cuts)),
    "int32 to float": (FORMATS, lambda f, lat, cuts=None: rtl.IntToFloat(32, True, f, latency=lat, cuts=cuts)),
    "float to int32": (FORMATS, lambda f, lat, cuts=None: rtl.FloatToInt(f, 32, True, latency=lat, cuts=cuts)),
    "convert": (["fp16>fp32", "bf16>fp32", "fp32>fp16", "fp32>bf16", "int32>fp16", "int32>bf16",
                 "int32>fp32"], lambda pair, lat, cuts=None: _converter(pair, lat, cuts)),
    "to_int": (["fp16>int32", "bf16>int32", "fp32>int32"],
               lambda pair, lat, cuts=None: _converter(pair, lat, cuts)),
    "exp": (FUNCTION_FORMATS, _unit(rtl.FloatExp)),
    "reciprocal": (FUNCTION_FORMATS, _unit(rtl.FloatReciprocal)),
    "rsqrt": (FUNCTION_FORMATS, _unit(rtl.FloatInverseSqrt)),
    "gelu": (FUNCTION_FORMATS, _unit(rtl.FloatGelu)),
    # the accumulator's latency is that of each of its adders (ECP5 only: it is many adders)
    "accumulate": (FORMATS, lambda f, lat, cuts=None: rtl.FloatAccumulator(f, adder_latency=lat)),
}


def _converter(pair: str, latency: int, cuts):
    """The conversion ``pair`` names, ``"fp32>bf16"`` or ``"int32>fp16"`` (signed 32-bit)."""
    source, target = pair.split(">")
    if source == "int32":
        return rtl.IntToFloat(32, True, parse_format(target), latency=latency, cuts=cuts)
    if target == "int32":
        return rtl.FloatToInt(parse_format(source), 32, True, latency=latency, cuts=cuts)
    return rtl.FloatConverter(parse_format(source), parse_format(target), latency=latency,
                              cuts=cuts)


GENERIC_OPERATORS = [name for name in OPERATORS if name not in ("accumulate", "convert", "to_int")]
# the pipelined operators: their Fmax at every latency of their plan is measured on ECP5-85k
# and shipped as hwgen/numerics/fmax.json (target_mhz reads it)
ECP5_OPERATORS = list(timing.PLANS)
# docs/numerics.md's markers and the operators of each table
ECP5_SECTIONS = {"numerics-fmax": ["multiply", "add", "fma"], "numerics-accumulate": ["accumulate"],
                 "numerics-functions": ["reciprocal", "rsqrt", "exp", "gelu"],
                 "numerics-small": ["minmax", "compare", "convert", "to_int"]}
ECP5_TARGET = {"device": "85k", "freq": 125.0, "seed": 1}
# every ECP5 point measured, by operator, format and latency (what the docs tables show)
ECP5_RESULTS = ROOT / "bench" / "numerics_ecp5.json"


class Sandwich(Elaboratable):
    """``operator`` with a register on each input port and on each output port."""

    def __init__(self, operator):
        self.operator = operator
        members = operator.signature.members
        self.inputs = {name: Signal(len(getattr(operator, name)), name=f"in_{name}")
                       for name, member in members.items() if member.flow.name == "In"
                       and name != "en"}
        self.outputs = {name: Signal(len(getattr(operator, name)), name=f"out_{name}")
                        for name, member in members.items() if member.flow.name == "Out"}

    def ports(self):
        return [*self.inputs.values(), *self.outputs.values()]

    def elaborate(self, platform):
        m = Module()
        m.submodules.operator = self.operator
        for name, port in self.inputs.items():
            staged = Signal.like(port, name=f"reg_{name}")
            m.d.sync += staged.eq(port)
            m.d.comb += getattr(self.operator, name).eq(staged)
        for name, port in self.outputs.items():
            m.d.sync += port.eq(getattr(self.operator, name))
        return m


def _generated(work: Path, design, ports, top: str) -> Generated:
    path = work / f"{top}.v"
    path.write_text(verilog.convert(design, ports=ports, name=top, emit_src=False))
    return Generated(directory=work, verilog=path, manifest={"top": top})


def _build(name: str, fmt_name: str, latency: int, cuts=None):
    _, build = OPERATORS[name]
    return build(fmt_name if ">" in fmt_name else parse_format(fmt_name), latency, cuts)


def measure(name: str, fmt_name: str, latency: int, target: str) -> dict:
    operator = _build(name, fmt_name, latency)
    top = re.sub(r"\W", "_", f"{name}_{fmt_name}_l{latency}")
    with tempfile.TemporaryDirectory(prefix="hwgen-numerics-area-") as scratch:
        work = Path(scratch)
        if target == "generic":
            ports = [getattr(operator, n) for n in operator.signature.members]
            result = synth_generic(_generated(work, operator, ports, top), progress=lambda _: None)
            return {"cells": result["cells"]}
        sandwich = Sandwich(operator)
        result = synth_ecp5(_generated(work, sandwich, sandwich.ports(), top),
                            progress=lambda _: None, **ECP5_TARGET)
        return {"lut4": result["lut4"], "ff": result["ff"], "dsp": result["dsp"], "fmax": result["fmax_mhz"]}


# --search-plans: the operators whose cut points a latency places, by class name, with the
# configurations (OPERATORS row, format) whose slowest Fmax the search raises (--plan-formats
# narrows the arithmetic operators' formats)
PLANNED = {
    "FloatAdder": [("add", f) for f in FORMATS],
    "FloatFMA": [("fma", f) for f in FORMATS],
    "FloatMultiplier": [("multiply", f) for f in FORMATS],
    "FloatCompare": [("compare", f) for f in FORMATS] + [("minmax", f) for f in FORMATS],
    # FloatConverter and IntToFloat share one plan (fp_convert's latency)
    "FloatConverter": [("convert", pair) for pair in ("fp32>fp16", "fp32>bf16", "fp16>fp32",
                                                      "int32>fp16", "int32>fp32")],
    "FloatToInt": [("to_int", pair) for pair in OPERATORS["to_int"][0]],
}
# --search-ranks: the function units whose cut points come in kinds (hwgen.numerics.plans)
# (class name -> plans.FUNCTIONS name)
RANKED = {"FloatExp": "exp", "FloatGelu": "gelu", "FloatInverseSqrt": "rsqrt",
          "FloatReciprocal": "reciprocal"}


def sandwich_fmax(name: str, fmt_name: str, cuts: tuple[str, ...]) -> float:
    """nextpnr Fmax of operator ``name`` (an OPERATORS row, at its default settings) with
    registers at exactly ``cuts`` (none at the output)."""
    operator = _build(name, fmt_name, len(cuts), cuts)
    with tempfile.TemporaryDirectory(prefix="hwgen-numerics-plan-") as scratch:
        sandwich = Sandwich(operator)
        result = synth_ecp5(_generated(Path(scratch), sandwich, sandwich.ports(), "plan"),
                            progress=lambda _: None, **ECP5_TARGET)
    return result["fmax_mhz"]


def _fmaxes(pool, configs: list[tuple[str, str]], cuts: tuple[str, ...]) -> list[float]:
    """:func:`sandwich_fmax` of each configuration with registers at ``cuts``, in parallel."""
    futures = [pool.submit(sandwich_fmax, name, fmt, cuts) for name, fmt in configs]
    return [future.result() for future in futures]


def _shown(configs: list[tuple[str, str]], values: list[float]) -> str:
    return ", ".join(f"{name} {fmt} {fmax:.1f}" for (name, fmt), fmax in zip(configs, values))


def greedy_rank(label: str, points: tuple[str, ...], configs: list[tuple[str, str]],
                workers: int | None, *, stop_when_flat: bool) -> tuple[str, ...]:
    """The order in which the kinds of ``points`` (``plans.cut_kind``: a point is its own kind
    unless it carries a step number) are registered, placed by measurement: each step adds
    the kind (every point of it) that raises the slowest configuration's Fmax most (greedy; an
    exhaustive search is C(points, k) place-and-routes per latency). ``configs``: (OPERATORS
    row, format) pairs. Prints each step. With ``stop_when_flat`` the search stops after two
    steps in a row that raised nothing and drops them (the kinds left no longer shorten the
    critical path); else every kind is ranked."""
    kinds = list(dict.fromkeys(plans.cut_kind(point) for point in points))

    rank: list[str] = []
    with cf.ProcessPoolExecutor(workers) as pool:
        baseline = _fmaxes(pool, configs, ())
        print(f"{label} no cuts: {_shown(configs, baseline)} MHz", flush=True)
        best_so_far, kept = min(baseline), 0
        while len(rank) < len(kinds) and not (stop_when_flat and len(rank) - kept >= 2):
            trials = {}
            for kind in kinds:
                if kind not in rank:
                    cuts = tuple(p for p in points if plans.cut_kind(p) in rank + [kind])
                    trials[kind] = (cuts, _fmaxes(pool, configs, cuts))
            best = max(trials, key=lambda kind: (min(trials[kind][1]), sum(trials[kind][1])))
            rank.append(best)
            cuts, values = trials[best]
            if min(values) > best_so_far:
                best_so_far, kept = min(values), len(rank)
            print(f"{label} rank {len(rank)}: {best} (latency {len(cuts)}): "
                  f"{_shown(configs, values)} MHz", flush=True)
    return tuple(rank[:kept]) if stop_when_flat else tuple(rank)


def greedy_removal(label: str, points: tuple[str, ...], configs: list[tuple[str, str]],
                   workers: int | None) -> tuple[str, ...]:
    """Backward elimination, the reverse of :func:`greedy_rank`: from every point registered,
    each step leaves out the point whose absence costs the slowest configuration's Fmax least,
    down to none. Returns the points in the order a rank adds them (the last removed first),
    so latency k registers the k points that survived longest. Where the cuts only pay in
    combination (a long stage split in two needs both of its cuts), adding one at a time
    cannot see it and removing one at a time can. Prints each step."""
    kept, removed = list(points), []
    with cf.ProcessPoolExecutor(workers) as pool:
        everything = _fmaxes(pool, configs, tuple(kept))
        print(f"{label} every cut: {_shown(configs, everything)} MHz", flush=True)
        while kept:
            trials = {point: _fmaxes(pool, configs, tuple(p for p in kept if p != point))
                      for point in kept}
            best = max(trials, key=lambda point: (min(trials[point]), sum(trials[point])))
            kept.remove(best)
            removed.append(best)
            print(f"{label} latency {len(kept)}: without {best}: "
                  f"{_shown(configs, trials[best])} MHz", flush=True)
    return tuple(reversed(removed))


def search_plans(cls_name: str, formats: list[str], workers: int | None, *,
                 from_full: bool = False) -> dict[int, tuple[str, ...]]:
    """The cuts each latency registers: latency k keeps latency k-1's cuts and adds the one
    that raises the slowest configuration's Fmax most (:func:`greedy_rank` over the cut
    points, every one ranked), or with ``from_full`` latency k is latency k+1 without the cut
    that costs least (:func:`greedy_removal`)."""
    points = getattr(rtl, cls_name).CUTS
    configs = [(name, fmt) for name, fmt in PLANNED[cls_name] if ">" in fmt or fmt in formats]
    if from_full:
        rank = greedy_removal(cls_name, points, configs, workers)
    else:
        rank = greedy_rank(cls_name, points, configs, workers, stop_when_flat=False)
    return plans.ranked_plan(points, rank)


def search_ranks(cls_name: str, formats: list[str], workers: int | None) -> tuple[str, ...]:
    """A function unit's ``RANK``: :func:`greedy_rank` over its kinds of cut point at its
    default size, stopping where the Fmax stops rising."""
    function = plans.FUNCTIONS[RANKED[cls_name]]
    configs = [(RANKED[cls_name], fmt) for fmt in formats]
    return greedy_rank(cls_name, function.points(function.default), configs, workers,
                       stop_when_flat=True)


def pivot(results: dict, names: list[str], metric: str, digits: int = 0,
          latencies: dict[str, list[int]] | None = None) -> list[str]:
    """Rows: operator and format; columns: latency (each operator's own, else LATENCIES)."""
    columns = sorted({lat for name in names for lat in (latencies or {}).get(name, LATENCIES)})
    header = ["operator", "format"] + [f"latency {lat}" for lat in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        for fmt in OPERATORS[name][0]:
            cells = []
            for latency in columns:
                value = results.get((name, fmt, latency), {}).get(metric)
                cells.append("" if value is None else f"{value:.{digits}f}")
            lines.append(f"| {name} | {fmt} | " + " | ".join(cells) + " |")
    return lines


def plan_latencies(name: str) -> list[int]:
    return list(range(max_latency(timing.PLANS[name]) + 1))


def write_table(results: dict, names: list[str]) -> None:
    """hwgen/numerics/fmax.json: the Fmax of each operator, format and latency, with the hash
    of the sources each operator's figures measured (tests/numerics/test_timing.py checks they
    are current). Operators not measured in this run keep their figures."""
    data = timing.table() if timing.TABLE.exists() else {"fmax": {}, "source_hash": {}}
    data = {"fabric": timing.FABRIC, "fmax": dict(data["fmax"]),
            "source_hash": dict(data["source_hash"])}
    for name in names:
        data["fmax"][name] = {fmt: [results[(name, fmt, lat)]["fmax"] for lat in plan_latencies(name)]
                              for fmt in OPERATORS[name][0]}
        data["source_hash"][name] = timing.source_hash(name)
    timing.TABLE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {timing.TABLE} ({', '.join(names)})", file=sys.stderr)


def run(jobs: list[tuple[str, str, int, str]], workers: int | None) -> dict:
    results = {}
    with cf.ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(measure, *job): job for job in jobs}
        for future in cf.as_completed(futures):
            name, fmt, latency, target = futures[future]
            try:
                results[(name, fmt, latency)] = future.result()
            except Exception as error:  # report and go on: one failed point is not the table
                print(f"  {name} {fmt} latency {latency} {target}: FAILED: {error}",
                      file=sys.stderr)
                continue
            print(f"  {name} {fmt} latency {latency} {target}: {results[(name, fmt, latency)]}",
                  file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--skip-ecp5", action="store_true")
    parser.add_argument("--skip-generic", action="store_true",
                        help="only the ECP5 tables (and fmax.json): the generic synthesis of the "
                             "function units takes about half an hour")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(OPERATORS),
                        help="measure only these operators")
    parser.add_argument("--write-docs", action="store_true")
    parser.add_argument("--search-plans", nargs="+", metavar="CLASS", choices=sorted(PLANNED),
                        help="place each latency's cuts of these operators by measured Fmax "
                             "(ECP5-85k, at --plan-formats) and print the PLAN")
    parser.add_argument("--search-ranks", nargs="+", metavar="CLASS", choices=sorted(RANKED),
                        help="order the kinds of cut point of these function units by measured "
                             "Fmax (ECP5-85k, at fp16 and bf16) and print the RANK")
    parser.add_argument("--plan-formats", nargs="+", default=FORMATS, metavar="FMT",
                        help="the formats whose slowest Fmax the plan search raises")
    parser.add_argument("--from-full", action="store_true",
                        help="--search-plans by removing cuts from the full set one at a time "
                             "(backward elimination) instead of adding them")
    args = parser.parse_args()
    if args.search_ranks:
        for cls_name in args.search_ranks:
            rank = search_ranks(cls_name, FUNCTION_FORMATS, args.workers)
            print(f"{cls_name}.RANK = {rank}")
        return
    if args.search_plans:
        for cls_name in args.search_plans:
            plan = search_plans(cls_name, args.plan_formats, args.workers,
                                from_full=args.from_full)
            print(f"{cls_name}.PLAN = {plan}")
        return
    names = [n for n in OPERATORS if not args.only or n in args.only]

    generic_names = [n for n in names if n in GENERIC_OPERATORS]
    if generic_names and not args.skip_generic:
        generic = run([(n, f, lat, "generic") for n in generic_names for f in OPERATORS[n][0]
                       for lat in LATENCIES], args.workers)
        text = "\n".join(["Yosys generic cells of each operator (flattened `synth`, then `stat`):", ""]
                         + pivot(generic, generic_names, "cells"))
        print(text)
        if args.write_docs and set(GENERIC_OPERATORS) <= set(generic_names):
            write_between_markers(ROOT / "docs" / "numerics.md", "numerics-area", text)
        elif args.write_docs:  # the table has a row for every operator; --only measured some
            print("docs table numerics-area not written: it needs every operator measured "
                  "(no --only)", file=sys.stderr)

    ecp5_names = [n for n in ECP5_OPERATORS if n in names]
    if not ecp5_names or args.skip_ecp5:
        return
    ecp5 = run([(n, f, lat, "ecp5") for n in ecp5_names for f in OPERATORS[n][0]
                for lat in plan_latencies(n)], args.workers)
    complete = [n for n in ecp5_names
                if all((n, f, lat) in ecp5 for f in OPERATORS[n][0] for lat in plan_latencies(n))]
    if args.write_docs and complete:
        write_table(ecp5, complete)
        ecp5 = save_results(ecp5, complete)
    # docs/numerics.md: one table per marker, written when all of its operators are measured
    # at the current plans (in this run or, for the others, an earlier one)
    for marker, section in ECP5_SECTIONS.items():
        if not set(section) & set(ecp5_names):
            continue
        text = "\n".join(ecp5_tables(ecp5, section))
        print(text)
        missing = [n for n in section if not all((n, f, lat) in ecp5 for f in OPERATORS[n][0]
                                                 for lat in plan_latencies(n))]
        if args.write_docs and not missing:
            write_between_markers(ROOT / "docs" / "numerics.md", marker, text)
        elif args.write_docs:
            print(f"docs table {marker} not written: {', '.join(missing)} not measured at "
                  f"every latency of the current plan", file=sys.stderr)


def save_results(ecp5: dict, names: list[str]) -> dict:
    """Merge this run's points of ``names`` into ECP5_RESULTS (an operator measured now
    replaces all its earlier points); returns every point kept, as ``run`` gives them."""
    stored = json.loads(ECP5_RESULTS.read_text()) if ECP5_RESULTS.exists() else {}
    for name in names:
        stored[name] = {fmt: [ecp5[(name, fmt, lat)] for lat in plan_latencies(name)]
                        for fmt in OPERATORS[name][0]}
    ECP5_RESULTS.write_text(json.dumps(stored, indent=1, sort_keys=True) + "\n")
    return {(name, fmt, latency): point for name, formats in stored.items()
            for fmt, points in formats.items() for latency, point in enumerate(points)}


def ecp5_tables(ecp5: dict, names: list[str]) -> list[str]:
    """LUT4, flip-flop, DSP and Fmax tables of ``names`` (rows) by latency (columns)."""
    columns = {n: plan_latencies(n) for n in names}
    target = (f"LFE5UM-{ECP5_TARGET['device'].upper()}, nextpnr seed {ECP5_TARGET['seed']}, "
              f"{ECP5_TARGET['freq']:.0f} MHz target, registered inputs and outputs; each "
              f"latency's registers placed by its plan")
    out = [f"ECP5 ({target}): LUT4 count", ""]
    out += pivot(ecp5, names, "lut4", latencies=columns)
    out += ["", "ECP5 flip-flops", ""]
    out += pivot(ecp5, names, "ff", latencies=columns)
    out += ["", "ECP5 MULT18X18D count", ""]
    out += pivot(ecp5, names, "dsp", latencies=columns)
    out += ["", "nextpnr Fmax (MHz)", ""]
    out += pivot(ecp5, names, "fmax", digits=1, latencies=columns)
    return out


if __name__ == "__main__":
    main()
