"""The compiled bench, host side: the build's layout, the run's settings and files, the report.

Before a run the host decides the layout (``layout_for``: which agent on which port, store
sizes, refusing a stimulus too large for them), writes the stores' contents
(``write_inputs``: ``in_<port>.bin``, ``mem_<name>.init``) into the run's folder and computes
the settings cocotb applies (``settings``). After it, ``collect`` reads what the cells wrote
(``out_<port>.log``, ``trace_<port>.log``, ``mem_<name>.log`` and ``.image``, ``xcheck.log``)
and the status ports cocotb read, and assembles the same report the python bench gives
(``sim.stream.assemble_report``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from sim import flash, ram
from sim.compiled.top import NEVER, BenchLayout, Memory, Port
from sim.stream import DRAIN_CYCLES, assemble_report

# Store sizes come in buckets, powers of four words, so that runs of similar size share one
# build: a source store holds at least 2^16 words (every routine run, the flow's included, fits
# one build per design), a RAM at least 2^12 (or its whole address space if smaller), a flash
# channel at least 2^6 pages. A store holds at most 2^24 words and 2^31 bits.
SOURCE_MIN_LOG2 = 16
RAM_MIN_LOG2 = 12
PAGES_MIN_LOG2 = 6
MAX_WORDS_LOG2 = 24
MAX_BITS = 1 << 31


class CapacityError(ValueError):
    """A stimulus does not fit the compiled bench's stores; the message names the limit."""


def ceil_log2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


def bucket(needed_log2: int, minimum: int) -> int:
    """The store size (log2) for ``needed_log2``: at least ``minimum``, rounded up to even."""
    size = max(minimum, needed_log2)
    return size + (size - minimum) % 2


def ram_depth_log2(address_width: int, size: int) -> int:
    """Words a RAM's store holds (log2): its declared ``size`` in a bucket, at most the
    address space. Both benches serve exactly these words."""
    return min(address_width, bucket(ceil_log2(size), RAM_MIN_LOG2))


def _check_store(what: str, words_log2: int, width: int) -> None:
    if words_log2 > MAX_WORDS_LOG2:
        raise CapacityError(f"{what} needs a store of 2^{words_log2} words: the compiled bench's "
                            f"limit is 2^{MAX_WORDS_LOG2} words per store (use --bench python)")
    if (1 << words_log2) * max(1, width) > MAX_BITS:
        raise CapacityError(f"{what} needs a store of 2^{words_log2} words x {width} bits: the "
                            f"compiled bench's limit is 2^31 bits per store (use --bench python)")


def layout_for(dut: str, ports: list[dict], job: dict) -> BenchLayout:
    """The layout of ``job`` (``sim.runner.bench_job``) around the design whose generated
    module is ``dut`` with ``ports`` (the manifest's list)."""
    ports = tuple(Port(p["name"], p["direction"], int(p["width"])) for p in ports
                  if p["name"] not in ("clk", "rst"))
    widths = {p.name: p.width for p in ports}

    def payload(port: str) -> int:
        return widths.get(f"{port}__payload", 0)

    longest = max((len(words) for words in job["inputs"].values()), default=0)
    # one word more than the longest stream: the store never wraps onto word 0
    depth_log2 = bucket(ceil_log2(longest + 1), SOURCE_MIN_LOG2)
    for port, words in job["inputs"].items():
        _check_store(f"input stream {port} ({len(words)} beats)", depth_log2, payload(port))
    memories = []
    for name, spec in job["memories"].items():
        request, response = spec["request"], spec["response"]
        if spec["kind"] == "ram":
            memories.append(Memory(kind="ram", name=name, request=request, response=response,
                                   request_width=payload(request), data_width=int(spec["data_width"]),
                                   depth_log2=int(spec["depth_log2"]),
                                   address_width=int(spec["address_width"])))
            _check_store(f"memory {name}", int(spec["depth_log2"]), int(spec["data_width"]))
        elif spec["kind"] == "paged":
            top_page = max(spec["pages"], default=0)
            pages_log2 = bucket(ceil_log2(top_page + 1), PAGES_MIN_LOG2)
            page_beats = int(spec["page_beats"])
            _check_store(f"memory {name} (pages 0..{top_page})",
                         ceil_log2((1 << pages_log2) * page_beats), payload(response))
            memories.append(Memory(kind="paged", name=name, request=request, response=response,
                                   request_width=payload(request), data_width=payload(response),
                                   page_beats=page_beats, pages_log2=pages_log2))
        else:
            raise ValueError(f"memory {name}: the compiled bench has no model of kind {spec['kind']!r}")
    return BenchLayout(
        dut=dut, ports=ports,
        sources=tuple((port, payload(port)) for port in job["inputs"]),
        source_depth_log2=depth_log2,
        sinks=tuple((port, payload(port)) for port in job["outputs"]),
        traces=tuple((port, payload(port)) for port in job["traces"]),
        memories=tuple(memories),
    )


def settings(layout: BenchLayout, job: dict) -> dict[str, int]:
    """The run's settings: ``hwgen_bench`` input port -> value."""
    stalls = job["stalls"]
    values = {"max_cycles": int(job["max_cycles"]),
              "drain": max(DRAIN_CYCLES, int(job.get("drain_cycles", 0)))}
    for i, (port, _) in enumerate(layout.sources):
        seed, limit = stalls["sources"][port]
        values |= {f"src{i}_count": len(job["inputs"][port]), f"src{i}_limit": limit, f"src{i}_seed": seed}
    for i, (port, _) in enumerate(layout.sinks):
        seed, limit = stalls["sinks"][port]
        values |= {f"snk{i}_expected": int(job["outputs"][port]), f"snk{i}_limit": limit,
                   f"snk{i}_seed": seed}
    for i, mem in enumerate(layout.memories):
        spec = job["memories"][mem.name]
        plan = stalls["memories"][mem.name]
        values |= {f"mem{i}_latency": int(spec["latency"]),
                   f"mem{i}_ready_seed": plan["ready"][0], f"mem{i}_ready_limit": plan["ready"][1],
                   f"mem{i}_idle_seed": plan["idle"][0], f"mem{i}_idle_limit": plan["idle"][1]}
        if mem.kind == "ram":
            values[f"mem{i}_interval"] = int(spec.get("interval", 1))
        else:
            beat = Fraction(spec["beat_cycles"])
            values |= {f"mem{i}_scale": beat.denominator, f"mem{i}_beat_int": beat.numerator // beat.denominator,
                       f"mem{i}_beat_frac": beat.numerator % beat.denominator}
    for name, value in values.items():
        if not 0 <= value < 1 << (48 if name == "max_cycles" else 32):
            raise ValueError(f"compiled bench setting {name}={value} does not fit its port")
    return values


def status_ports(layout: BenchLayout) -> list[str]:
    """The ``hwgen_bench`` outputs cocotb reads when the run is done."""
    names = ["last_edge", "timed_out"]
    names += [f"src{i}_{s}" for i in range(len(layout.sources)) for s in ("sent", "first")]
    names += [f"snk{i}_received" for i in range(len(layout.sinks))]
    names += [f"mem{i}_outstanding" for i in range(len(layout.memories))]
    return names


def _binary(words, width: int) -> bytes:
    """Words for ``$fread``: each big-endian in ceil(width / 8) bytes."""
    size = max(1, -(-width // 8))
    return b"".join(int(w).to_bytes(size, "big") for w in words)


def write_inputs(layout: BenchLayout, job: dict, directory: Path) -> None:
    """The stores' contents, and no file a previous run's cells wrote."""
    directory = Path(directory)
    for stale in [*directory.glob("out_*.log"), *directory.glob("trace_*.log"), *directory.glob("mem_*.log"),
                  *directory.glob("mem_*.image"), directory / layout.XCHECK_FILE]:
        stale.unlink(missing_ok=True)
    for port, width in layout.sources:
        (directory / layout.source_file(port)).write_bytes(_binary(job["inputs"][port], width))
    for mem in layout.memories:
        spec = job["memories"][mem.name]
        path = directory / layout.memory_files(mem.name)["init"]
        if mem.kind == "ram":
            digits = max(1, -(-mem.data_width // 4))
            path.write_text("".join(f"@{address:x}\n{int(word):0{digits}x}\n"
                                    for address, word in sorted(spec["init"].items())))
        else:  # every page up to the last, zeros where the image has none
            pages = spec["pages"]
            zero = [0] * mem.page_beats
            last = max(pages, default=-1)
            path.write_bytes(_binary([w for page in range(last + 1) for w in pages.get(page, zero)],
                                     mem.data_width))


class _Log:
    """One cell's log: (edges, values); a value with X or Z bits is recorded as a problem."""

    def __init__(self, path: Path, what: str, problems: list[str]):
        self.edges: list[int] = []
        self.values: list[int] = []
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            cycle, _, value = line.partition(" ")
            edge = int(cycle, 16)
            try:
                number = int(value, 16)
            except ValueError:  # x or z digits: Icarus saw an unknown value
                problems.append(f"X/Z on {what} at edge {edge}")
                number = 0
            self.edges.append(edge)
            self.values.append(number)


def _read_image(path: Path) -> dict[int, int]:
    """A ``$writememh`` file: hex words, ``@address`` lines, ``//`` comments (Icarus writes
    one per word); X or Z digits read as 0 (a word never written, on a 4-state simulator)."""
    words, address = {}, 0
    if not path.exists():
        return words
    for line in path.read_text().splitlines():
        for token in line.split("//", 1)[0].split():
            if token.startswith("@"):
                address = int(token[1:], 16)
                continue
            try:
                words[address] = int(token, 16)
            except ValueError:
                words[address] = 0
            address += 1
    return words


def _x_problems(layout: BenchLayout, path: Path) -> list[str]:
    if not path.exists():
        return []
    names = layout.handshake_bits()
    found = []
    for line in path.read_text().splitlines():
        cycle, _, bits = line.partition(" ")
        for position, bit in enumerate(reversed(bits.strip())):
            if bit not in "01" and position < len(names):
                found.append(f"X/Z on {names[position]} at edge {int(cycle, 16)}")
    return found


def collect(layout: BenchLayout, job: dict, directory: Path, status: dict[str, int], wall: float) -> dict:
    """The run's report (``sim.stream.assemble_report``) from the cells' files and ``status``."""
    directory = Path(directory)
    problems = _x_problems(layout, directory / layout.XCHECK_FILE)
    outputs = {}
    for port, _ in layout.sinks:
        log = _Log(directory / layout.sink_file(port), f"{port}__payload", problems)
        outputs[port] = (log.edges, log.values)
    traces = {}
    for port, _ in layout.traces:
        log = _Log(directory / layout.trace_file(port), f"{port}__payload", problems)
        traces[port] = (log.edges, log.values)
    memories = {}
    for i, mem in enumerate(layout.memories):
        spec = job["memories"][mem.name]
        files = layout.memory_files(mem.name)
        log = _Log(directory / files["log"], f"memory {mem.name} request", problems)
        outstanding = int(status[f"mem{i}_outstanding"])
        if mem.kind == "ram":
            aw = mem.address_width
            trace = {"address": [v & ((1 << aw) - 1) for v in log.values],
                     "is_write": [(v >> aw) & 1 for v in log.values], "cycle": log.edges,
                     "data": [v >> (aw + 1) for v in log.values]}
            stored = _read_image(directory / files["image"])
            memories[mem.name] = {"trace": trace, "image": ram.image(stored, trace),
                                  "problems": ram.problems(mem.name, trace, int(spec["size"]), outstanding)}
        else:
            trace = _flash_trace(log, mem.request_width)
            memories[mem.name] = {"trace": trace,
                                  "problems": flash.problems(mem.name, trace, spec["pages"], outstanding)}
    firsts = [int(status[f"src{i}_first"]) for i in range(len(layout.sources))]
    first_in = min((f for f in firsts if f != NEVER), default=None)
    return assemble_report(
        outputs=outputs,
        expected=job["outputs"],
        sent={port: int(status[f"src{i}_sent"]) for i, (port, _) in enumerate(layout.sources)},
        first_in=first_in,
        traces=traces,
        memories=memories,
        timed_out=bool(status["timed_out"]),
        edges=int(status["last_edge"]),
        wall=wall,
        problems=problems,
    )


def _flash_trace(log: _Log, id_width: int) -> dict[str, list[int]]:
    """Per request: accept edge, page, first and last beat edges (-1: not moved), from the
    event lines (page, accepted, first, last) of a ``FlashServer``'s log."""
    edges, pages, firsts, lasts = [], [], [], []
    next_first = next_last = 0
    for cycle, value in zip(log.edges, log.values):
        accepted, first, last = (value >> id_width) & 1, (value >> (id_width + 1)) & 1, (value >> (id_width + 2)) & 1
        # a beat moving and a request arriving in one cycle: the beat belongs to an older request
        if first:
            firsts[next_first] = cycle
            next_first += 1
        if last:
            lasts[next_last] = cycle
            next_last += 1
        if accepted:
            edges.append(cycle)
            pages.append(value & ((1 << id_width) - 1))
            firsts.append(-1)
            lasts.append(-1)
    return {"edge": edges, "page": pages, "first": firsts, "last": lasts}
