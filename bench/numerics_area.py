"""Area and speed of the floating-point operators (``hwgen.numerics.rtl``): Yosys generic cell
counts of every operator at each preset and latency 0-3, and ECP5 LUT4 count and nextpnr Fmax
of multiply and add at fp16, bf16 and fp32.

    python bench/numerics_area.py [--workers N] [--skip-ecp5] [--only NAME ...] [--write-docs]

What is measured is the operator component itself, not its stream block:

* generic cells: the operator alone, flattened (``synth -flatten``; ``stat``);
* ECP5: the operator between a register on every input and one on its output (a "register
  sandwich"). Out of context, nextpnr times only register-to-register paths, so without the
  input registers the first pipeline stage (and the whole of a combinational operator) would
  go untimed. LUT4 counts are the operator's (the sandwich adds flip-flops only); Fmax is the
  slowest stage, input and output stages included.

``--write-docs`` replaces the text between the ``<!-- numerics-area -->`` markers in
docs/numerics.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
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
from hwgen.numerics import parse_format, rtl  # noqa: E402
from hwgen.synth import synth_ecp5, synth_generic  # noqa: E402

from docs_tables import write_between_markers  # noqa: E402

FORMATS = ["fp16", "bf16", "fp32"]
FUNCTION_FORMATS = ["fp16", "bf16"]
LATENCIES = [0, 1, 2, 3]
ECP5_TARGET = {"device": "25k", "freq": 100.0, "seed": 1}

FP32 = parse_format("fp32")

# name -> (formats, constructor(fmt, latency)); the operators at their default settings. For
# conversions the format is the other end of the conversion.
OPERATORS = {
    "multiply": (FORMATS, lambda f, lat: rtl.FloatMultiplier(f, latency=lat)),
    "add": (FORMATS, lambda f, lat: rtl.FloatAdder(f, latency=lat)),
    "fma": (FORMATS, lambda f, lat: rtl.FloatFMA(f, latency=lat)),
    "min": (FORMATS, lambda f, lat: rtl.FloatMinMax(f, op="min", latency=lat)),
    "compare": (FORMATS, lambda f, lat: rtl.FloatCompare(f, latency=lat)),
    "convert to fp32": (FUNCTION_FORMATS, lambda f, lat: rtl.FloatConverter(f, FP32, latency=lat)),
    "convert from fp32": (FUNCTION_FORMATS,
                          lambda f, lat: rtl.FloatConverter(FP32, f, latency=lat)),
    "int32 to float": (FORMATS, lambda f, lat: rtl.IntToFloat(32, True, f, latency=lat)),
    "float to int32": (FORMATS, lambda f, lat: rtl.FloatToInt(f, 32, True, latency=lat)),
    "exp": (FUNCTION_FORMATS, lambda f, lat: rtl.FloatExp(f, latency=lat)),
    "reciprocal": (FUNCTION_FORMATS, lambda f, lat: rtl.FloatReciprocal(f, latency=lat)),
    "inverse sqrt": (FUNCTION_FORMATS, lambda f, lat: rtl.FloatInverseSqrt(f, latency=lat)),
    "gelu": (FUNCTION_FORMATS, lambda f, lat: rtl.FloatGelu(f, latency=lat)),
}
ECP5_OPERATORS = ["multiply", "add"]


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


def measure(name: str, fmt_name: str, latency: int, target: str) -> dict:
    _, build = OPERATORS[name]
    operator = build(parse_format(fmt_name), latency)
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
        return {"lut4": result["lut4"], "dsp": result["dsp"], "fmax": result["fmax_mhz"]}


def pivot(results: dict, names: list[str], metric: str, digits: int = 0) -> list[str]:
    """Rows: operator and format; columns: latency."""
    header = ["operator", "format"] + [f"latency {lat}" for lat in LATENCIES]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name in names:
        for fmt in OPERATORS[name][0]:
            cells = []
            for latency in LATENCIES:
                value = results.get((name, fmt, latency), {}).get(metric)
                cells.append("n/a" if value is None else f"{value:.{digits}f}")
            lines.append(f"| {name} | {fmt} | " + " | ".join(cells) + " |")
    return lines


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
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(OPERATORS),
                        help="measure only these operators")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args()
    names = [n for n in OPERATORS if not args.only or n in args.only]

    generic = run([(n, f, lat, "generic") for n in names for f in OPERATORS[n][0]
                   for lat in LATENCIES], args.workers)
    out = ["Yosys generic cells of each operator (flattened `synth`, then `stat`):", ""]
    out += pivot(generic, names, "cells")

    ecp5_names = [n for n in ECP5_OPERATORS if n in names]
    if ecp5_names and not args.skip_ecp5:
        ecp5 = run([(n, f, lat, "ecp5") for n in ecp5_names for f in OPERATORS[n][0]
                    for lat in LATENCIES], args.workers)
        target = (f"LFE5U-{ECP5_TARGET['device'].upper()}, nextpnr seed {ECP5_TARGET['seed']}, "
                  f"{ECP5_TARGET['freq']:.0f} MHz target, registered inputs and outputs")
        out += ["", f"ECP5 ({target}): LUT4 count", ""]
        out += pivot(ecp5, ecp5_names, "lut4")
        out += ["", "ECP5 MULT18X18D count", ""]
        out += pivot(ecp5, ecp5_names, "dsp")
        out += ["", "nextpnr Fmax (MHz)", ""]
        out += pivot(ecp5, ecp5_names, "fmax", digits=1)

    text = "\n".join(out)
    print(text)
    if args.write_docs:
        write_between_markers(ROOT / "docs" / "numerics.md", "numerics-area", text)


if __name__ == "__main__":
    main()
