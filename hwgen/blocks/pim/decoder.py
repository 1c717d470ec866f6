"""One GPT decoder layer for one token, as a dataflow graph of PIM blocks (docs/pim_decoder.md).

Pre-LayerNorm GPT-2 layer without biases, decoding the token at position ``context - 1``
with ``context - 1`` tokens in the KV cache:

    h   = x + Wo . attn(LN1(x))
    out = h + Wdown . GELU(Wup . LN2(h))

with, per head, ``s = K_h q_h`` (the 1/sqrt(d_head) scale folded into Wq), ``p = softmax(s)``,
``o_h = V_h^T p``; the current token's k and v are appended to the cache during the run.

Every GEMV runs in a ``pim_channel`` (one channel per GEMV in the chain, since a dataflow graph
has no loops), every nonlinear step in a ``pim_vector_unit``; ``pim_acc_to_bf16`` turns a
channel's fp32 accumulators into bf16 vectors, ``stream_split`` deals the QKV result out,
``stream_fork`` copies h to LN2 and the final residual add, and ``pim_host_splice`` writes the
new k and v into the K and V channels' arrays (the KV-cache append).

``hwgen.examples.decoder_layer_graph(shape)`` builds the graph (it joins two families),
``decoder_inputs(graph, weights, shape)`` its input fields (weights in the channels' mapping as
host LOAD beats, the cache, x, the vector units' op sequences), ``random_weights(rng, shape)`` a bf16 test layer and
``reference_layer(weights, shape)`` the float64 transformer layer it approximates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from amaranth.lib.wiring import Out

from ...graph import Graph
from ...numerics import golden as g
from ...numerics.formats import PRESETS
from .vector import golden as vector_golden
from .channel.rtl import GEMV, LOAD
from .mapping import ChannelLayout, beats_per_row, column_address, dram_rows_used, slots

BF16 = PRESETS["bf16"]
EPS = 1e-5  # the vector unit's default LayerNorm epsilon (0x3727C5AC, 1e-5 in fp32)


@dataclass(frozen=True)
class DecoderShape:
    d_model: int = 64
    heads: int = 2
    context: int = 16        # cached tokens + the current one
    d_mlp: int = 256
    lanes: int = 4           # elements per beat, channels and vector units alike
    small_banks: int = 4     # the K, V and Wo channels
    big_banks: int = 8       # the QKV, up and down channels: the long GEMVs

    def __post_init__(self):
        if self.d_model % self.heads:
            raise ValueError(f"d_model={self.d_model} must be a multiple of heads={self.heads}")
        # Every vector that changes hands at a beat boundary must fill whole beats: q, k, v
        # leave one GEMV together, and each head's q and o are consumed beat-aligned.
        if self.d_head % self.lanes:
            raise ValueError(f"d_head={self.d_head} must be a multiple of lanes={self.lanes}")
        if self.context < 2:
            raise ValueError(f"context={self.context}: need at least one cached token")

    @property
    def d_head(self) -> int:
        return self.d_model // self.heads


# -- the channels: which matrices each holds ----------------------------------------------------

def channel_matrices(shape: DecoderShape) -> dict[str, tuple[int, list[tuple[int, int]]]]:
    """Per channel node: its banks and the (rows, cols) of the matrices it holds, in the
    order they are placed (each from a fresh DRAM row)."""
    s = shape
    return {
        "qkv": (s.big_banks, [(3 * s.d_model, s.d_model)]),      # rows: k, v, then q
        "kc": (s.small_banks, [(s.context, s.d_head)] * s.heads),    # K_h: token rows
        "vc": (s.small_banks, [(s.d_head, s.context)] * s.heads),    # V_h^T: feature rows
        "wo": (s.small_banks, [(s.d_model, s.d_model)]),
        "up": (s.big_banks, [(s.d_mlp, s.d_model)]),
        "down": (s.big_banks, [(s.d_model, s.d_mlp)]),
    }


def _columns_used(rows: int, cols: int, banks: int, lanes: int) -> int:
    return slots(rows, banks) * beats_per_row(cols, lanes)


def channel_params(banks: int, matrices, lanes: int) -> dict:
    """The smallest channel that holds ``matrices``: a DRAM row as long as the longest
    matrix needs, up to a GDDR6 row of 2 KB (256 column accesses of 4 bf16), enough rows,
    and a global buffer for the widest vector."""
    row_bytes = 2048
    longest = row_bytes // (lanes * 2)
    row_columns = min(longest, max(_columns_used(r, c, banks, lanes) for r, c in matrices))
    layout = ChannelLayout(banks, lanes, row_columns, 1, 1)
    return dict(banks=banks, lanes=lanes, dtype="bf16", acc="fp32", row_columns=row_columns,
                bank_rows=sum(dram_rows_used(r, c, layout) for r, c in matrices),
                gb_columns=max(beats_per_row(c, lanes) for _, c in matrices))


def base_rows(channel, matrices) -> list[int]:
    """The DRAM row each matrix starts at, placed one after another."""
    starts, row = [], 0
    for rows, cols in matrices:
        starts.append(row)
        row += dram_rows_used(rows, cols, channel.layout)
    return starts


# -- host programs: LOAD, splice and GEMV beats for one channel ----------------------------------

class HostProgram:
    """Host beats for a channel, built in order. ``fields(splice=True)`` adds the
    ``pim_host_splice`` flags (``splice``, ``lane``, ``pop``)."""

    def __init__(self, channel):
        self.p = channel.p
        self.beats: list[dict] = []

    def _add(self, **values):
        p = self.p
        beat = {"kind": LOAD, "row": 0, "col": 0, "slots": 0, "beats": 0, "last_count": 0,
                "mask": np.zeros((p.banks, p.lanes), np.int64), "data": np.zeros((p.banks, p.lanes), np.int64),
                "splice": 0, "lane": 0, "pop": 0}
        beat.update(values)
        self.beats.append(beat)

    def load(self, matrix: np.ndarray, base_row: int, written: np.ndarray | None = None):
        """LOAD beats for a (rows, cols) matrix of patterns in the mapping layout (row r in
        bank r % banks, slot r // banks); ``written`` (bool, same shape) masks elements out."""
        p = self.p
        rows, cols = matrix.shape
        written = np.ones(matrix.shape, bool) if written is None else written
        beats = beats_per_row(cols, p.lanes)
        for slot in range(slots(rows, p.banks)):
            for beat in range(beats):
                row, col = column_address(slot, beat, beats, p.row_columns, base_row)
                data = np.zeros((p.banks, p.lanes), np.int64)
                mask = np.zeros((p.banks, p.lanes), np.int64)
                first = beat * p.lanes
                width = min(p.lanes, cols - first)
                for bank in range(min(p.banks, rows - slot * p.banks)):
                    r = slot * p.banks + bank
                    data[bank, :width] = matrix[r, first:first + width]
                    mask[bank, :width] = written[r, first:first + width]
                self._add(kind=LOAD, row=row, col=col, mask=mask, data=data)

    def splice(self, r: int, c: int, cols: int, base_row: int, lane: int, pop: bool):
        """A LOAD of element (r, c) of a matrix with ``cols`` columns at ``base_row``, its
        value taken at run time from ``lane`` of the splice's current data column."""
        p = self.p
        beats = beats_per_row(cols, p.lanes)
        row, col = column_address(r // p.banks, c // p.lanes, beats, p.row_columns, base_row)
        mask = np.zeros((p.banks, p.lanes), np.int64)
        mask[r % p.banks, c % p.lanes] = 1
        self._add(kind=LOAD, row=row, col=col, mask=mask, splice=1, lane=lane, pop=int(pop))

    def gemv(self, rows: int, cols: int, base_row: int):
        p = self.p
        count = slots(rows, p.banks)
        self._add(kind=GEMV, row=base_row, slots=count, beats=beats_per_row(cols, p.lanes),
                  last_count=rows - (count - 1) * p.banks)

    def fields(self, splice: bool = False) -> dict[str, np.ndarray]:
        names = ["kind", "row", "col", "slots", "beats", "last_count", "mask", "data"]
        names += ["splice", "lane", "pop"] if splice else []
        return {f"host_{name}": np.array([beat[name] for beat in self.beats], dtype=np.int64)
                for name in names}


# -- weights, inputs, reference -------------------------------------------------------------------

def bf16_values(values) -> np.ndarray:
    """float64 values rounded to the nearest bf16 (as float64)."""
    return g.decode(g.encode(np.asarray(values, dtype=np.float64), BF16), BF16)


def patterns(values) -> np.ndarray:
    """bf16-exact float64 values as bf16 bit patterns."""
    return g.encode(np.asarray(values, dtype=np.float64), BF16).astype(np.int64)


def random_weights(rng: np.random.Generator, shape: DecoderShape = DecoderShape()) -> dict:
    """A random layer, every value already bf16 (so the float64 reference sees exactly the
    numbers the hardware does): matrices N(0, 1/fan_in), Wq with 1/sqrt(d_head) folded in,
    LayerNorm gamma near 1 and small beta, a cache of unit-variance keys and values, x of
    unit variance."""
    s = shape

    def matrix(rows, cols, scale=1.0):
        return bf16_values(rng.normal(0.0, scale / math.sqrt(cols), (rows, cols)))

    return {
        "Wq": matrix(s.d_model, s.d_model, 1 / math.sqrt(s.d_head)),
        "Wk": matrix(s.d_model, s.d_model), "Wv": matrix(s.d_model, s.d_model),
        "Wo": matrix(s.d_model, s.d_model),
        "Wup": matrix(s.d_mlp, s.d_model), "Wdown": matrix(s.d_model, s.d_mlp),
        "ln1_gamma": bf16_values(rng.normal(1.0, 0.1, s.d_model)),
        "ln1_beta": bf16_values(rng.normal(0.0, 0.05, s.d_model)),
        "ln2_gamma": bf16_values(rng.normal(1.0, 0.1, s.d_model)),
        "ln2_beta": bf16_values(rng.normal(0.0, 0.05, s.d_model)),
        "K_cache": bf16_values(rng.normal(0.0, 1.0, (s.context - 1, s.d_model))),
        "V_cache": bf16_values(rng.normal(0.0, 1.0, (s.context - 1, s.d_model))),
        "x": bf16_values(rng.normal(0.0, 1.0, s.d_model)),
    }


def _layernorm(x, gamma, beta):
    mean = x.mean()
    var = ((x - mean) ** 2).mean()
    return (x - mean) / np.sqrt(var + EPS) * gamma + beta


def _gelu(x):
    # x * Phi(x), the exact GELU the vector unit approximates
    erf = np.vectorize(math.erf)
    return x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def bf16_error_units(out, ref):
    """|out - ref| in units of u * max|ref|, u = 2**-8 the bf16 unit roundoff (RNE, 8
    significant bits: relative error at most 2**-9 per rounding, 2**-8 = its ulp)."""
    return np.abs(out - ref).max() / (2.0 ** -8 * np.abs(ref).max())


# Tolerance (docs/pim_decoder.md): max |out - ref| <= 4 units of u * max|ref|. One unit is
# at least half a bf16 ulp at the output's largest magnitude, so each rounding of a value of
# that size costs at most one unit: the final add, h (and with it Wo's result), the down
# GEMV's result, plus the smaller, attenuated roundings upstream. The attention output o is
# held to the same bound at its own scale. Measured over seeds 5..20: out at most 1.45
# units (rms 0.49), o at most 1.75.
TOLERANCE = 4.0


def reference_layer(weights: dict, shape: DecoderShape = DecoderShape()) -> dict[str, np.ndarray]:
    """The layer in float64 on the same (bf16-valued) weights; returns ``out`` and the
    intermediate vectors (``q``, ``k``, ``v``, ``scores``, ``p``, ``o``, ``h``, ``u``)."""
    s, w = shape, weights
    x = w["x"]
    a = _layernorm(x, w["ln1_gamma"], w["ln1_beta"])
    q, k, v = w["Wq"] @ a, w["Wk"] @ a, w["Wv"] @ a
    K = np.vstack([w["K_cache"], k])
    V = np.vstack([w["V_cache"], v])
    scores, probs, o = [], [], np.zeros(s.d_model)
    for head in range(s.heads):
        cut = slice(head * s.d_head, (head + 1) * s.d_head)
        score = K[:, cut] @ q[cut]
        e = np.exp(score - score.max())
        p = e / e.sum()
        o[cut] = V[:, cut].T @ p
        scores.append(score)
        probs.append(p)
    h = x + w["Wo"] @ o
    u = w["Wup"] @ _layernorm(h, w["ln2_gamma"], w["ln2_beta"])
    out = h + w["Wdown"] @ _gelu(u)
    return {"out": out, "q": q, "k": k, "v": v, "scores": np.concatenate(scores),
            "p": np.concatenate(probs), "o": o, "h": h, "u": u}


def _ops(node: str, items: list[dict], lanes: int) -> dict[str, np.ndarray]:
    """A vector unit's fields as ``node.field``. Operands that arrive through the graph are
    given as zeros of the right length: ``pim_vector_unit`` checks op, length, a and b
    together, and the graph replaces a connected operand by the beats that arrive (and drives
    only the unconnected ports)."""
    return {f"{node}.{k}": v for k, v in vector_golden.pack_sequence(items, lanes).items()}


def decoder_inputs(graph: Graph, weights: dict, shape: DecoderShape = DecoderShape()) -> dict:
    """The graph's input fields (``node.field``) for one token."""
    s, w, lanes = shape, weights, shape.lanes
    dh = s.d_head
    inputs = {}
    matrices = channel_matrices(s)

    def program(node):
        channel = graph.block(node)
        return HostProgram(channel), base_rows(channel, matrices[node][1])

    # Dense GEMVs: LOAD the matrix, then one GEMV.
    for node, W in (("qkv", np.vstack([w["Wk"], w["Wv"], w["Wq"]])), ("wo", w["Wo"]),
                    ("up", w["Wup"]), ("down", w["Wdown"])):
        host, (base,) = program(node)
        host.load(patterns(W), base)
        host.gemv(*W.shape, base)
        inputs.update({f"{node}.{k}": v for k, v in host.fields().items()})

    # K: per head a (context, d_head) matrix, one token per row; the last row is the new key.
    # V: per head V_h^T, (d_head, context), one token per column; the last column is new.
    # The splices take the new k and v (each d_model elements, lanes per run-time column) in
    # order, element i from lane i % lanes, popping the column after its last lane.
    last = s.context - 1
    for node, cache, splice_node in (("kc", w["K_cache"], "k_splice"), ("vc", w["V_cache"], "v_splice")):
        host, bases = program(node)
        for head, base in enumerate(bases):
            part = cache[:, head * dh:(head + 1) * dh]            # (context - 1, d_head)
            full = np.vstack([part, np.zeros((1, dh))])
            written = np.ones(full.shape, bool)
            written[last] = False
            if node == "vc":
                full, written = full.T, written.T
            host.load(patterns(full), base, written)
        for i in range(s.d_model):
            head, j = divmod(i, dh)
            r, c, cols = (last, j, dh) if node == "kc" else (j, last, s.context)
            host.splice(r, c, cols, bases[head], lane=i % lanes, pop=i % lanes == lanes - 1)
        rows, cols = (s.context, dh) if node == "kc" else (dh, s.context)
        for base in bases:
            host.gemv(rows, cols, base)
        inputs.update({f"{splice_node}.{k}": v for k, v in host.fields(splice=True).items()})

    x = patterns(w["x"])
    placeholder = np.zeros(s.d_model, np.int64)
    inputs.update(_ops("ln1", [{"op": "layernorm", "x": x, "gamma": patterns(w["ln1_gamma"]),
                                "beta": patterns(w["ln1_beta"])}], lanes))
    inputs.update(_ops("softmax", [{"op": "softmax", "x": np.zeros(s.context, np.int64)}] * s.heads, lanes))
    inputs.update(_ops("attn_add", [{"op": "add", "x": placeholder, "r": x}], lanes))
    inputs.update(_ops("ln2", [{"op": "layernorm", "x": placeholder, "gamma": patterns(w["ln2_gamma"]),
                                "beta": patterns(w["ln2_beta"])}], lanes))
    inputs.update(_ops("gelu", [{"op": "gelu", "x": np.zeros(s.d_mlp, np.int64)}], lanes))
    inputs.update(_ops("mlp_add", [{"op": "add", "x": placeholder, "r": placeholder}], lanes))
    return inputs


def layer_output(golden_outputs: dict, shape: DecoderShape = DecoderShape()) -> np.ndarray:
    """The layer's output vector (float64) from the graph's ``mlp_add.y`` beats."""
    y = np.asarray(golden_outputs["mlp_add.y"], dtype=np.uint64).reshape(-1)[:shape.d_model]
    return g.decode(y, BF16)


def gemv_cycles(graph: Graph, inputs: dict) -> dict[str, int]:
    """Each channel's GEMVs alone (no LOADs), by its cycle model. The layer's GEMVs run one
    after another (each waits for the whole vector the previous one produces) and dominate,
    so their sum estimates the layer's cycles (docs/pim_decoder.md: within 1 %)."""
    evaluated = graph.run_golden(inputs)
    cycles = {}
    for node in ("qkv", "kc", "vc", "wo", "up", "down"):
        channel = graph.block(node)
        host = channel.workload(evaluated[node]["inputs"])["host"]
        gemvs = tuple(beat for beat in host if beat[0] == GEMV)
        cycles[node] = channel.model({"host": gemvs}).cycles
    return cycles


# -- parts of the layer ------------------------------------------------------------------------

# The layer in five parts, each small enough for a quick Verilator build (the whole layer's
# Verilog takes over an hour to compile). The attention core: q, k, v in (as the QKV GEMV
# leaves them), the KV append, both heads' score and value GEMVs with the softmax between
# them, o out.
ATTENTION_CORE = ("qkv_split", "k_splice", "kc", "kc_bf16", "softmax", "v_splice", "vc", "vc_bf16")
PARTS = {
    "gpt_layer_qkv": ("ln1", "qkv", "qkv_bf16"),
    "gpt_attention_core": ATTENTION_CORE,
    "gpt_attention_out": ("wo", "wo_bf16", "attn_add", "residual", "ln2"),
    "gpt_mlp_up": ("up", "up_bf16", "gelu"),
    "gpt_mlp_down": ("down", "down_bf16", "mlp_add"),
}


def cut(graph: Graph, nodes, name: str) -> Graph:
    """The part of ``graph`` made of ``nodes`` (the same block instances) and the links
    between them; links to the rest of the layer become open ports."""
    part = Graph(name)
    for node in nodes:
        part.add(node, graph.block(node))
    for a, sp, b, dp in graph.links():
        if a in nodes and b in nodes:
            part.connect(f"{a}.{sp}", f"{b}.{dp}")
    return part


def cut_inputs(graph: Graph, inputs: dict, part: Graph) -> dict:
    """Inputs for ``part`` such that it sees exactly what it sees inside the whole layer: its
    nodes' own fields, and on each port the cut opened, the beats the layer's golden model
    delivers there."""
    evaluated = graph.run_golden(inputs)
    fields = {k: v for k, v in inputs.items() if k.partition(".")[0] in part.dag}
    for a, sp, b, dp in graph.links():
        if b in part.dag and a not in part.dag:
            block = graph.block(b)
            beats = block.fields_to_beats(evaluated[b]["inputs"])[dp]
            fields.update({f"{b}.{k}": v for k, v in block.beats_to_fields({dp: beats}).items()})
    return fields


def cut_outputs(graph: Graph, inputs: dict, part: Graph) -> dict:
    """What the whole layer's golden model has on each open output of ``part``, as beats
    keyed ``node__port`` (the way ``GraphTop.fields_to_beats`` names them)."""
    evaluated = graph.run_golden(inputs)
    return {f"{node}__{port}": graph.block(node).fields_to_beats(evaluated[node]["outputs"])[port]
            for node, port in part.open_ports(Out)}
