"""The oblivious map controller's sequencer: one state machine that runs each query over the
HBM port (position map, eviction queue rows; ``hbm_port.py``), the host port (encrypted pages;
``host_port.py``) and the page buffer (``page_buffer.py``), with the DRBG's blocks for its
random choices. docs/omap.md, "Microarchitecture"; the algorithm is the one ``reference.py``
runs.

Every query follows one fixed schedule of memory requests (dummies where the query needs
none), so with fixed memory latencies its timing does not depend on the operation, the key
or whether it hits.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ....core.block import TraceSignature
from ....core.logic import StateMachine, equals
from .hbm_port import HbmAccess
from .host_port import slot_bits, slot_write_layout
from .page_buffer import PageAccess
from .views import BucketHash, BucketView, RowView, bucket_after, bucket_entry, bucket_with_entry, row_with_way
from ..params import (
    DELETE, ERR_BUCKET_FULL, ERR_MAP_FULL, ERR_NONE, EV_BUCKET_FULL, EV_INTEGRITY, EV_MAP_FULL,
    EV_QUEUE_FULL, FIELD_BITS, IN_HBM, IN_HOST, LOAD, NONCE_BITS, PUT, QUEUED, Geometry,
)

STATES = ['BOOT', 'CLEAR', 'IDLE', 'LOOKUP', 'DECIDE', 'READ_PAGE', 'FIND_SLOT', 'UNLINK_READ', 'UNLINK_WRITE', 'RESPOND', 'CHOICE_FIRST', 'CHOICE_SECOND', 'CHOOSE', 'PLACE_READ', 'PLACE_WRITE', 'WRITE_BUCKET', 'FLUSH_ROW', 'FLUSH_PAGE', 'LIVE_READ', 'LIVE_CHECK', 'MOVE_READ', 'MOVE_WRITE', 'MOVE_NEXT', 'ROW_WRITE', 'ENCRYPT', 'WRITE_SLOT']


def request_layout(g: Geometry):
    return data.StructLayout({"op": 2, "key": g.key_width, "value": g.value_width})


def response_layout(g: Geometry):
    return data.StructLayout({"found": 1, "value": g.value_width, "error": 2})


def hbm_access(m: Module, fsm: StateMachine, hbm, then: str, address, write=None):
    """In the current state: read the HBM word at ``address`` (it is in ``hbm.word`` from the
    next state on) or, with ``write``, write that word there; go to ``then`` when done."""
    m.d.comb += [hbm.start.eq(1), hbm.address.eq(address)]
    if write is not None:
        m.d.comb += [hbm.write.eq(1), hbm.data.eq(write)]
    with m.If(hbm.done):
        fsm.goto(then)


def event(m: Module, events, code):
    """Report ``code`` on the events port in the next cycle."""
    m.d.sync += [events.valid.eq(1), events.payload.eq(code)]


class Sequencer(wiring.Component):
    """``request``, ``response`` and ``events`` are the controller's; ``random`` comes from the
    DRBG; ``hbm``, ``buffer``, ``host_read``, ``host_write`` and ``encrypted`` drive the HBM port,
    the page buffer and the host port; ``slot_key`` keys the host port's AES core."""

    def __init__(self, g: Geometry, *, two_choice: bool, leaky: bool):
        self.g = g
        self.two_choice = two_choice
        self.leaky = leaky
        super().__init__({
            "random": In(stream.Signature(128)),
            "request": In(stream.Signature(request_layout(g))),
            "response": Out(stream.Signature(response_layout(g))),
            "events": Out(TraceSignature(unsigned(3))),
            "hbm": Out(HbmAccess(g)),
            "buffer": Out(PageAccess(g)),
            "host_read": Out(stream.Signature(g.page_bits)),
            "host_write": Out(stream.Signature(slot_write_layout(g))),
            "encrypted": In(1),
            "slot_key": Out(128),
        })

    def elaborate(self, platform):
        m = Module()
        g = self.g
        kw, vw, S, Q = g.key_width, g.value_width, g.slots, g.queue_ways
        random, request, response, events = self.random, self.request, self.response, self.events
        hbm, buffer, host_read, host_write = self.hbm, self.buffer, self.host_read, self.host_write

        # -- state ------------------------------------------------------------------------
        rnd = Signal(128)                     # this query's random block
        op = Signal(2)
        key = Signal(kw)
        value = Signal(vw)
        sealed = Signal()
        loading = Signal()          # this request is a LOAD before the seal
        size = Signal(range(g.capacity + 1))
        nonce = Signal(NONCE_BITS)
        bucket = Signal(g.ways * g.entry_bits)   # the request key's bucket, as read
        hit = Signal()
        hit_way = Signal(range(max(2, g.ways)))
        has_free = Signal()
        free_way = Signal(range(max(2, g.ways)))
        hit_state = Signal(2)
        hit_label = Signal(g.page_bits)
        old_value = Signal(vw)
        page = Signal(g.page_bits)            # the page a query reads
        flush_page = Signal(g.page_bits)
        persist = Signal()                    # the element stays in the map after this query
        insert = Signal()
        delete = Signal()
        new_value = Signal(vw)
        label = Signal(g.page_bits)
        first_count = Signal(g.count_bits)
        new_state = Signal(2)
        new_label = Signal(g.page_bits)
        row = Signal(g.pending_bits)          # the flushed page's pending row
        index = Signal(range(max(2, S, Q) + 1))
        reading_for_flush = Signal()
        slot_index = index[:slot_bits(g)]
        way_index = index[:max(1, (Q - 1).bit_length())]

        # random fields of this query's block (reference.py ``_field``)
        fields = [rnd[FIELD_BITS * i:FIELD_BITS * i + g.page_bits] for i in range(4)]
        coin = rnd[4 * FIELD_BITS:4 * FIELD_BITS + 16]

        # -- one hash unit, its key chosen by the state; views of what HBM returned ----------
        m.submodules.hash = hash_unit = BucketHash(g)
        m.submodules.bucket_view = view = BucketView(g)
        m.submodules.row_view = row_view = RowView(g)
        m.submodules.read_row = read_row = RowView(g)
        probe = Signal(kw)                    # the key the current HBM word is searched for
        m.d.comb += [view.word.eq(hbm.word), view.key.eq(probe),
                     read_row.word.eq(hbm.word), read_row.key.eq(probe),
                     row_view.word.eq(row), row_view.index.eq(way_index)]

        # the page buffer is searched for the request key and walked by ``index``; a flushed
        # page's slots go to the host port in that order, under the page write's nonce
        m.d.comb += [buffer.key.eq(key), buffer.index.eq(slot_index),
                     host_write.payload.page.eq(flush_page), host_write.payload.at.eq(slot_index),
                     host_write.payload.nonce.eq(nonce), host_write.payload.word.eq(buffer.at_slot)]

        fsm = StateMachine(m, STATES)
        m.d.sync += events.valid.eq(0)

        # -- the sequencer's states, in the order of a query ---------------------------------
        with fsm.state("BOOT"):
            # the DRBG's first block keys the slot encryption
            m.d.comb += random.ready.eq(1)
            with m.If(random.valid):
                m.d.sync += self.slot_key.eq(random.payload)
                fsm.goto("CLEAR")

        with fsm.state("CLEAR"):
            # zero the position map and the queue rows, one write a cycle
            m.d.comb += hbm.clear.eq(1)
            with m.If(hbm.cleared):
                fsm.goto("IDLE")

        with fsm.state("IDLE"):
            ready = random.valid & ~response.valid
            m.d.comb += [request.ready.eq(ready), random.ready.eq(ready & request.valid)]
            with m.If(ready & request.valid):
                is_load = equals(request.payload.op, LOAD)
                m.d.sync += [op.eq(Mux(is_load & sealed, PUT, request.payload.op)),
                             key.eq(request.payload.key), value.eq(request.payload.value),
                             rnd.eq(random.payload), loading.eq(is_load & ~sealed),
                             flush_page.eq(0), reading_for_flush.eq(0)]
                with m.If(~sealed & ~is_load):
                    fsm.goto("FLUSH_ROW")      # the seal: every page written once, in order
                with m.Else():
                    fsm.goto("LOOKUP")

        with fsm.state("LOOKUP"):
            m.d.comb += hash_unit.key.eq(key)
            hbm_access(m, fsm, hbm, "DECIDE", hash_unit.bucket)

        with fsm.state("DECIDE"):
            m.d.comb += probe.eq(key)
            labelled = view.hit & ~equals(view.state, IN_HBM)
            m.d.sync += [bucket.eq(hbm.word), hit.eq(view.hit), hit_way.eq(view.way),
                         has_free.eq(view.has_free), free_way.eq(view.free_way),
                         hit_state.eq(view.state), hit_label.eq(view.label),
                         old_value.eq(view.value),
                         page.eq(Mux(labelled, view.label, fields[0]))]
            with m.If(loading):
                fsm.goto("RESPOND")
            elif_skip = labelled if self.leaky else 1
            with m.Elif(elif_skip):
                fsm.goto("READ_PAGE")
            with m.Else():
                fsm.goto("UNLINK_READ")

        # -- read a page: the host port decrypts its slots into the page buffer --------------
        with fsm.state("READ_PAGE"):
            m.d.comb += [host_read.valid.eq(1),
                         host_read.payload.eq(Mux(reading_for_flush, flush_page, page))]
            with m.If(host_read.ready):
                with m.If(reading_for_flush):
                    m.d.sync += index.eq(0)
                    fsm.goto("LIVE_READ")
                with m.Else():
                    fsm.goto("FIND_SLOT")

        with fsm.state("FIND_SLOT"):
            with m.If(hit & equals(hit_state, IN_HOST)):
                with m.If(buffer.hit):
                    m.d.sync += old_value.eq(buffer.hit_value)
                with m.Else():
                    m.d.sync += old_value.eq(0)
                    event(m, events, EV_INTEGRITY)
            fsm.goto("UNLINK_READ")

        # -- the element leaves its label: the count drops, a queued key leaves its row --
        with fsm.state("UNLINK_READ"):
            hbm_access(m, fsm, hbm, "UNLINK_WRITE", g.buckets + page)

        with fsm.state("UNLINK_WRITE"):
            m.d.comb += probe.eq(key)
            labelled = hit & ~equals(hit_state, IN_HBM)
            queued = hit & equals(hit_state, QUEUED)
            found = read_row.hit
            count = read_row.count - (labelled & (~queued | found))
            word = row_with_way(g, count, hbm.word, read_row.way, Const(0, 1 + kw), queued & found)
            with m.If(queued & ~found & ~hbm.busy):
                event(m, events, EV_INTEGRITY)
            hbm_access(m, fsm, hbm, "RESPOND", g.buckets + page, write=word)

        # -- the answer, and what becomes of the element -----------------------------------
        with fsm.state("RESPOND"):
            is_put = equals(op, PUT) | equals(op, LOAD)
            full = equals(size, g.capacity)
            do_insert = ~hit & is_put & ~full & has_free
            error = Mux(~hit & is_put & full, ERR_MAP_FULL,
                        Mux(~hit & is_put & ~has_free, ERR_BUCKET_FULL, ERR_NONE))
            m.d.sync += [response.valid.eq(1), response.payload.found.eq(hit),
                         response.payload.value.eq(Mux(hit, old_value, 0)),
                         response.payload.error.eq(error),
                         insert.eq(do_insert), delete.eq(hit & equals(op, DELETE)),
                         persist.eq((hit & ~equals(op, DELETE)) | do_insert),
                         new_value.eq(Mux(is_put, value, old_value))]
            with m.If(~hit & is_put & full):
                event(m, events, EV_MAP_FULL)
            with m.Elif(~hit & is_put & ~has_free):
                event(m, events, EV_BUCKET_FULL)
            with m.If(do_insert):
                m.d.sync += size.eq(size + 1)
            with m.If(hit & equals(op, DELETE)):
                m.d.sync += size.eq(size - 1)
            with m.If(loading & hit):
                # a LOAD of a key already loaded: the value changes where it waits
                m.d.sync += [new_state.eq(hit_state), new_label.eq(hit_label),
                             persist.eq(1)]
                fsm.goto("WRITE_BUCKET")
            with m.Else():
                fsm.goto("CHOICE_FIRST")

        # -- a fresh location: HBM with probability alpha, else a label's queue row -------
        with fsm.state("CHOICE_FIRST"):
            hbm_access(m, fsm, hbm, "CHOICE_SECOND", g.buckets + fields[2])

        with fsm.state("CHOICE_SECOND"):
            with m.If(~hbm.busy):
                m.d.sync += first_count.eq(hbm.word[:g.count_bits])
            hbm_access(m, fsm, hbm, "CHOOSE", g.buckets + fields[3])

        with fsm.state("CHOOSE"):
            second_less = hbm.word[:g.count_bits] < first_count
            chosen = Mux(second_less, fields[3], fields[2]) if self.two_choice else fields[2]
            m.d.sync += label.eq(chosen)
            fsm.goto("PLACE_READ")

        with fsm.state("PLACE_READ"):
            hbm_access(m, fsm, hbm, "PLACE_WRITE", g.buckets + label)

        with fsm.state("PLACE_WRITE"):
            to_host = persist & (coin >= g.alpha_threshold)
            fits = read_row.has_free
            enqueue = to_host & fits
            word = row_with_way(g, read_row.count + enqueue, hbm.word, read_row.free_way,
                                Cat(Const(1, 1), key), enqueue)
            with m.If(~hbm.busy):
                m.d.sync += [new_state.eq(Mux(enqueue, QUEUED, IN_HBM)),
                             new_label.eq(Mux(enqueue, label, 0))]
                with m.If(to_host & ~fits):
                    event(m, events, EV_QUEUE_FULL)
            hbm_access(m, fsm, hbm, "WRITE_BUCKET", g.buckets + label, write=word)

        with fsm.state("WRITE_BUCKET"):
            entry = bucket_entry(new_state, key, new_label, new_value)
            word = bucket_after(g, bucket, Mux(insert, free_way, hit_way), entry, persist, delete)
            m.d.comb += hash_unit.key.eq(key)
            with m.If(loading):
                hbm_access(m, fsm, hbm, "IDLE", hash_unit.bucket, write=word)
            with m.Else():
                m.d.sync += [flush_page.eq(fields[1]), reading_for_flush.eq(1)]
                hbm_access(m, fsm, hbm, "FLUSH_ROW", hash_unit.bucket, write=word)

        # -- flush: the page's live slots plus what waits for it, re-encrypted -----------
        with fsm.state("FLUSH_ROW"):
            with m.If(~hbm.busy):
                m.d.sync += index.eq(0)
                m.d.comb += buffer.clear.eq(1)
            hbm_access(m, fsm, hbm, "FLUSH_PAGE", g.buckets + flush_page)

        with fsm.state("FLUSH_PAGE"):
            m.d.sync += row.eq(hbm.word)
            with m.If(reading_for_flush):
                fsm.goto("READ_PAGE")
            with m.Else():
                fsm.goto("MOVE_READ")   # the seal: the page holds nothing yet

        with fsm.state("LIVE_READ"):
            m.d.comb += hash_unit.key.eq(buffer.at_key)
            hbm_access(m, fsm, hbm, "LIVE_CHECK", hash_unit.bucket)

        with fsm.state("LIVE_CHECK"):
            m.d.comb += probe.eq(buffer.at_key)
            live = view.hit & equals(view.state, IN_HOST) & equals(view.label, flush_page)
            with m.If(~live):
                m.d.comb += buffer.drop.eq(1)
            m.d.sync += index.eq(index + 1)
            with m.If(equals(index, S - 1)):
                m.d.sync += index.eq(0)
                fsm.goto("MOVE_READ")
            with m.Else():
                fsm.goto("LIVE_READ")

        with fsm.state("MOVE_READ"):
            m.d.comb += hash_unit.key.eq(row_view.at_key)
            hbm_access(m, fsm, hbm, "MOVE_WRITE", hash_unit.bucket)

        with fsm.state("MOVE_WRITE"):
            moving = row_view.at_valid & buffer.has_free
            m.d.comb += probe.eq(row_view.at_key)
            good = view.hit & equals(view.state, QUEUED) & equals(view.label, flush_page)
            entry = bucket_entry(Const(IN_HOST, 2), probe, flush_page, Const(0, vw))
            word = bucket_with_entry(g, hbm.word, view.way, entry, moving & good)
            with m.If(~hbm.busy):
                with m.If(moving):
                    m.d.sync += row.eq(row_with_way(g, row_view.count, row, way_index,
                                                    Const(0, 1 + kw)))
                    with m.If(good):
                        m.d.comb += [buffer.insert.eq(1), buffer.insert_key.eq(probe),
                                     buffer.insert_value.eq(view.value)]
                    with m.Else():
                        event(m, events, EV_INTEGRITY)
            with m.If(hbm.done):
                m.d.sync += index.eq(index + 1)
                with m.If(equals(index, Q - 1)):
                    m.d.sync += index.eq(0)
            m.d.comb += hash_unit.key.eq(row_view.at_key)
            hbm_access(m, fsm, hbm, "MOVE_NEXT", hash_unit.bucket, write=word)

        with fsm.state("MOVE_NEXT"):
            with m.If(index.any()):
                fsm.goto("MOVE_READ")
            with m.Else():
                fsm.goto("ROW_WRITE")

        with fsm.state("ROW_WRITE"):
            with m.If(~hbm.busy):
                m.d.sync += nonce.eq(nonce + 1)
            hbm_access(m, fsm, hbm, "ENCRYPT", g.buckets + flush_page, write=row)

        # -- write the page: each slot encrypted by the host port, then written ------------
        with fsm.state("ENCRYPT"):
            m.d.comb += host_write.valid.eq(1)
            with m.If(self.encrypted):
                fsm.goto("WRITE_SLOT")

        with fsm.state("WRITE_SLOT"):
            m.d.comb += host_write.valid.eq(1)
            with m.If(host_write.ready):
                m.d.sync += index.eq(index + 1)
                with m.If(equals(index, S - 1)):
                    with m.If(reading_for_flush):
                        fsm.goto("IDLE")
                    with m.Elif(equals(flush_page, g.pages - 1)):
                        m.d.sync += sealed.eq(1)
                        fsm.goto("LOOKUP")
                    with m.Else():
                        m.d.sync += flush_page.eq(flush_page + 1)
                        fsm.goto("FLUSH_ROW")
                with m.Else():
                    fsm.goto("ENCRYPT")

        with m.If(response.valid & response.ready):
            m.d.sync += response.valid.eq(0)
        return m
