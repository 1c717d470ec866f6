"""Example dataflow graphs, used by ``hwgen flow``, the tests and the docs. A graph that joins
blocks of several families lives here, above the families, which never import each other."""

from __future__ import annotations

from . import blocks
from .blocks.pim.decoder import DecoderShape, channel_matrices, channel_params
from .graph import Graph


def mac_requant(lanes: int = 8, width: int = 8, vector_length: int = 16, out_width: int = 8,
                shift: int = 10) -> Graph:
    """A dot-product unit feeding a requantizer: int8 vectors in, int8 dot products out."""
    graph = Graph("mac_requant")
    mac = blocks.get("mac_array", lanes=lanes, width=width, vector_length=vector_length)
    graph.add("mac", mac)
    graph.add("rq", blocks.get("requant", in_width=mac.info()["acc_width"], out_width=out_width,
                               shift=shift))
    graph.connect("mac.result", "rq.samples")
    return graph


def decoder_layer_graph(shape: DecoderShape = DecoderShape()) -> Graph:
    """One GPT decoder layer for one token (docs/pim_decoder.md): pim channels and vector units
    joined by the stream family's split and fork; ``hwgen.blocks.pim.decoder`` builds its inputs
    and reference."""
    s, lanes = shape, shape.lanes
    graph = Graph("gpt_decoder_layer")
    for node, (banks, matrices) in channel_matrices(s).items():
        graph.add(node, blocks.get("pim_channel", **channel_params(banks, matrices, lanes)))
        graph.add(f"{node}_bf16", blocks.get("pim_acc_to_bf16", banks=banks, lanes=lanes))
        graph.connect(f"{node}.y", f"{node}_bf16.acc")
    for node in ("ln1", "softmax", "attn_add", "ln2", "gelu", "mlp_add"):
        graph.add(node, blocks.get("pim_vector_unit", lanes=lanes, max_len=max(256, s.d_mlp)))
    for node, channel in (("k_splice", "kc"), ("v_splice", "vc")):
        p = graph.block(channel).p
        graph.add(node, blocks.get("pim_host_splice", banks=p.banks, lanes=p.lanes, dtype=p.dtype,
                                   row_columns=p.row_columns, bank_rows=p.bank_rows,
                                   gb_columns=p.gb_columns))
        graph.connect(f"{node}.out", f"{channel}.host")
    part = s.d_model // lanes
    graph.add("qkv_split", blocks.get("stream_split", lanes=lanes, width=16, counts=f"{part},{part},{part}"))
    # h waits in the fork for the MLP: LN2 must see all of h before the MLP produces anything.
    graph.add("residual", blocks.get("stream_fork", lanes=lanes, width=16, outputs=2, depth=part))

    for source, sink in [
        ("ln1.y", "qkv.x"), ("qkv_bf16.y", "qkv_split.a"),
        ("qkv_split.y0", "k_splice.data"), ("qkv_split.y1", "v_splice.data"), ("qkv_split.y2", "kc.x"),
        ("kc_bf16.y", "softmax.a"), ("softmax.y", "vc.x"), ("vc_bf16.y", "wo.x"),
        ("wo_bf16.y", "attn_add.a"), ("attn_add.y", "residual.a"),
        ("residual.y0", "ln2.a"), ("residual.y1", "mlp_add.b"),
        ("ln2.y", "up.x"), ("up_bf16.y", "gelu.a"), ("gelu.y", "down.x"), ("down_bf16.y", "mlp_add.a"),
    ]:
        graph.connect(source, sink)
    return graph


GRAPHS = {"mac_requant": mac_requant}
