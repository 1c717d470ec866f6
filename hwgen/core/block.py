"""The block API: a parameterized Amaranth component that knows how to check itself.

A block is an :class:`amaranth.lib.wiring.Component` whose ports are
:mod:`amaranth.lib.stream` streams, plus four things the framework relies on:

* ``params``: the declared :class:`~hwgen.core.params.ParamSet`, checked before elaboration;
* ``golden(inputs)``: a NumPy model of what the hardware computes, written independently of it;
* ``stimulus(rng, n)``: seeded random inputs (named arrays) that include edge values;
* ``model(workload)``: an analytical :class:`Estimate` of cycles and bytes moved.

Inputs and outputs are dictionaries of NumPy arrays ("fields", as in an ``.npz`` file). The
block also says how fields map onto the beats of its streams (``fields_to_beats`` and
``beats_to_fields``), which is all a testbench needs to drive and read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction
from types import SimpleNamespace
from typing import Any, ClassVar, Mapping

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import Out

from .params import ParamSet, params_hash

Fields = dict[str, np.ndarray]
# One port's beats: an array with one row per beat, or, for a struct payload, a dict of
# such arrays (one per struct field, nested the same way as the payload layout).
Beats = Any


@dataclass(frozen=True)
class Estimate:
    """What the performance model predicts for one workload.

    ``cycles`` counts clock edges from the one that accepts the first input beat to the one that
    delivers the last output beat, inclusive, with no stalls. ``latency`` is the pipeline depth
    (edges from an input beat to the first output it produces); ``busy`` is the number of edges
    the slowest port is occupied, so ``cycles == busy + latency`` for a pipelined block.
    """

    cycles: int
    latency: int
    busy: int
    bytes_in: int = 0
    bytes_out: int = 0

    @property
    def bytes_moved(self) -> int:
        return self.bytes_in + self.bytes_out

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "bytes_moved": self.bytes_moved}

    @classmethod
    def pipelined(cls, beats: int, latency: int, bytes_in: int = 0, bytes_out: int = 0) -> "Estimate":
        """A block that takes one input beat per cycle and hands each out ``latency`` edges
        later: ``beats + latency`` cycles (none for no beats)."""
        return cls(cycles=beats + latency if beats else 0, latency=latency, busy=beats,
                   bytes_in=bytes_in, bytes_out=bytes_out)


class TraceSignature(wiring.Signature):
    """An observation port: ``payload`` is meaningful in the cycles ``valid`` is high, and
    nothing can stall it (a DRAM command bus, say). Testbenches record every valid cycle with
    its clock edge instead of handshaking; see ``Block.trace_ports``."""

    def __init__(self, payload_shape):
        super().__init__({"valid": Out(1), "payload": Out(payload_shape)})


@dataclass(frozen=True)
class PagedMemory:
    """A read-only paged memory (a flash channel) that the testbench serves to a block.

    The block asks for a page by sending its id on ``request`` (one of its ``Out`` streams) and
    receives the page's ``page_beats`` beats, in request order, on ``response`` (one of its
    ``In`` streams). ``pages`` maps page id to that page's beats, shaped like the response
    port's beats (an array with one row per beat, as ``fields_to_beats`` gives). Timing, per
    docs and ``sim.flash``: a page's first beat can be taken ``latency`` cycles after its
    request is accepted, and then one beat leaves every ``beat_cycles`` cycles (a Fraction)
    at best, and never more than one per cycle.
    """

    kind: ClassVar[str] = "paged"  # the bench's model for it: sim.stream.MEMORY_KINDS

    request: str
    response: str
    pages: Mapping[int, Any]
    page_beats: int
    latency: int
    beat_cycles: Fraction


@dataclass(frozen=True)
class RamMemory:
    """A read/write RAM that the testbench serves to a block.

    The block sends requests on ``request`` (one of its ``Out`` streams) whose payload is packed
    LSB first as ``address`` (``address_width`` bits), ``write`` (1 bit), ``data``
    (``data_width`` bits): the packing of ``amaranth.lib.data.StructLayout({"address":
    address_width, "write": 1, "data": data_width})``. A write stores ``data`` and gets no
    response; a read gets one beat on ``response`` (one of its ``In`` streams, payload
    ``data_width`` bits): the word at ``address``. Requests are served strictly in order, so a
    read returns the data as of every earlier request. ``init`` maps address to initial word
    (Python ints, any width); every other word reads 0. Timing, per docs and ``sim.ram``: reads
    are pipelined, their data leaves in request order, each no sooner than ``latency`` cycles
    (>= 1) after its request is accepted, and never more than one beat per cycle; requests
    are accepted at most one every ``interval`` cycles (the memory's bandwidth). ``size`` is
    how many words, from address 0, the block uses (None: the whole address space): the
    benches serve at least that many and report a request beyond it as a problem, so a block
    with a wide address and a small working set (a CSR image) does not cost a bench store of
    2^address_width words.
    """

    kind: ClassVar[str] = "ram"  # the bench's model for it: sim.stream.MEMORY_KINDS

    request: str
    response: str
    address_width: int
    data_width: int
    latency: int
    init: Mapping[int, int] = field(default_factory=dict)
    # bandwidth: the memory accepts at most one request every ``interval`` cycles
    interval: int = 1
    # words in use, from address 0 (None: 2^address_width)
    size: int | None = None


class Block(wiring.Component):
    """Base class of every hwgen block. Subclasses set ``name``, ``params`` and ``summary``,
    implement ``signature_members()`` and ``elaborate()``, and the model hooks below."""

    name: ClassVar[str]
    params: ClassVar[ParamSet]
    summary: ClassVar[str] = ""
    # Parameters ``hwgen flow`` uses instead of the defaults, for a block whose default
    # configuration (a full-size memory channel, say) is too large to build and simulate in a
    # routine run. Empty: the flow runs the defaults.
    flow_params: ClassVar[dict[str, Any]] = {}
    # Parameters the formal checks set on top of the block's smallest point
    # (``hwgen.formal.formal_point``): e.g. DRAM timings short enough that a refresh falls
    # within a bounded check's reach. Empty: the smallest point as it is.
    formal_params: ClassVar[dict[str, Any]] = {}
    # Cycles the benches keep running after the last expected output beat (to catch extra
    # beats, and for a block that still works after it: writing a memory back). 0: the
    # benches' default.
    drain_cycles: int = 0
    # A block is as often built for its golden or performance model as for its hardware, so
    # Amaranth's "created but never used" warning would be noise.
    _MustUse__silence = True

    def __init__(self, **values):
        self.param_values = self.params.resolve(self.name, values)
        self.p = SimpleNamespace(**self.param_values)
        super().__init__(self.signature_members())

    # -- hardware ---------------------------------------------------------------------------
    def signature_members(self) -> dict[str, wiring.Member]:
        raise NotImplementedError

    @property
    def param_hash(self) -> str:
        return params_hash(self.name, self.param_values)

    @property
    def ident(self) -> str:
        """``<block>-<param hash>``: the folder name of this configuration's outputs."""
        return f"{self.name}-{self.param_hash}"

    def stream_ports(self, flow: wiring.Flow) -> dict[str, stream.Signature]:
        """The stream ports flowing ``In`` (inputs) or ``Out`` (outputs), in declaration order."""
        return {
            name: member.signature
            for name, member in self.signature.members.items()
            if member.is_signature and isinstance(member.signature, stream.Signature)
            and member.flow == flow
        }

    def trace_ports(self) -> dict[str, Any]:
        """The observation ports (``TraceSignature`` members) and their payload shapes."""
        return {
            name: member.signature.members["payload"].shape
            for name, member in self.signature.members.items()
            if member.is_signature and isinstance(member.signature, TraceSignature)
        }

    def memories(self, inputs: Mapping[str, np.ndarray]) -> dict[str, PagedMemory | RamMemory]:
        """The memories the testbench serves for ``inputs``, by name: a ``PagedMemory``
        (read-only flash pages, kind ``"paged"``) or a ``RamMemory`` (read/write words, kind
        ``"ram"``). Their ports are neither driven from input fields nor compared with golden
        outputs. The simulation results carry one trace per memory (``SimResult.traces[name]``,
        also saved as ``<name>_trace`` in ``outputs.npz``) and, for a RAM, its final contents
        (``SimResult.images[name]``). None by default."""
        return {}

    def memory_outputs(self, inputs: Mapping[str, np.ndarray],
                       images: Mapping[str, Mapping[int, int]]) -> Fields:
        """Output fields a block writes to its memories rather than to output streams, read
        back from the memories' final images (``images[name]``: address -> word); compared
        with the golden model like stream outputs. None by default."""
        return {}

    def check_traces(self, traces: Mapping[str, Mapping[str, np.ndarray]]) -> list[str]:
        """Problems in a simulation's observation traces (e.g. broken protocol timing), as
        one message each; the runners add them to the verdict. None by default."""
        return []

    def beat_relations(self) -> list[tuple[str, str, int]]:
        """Output streams that carry exactly one beat per beat of an input stream, for the
        formal checks (``hwgen formal``, docs/formal.md): ``(output, input, drain)``, where
        ``drain`` bounds the cycles from the last input beat to the last output beat while the
        output is always ready. The harness then asserts that no output beat appears without
        its input beat, and that after ``drain`` such cycles none is missing. None by default."""
        return []

    def formal_covers(self, m, port) -> list[tuple[str, str, Any]]:
        """Events that show the block doing its job, each a cover statement of ``hwgen formal
        --mode cover`` (docs/formal.md): ``(stream, text, condition)``, the condition an
        Amaranth value over the design's ports as the harness sees them: ``port("cmd__valid")``
        for one port, ``self.formal_payload(port, "cmd")`` for a payload by its fields. ``m`` is
        the harness's module, for registers an event needs (what a port carried earlier). None
        by default: every stream's "a beat enters/leaves" is covered without it."""
        return []

    def formal_scenario(self) -> Mapping[str, np.ndarray] | None:
        """Inputs (fields, as ``hwgen sim`` takes them) for a directed run of the block's
        covers, when a free search cannot reach them within a bounded depth: the formal
        harness replays them, serves the block's RAMs from their images and keeps every
        output ready (``hwgen.formal.Scenario``). None by default: the covers are searched
        freely."""
        return None

    def formal_warm_start(self) -> int:
        """Cycles of the directed run (``formal_scenario``) to simulate before the solver's
        search begins, from the state they reach (``hwgen.formal.WarmStart``): for covers
        hundreds of cycles deep, which a solver reaches only after many minutes of
        unrolling. 0 by default: the search starts at reset."""
        return 0

    def formal_payload(self, port, stream: str):
        """Stream ``stream``'s payload in the formal harness, viewed through its layout."""
        shape = self.signature.members[stream].signature.members["payload"].shape
        raw = port(f"{stream}__payload")
        if isinstance(shape, data.Layout):
            return data.View(shape, raw)
        return raw.as_signed() if Shape.cast(shape).signed else raw

    def equivalent_variants(self) -> list[tuple["Block", "Block"]]:
        """Pairs of blocks that must give the same output beats for the same input beats, for
        the formal equivalence check (``hwgen formal --mode equivalence``, docs/formal.md):
        variants of this block whose parameters change the microarchitecture but not the
        function (an operator's ``latency``, an adder tree's registers), or this block against
        a reference written again from its specification. The first of a pair must give its
        beats no later than the second. None by default."""
        return []

    def variant(self, **changes) -> "Block":
        """This block with some parameters changed."""
        return type(self)(**{**self.param_values, **changes})

    def info(self) -> dict[str, Any]:
        """Derived quantities worth reporting (e.g. an accumulator width) in the manifest."""
        return {}

    def field_dtypes(self) -> dict[str, Any]:
        """The number format of each input and output field whose bit patterns stand for
        floats or for signed (or sized) integers, by field name: ``"float16"``, ``"bfloat16"``,
        ``"float32"``, ``"int32"``, ``"uint12"``, a ``hwgen.numerics.FloatFormat``, ...
        (``hwgen.core.dtypes.field_format``). ``outputs.npz`` gives such an output field in
        its NumPy dtype (``float16``, ``ml_dtypes.bfloat16``, ``int8`` .. ``int64``, sign
        extended), with its patterns beside it as ``<field>_bits``; an input field of a float
        format may be given in its dtype (``sim.runner.prepare`` turns it into patterns).
        Fields not listed, and formats NumPy has no dtype for (fp8, other E,M formats,
        integers over 64 bits), stay as they are. None by default: patterns as they are."""
        return {}

    # -- reference and models (subclasses implement) -----------------------------------------
    def golden(self, inputs: Mapping[str, np.ndarray]) -> Fields:
        raise NotImplementedError

    def stimulus(self, rng: np.random.Generator, n: int) -> Fields:
        raise NotImplementedError

    def workload(self, inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
        """The workload that ``inputs`` represent, in the terms ``model()`` takes."""
        raise NotImplementedError

    def model(self, workload: Mapping[str, int]) -> Estimate:
        raise NotImplementedError

    def fields_to_beats(self, fields: Mapping[str, np.ndarray]) -> dict[str, Beats]:
        """Map named input or output arrays onto the beats of the ports they travel on."""
        raise NotImplementedError

    def beats_to_fields(self, beats: Mapping[str, Beats]) -> Fields:
        """The inverse of ``fields_to_beats`` for whichever ports are given."""
        raise NotImplementedError

    def vector_count(self, inputs: Mapping[str, np.ndarray]) -> int:
        """How many test vectors ``inputs`` holds (the first axis of every field)."""
        return len(next(iter(inputs.values())))


_REGISTRY: dict[str, type[Block]] = {}


def register(cls: type[Block]) -> type[Block]:
    """Class decorator: make a block available by name to ``hwgen.blocks.get`` and the CLI."""
    known = _REGISTRY.get(cls.name)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"two blocks are registered as {cls.name!r}: "
                         f"{known.__module__}.{known.__qualname__} and {cls.__module__}.{cls.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Block]]:
    return dict(sorted(_REGISTRY.items()))
