"""The oblivious map's HBM port: one access at a time for the sequencer (``controller.py``),
and the sweep that zeroes the position map and the queue rows after reset.

With a memory that never stalls, a read holds the sequencer's state 2 + hbm_latency cycles
(``start``; the request leaves and is taken; hbm_latency cycles later ``done``, the data is
registered), a write 3 (``start``; the request is taken; ``done``).
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..params import Geometry


def hbm_request_layout(g: Geometry):
    """The payload of the HBM request stream (``RamMemory``'s packing)."""
    return data.StructLayout({"address": g.hbm_address_width, "write": 1, "data": g.hbm_width})


class HbmAccess(wiring.Signature):
    """The sequencer's side of the HBM port.

    * ``start``: begin an access (a read, or a write of ``data``) at ``address``; it is taken in
      a cycle ``busy`` is low, and the sequencer holds it until then.
    * ``busy``: an access is out. ``done``: it completes this cycle (a read's data is in
      ``word`` from the next cycle on, until the next read completes).
    * ``clear``: while high, zero the HBM words one a cycle; ``cleared``: every word is written
      (this cycle).
    """

    def __init__(self, g: Geometry):
        super().__init__({
            "start": Out(1), "write": Out(1), "address": Out(g.hbm_address_width),
            "data": Out(g.hbm_width), "clear": Out(1),
            "busy": In(1), "done": In(1), "word": In(g.hbm_width), "cleared": In(1),
        })


class HbmPort(wiring.Component):
    """``access`` from the sequencer; ``request`` and ``response`` to the HBM the bench serves."""

    def __init__(self, g: Geometry):
        self.g = g
        super().__init__({
            "access": In(HbmAccess(g)),
            "request": Out(stream.Signature(hbm_request_layout(g))),
            "response": In(stream.Signature(g.hbm_width)),
        })

    def elaborate(self, platform):
        m = Module()
        g, access, request, response = self.g, self.access, self.request, self.response
        waiting = Signal()                    # an access is out
        clear_address = Signal(g.hbm_address_width + 1)

        # a request stays offered until it is taken; a response is always taken
        m.d.comb += response.ready.eq(1)
        with m.If(request.valid & request.ready):
            m.d.sync += request.valid.eq(0)
        # (the request register keeps the last payload: ``write`` tells what is out)
        m.d.comb += [access.busy.eq(waiting),
                     access.done.eq(waiting & Mux(request.payload.write, ~request.valid, response.valid))]

        # the clear sweep: writes back to back, nothing waited for
        free = ~request.valid | request.ready
        clearing = clear_address < g.hbm_words
        m.d.comb += access.cleared.eq(free & ~clearing)
        with m.If(access.clear & free & clearing):
            m.d.sync += [request.valid.eq(1), request.payload.address.eq(clear_address),
                         request.payload.write.eq(1), request.payload.data.eq(0),
                         clear_address.eq(clear_address + 1)]

        # one access at a time: a write is done when its request is taken, a read when its
        # data arrives
        with m.If(access.start & ~waiting):
            m.d.sync += [request.valid.eq(1), request.payload.address.eq(access.address),
                         request.payload.write.eq(access.write), waiting.eq(1)]
            with m.If(access.write):
                m.d.sync += request.payload.data.eq(access.data)
        with m.Elif(access.done):
            m.d.sync += waiting.eq(0)
            with m.If(~request.payload.write):
                m.d.sync += access.word.eq(response.payload)
        return m
