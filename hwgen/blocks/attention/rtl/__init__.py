"""``attention_engine``: decode-phase attention for one head over a KV cache in flash (after
InstInfer), dense or SparF, with two_pass or online softmax. docs/attention.md.

Ports: ``query`` (q and seq_len, one beat per query), ``o`` (the head's output row), and per
flash channel ``flash<c>_req`` (page ids out) and ``flash<c>_data`` (page beats in, ``lanes``
elements each). The KV cache is not streamed by the bench: it is the flash image
(``memories``), served by the flash model in ``sim/flash.py``.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.block import Block, Estimate, PagedMemory, register
from .. import golden
from .engine import AttentionCore
from ..layout import flash_pages
from ..model import engine_cycles, flash_bytes
from ..params import PAGE_TOKENS, PARAMS, beat_cycles, geometry


@register
class AttentionEngine(Block):
    name = "attention_engine"
    params = PARAMS
    summary = ("decode attention of one head over a flash-resident KV cache (InstInfer): "
               "dense or SparF, two_pass or online softmax")

    # flow's point: head_dim 64 on one flash channel, with a flash fast enough (50-cycle page
    # reads, a beat a cycle) that a thousand queries simulate in about a minute. The flash
    # parameters do not change the Verilog: this is the tests' first Verilator point's build.
    flow_params = {"head_dim": 64, "lanes": 8, "flash_channels": 1, "flash_latency": 50,
                   "flash_mbps": 5700}

    @property
    def geometry(self):
        return geometry(self.p)

    def signature_members(self):
        p, geo = self.p, self.geometry
        members = {
            "query": In(stream.Signature(data.StructLayout({
                "q": data.ArrayLayout(16, p.head_dim), "seq_len": unsigned(geo.seq_bits)}))),
            "o": Out(stream.Signature(data.ArrayLayout(16, p.head_dim))),
        }
        for c in range(p.flash_channels):
            members[f"flash{c}_req"] = Out(stream.Signature(unsigned(geo.page_id_bits)))
            members[f"flash{c}_data"] = In(stream.Signature(data.ArrayLayout(16, p.lanes)))
        return members

    def info(self):
        geo = self.geometry
        return {"page_beats": geo.page_beats, "page_bytes": geo.page_beats * self.p.lanes * 2,
                "beat_cycles": str(beat_cycles(self.p))}

    def field_dtypes(self):
        # q, K, V and o: float16 (fp16) or ml_dtypes.bfloat16 (bf16)
        element = "float16" if self.p.dtype == "fp16" else "bfloat16"
        return {key: element for key in ("q", "K", "V", "o")}

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = AttentionCore(self.p)
        for name in core.signature.members:
            wiring.connect(m, wiring.flipped(getattr(self, name)), getattr(core, name))
        self.internals = core  # for debugging benches: the engine's units (components)
        return m

    # -- fields <-> beats, flash image --------------------------------------------------------
    def _check(self, inputs):
        p = self.p
        for key in ("q", "K", "V"):
            if key not in inputs:
                raise ValueError(f"attention_engine inputs need 'q', 'K' and 'V'; '{key}' is missing")
        q = np.asarray(inputs["q"])
        K, V = np.asarray(inputs["K"]), np.asarray(inputs["V"])
        if q.ndim not in (1, 2) or q.shape[-1] != p.head_dim:
            raise ValueError(f"attention_engine field 'q' must have shape ({p.head_dim},) or "
                             f"(queries, {p.head_dim}), got {q.shape}")
        for key, value in (("K", K), ("V", V)):
            if value.ndim != 2 or value.shape[1] != p.head_dim:
                raise ValueError(f"attention_engine field '{key}' must have shape (seq_len, "
                                 f"{p.head_dim}), got {value.shape}")
        if K.shape != V.shape:
            raise ValueError(f"attention_engine fields 'K' {K.shape} and 'V' {V.shape} differ")
        if not 1 <= K.shape[0] <= p.max_seq_len:
            raise ValueError(f"attention_engine seq_len={K.shape[0]} (rows of K) is out of range: "
                             f"allowed 1..{p.max_seq_len} (max_seq_len)")
        fields = {}
        for key, value in (("q", q), ("K", K), ("V", V)):
            fields[key] = _bits16(value, key)
        return fields

    def fields_to_beats(self, fields):
        beats = {}
        if "q" in fields:
            checked = self._check(fields)
            q = checked["q"].reshape(-1, self.p.head_dim)
            beats["query"] = {"q": q, "seq_len": np.full(len(q), checked["K"].shape[0], dtype=np.uint64)}
        if "o" in fields:
            beats["o"] = np.asarray(fields["o"], dtype=np.uint64).reshape(-1, self.p.head_dim)
        return beats

    def beats_to_fields(self, beats):
        return {"o": np.asarray(beats["o"], dtype=np.uint64)} if "o" in beats else {}

    def vector_count(self, inputs):
        return int(np.asarray(inputs["q"]).reshape(-1, self.p.head_dim).shape[0])

    def memories(self, inputs):
        checked = self._check(inputs)
        p = self.p
        v_mean = golden.vmean(checked["V"], p.dtype)
        pages = flash_pages(self.geometry, checked["K"], checked["V"], v_mean)
        return {f"flash{c}": PagedMemory(request=f"flash{c}_req", response=f"flash{c}_data",
                                         pages=pages[c], page_beats=self.geometry.page_beats,
                                         latency=p.flash_latency, beat_cycles=beat_cycles(p))
                for c in range(p.flash_channels)}

    # -- golden, stimulus, model --------------------------------------------------------------
    def golden(self, inputs):
        checked = self._check(inputs)
        p = self.p
        result = golden.attention_twin(checked["q"], checked["K"], checked["V"], dtype=p.dtype,
                                       softmax=p.softmax, mode=p.mode, top_r=p.top_r,
                                       top_k=p.top_k, lanes=p.lanes)
        return {"o": np.asarray(result["o"], dtype=np.uint64).reshape(-1, p.head_dim)}

    def stimulus(self, rng, n):
        p = self.p
        # n queries against one KV cache (several heads sharing K and V, as in multi-query
        # attention); its length is not a multiple of the 16-token page, so the last page is
        # partly padding.
        seq_len = int(min(p.max_seq_len, 2 * PAGE_TOKENS + 5))
        inputs = golden.attention_inputs(rng, head_dim=p.head_dim, seq_len=seq_len,
                                         queries=max(1, int(n)), dtype=p.dtype)
        inputs["q"] = np.asarray(inputs["q"]).reshape(-1, p.head_dim)
        return inputs

    def workload(self, inputs):
        checked = self._check(inputs)
        p = self.p
        q = checked["q"].reshape(-1, p.head_dim)
        work = {"queries": int(len(q)), "seq_len": int(checked["K"].shape[0])}
        if p.mode == "sparf":
            chosen = golden.attention_twin(checked["q"], checked["K"], checked["V"], dtype=p.dtype,
                                           softmax=p.softmax, mode=p.mode, top_r=p.top_r,
                                           top_k=p.top_k, lanes=p.lanes)
            per_query = len(q) > 1 or np.asarray(inputs["q"]).ndim == 2
            tokens = chosen["tokens"] if per_query else [chosen["tokens"]]
            channels = chosen["channels"] if per_query else [chosen["channels"]]
            work["tokens"] = [tuple(int(t) for t in ts) for ts in tokens]
            work["channels"] = [tuple(int(c) for c in cs) for cs in channels]
        return work

    def model(self, workload):
        cycles = engine_cycles(self.p, workload)
        moved = flash_bytes(self.p, workload)
        queries = workload["queries"]
        return Estimate(cycles=cycles, latency=cycles // max(1, queries), busy=cycles,
                        bytes_in=moved + queries * (self.p.head_dim * 2 + 2),
                        bytes_out=queries * self.p.head_dim * 2)


def _bits16(values, key: str) -> np.ndarray:
    """Accept float16 arrays (as the npz format says) or 16-bit patterns."""
    values = np.asarray(values)
    if values.dtype == np.float16:
        return values.view(np.uint16).astype(np.uint64)
    if values.dtype.kind in "iu":
        if values.size and (int(values.min()) < 0 or int(values.max()) > 0xFFFF):
            raise ValueError(f"attention_engine field '{key}' holds values outside 0..65535 "
                             f"(16-bit patterns)")
        return values.astype(np.uint64)
    if values.dtype.kind == "f":
        raise ValueError(f"attention_engine field '{key}' is {values.dtype}: give float16 "
                         f"arrays (fp16) or 16-bit patterns (bf16 or fp16)")
    raise ValueError(f"attention_engine field '{key}' must hold float16 values or 16-bit patterns")


__all__ = ["AttentionEngine"]
