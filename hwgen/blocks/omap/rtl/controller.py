"""The oblivious map controller's hardware: one sequencer over the HBM port (position map,
eviction queue rows), the host port (encrypted pages), the slot AES core and the DRBG.
docs/omap.md, "Microarchitecture"; the algorithm is the one ``reference.py`` runs.

Every query follows one fixed schedule of memory requests (dummies where the query needs
none), so with fixed memory latencies its timing does not depend on the operation, the key
or whether it hits.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal

from ....core.logic import StateMachine, equals, lowest, pick
from .aes import Aes128
from .drbg import CtrDrbg
from ..params import (
    DELETE, ERR_BUCKET_FULL, ERR_MAP_FULL, ERR_NONE, EV_BUCKET_FULL, EV_INTEGRITY, EV_MAP_FULL,
    EV_QUEUE_FULL, FIELD_BITS, HASH_MULTIPLIER, IN_HBM, IN_HOST, LOAD, NONCE_BITS, PUT, QUEUED,
    DRBG_BLOCKS_PER_REQUEST, Geometry,
)

STATES = ['BOOT', 'CLEAR', 'IDLE', 'LOOKUP', 'DECIDE', 'READ_PAGE', 'FIND_SLOT', 'UNLINK_READ', 'UNLINK_WRITE', 'RESPOND', 'CHOICE_FIRST', 'CHOICE_SECOND', 'CHOOSE', 'PLACE_READ', 'PLACE_WRITE', 'WRITE_BUCKET', 'FLUSH_ROW', 'FLUSH_PAGE', 'LIVE_READ', 'LIVE_CHECK', 'MOVE_READ', 'MOVE_WRITE', 'MOVE_NEXT', 'ROW_WRITE', 'ENCRYPT', 'WRITE_SLOT']


class BucketView:
    """The fields of a bucket word (``ways`` entries, LSB first) and a search for one key."""

    def __init__(self, m, g: Geometry, word, key, name):
        self.g = g
        kw, pb, vw = g.key_width, g.page_bits, g.value_width
        self.entries = [word[w * g.entry_bits:(w + 1) * g.entry_bits] for w in range(g.ways)]
        self.valid = [e[0] for e in self.entries]
        self.state = [e[1:3] for e in self.entries]
        self.key = [e[3:3 + kw] for e in self.entries]
        self.label = [e[3 + kw:3 + kw + pb] for e in self.entries]
        self.value = [e[3 + kw + pb:3 + kw + pb + vw] for e in self.entries]
        self.hit, self.way = lowest(m, [v & equals(k, key) for v, k in zip(self.valid, self.key)],
                                    f"{name}_hit")
        self.has_free, self.free_way = lowest(m, [~v for v in self.valid], f"{name}_free")
        self.hit_state = pick(m, self.state, self.way, f"{name}_state")
        self.hit_label = pick(m, self.label, self.way, f"{name}_label")
        self.hit_value = pick(m, self.value, self.way, f"{name}_value")

    def pack(self, state, key, label, value):
        return Cat(Const(1, 1), state, key, label, value)

    def with_entry(self, way, entry, enable=1):
        """The bucket word with the entry at ``way`` replaced (when ``enable``)."""
        return Cat(*(Mux(enable & equals(way, w), entry, e) for w, e in enumerate(self.entries)))


class RowView:
    """The fields of a pending row: the label's count, then ``queue_ways`` (valid, key)."""

    def __init__(self, m, g: Geometry, word, key, name):
        kw = g.key_width
        self.count = word[:g.count_bits]
        self.ways = [word[g.count_bits + j * (1 + kw):g.count_bits + (j + 1) * (1 + kw)]
                     for j in range(g.queue_ways)]
        self.valid = [w[0] for w in self.ways]
        self.key = [w[1:] for w in self.ways]
        self.hit, self.way = lowest(m, [v & equals(k, key) for v, k in zip(self.valid, self.key)],
                                    f"{name}_hit")
        self.has_free, self.free_way = lowest(m, [~v for v in self.valid], f"{name}_free")

    def with_way(self, way, new, enable=1):
        return Cat(*(Mux(enable & equals(way, j), new, w) for j, w in enumerate(self.ways)))


class Sequencer:
    """Builds the controller into ``m`` for ``block`` (an ``OmapController``)."""

    def __init__(self, m: Module, block):
        self.m = m
        self.block = block
        self.g = Geometry.of(block.param_values)
        self.leaky = block.p.leak == "no_dummy_read"
        self.two_choice = block.p.placement == "two_choice"

    def bucket_address(self, key):
        g = self.g
        folded = key[:32] ^ key[32:] if g.key_width > 32 else key
        product = (folded * HASH_MULTIPLIER)[:32]
        return product[32 - g.bucket_bits:32]

    def build(self):
        m, g, block = self.m, self.g, self.block
        kw, vw, S, Q = g.key_width, g.value_width, g.slots, g.queue_ways
        slot_bits = max(1, (S - 1).bit_length())

        m.submodules.drbg = drbg = CtrDrbg(DRBG_BLOCKS_PER_REQUEST)
        m.submodules.aes = aes = Aes128()
        m.d.comb += [drbg.seed.valid.eq(block.seed.valid), drbg.seed.payload.eq(block.seed.payload),
                     block.seed.ready.eq(drbg.seed.ready)]

        hreq, hresp = block.hbm_request, block.hbm_response
        oreq, oresp = block.host_request, block.host_response
        request, response, events = block.request, block.response, block.events

        # -- state ------------------------------------------------------------------------
        enc_key = Signal(128)
        rnd = Signal(128)
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
        hit_value = Signal(vw)
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
        hbm_data = Signal(g.hbm_width)
        row = Signal(g.pending_bits)          # the flushed page's pending row
        slots = [Signal(128, name=f"slot{i}") for i in range(S)]
        issued = Signal(range(S + 1))
        received = Signal(range(S + 1))
        index = Signal(range(max(2, S, Q) + 1))
        decrypting = Signal()
        cipher = Signal(128)
        reading_for_flush = Signal()
        clear_address = Signal(g.hbm_address_width + 1)
        waiting = Signal()                    # an HBM request is out

        fsm = StateMachine(m, STATES)
        ev_valid = Signal()
        ev_code = Signal(3)
        m.d.comb += [events.valid.eq(ev_valid), events.payload.eq(ev_code)]
        m.d.sync += ev_valid.eq(0)

        def event(code):
            m.d.sync += [ev_valid.eq(1), ev_code.eq(code)]

        def write_slot(at, word):
            # one If per slot, not an Array on the left: that gives each slot register an
            # incomplete case statement
            for i, slot in enumerate(slots):
                with m.If(equals(at, i)):
                    m.d.sync += slot.eq(word)

        def field(index_):
            return rnd[FIELD_BITS * index_:FIELD_BITS * index_ + g.page_bits]

        # random fields of this query's block (reference.py ``_field``)
        coin = rnd[4 * FIELD_BITS:4 * FIELD_BITS + 16]

        # -- the HBM port: one request at a time --------------------------------------------
        m.d.comb += hresp.ready.eq(1)
        with m.If(hreq.valid & hreq.ready):
            m.d.sync += hreq.valid.eq(0)

        def hbm_read(address, then, on_data=()):
            """Read ``address``; when the data arrives (into ``hbm_data``) run ``on_data``
            and go to ``then``."""
            with m.If(~waiting):
                m.d.sync += [hreq.valid.eq(1), hreq.payload.address.eq(address),
                             hreq.payload.write.eq(0), waiting.eq(1)]
            with m.Elif(hresp.valid):
                m.d.sync += [hbm_data.eq(hresp.payload), waiting.eq(0)]
                fsm.goto(then)

        def hbm_write(address, word, then):
            with m.If(~waiting):
                m.d.sync += [hreq.valid.eq(1), hreq.payload.address.eq(address),
                             hreq.payload.write.eq(1), hreq.payload.data.eq(word), waiting.eq(1)]
            with m.Elif(~hreq.valid):
                m.d.sync += waiting.eq(0)
                fsm.goto(then)

        # -- views -------------------------------------------------------------------------
        probe = Signal(kw)                    # the key the current HBM word is searched for
        view = BucketView(m, g, hbm_data, probe, "bucket")
        row_view = RowView(m, g, row, probe, "row")
        read_row = RowView(m, g, hbm_data, probe, "read_row")
        slot_valid = [s[0] for s in slots]
        slot_key = [s[1:1 + kw] for s in slots]
        slot_value = [s[1 + kw:1 + kw + vw] for s in slots]
        slot_has_free, slot_free = lowest(m, [~v for v in slot_valid], "slot_free")
        slot_hit, slot_hit_index = lowest(m, [v & equals(k, key) for v, k in zip(slot_valid, slot_key)],
                                          "slot_hit")
        slot_index = index[:slot_bits]
        way_index = index[:max(1, (Q - 1).bit_length())]
        indexed_slot_key = pick(m, slot_key, slot_index, "indexed_slot_key")
        indexed_way_key = pick(m, row_view.key, way_index, "indexed_way_key")
        indexed_way_valid = pick(m, row_view.valid, way_index, "indexed_way_valid")
        indexed_slot = pick(m, slots, slot_index, "indexed_slot")
        hash_key = Signal(kw)                 # one hash unit, its key chosen by the state
        hashed = Signal(g.bucket_bits)
        m.d.comb += hashed.eq(self.bucket_address(hash_key))

        # the slot AES core: decrypt what the host returns, encrypt what goes back
        m.d.comb += aes.key.eq(enc_key)
        host_nonce = oresp.payload[128:128 + NONCE_BITS]

        # -- the sequencer's states, in the order of a query ---------------------------------
        with fsm.state("BOOT"):
            # the DRBG's first block keys the slot encryption
            m.d.comb += drbg.random.ready.eq(1)
            with m.If(drbg.random.valid):
                m.d.sync += enc_key.eq(drbg.random.payload)
                fsm.goto("CLEAR")

        with fsm.state("CLEAR"):
            # zero the position map and the queue rows, one write a cycle
            with m.If(~hreq.valid | hreq.ready):
                with m.If(clear_address < g.hbm_words):
                    m.d.sync += [hreq.valid.eq(1), hreq.payload.address.eq(clear_address),
                                 hreq.payload.write.eq(1), hreq.payload.data.eq(0),
                                 clear_address.eq(clear_address + 1)]
                with m.Else():
                    fsm.goto("IDLE")

        with fsm.state("IDLE"):
            ready = drbg.random.valid & ~response.valid
            m.d.comb += [request.ready.eq(ready), drbg.random.ready.eq(ready & request.valid)]
            with m.If(ready & request.valid):
                is_load = equals(request.payload.op, LOAD)
                m.d.sync += [op.eq(Mux(is_load & sealed, PUT, request.payload.op)),
                             key.eq(request.payload.key), value.eq(request.payload.value),
                             rnd.eq(drbg.random.payload), loading.eq(is_load & ~sealed),
                             flush_page.eq(0), reading_for_flush.eq(0)]
                with m.If(~sealed & ~is_load):
                    fsm.goto("FLUSH_ROW")      # the seal: every page written once, in order
                with m.Else():
                    fsm.goto("LOOKUP")

        with fsm.state("LOOKUP"):
            m.d.comb += hash_key.eq(key)
            hbm_read(hashed, "DECIDE")

        with fsm.state("DECIDE"):
            m.d.comb += probe.eq(key)
            labelled = view.hit & ~equals(view.hit_state, IN_HBM)
            m.d.sync += [bucket.eq(hbm_data), hit.eq(view.hit), hit_way.eq(view.way),
                         has_free.eq(view.has_free), free_way.eq(view.free_way),
                         hit_state.eq(view.hit_state), hit_label.eq(view.hit_label),
                         hit_value.eq(view.hit_value), old_value.eq(view.hit_value),
                         page.eq(Mux(labelled, view.hit_label, field(0))),
                         issued.eq(0), received.eq(0)]
            with m.If(loading):
                fsm.goto("RESPOND")
            elif_skip = labelled if self.leaky else 1
            with m.Elif(elif_skip):
                fsm.goto("READ_PAGE")
            with m.Else():
                fsm.goto("UNLINK_READ")

        # -- read a page: S requests back to back, each slot decrypted as it arrives ----
        with fsm.state("READ_PAGE"):
            read_page = Mux(reading_for_flush, flush_page, page)
            m.d.comb += [oreq.valid.eq(issued < S),
                         oreq.payload.address.eq(Cat(issued[:slot_bits], read_page)),
                         oreq.payload.write.eq(0)]
            with m.If(oreq.valid & oreq.ready):
                m.d.sync += issued.eq(issued + 1)
            m.d.comb += oresp.ready.eq(~decrypting)
            with m.If(oresp.valid & oresp.ready):
                m.d.comb += [aes.block.eq(Cat(received[:slot_bits], Const(0, 64 - slot_bits), host_nonce)),
                             aes.start.eq(1)]
                m.d.sync += [cipher.eq(oresp.payload[:128]), decrypting.eq(1)]
            with m.If(aes.done):
                write_slot(received[:slot_bits], cipher ^ aes.result)
                m.d.sync += [received.eq(received + 1), decrypting.eq(0)]
                with m.If(equals(received, S - 1)):
                    with m.If(reading_for_flush):
                        m.d.sync += index.eq(0)
                        fsm.goto("LIVE_READ")
                    with m.Else():
                        fsm.goto("FIND_SLOT")

        with fsm.state("FIND_SLOT"):
            with m.If(hit & equals(hit_state, IN_HOST)):
                with m.If(slot_hit):
                    m.d.sync += old_value.eq(pick(m, slot_value, slot_hit_index, 'slot_hit_value'))
                with m.Else():
                    m.d.sync += old_value.eq(0)
                    event(EV_INTEGRITY)
            fsm.goto("UNLINK_READ")

        # -- the element leaves its label: the count drops, a queued key leaves its row --
        with fsm.state("UNLINK_READ"):
            hbm_read(g.buckets + page, "UNLINK_WRITE")

        with fsm.state("UNLINK_WRITE"):
            m.d.comb += probe.eq(key)
            labelled = hit & ~equals(hit_state, IN_HBM)
            queued = hit & equals(hit_state, QUEUED)
            found = read_row.hit
            count = read_row.count - (labelled & (~queued | found))
            word = Cat(count[:g.count_bits],
                       read_row.with_way(read_row.way, Const(0, 1 + kw), queued & found))
            with m.If(queued & ~found & ~waiting):
                event(EV_INTEGRITY)
            hbm_write(g.buckets + page, word, "RESPOND")

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
                event(EV_MAP_FULL)
            with m.Elif(~hit & is_put & ~has_free):
                event(EV_BUCKET_FULL)
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
            hbm_read(g.buckets + field(2), "CHOICE_SECOND")

        with fsm.state("CHOICE_SECOND"):
            with m.If(~waiting):
                m.d.sync += first_count.eq(hbm_data[:g.count_bits])
            hbm_read(g.buckets + field(3), "CHOOSE")

        with fsm.state("CHOOSE"):
            second_less = hbm_data[:g.count_bits] < first_count
            chosen = Mux(second_less, field(3), field(2)) if self.two_choice else field(2)
            m.d.sync += label.eq(chosen)
            fsm.goto("PLACE_READ")

        with fsm.state("PLACE_READ"):
            hbm_read(g.buckets + label, "PLACE_WRITE")

        with fsm.state("PLACE_WRITE"):
            to_host = persist & (coin >= g.alpha_threshold)
            fits = read_row.has_free
            enqueue = to_host & fits
            word = Cat((read_row.count + enqueue)[:g.count_bits],
                       read_row.with_way(read_row.free_way, Cat(Const(1, 1), key), enqueue))
            with m.If(~waiting):
                m.d.sync += [new_state.eq(Mux(enqueue, QUEUED, IN_HBM)),
                             new_label.eq(Mux(enqueue, label, 0))]
                with m.If(to_host & ~fits):
                    event(EV_QUEUE_FULL)
            hbm_write(g.buckets + label, word, "WRITE_BUCKET")

        with fsm.state("WRITE_BUCKET"):
            old_entries = [bucket[w * g.entry_bits:(w + 1) * g.entry_bits] for w in range(g.ways)]
            entry = Cat(Const(1, 1), new_state, key, new_label, new_value)
            target = Mux(insert, free_way, hit_way)
            word = Cat(*(Mux(equals(target, w) & persist, entry,
                             Mux(equals(target, w) & delete, 0, e))
                         for w, e in enumerate(old_entries)))
            m.d.comb += hash_key.eq(key)
            with m.If(loading):
                hbm_write(hashed, word, "IDLE")
            with m.Else():
                m.d.sync += [flush_page.eq(field(1)), reading_for_flush.eq(1)]
                hbm_write(hashed, word, "FLUSH_ROW")

        # -- flush: the page's live slots plus what waits for it, re-encrypted -----------
        with fsm.state("FLUSH_ROW"):
            with m.If(~waiting):
                m.d.sync += [issued.eq(0), received.eq(0), index.eq(0)]
                for s in slots:
                    m.d.sync += s.eq(0)
            hbm_read(g.buckets + flush_page, "FLUSH_PAGE")

        with fsm.state("FLUSH_PAGE"):
            m.d.sync += row.eq(hbm_data)
            with m.If(reading_for_flush):
                fsm.goto("READ_PAGE")
            with m.Else():
                fsm.goto("MOVE_READ")   # the seal: the page holds nothing yet

        with fsm.state("LIVE_READ"):
            m.d.comb += hash_key.eq(indexed_slot_key)
            hbm_read(hashed, "LIVE_CHECK")

        with fsm.state("LIVE_CHECK"):
            m.d.comb += probe.eq(indexed_slot_key)
            live = view.hit & equals(view.hit_state, IN_HOST) & equals(view.hit_label, flush_page)
            with m.If(~live):
                write_slot(slot_index, 0)
            m.d.sync += index.eq(index + 1)
            with m.If(equals(index, S - 1)):
                m.d.sync += index.eq(0)
                fsm.goto("MOVE_READ")
            with m.Else():
                fsm.goto("LIVE_READ")

        with fsm.state("MOVE_READ"):
            m.d.comb += hash_key.eq(indexed_way_key)
            hbm_read(hashed, "MOVE_WRITE")

        with fsm.state("MOVE_WRITE"):
            moving = indexed_way_valid & slot_has_free
            m.d.comb += probe.eq(indexed_way_key)
            good = view.hit & equals(view.hit_state, QUEUED) & equals(view.hit_label, flush_page)
            entry = view.pack(Const(IN_HOST, 2), probe, flush_page, Const(0, vw))
            word = view.with_entry(view.way, entry, moving & good)
            with m.If(~waiting):
                with m.If(moving):
                    m.d.sync += row.eq(Cat(row_view.count,
                                           row_view.with_way(way_index, Const(0, 1 + kw))))
                    with m.If(good):
                        write_slot(slot_free, Cat(Const(1, 1), probe, view.hit_value))
                    with m.Else():
                        event(EV_INTEGRITY)
            with m.If(waiting & ~hreq.valid):
                m.d.sync += index.eq(index + 1)
                with m.If(equals(index, Q - 1)):
                    m.d.sync += index.eq(0)
            m.d.comb += hash_key.eq(indexed_way_key)
            hbm_write(hashed, word, "MOVE_NEXT")

        with fsm.state("MOVE_NEXT"):
            with m.If(index.any()):
                fsm.goto("MOVE_READ")
            with m.Else():
                fsm.goto("ROW_WRITE")

        with fsm.state("ROW_WRITE"):
            with m.If(~waiting):
                m.d.sync += nonce.eq(nonce + 1)
            hbm_write(g.buckets + flush_page, row, "ENCRYPT")

        with fsm.state("ENCRYPT"):
            m.d.comb += [aes.block.eq(Cat(slot_index, Const(0, 64 - slot_bits), nonce)),
                         aes.start.eq(~aes.busy & ~decrypting)]
            with m.If(aes.start):
                m.d.sync += decrypting.eq(1)
            with m.If(aes.done):
                m.d.sync += cipher.eq(indexed_slot ^ aes.result)
                fsm.goto("WRITE_SLOT")

        with fsm.state("WRITE_SLOT"):
            m.d.comb += [oreq.valid.eq(1),
                         oreq.payload.address.eq(Cat(slot_index, flush_page)),
                         oreq.payload.write.eq(1), oreq.payload.data.eq(Cat(cipher, nonce))]
            with m.If(oreq.ready):
                m.d.sync += [index.eq(index + 1), decrypting.eq(0)]
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
