"""Simulating a design against its golden model: cocotb on Verilator.

``simulate(design, ...)`` generates the Verilog, builds it (once per Verilog, waves setting and
tool versions: builds are cached in ``$HWGEN_CACHE_DIR`` or ``~/.cache/hwgen``, locked so
parallel test workers share one build), packs the inputs into stream words, runs the generic
bench (``sim.bench``), and scores the outputs bit-exactly against ``design.golden``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pickle
import shutil
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np

from hwgen import generate as gen
from hwgen import toolchain
from sim import payload
from sim.bench import JOB_ENV
from sim.scoreboard import Verdict, compare


class SimError(RuntimeError):
    """The simulation could not be built or run (not a mismatch: that is a failed Verdict)."""


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

    @property
    def passed(self) -> bool:
        return self.verdict.passed and not self.problems

    def summary(self) -> dict:
        return {
            "pass": self.passed,
            "vectors": self.vectors,
            "cycles": self.cycles,
            "cycles_per_vector": self.cycles / self.vectors if self.vectors else 0.0,
            "sim_cycles_per_second": self.edges / self.wall if self.wall else 0.0,
            "verdict": str(self.verdict) if not self.problems else "FAIL: " + "; ".join(self.problems),
        }


def cache_root() -> Path:
    return Path(os.environ.get("HWGEN_CACHE_DIR") or Path.home() / ".cache" / "hwgen") / "verilator"


def build_args(waves: bool, directory: Path) -> list[str]:
    return [*toolchain.waiver_args(), *(toolchain.fst_build_args(directory / "lib") if waves else [])]


def build(generated: gen.Generated, waves: bool = False) -> Path:
    """Build the Verilator simulation of ``generated`` (or reuse a cached build); return its
    build folder."""
    import cocotb
    from cocotb_tools.runner import get_runner

    toolchain.use_verilator()
    key_text = json.dumps({
        "verilog": generated.manifest["verilog_sha256"],
        "top": generated.top,
        "args": toolchain.waiver_args(),
        "waves": waves,
        "verilator": toolchain.verilator_version(),
        "cocotb": cocotb.__version__,
    }, sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    directory = cache_root() / f"{generated.top}-{key}"
    done = directory / "hwgen-build-done"
    if done.exists():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _locked(directory.parent / f"{directory.name}.lock"):
        if done.exists():  # another process built it while we waited
            return directory
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        log = directory / "build.log"
        try:
            get_runner("verilator").build(
                sources=[generated.verilog.resolve()],
                hdl_toplevel=generated.top,
                build_dir=directory,
                build_args=build_args(waves, directory),
                waves=waves,
                log_file=log,
            )
        except (SystemExit, Exception) as error:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise SimError(f"Verilator build of {generated.top} failed ({error}); log {log}:\n{tail}") from None
        done.write_text(key_text)
    return directory


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def prepare(design, inputs: Mapping[str, np.ndarray] | None, vectors: int, seed: int) -> Prepared:
    from amaranth.lib.wiring import In, Out

    if inputs is None:
        inputs = design.stimulus(np.random.default_rng(seed), vectors)
    inputs = dict(inputs)
    # map (and so check) the inputs before the golden model sees them
    in_beats = design.fields_to_beats(inputs)
    memories = memory_jobs(design, inputs)
    served = {port for spec in memories.values() for port in (spec["request"], spec["response"])}
    in_shapes = {port: shape for port, shape in port_shapes(design, In).items() if port not in served}
    out_shapes = {port: shape for port, shape in port_shapes(design, Out).items() if port not in served}
    missing = [port for port in in_shapes if port not in in_beats]
    if missing:
        raise ValueError(f"{design.name}: the inputs ({', '.join(sorted(inputs)) or 'none'}) "
                         f"leave input stream {', '.join(missing)} without data")
    expected = design.golden(inputs)
    clash = [f"{name}_trace" for name in memories if f"{name}_trace" in expected]
    if clash:
        raise ValueError(f"{design.name}: output field {clash[0]!r} has the name outputs.npz "
                         f"gives the trace of memory {clash[0][:-len('_trace')]!r}")
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
    init = {}
    for address, word in memory.init.items():
        address, word = int(address), int(word)
        if not 0 <= address < 1 << address_width:
            raise ValueError(f"memory {name}: init address {address} is outside the "
                             f"{address_width}-bit address space")
        if not 0 <= word < 1 << data_width:
            raise ValueError(f"memory {name}: init word at address {address} does not fit "
                             f"data_width={data_width} (unsigned)")
        init[address] = word
    return {
        "kind": memory.kind,
        "request": memory.request,
        "response": memory.response,
        "address_width": address_width,
        "data_width": data_width,
        "latency": latency,
        "init": init,
        "interval": interval,
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
    """What a bench needs to run: the words to drive, the beats to expect, the stall odds.
    The cycle budget covers four cycles per beat, or four times the model's cycle count for a
    block that computes much longer than it streams (a GEMV in memory)."""
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
        "drain_cycles": prepared.drain_cycles,
        "max_cycles": int(4 * total_beats * slowdown) + 10_000,
    }


def score(design, prepared: Prepared, bench: dict, directory: Path | None,
          waves: Path | None = None) -> SimResult:
    """Unpack what the bench collected and compare it with the golden outputs."""
    problems = []
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


def simulate(design, inputs: Mapping[str, np.ndarray] | None = None, *, vectors: int = 1000,
             seed: int = 1, idle: float = 0.0, backpressure: float = 0.0, waves: bool = False,
             out: Path | str | None = None, rtl_out: Path | str = gen.DEFAULT_OUT) -> SimResult:
    """Simulate ``design`` (a Block or a composed graph) on Verilator against its golden model.

    ``inputs`` defaults to ``design.stimulus(rng(seed), vectors)``. ``idle`` is the chance that
    a driver leaves a cycle empty, ``backpressure`` the chance that a monitor holds ready low.
    Results go to ``out`` (default ``<rtl_out>/<ident>/sim``).
    """
    from cocotb_tools.runner import get_runner

    generated = gen.generate(design, rtl_out)
    prepared = prepare(design, inputs, vectors, seed)  # bad inputs fail here, before a build
    build_dir = build(generated, waves)

    directory = Path(out) if out is not None else generated.directory / "sim"
    directory.mkdir(parents=True, exist_ok=True)
    directory = directory.resolve()
    job = {**bench_job(prepared, seed, idle, backpressure, model_cycles(design, prepared.inputs)),
           "result_path": str(directory / "bench-result.pkl")}
    Path(job["result_path"]).unlink(missing_ok=True)
    job_path = directory / "bench-job.pkl"
    with open(job_path, "wb") as f:
        pickle.dump(job, f)

    wave_path = directory / f"{generated.top}.fst" if waves else None
    try:
        get_runner("verilator").test(
            test_module="sim.bench",
            hdl_toplevel=generated.top,
            hdl_toplevel_lang="verilog",
            build_dir=build_dir,
            test_dir=directory,
            test_args=["--trace", "--trace-file", str(wave_path)] if waves else [],
            extra_env={JOB_ENV: str(job_path)},
            results_xml=str(directory / "cocotb-results.xml"),
            log_file=directory / "sim.log",
        )
    except SystemExit as error:
        raise SimError(f"simulation of {generated.top} failed (exit {error.code}); "
                       f"log {directory / 'sim.log'}") from None
    result_path = Path(job["result_path"])
    if not result_path.exists():  # the bench raised before writing its report
        raise SimError(f"the cocotb bench for {generated.top} failed; see {directory / 'sim.log'}")
    with open(result_path, "rb") as f:
        bench = pickle.load(f)
    result = score(design, prepared, bench, directory, wave_path)
    write_results(result, {"seed": seed, "idle": idle, "backpressure": backpressure,
                           "simulator": "verilator",
                           "design": generated.manifest["block"],
                           "param_hash": generated.manifest["param_hash"]})
    return result


def write_results(result: SimResult, context: dict) -> None:
    """``results.json`` (the summary and ``context``) and ``outputs.npz``: the output fields
    and, per memory, ``<memory>_trace`` (see ``memory_trace_arrays``)."""
    summary = {**result.summary(), **context}
    (result.directory / "results.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    save_npz(result.directory / "outputs.npz", {**result.outputs, **memory_trace_arrays(result)})


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
    (Python ints, dtype object) are stored as decimal strings (see ``load_npz``)."""
    np.savez(path, **{name: value.astype(str) if value.dtype == object else value
                      for name, value in fields.items()})


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load fields saved by ``save_npz`` (or by hand): string arrays of decimal integers come
    back as Python ints (dtype object), so any width round-trips. Never unpickles."""
    if not Path(path).exists():
        raise FileNotFoundError(f"stimulus file {path} does not exist")
    fields = {}
    with np.load(path, allow_pickle=False) as npz:
        for name in npz.files:
            value = npz[name]
            if value.dtype.kind == "U":
                try:
                    value = np.vectorize(int, otypes=[object])(value) if value.size else value.astype(object)
                except ValueError:
                    raise ValueError(f"{path}: field '{name}' holds strings that are not integers") from None
            fields[name] = value
    return fields
