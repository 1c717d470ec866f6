"""``omap_controller``: an oblivious key-value map with a trusted HBM cache (after BOLT).
docs/omap.md.

Ports: ``seed`` (256 bits of DRBG seed material; the bench sends the ``seed`` parameter),
``request`` (op, key, value) and ``response`` (found, value, error), ``events`` (an
observation port: queue full, refusals, integrity failures), and two memories the bench
serves: ``hbm`` (trusted: position map and eviction-queue rows) and ``host`` (untrusted:
encrypted pages; every request it sees is the adversary's view).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.block import Block, Estimate, RamMemory, TraceSignature, register
from .. import golden, reference
from .controller import Sequencer
from .drbg import CtrDrbg
from .hbm_port import HbmPort
from .host_port import HostPort
from .page_buffer import PageBuffer
from ..model import controller_cycles, host_bytes_per_query, schedule
from ..params import DELETE, DRBG_BLOCKS_PER_REQUEST, GET, LOAD, PARAMS, PUT, Geometry



@register
class OmapController(Block):
    name = "omap_controller"
    params = PARAMS
    summary = ("oblivious key-value map (BOLT): position map and queue in trusted HBM, "
               "AES-CTR encrypted host pages, constant host traffic per query")

    @property
    def geometry(self) -> Geometry:
        return Geometry.of(self.param_values)

    def signature_members(self):
        g, p = self.geometry, self.p
        return {
            "seed": In(stream.Signature(256)),
            "request": In(stream.Signature(data.StructLayout({
                "op": 2, "key": p.key_width, "value": p.value_width}))),
            "response": Out(stream.Signature(data.StructLayout({
                "found": 1, "value": p.value_width, "error": 2}))),
            "events": Out(TraceSignature(unsigned(3))),
            "hbm_request": Out(stream.Signature(data.StructLayout({
                "address": g.hbm_address_width, "write": 1, "data": g.hbm_width}))),
            "hbm_response": In(stream.Signature(g.hbm_width)),
            "host_request": Out(stream.Signature(data.StructLayout({
                "address": g.host_address_width, "write": 1, "data": g.host_width}))),
            "host_response": In(stream.Signature(g.host_width)),
        }

    @property
    def drain_cycles(self) -> int:
        """The last query's flush runs on after its response: the benches wait for it."""
        cycles = schedule(self.param_values)
        return cycles["query"] - cycles["response"] + 32

    def formal_covers(self, m, port):
        host = self.formal_payload(port, "host_request")
        written = port("host_request__valid") & port("host_request__ready") & host.write
        # a response has left: the page writes after it are the query's flush (the writes
        # before the first response are the seal's)
        answered = Signal(name="answered")
        m.d.sync += answered.eq(answered | (port("response__valid") & port("response__ready")))
        return [("host_request", "a page written to the host", written),
                ("host_request", "the query's flush (a page written after its response)", written & answered)]

    def formal_scenario(self):
        # one PUT: the controller clears HBM, seeds its DRBG, takes the request and seals the
        # map (writes every page), then reads a page, answers and flushes
        return {"op": np.array([PUT], dtype=np.uint64), "key": np.array([5], dtype=np.uint64),
                "value": np.array([7], dtype=np.uint64)}

    def formal_warm_start(self):
        # the scenario's seal (every page encrypted and written) takes most of its cycles: the
        # search starts 20 cycles before the query ends (the model's cycles, equal to the
        # RTL's), so that a search of the default depth meets the flush's page writes
        cycles = controller_cycles(self.param_values, {"loads": 0, "queries": 1})
        query_end = cycles["total"] - cycles["response"] + cycles["query"]
        return max(0, query_end - 20)

    def info(self):
        g = self.geometry
        return {"buckets": g.buckets, "pages": g.pages, "hbm_width": g.hbm_width,
                "hbm_words": g.hbm_words, "host_words": g.host_words,
                "alpha_threshold": g.alpha_threshold}

    def elaborate(self, platform):
        """The engines (controller.py and its neighbours; docs/omap.md, "Microarchitecture"):
        the sequencer runs each query over the HBM port, the host port (the slot AES core)
        and the page buffer, with random blocks from the DRBG."""
        m = Module()
        g = self.geometry
        m.submodules.drbg = drbg = CtrDrbg(DRBG_BLOCKS_PER_REQUEST)
        m.submodules.sequencer = sequencer = Sequencer(
            g, two_choice=self.p.placement == "two_choice", leaky=self.p.leak == "no_dummy_read")
        m.submodules.hbm = hbm = HbmPort(g)
        m.submodules.host = host = HostPort(g)
        m.submodules.page = page = PageBuffer(g)

        wiring.connect(m, wiring.flipped(self.seed), drbg.seed)
        wiring.connect(m, drbg.random, sequencer.random)
        wiring.connect(m, wiring.flipped(self.request), sequencer.request)
        wiring.connect(m, sequencer.response, wiring.flipped(self.response))
        wiring.connect(m, sequencer.events, wiring.flipped(self.events))

        wiring.connect(m, sequencer.hbm, hbm.access)
        wiring.connect(m, hbm.request, wiring.flipped(self.hbm_request))
        wiring.connect(m, wiring.flipped(self.hbm_response), hbm.response)

        wiring.connect(m, sequencer.buffer, page.access)
        wiring.connect(m, sequencer.host_read, host.read)
        wiring.connect(m, host.plaintext, page.fill)
        wiring.connect(m, sequencer.host_write, host.write)
        m.d.comb += [host.key.eq(sequencer.slot_key), sequencer.encrypted.eq(host.encrypted)]
        wiring.connect(m, host.request, wiring.flipped(self.host_request))
        wiring.connect(m, wiring.flipped(self.host_response), host.response)
        return m

    # -- fields <-> beats, memories -------------------------------------------------------------
    def _check(self, fields):
        p = self.p
        missing = [name for name in ("op", "key", "value") if name not in fields]
        if missing:
            raise ValueError(f"omap_controller inputs need 'op', 'key' and 'value'; "
                             f"{', '.join(repr(m) for m in missing)} missing")
        arrays = {name: np.asarray(fields[name]).reshape(-1) for name in ("op", "key", "value")}
        if not len(arrays["op"]) == len(arrays["key"]) == len(arrays["value"]):
            raise ValueError("omap_controller fields 'op', 'key' and 'value' differ in length: "
                             + ", ".join(f"{k} {len(v)}" for k, v in arrays.items()))
        for name, width in (("op", 2), ("key", p.key_width), ("value", p.value_width)):
            values = [int(v) for v in arrays[name]]
            bad = [v for v in values if not 0 <= v < 1 << width]
            if bad:
                raise ValueError(f"omap_controller field '{name}' holds {bad[0]}, out of range: "
                                 f"allowed 0..{(1 << width) - 1}")
            arrays[name] = np.asarray(values, dtype=np.uint64)
        if len(arrays["op"]) == 0:
            raise ValueError("omap_controller needs at least one request")
        return arrays

    def fields_to_beats(self, fields):
        beats = {}
        if "op" in fields:
            checked = self._check(fields)
            beats["request"] = checked
            beats["seed"] = np.asarray([int(self.p.seed)], dtype=object)
        if "found" in fields:
            beats["response"] = {"found": np.asarray(fields["found"], dtype=np.uint64),
                                 "value": np.asarray(fields["value_out"], dtype=np.uint64),
                                 "error": np.asarray(fields["error"], dtype=np.uint64)}
        return beats

    def beats_to_fields(self, beats):
        if "response" not in beats:
            return {}
        r = beats["response"]
        return {"found": np.asarray(r["found"], dtype=np.uint64),
                "value_out": np.asarray(r["value"], dtype=np.uint64),
                "error": np.asarray(r["error"], dtype=np.uint64)}

    def vector_count(self, inputs):
        return int(np.asarray(inputs["op"]).reshape(-1).shape[0])

    def memories(self, inputs):
        g, p = self.geometry, self.p
        return {
            "hbm": RamMemory(request="hbm_request", response="hbm_response",
                             address_width=g.hbm_address_width, data_width=g.hbm_width,
                             latency=p.hbm_latency),
            "host": RamMemory(request="host_request", response="host_response",
                              address_width=g.host_address_width, data_width=g.host_width,
                              latency=p.host_latency),
        }

    # -- golden, stimulus, model ----------------------------------------------------------------
    def golden(self, inputs):
        checked = self._check(inputs)
        return golden.map_answers(checked["op"], checked["key"], checked["value"],
                                  capacity=self.p.capacity, ways=self.p.ways)

    def stimulus(self, rng, n):
        """A bulk load of up to half the capacity, then GET, PUT and DELETE over those keys
        and as many absent ones (hits and misses), with the keys 0 and all-ones among them."""
        p = self.p
        n = max(2, int(n))
        top = (1 << p.key_width) - 1
        pool = np.unique(np.concatenate([[0, top], rng.integers(0, top, size=min(2 * p.capacity, n),
                                                                  dtype=np.uint64, endpoint=True)]))
        loads = min(n // 4, p.capacity // 2, len(pool) // 2)
        ops = np.concatenate([np.full(loads, LOAD), rng.choice([GET, GET, PUT, DELETE], size=n - loads)])
        keys = np.concatenate([pool[:loads], rng.choice(pool, size=n - loads)])
        values = rng.integers(0, 1 << p.value_width, size=n, dtype=np.uint64)
        values[rng.random(n) < 0.05] = (1 << p.value_width) - 1
        return {"op": ops.astype(np.uint64), "key": keys.astype(np.uint64), "value": values}

    def workload(self, inputs):
        checked = self._check(inputs)
        ops = checked["op"]
        queries = np.nonzero(ops != LOAD)[0]
        loads = int(queries[0]) if len(queries) else len(ops)
        found = self.golden(inputs)["found"][:loads]
        workload = {"loads": loads, "queries": len(ops) - loads,
                    "load_hits": tuple(int(i) for i in np.nonzero(found)[0])}
        if self.p.leak == "no_dummy_read":
            # which queries skip their page read depends on the map's state: the reference
            # (a model of the controller independent of its RTL) says
            ref, _ = reference.run(self.param_values, ops, checked["key"], checked["value"],
                                   encrypt=False, record=False)
            workload["skipped_reads"] = tuple(ref.skipped_reads)
        return workload

    def model(self, workload):
        cycles = controller_cycles(self.param_values, workload)
        queries = workload["queries"]
        g = self.geometry
        host = host_bytes_per_query(self.param_values) * queries + \
            (g.host_words * g.host_width // 8 if queries else 0)
        requests = workload["loads"] + queries
        return Estimate(cycles=cycles["total"], latency=cycles["query"], busy=cycles["total"],
                        bytes_in=requests * (2 + self.p.key_width + self.p.value_width + 7) // 8,
                        bytes_out=requests * (self.p.value_width + 10) // 8 + host)


__all__ = ["OmapController"]
