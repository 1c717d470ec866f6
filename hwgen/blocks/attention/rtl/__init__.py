"""``attention_engine``: decode-phase attention over KV caches in flash (after InstInfer), a
head per query (query i against head i mod ``heads``), dense or SparF, with two_pass or online
softmax. docs/attention.md.

Ports: ``query`` (q and seq_len, one beat per query), ``o`` (the query's output row), and per
flash channel ``flash<c>_req`` (page ids out) and ``flash<c>_data`` (page beats in, ``lanes``
elements each). The KV caches are not streamed by the bench: they are the flash image
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
    summary = ("decode attention over flash-resident KV caches, a head per query (InstInfer): "
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
        shape = f"(seq_len, {p.head_dim}) or " if p.heads == 1 else ""
        for key, value in (("K", K), ("V", V)):
            if not ((value.ndim == 2 and p.heads == 1) or (value.ndim == 3 and value.shape[0] == p.heads)) \
                    or value.shape[-1] != p.head_dim:
                raise ValueError(f"attention_engine field '{key}' must have shape {shape}(heads={p.heads}, "
                                 f"seq_len, {p.head_dim}), got {value.shape}")
        if K.shape != V.shape:
            raise ValueError(f"attention_engine fields 'K' {K.shape} and 'V' {V.shape} differ")
        if not 1 <= K.shape[-2] <= p.max_seq_len:
            raise ValueError(f"attention_engine seq_len={K.shape[-2]} (rows of K) is out of range: "
                             f"allowed 1..{p.max_seq_len} (max_seq_len)")
        fields = {}
        for key, value in (("q", q), ("K", K), ("V", V)):
            fields[key] = _bits16(value, key)
        # K and V per head: (heads, seq_len, head_dim)
        fields["K"] = fields["K"].reshape(p.heads, -1, p.head_dim)
        fields["V"] = fields["V"].reshape(p.heads, -1, p.head_dim)
        return fields

    def _per_head(self, checked):
        """(head, indices of its queries, its q rows) for each head that has queries."""
        p = self.p
        q = checked["q"].reshape(-1, p.head_dim)
        for head in range(p.heads):
            rows = np.arange(head, len(q), p.heads)
            if rows.size:
                yield head, rows, q[rows]

    def fields_to_beats(self, fields):
        beats = {}
        if "q" in fields:
            checked = self._check(fields)
            q = checked["q"].reshape(-1, self.p.head_dim)
            beats["query"] = {"q": q, "seq_len": np.full(len(q), checked["K"].shape[1], dtype=np.uint64)}
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
        pages = {c: {} for c in range(p.flash_channels)}
        for head in range(p.heads):
            K, V = checked["K"][head], checked["V"][head]
            for c, head_pages in flash_pages(self.geometry, K, V, golden.vmean(V, p.dtype), head).items():
                pages[c].update(head_pages)
        return {f"flash{c}": PagedMemory(request=f"flash{c}_req", response=f"flash{c}_data",
                                         pages=pages[c], page_beats=self.geometry.page_beats,
                                         latency=p.flash_latency, beat_cycles=beat_cycles(p))
                for c in range(p.flash_channels)}

    # -- golden, stimulus, model --------------------------------------------------------------
    def _twin(self, checked) -> list[dict]:
        """The golden twin per query (query i against head i mod heads)."""
        p = self.p
        count = checked["q"].reshape(-1, p.head_dim).shape[0]
        results: list[dict] = [{} for _ in range(count)]
        for head, rows, q in self._per_head(checked):
            out = golden.attention_twin(q, checked["K"][head], checked["V"][head], dtype=p.dtype,
                                        softmax=p.softmax, mode=p.mode, top_r=p.top_r,
                                        top_k=p.top_k, lanes=p.lanes)
            for k, row in enumerate(rows):
                results[row] = {key: out[key][k] for key in ("o", "channels", "tokens")}
        return results

    def golden(self, inputs):
        results = self._twin(self._check(inputs))
        return {"o": np.stack([r["o"] for r in results]).astype(np.uint64).reshape(-1, self.p.head_dim)}

    def stimulus(self, rng, n):
        p = self.p
        # n queries, query i against head i mod heads (with one head: n queries against one
        # KV cache, as in multi-query attention); the caches' length is not a multiple of the
        # 16-token page, so the last page is partly padding.
        seq_len = int(min(p.max_seq_len, 2 * PAGE_TOKENS + 5))
        queries = max(1, int(n))
        heads = [golden.attention_inputs(rng, head_dim=p.head_dim, seq_len=seq_len,
                                         queries=queries, dtype=p.dtype) for _ in range(p.heads)]
        q = np.stack([np.asarray(heads[i % p.heads]["q"]).reshape(-1, p.head_dim)[i]
                      for i in range(queries)])
        K, V = np.stack([h["K"] for h in heads]), np.stack([h["V"] for h in heads])
        if p.heads == 1:
            K, V = K[0], V[0]
        return {"q": q, "K": K, "V": V}

    def workload(self, inputs):
        checked = self._check(inputs)
        p = self.p
        q = checked["q"].reshape(-1, p.head_dim)
        work = {"queries": int(len(q)), "seq_len": int(checked["K"].shape[1])}
        if p.mode == "sparf":
            chosen = self._twin(checked)
            work["tokens"] = [tuple(int(t) for t in r["tokens"]) for r in chosen]
            work["channels"] = [tuple(int(c) for c in r["channels"]) for r in chosen]
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
