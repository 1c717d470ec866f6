"""``spgemm_hash``: C = A x B row by row (Gustavson), partial products merged in a banked
hash table, after SMASH (docs/spgemm.md).

Ports: ``command`` (the shapes and where A, B and C live in memory), ``done`` (one beat, C's
nonzero count, once C is in memory) and the memory port ``mem_request`` / ``mem_response``,
which the bench serves (``memories``): it holds A and B in CSR and receives C. The fields
``C_indptr``, ``C_indices``, ``C_data`` are read back from the memory's final image.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.block import Block, Estimate, RamMemory, register
from .engine import Engine
from ..layout import Layout, fields_of, matrices
from ..params import PARAMS

ADDRESS_BITS = 24          # memory words the engine can address (2^24 words)


@register
class SpgemmHash(Block):
    name = "spgemm_hash"
    params = PARAMS
    summary = ("sparse C = A x B, row-wise (Gustavson) with partial products merged in a "
               "banked hash table (SMASH); A, B, C in CSR in memory")
    address_bits = ADDRESS_BITS
    # the modulo hash: the multiplicative one's 32-bit multiply is hard for a SAT solver, and
    # the deep cover (a table overflow) needs every probe of a full bank
    formal_params = {"hash": "modulo"}

    def signature_members(self):
        p = self.p
        word = 64 * p.lanes
        return {
            "command": In(stream.Signature(data.StructLayout({
                "rows": 32, "cols": 32, "a_ptr": ADDRESS_BITS, "a_elem": ADDRESS_BITS,
                "b_ptr": ADDRESS_BITS, "b_elem": ADDRESS_BITS, "c_ptr": ADDRESS_BITS,
                "c_elem": ADDRESS_BITS}))),
            "done": Out(stream.Signature(32)),
            "mem_request": Out(stream.Signature(data.StructLayout({
                "address": ADDRESS_BITS, "write": 1, "data": word}))),
            "mem_response": In(stream.Signature(word)),
        }

    def formal_covers(self, m, port):
        # the table's overflow flag (rtl/table.py): the pass is abandoned and redone on half
        # its column window
        return [("table", "an overflow pass (a row redone)", port("engine.overflow"))]

    def formal_scenario(self):
        # one product per column of C's only row, one column more than the table holds: some
        # bank must overflow (a free search does not get that deep)
        columns = self.p.table_size + 1
        ones = np.ones(columns, dtype=np.int32)
        return {"A_indptr": np.array([0, 1]), "A_indices": np.array([0]), "A_data": ones[:1],
                "A_shape": np.array([1, 1]), "B_indptr": np.array([0, columns]),
                "B_indices": np.arange(columns), "B_data": ones, "B_shape": np.array([1, columns])}

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = Engine(self.signature, self.p, self.address_bits)
        wiring.connect(m, wiring.flipped(self), engine)
        return m

    # -- fields <-> beats, memory ---------------------------------------------------------------
    def layout(self, inputs) -> Layout:
        return Layout.of(inputs, self.p.lanes)

    def fields_to_beats(self, fields):
        beats = {}
        if "A_indptr" in fields:
            layout = self.layout(fields)
            beats["command"] = {name: np.asarray([value], dtype=np.uint64)
                                for name, value in layout.command().items()}
        if "C_nnz" in fields:
            beats["done"] = np.asarray(fields["C_nnz"], dtype=np.uint64).reshape(-1)
        return beats

    def beats_to_fields(self, beats):
        return {"C_nnz": np.asarray(beats["done"], dtype=np.uint64)} if "done" in beats else {}

    def field_dtypes(self):
        # the values (int32 or float32); indices, pointers and counts are plain unsigned
        value = "float32" if self.p.value_type == "fp32" else "int32"
        return {key: value for key in ("A_data", "B_data", "C_data")}

    def vector_count(self, inputs):
        """Rows of A (each a row of C)."""
        return int(np.asarray(inputs["A_shape"]).reshape(-1)[0])

    def memories(self, inputs):
        layout = self.layout(inputs)
        return {"mem": RamMemory(request="mem_request", response="mem_response",
                                 address_width=ADDRESS_BITS, data_width=64 * self.p.lanes,
                                 latency=self.p.mem_latency, init=layout.image(),
                                 interval=self.p.mem_interval, size=layout.words())}

    def memory_outputs(self, inputs, images):
        """C read back from the memory's final image."""
        return self.layout(inputs).read_c(images["mem"])

    # -- golden, stimulus, model ----------------------------------------------------------------
    def golden(self, inputs):
        from ..golden import spgemm
        from ..matrices import Csr

        A, B = (Csr(M.shape, M.indptr, M.indices, M.data.astype(np.uint32)) for M in matrices(inputs))
        C = spgemm(A, B, self.p.value_type)
        return {"C_indptr": np.asarray(C.indptr, dtype=np.uint64),
                "C_indices": np.asarray(C.indices, dtype=np.uint64),
                "C_data": np.asarray(C.data, dtype=np.uint64),
                "C_nnz": np.asarray([C.nnz], dtype=np.uint64)}

    def stimulus(self, rng, n):
        """A random ``n`` x 48 A (about 4 nonzeros a row, some rows empty) times a 48 x 96 B
        (about 6 a row): some rows' outputs overflow the default table."""
        from ..matrices import uniform_random

        rows = max(1, int(n))
        A = uniform_random(rows, 48, density=4 / 48, rng=rng, value_type=self.p.value_type)
        B = uniform_random(48, 96, density=6 / 96, rng=rng, value_type=self.p.value_type)
        return fields_of(A, B)

    def matrix_inputs(self, path, values: str = "random", seed: int = 1):
        """The fields of A x A (A x A^T if A is not square) for a Matrix Market file."""
        from ..matrices import read_mtx

        A = read_mtx(path, values=values, seed=seed, value_type=self.p.value_type)
        return fields_of(A, A if A.shape[0] == A.shape[1] else A.transpose())

    def workload(self, inputs):
        return {"inputs": inputs}

    def model(self, workload):
        from ..model import engine_cycles

        detail: dict = {}
        cycles = engine_cycles(self.param_values, workload["inputs"], detail)
        return Estimate(cycles=cycles, latency=cycles, busy=cycles,
                        bytes_in=detail["bytes_read"], bytes_out=detail["bytes_written"])


__all__ = ["SpgemmHash"]
