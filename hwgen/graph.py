"""Dataflow graphs: blocks composed by their streams into one larger accelerator.

A :class:`Graph` is a ``networkx.DiGraph`` whose nodes are named block instances and whose
edges connect an output stream of one block to an input stream of another. Connections are
checked when made (ports exist, directions match, payload shapes are equal, a port is used
once, no cycles). The graph then elaborates into one top-level component whose ports are the
streams left unconnected (``<node>__<port>``), composes the golden models in topological
order, and composes the performance models.

Every cycle in a dataflow graph of valid/ready streams closes a combinational loop through
the ``ready`` signals of pipelined blocks, so cycles are rejected outright.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

import networkx as nx
import numpy as np
from amaranth.hdl import Module, Shape
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .core.block import Block, Estimate, TraceSignature
from .core.params import params_hash

_NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")


class GraphError(ValueError):
    """A graph was put together wrongly; the message names the nodes and ports involved."""


def shape_text(shape) -> str:
    if isinstance(shape, data.Layout):
        return repr(shape)
    shape = Shape.cast(shape)
    return f"{'signed' if shape.signed else 'unsigned'}({shape.width})"


@dataclass(frozen=True)
class GraphEstimate:
    total: Estimate
    nodes: dict[str, Estimate]
    critical_path: list[str]
    bottleneck: str


class Graph:
    def __init__(self, name: str = "graph"):
        if not _NODE_NAME.match(name):
            raise GraphError(f"graph name {name!r} must be an identifier without double underscores")
        self.name = name
        self.dag = nx.DiGraph()

    # -- building -------------------------------------------------------------------------------
    def add(self, node: str, block: Block) -> str:
        if not _NODE_NAME.match(node):
            raise GraphError(f"node name {node!r} must be an identifier without double underscores")
        if node in self.dag:
            raise GraphError(f"node {node!r} is already in graph {self.name!r}")
        if not isinstance(block, Block):
            raise GraphError(f"node {node!r}: expected a hwgen block, got {type(block).__name__}")
        if any(data["block"] is block for _, data in self.dag.nodes(data=True)):
            raise GraphError(f"node {node!r}: this block instance is already in the graph; "
                             f"make a second instance")
        self.dag.add_node(node, block=block)
        return node

    def block(self, node: str) -> Block:
        if node not in self.dag:
            raise GraphError(f"graph {self.name!r} has no node {node!r}; nodes: {', '.join(self.dag)}")
        return self.dag.nodes[node]["block"]

    def _port(self, endpoint: str, flow) -> tuple[str, str, Any]:
        node, dot, port = endpoint.partition(".")
        if not dot:
            raise GraphError(f"{endpoint!r}: name a port as 'node.port'")
        ports = self.block(node).stream_ports(flow)
        if port not in ports:
            kind = "output" if flow == Out else "input"
            raise GraphError(f"{endpoint}: {node} ({self.block(node).name}) has no {kind} stream "
                             f"{port!r}; its {kind} streams are {', '.join(ports) or 'none'}")
        return node, port, ports[port].members["payload"].shape

    def connect(self, source: str, sink: str) -> None:
        """Connect output stream ``source`` ("node.port") to input stream ``sink``."""
        src, src_port, src_shape = self._port(source, Out)
        dst, dst_port, dst_shape = self._port(sink, In)
        if shape_text(src_shape) != shape_text(dst_shape):
            raise GraphError(f"cannot connect {source} to {sink}: payload shapes differ "
                             f"({shape_text(src_shape)} vs {shape_text(dst_shape)})")
        for a, b, data_ in self.dag.edges(data=True):
            for s_port, d_port in data_["links"]:
                if (a, s_port) == (src, src_port):
                    raise GraphError(f"{source} already feeds {b}.{d_port}: a stream has one sink")
                if (b, d_port) == (dst, dst_port):
                    raise GraphError(f"{sink} is already fed by {a}.{s_port}: a stream has one source")
        if src == dst or nx.has_path(self.dag, dst, src):
            cycle = [src] if src == dst else nx.shortest_path(self.dag, dst, src)
            raise GraphError(f"connecting {source} to {sink} closes a loop "
                             f"({' -> '.join(cycle + [cycle[0]])}): valid/ready loops are "
                             f"combinational, so dataflow graphs must be acyclic")
        if self.dag.has_edge(src, dst):
            self.dag.edges[src, dst]["links"].append((src_port, dst_port))
        else:
            self.dag.add_edge(src, dst, links=[(src_port, dst_port)])

    # -- structure -------------------------------------------------------------------------------
    def links(self) -> list[tuple[str, str, str, str]]:
        return [(a, sp, b, dp) for a, b, d in self.dag.edges(data=True) for sp, dp in d["links"]]

    def open_ports(self, flow) -> list[tuple[str, str]]:
        """(node, port) of every stream left unconnected, in topological order."""
        used = {(a, sp) for a, sp, _, _ in self.links()} | {(b, dp) for _, _, b, dp in self.links()}
        return [(node, port) for node in self.order()
                for port in self.block(node).stream_ports(flow) if (node, port) not in used]

    def order(self) -> list[str]:
        return list(nx.lexicographical_topological_sort(self.dag))

    # -- golden and performance models ---------------------------------------------------------
    def run_golden(self, inputs: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
        """Every node's input fields, evaluated in topological order. ``inputs`` are keyed
        ``node.field`` for the fields of unconnected input streams."""
        per_node: dict[str, dict[str, np.ndarray]] = {node: {} for node in self.dag}
        for key, value in inputs.items():
            node, dot, field = key.partition(".")
            if not dot or node not in self.dag:
                raise GraphError(f"input {key!r}: expected 'node.field' with a node of {self.name!r}")
            per_node[node][field] = np.asarray(value)
        beats: dict[tuple[str, str], Any] = {}
        results = {}
        for node in self.order():
            block = self.block(node)
            fed = {dp: beats[(a, sp)] for a, sp, b, dp in self.links() if b == node}
            node_inputs = {**per_node[node], **block.beats_to_fields(fed)}
            outputs = block.golden(node_inputs)
            for port, value in block.fields_to_beats(outputs).items():
                beats[(node, port)] = value
            results[node] = {"inputs": node_inputs, "outputs": outputs}
        return results

    def estimate(self, inputs: Mapping[str, np.ndarray]) -> GraphEstimate:
        """Compose the blocks' models: the slowest stage sets the throughput (the busiest
        node's ``busy`` cycles) and latencies add up along the longest path."""
        evaluated = self.run_golden(inputs)
        nodes = {node: self.block(node).model(self.block(node).workload(evaluated[node]["inputs"]))
                 for node in self.order()}
        path = self.longest_path({node: est.latency for node, est in nodes.items()})
        latency = sum(nodes[n].latency for n in path)
        bottleneck = max(nodes, key=lambda n: nodes[n].busy)
        busy = nodes[bottleneck].busy
        in_ports = self.open_ports(In)
        out_ports = self.open_ports(Out)
        total = Estimate(
            cycles=busy + latency if busy else 0,
            latency=latency,
            busy=busy,
            bytes_in=sum(nodes[n].bytes_in for n in {n for n, _ in in_ports}),
            bytes_out=sum(nodes[n].bytes_out for n in {n for n, _ in out_ports}),
        )
        return GraphEstimate(total, nodes, path, bottleneck)

    def longest_path(self, weight: Mapping[str, int]) -> list[str]:
        """The path through the DAG with the largest sum of node weights (the critical path)."""
        best: dict[str, tuple[int, list[str]]] = {}
        for node in self.order():
            before = max((best[p] for p in self.dag.predecessors(node)), default=(0, []),
                         key=lambda entry: entry[0])
            best[node] = (before[0] + weight[node], before[1] + [node])
        return max(best.values(), key=lambda entry: entry[0])[1]

    # -- hardware and docs -------------------------------------------------------------------------
    def elaborate_top(self) -> "GraphTop":
        if not self.dag:
            raise GraphError(f"graph {self.name!r} has no nodes")
        return GraphTop(self)

    def mermaid(self) -> str:
        """The graph as a Mermaid flowchart, for docs."""
        lines = ["flowchart LR"]
        for node in self.order():
            block = self.block(node)
            params = ", ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                               for k, v in block.param_values.items())
            lines.append(f'    {node}["{node}: {block.name}<br/>{params}"]')
        for node, port in self.open_ports(In):
            shape = self.block(node).stream_ports(In)[port].members["payload"].shape
            lines.append(f'    in_{node}_{port}(["{node}.{port}"]) -- "{shape_text(shape)}" --> {node}')
        for a, sp, b, dp in self.links():
            shape = self.block(a).stream_ports(Out)[sp].members["payload"].shape
            lines.append(f'    {a} -- "{sp} → {dp}: {shape_text(shape)}" --> {b}')
        for node, port in self.open_ports(Out):
            shape = self.block(node).stream_ports(Out)[port].members["payload"].shape
            lines.append(f'    {node} -- "{shape_text(shape)}" --> out_{node}_{port}(["{node}.{port}"])')
        return "\n".join(lines) + "\n"


class GraphTop(Block):
    """A graph elaborated as one component: ``<node>__<port>`` for every unconnected stream.

    It speaks the same interface as a block (golden, stimulus, fields and beats), so it is
    generated, linted and simulated by the same code. Field names are ``node.field``.
    """

    summary = "a composed dataflow graph"

    def __init__(self, graph: Graph):
        self.graph = graph
        self.name = graph.name
        self.param_values = {node: {"block": graph.block(node).name,
                                    **graph.block(node).param_values} for node in graph.order()}
        self.param_values["links"] = [list(link) for link in graph.links()]
        self.p = None
        members = {}
        for flow in (In, Out):
            for node, port in graph.open_ports(flow):
                members[f"{node}__{port}"] = flow(graph.block(node).stream_ports(flow)[port]
                                                  if flow == Out else
                                                  graph.block(node).stream_ports(flow)[port].flip())
        # every node's observation ports (a DRAM command bus, say) reach the top unchanged
        for node in graph.order():
            for port, shape in graph.block(node).trace_ports().items():
                members[f"{node}__{port}"] = Out(TraceSignature(shape))
        wiring.Component.__init__(self, members)

    @property
    def param_hash(self) -> str:
        return params_hash(self.name, self.param_values)

    def info(self):
        return {"nodes": {node: {"block": self.graph.block(node).name, **self.graph.block(node).info()}
                          for node in self.graph.order()},
                "mermaid": self.graph.mermaid()}

    def elaborate(self, platform):
        m = Module()
        graph = self.graph
        for node in graph.order():
            m.submodules[node] = graph.block(node)
        for a, sp, b, dp in graph.links():
            wiring.connect(m, getattr(graph.block(a), sp), getattr(graph.block(b), dp))
        for node, port in graph.open_ports(In):
            wiring.connect(m, wiring.flipped(getattr(self, f"{node}__{port}")),
                           getattr(graph.block(node), port))
        for node, port in graph.open_ports(Out):
            wiring.connect(m, getattr(graph.block(node), port),
                           wiring.flipped(getattr(self, f"{node}__{port}")))
        for node in graph.order():
            for port in graph.block(node).trace_ports():
                wiring.connect(m, getattr(graph.block(node), port),
                               wiring.flipped(getattr(self, f"{node}__{port}")))
        return m

    def check_traces(self, traces):
        """Each node checks its own observation ports."""
        problems = []
        for node in self.graph.order():
            block = self.graph.block(node)
            mine = {port: traces[f"{node}__{port}"] for port in block.trace_ports()}
            problems += [f"{node}: {problem}" for problem in block.check_traces(mine)] if mine else []
        return problems

    # -- the block interface, delegated node by node ------------------------------------------
    def golden(self, inputs):
        evaluated = self.graph.run_golden(inputs)
        beats = {}
        for node, port in self.graph.open_ports(Out):
            block = self.graph.block(node)
            beats[f"{node}__{port}"] = block.fields_to_beats(evaluated[node]["outputs"])[port]
        return self.beats_to_fields(beats)

    def stimulus(self, rng, n):
        fields = {}
        for node, port in self.graph.open_ports(In):
            block = self.graph.block(node)
            beats = block.fields_to_beats(block.stimulus(rng, n))
            for field, value in block.beats_to_fields({port: beats[port]}).items():
                fields[f"{node}.{field}"] = value
        return fields

    def workload(self, inputs):
        return {"vectors": self.vector_count(inputs)}

    def model(self, workload):
        raise GraphError("a graph's model needs its inputs: use Graph.estimate(inputs)")

    def fields_to_beats(self, fields):
        by_node: dict[str, dict] = {}
        for key, value in fields.items():
            node, _, field = key.partition(".")
            by_node.setdefault(node, {})[field] = value
        open_ports = set(self.graph.open_ports(In)) | set(self.graph.open_ports(Out))
        beats = {}
        for node, node_fields in by_node.items():
            for port, value in self.graph.block(node).fields_to_beats(node_fields).items():
                if (node, port) in open_ports:
                    beats[f"{node}__{port}"] = value
        return beats

    def beats_to_fields(self, beats):
        fields = {}
        for key, value in beats.items():
            node, _, port = key.partition("__")
            for field, array in self.graph.block(node).beats_to_fields({port: value}).items():
                fields[f"{node}.{field}"] = array
        return fields
