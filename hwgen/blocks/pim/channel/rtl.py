"""``pim_channel``: one GDDR6-AiM channel: ``banks`` bank MAC units beside their DRAM arrays,
the global buffer, and the command controller that runs a GEMV as a timed DRAM command stream.

Ports:

* ``host`` (in): LOAD beats write one column of the banks, element by element as ``mask``
  says (a backdoor standing for weights already in DRAM, or a KV-cache append; not a timed
  command); GEMV beats start a matrix-vector product (base ``row``, ``slots``, ``beats``,
  ``last_count``: see ``mapping.py``). The controller takes the next host beat only when idle.
* ``x`` (in): the vector, one global-buffer column (``lanes`` elements) per beat, taken as the
  controller issues the WR_GB that stores it.
* ``y`` (out): one beat per RD_MAC: every bank's accumulator, ``y_delay`` cycles after the
  RD_MAC (``CL``, or the MAC pipeline's latency where that is longer).
* ``cmd`` (trace): the command bus: ``valid`` in each cycle a command issues, with its kind,
  bank (ACT), row (ACT, MAC_ABK) and column (MAC_ABK, WR_GB). It cannot stall.

The controller implements ``schedule.ChannelScheduler``'s policy with counters: a sequencer
presents the next command in program order; the command issues in the first cycle all timing
checks pass. See docs/pim.md.
"""

from __future__ import annotations

import math

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream
from amaranth.lib.wiring import In, Out

from ....core.block import Block, TraceSignature, register
from ....core.ints import index_bits
from ....core.logic import StateMachine, delay, elapsed, equals, register_copies, select
from ....core.memories import simple_dual_port
from ...common import dtypes
from . import golden as channel_golden, model
from ...common.bank_mac.rtl import BankMac, accumulator_shape, control_hold, mac_latency
from ..mapping import ChannelLayout, beats_per_row, check_fits, column_address, row_hit_rate, slots
from ..schedule import ChannelScheduler, Command, act_order, bank_group
from ..timing import parse_timing
from .array import READ_LATENCY as ARRAY_READ_LATENCY, BankArray
from .params import GEMV, HOST_FIELDS, LOAD, PARAMS  # noqa: F401  (re-exported)

# A MAC_ABK's column reaches the MAC units four cycles after it issues: its address is
# registered (the arrays are many block RAMs spread over the die: with the address made from the
# controller's row and column registers, the 4-bank, 8-lane channel closed at 78.8 MHz, the
# issue decision and 10.7 ns of routing in one cycle), then the array's read (array.py: the
# RAMs' read, a register beside each, the block chosen into one more; the global buffer, one
# RAM, is read and registered twice). RD_MAC strobes take the same path, so the MAC units see
# the commands in issue order.
ADDRESS_STAGES = 1
ARRAY_STAGES = ADDRESS_STAGES + ARRAY_READ_LATENCY
# a result written into the FIFO in cycle t can leave in cycle t + 2 (SyncFIFOBuffered)
RESULT_FIFO_LATENCY = 2


def command_layout(p) -> data.StructLayout:
    return data.StructLayout({
        "cmd": unsigned(3),
        "bank": unsigned(index_bits(p.banks)),
        "row": unsigned(index_bits(p.bank_rows)),
        "col": unsigned(index_bits(max(p.row_columns, p.gb_columns))),
    })


@register
class PimChannel(Block):
    name = "pim_channel"
    params = PARAMS
    summary = "GDDR6-AiM channel: bank MAC units, global buffer, timed GEMV command controller"
    # The default channel (16 banks x 16 bf16 lanes, 2 MiB of arrays) takes minutes to build;
    # the flow runs a 4-bank, 4-lane channel with the same controller and timing.
    flow_params = {"banks": 4, "lanes": 4, "row_columns": 16, "bank_rows": 16, "gb_columns": 16}
    # every DRAM timing a few cycles (the rules between them kept), a refresh due every 16
    # and the shallowest MAC pipeline (the y stream's rules do not depend on its depth, and a
    # deeper one puts the first y beat beyond the suite's BMC depth)
    formal_params = {"timing": "gddr6_2000,CL=2,RCDRD=2,RCDWR=2,RP=2,RAS=3,RC=5,CCDS=1,CCDL=1,"
                               "RRDS=1,RRDL=1,FAW=4,RFC=3,REFI=16,RTP=1",
                     "mul_latency": 0, "level_latency": 0, "acc_latency": 0}

    # -- derived quantities -------------------------------------------------------------------
    @property
    def timing(self):
        return parse_timing(self.p.timing)

    @property
    def layout(self) -> ChannelLayout:
        p = self.p
        return ChannelLayout(p.banks, p.lanes, p.row_columns, p.bank_rows, p.gb_columns)

    @property
    def element_bits(self) -> int:
        return dtypes.element_bits(self.p.dtype)

    @property
    def acc_bits(self) -> int:
        p = self.p
        return dtypes.acc_bits(p.dtype, p.acc, p.acc_width, p.gb_columns * p.lanes)

    @property
    def read_to_mac(self) -> int:
        """The fewest cycles from an RD_MAC to the next MAC_ABK: the bank MACs' interleaved
        accumulator takes no operation until the sum the read closed is out
        (``control_hold``); 1 with the one-cycle loop (no rule beyond the column spacing)."""
        return control_hold(self.p.acc_latency, self.timing.CCDL) + 1

    @property
    def result_delay(self) -> int:
        """Cycles from an RD_MAC until its accumulator values could leave at ``y``: the
        array-read stages, the bank MAC's read latency, the result FIFO."""
        p = self.p
        bank_read = mac_latency(p.dtype, p.acc, p.lanes, mul_latency=p.mul_latency,
                                level_latency=p.level_latency) - 1 + control_hold(p.acc_latency, self.timing.CCDL)
        return ARRAY_STAGES + bank_read + RESULT_FIFO_LATENCY

    @property
    def y_delay(self) -> int:
        """Cycles from an RD_MAC to its ``y`` beat: the DRAM's read latency CL, or the MAC
        pipeline's where that is longer (the model's ``result_delay``)."""
        return self.scheduler().y_delay

    @property
    def y_depth(self) -> int:
        """RD_MACs in flight before their ``y`` beats leave: consecutive RD_MACs are at least a
        MAC_ABK apart, so this many never throttle an unstalled run."""
        t = self.timing
        spacing = t.CCDL + max(t.CCDL, self.read_to_mac)
        return math.ceil(self.y_delay / spacing) + 2

    def _bank_mac(self) -> BankMac:
        p = self.p
        return BankMac(dtype=p.dtype, acc=p.acc, lanes=p.lanes, acc_width=p.acc_width,
                       max_beats=p.gb_columns, ftz=p.ftz, mul_latency=p.mul_latency,
                       level_latency=p.level_latency, acc_latency=p.acc_latency,
                       mac_spacing=self.timing.CCDL)

    # -- hardware -------------------------------------------------------------------------------
    def signature_members(self):
        p = self.p
        column = data.ArrayLayout(unsigned(self.element_bits), p.lanes)
        host = data.StructLayout({
            "kind": unsigned(1),
            "row": unsigned(index_bits(p.bank_rows)),
            "col": unsigned(index_bits(p.row_columns)),
            "slots": unsigned(index_bits(p.bank_rows * p.row_columns + 1)),
            "beats": unsigned(index_bits(p.gb_columns + 1)),
            "last_count": unsigned(index_bits(p.banks + 1)),
            # LOAD: per-element write enable (bank, lane), so a KV-cache append can write one
            # element of a column without disturbing its neighbours
            "mask": data.ArrayLayout(data.ArrayLayout(unsigned(1), p.lanes), p.banks),
            "data": data.ArrayLayout(column, p.banks),
        })
        return {
            "host": In(stream.Signature(host)),
            "x": In(stream.Signature(column)),
            "y": Out(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(unsigned(self.acc_bits), p.banks),
                "count": unsigned(index_bits(p.banks + 1)),   # accumulators that hold matrix rows
                "last": unsigned(1),                     # the last beat of a GEMV
            }))),
            "cmd": Out(TraceSignature(command_layout(p))),
        }

    def formal_covers(self, m, port):
        command = self.formal_payload(port, "cmd")
        return [("cmd", "a refresh issues", port("cmd__valid") & (command.cmd == Command.REF)),
                ("cmd", "a MAC issues", port("cmd__valid") & (command.cmd == Command.MAC_ABK))]

    def info(self):
        return {"acc_bits": self.acc_bits, "read_to_mac": self.read_to_mac,
                "y_delay": self.y_delay, "y_depth": self.y_depth, "timing": self.timing.as_dict()}

    def field_dtypes(self):
        # W and x in dtype (bf16, fp16, int8, int16); y (and the raw y_acc) in the
        # accumulator's format (fp32, bf16, or an acc_bits-wide signed integer)
        p = self.p
        element = dtypes.element_format(p.dtype) or p.dtype
        acc = dtypes.acc_format(p.dtype, p.acc) or f"int{self.acc_bits}"
        return {"W": element, "x": element, "y": acc, "y_acc": acc}

    def elaborate(self, platform):
        m = Module()
        p, t = self.p, self.timing
        column_shape = data.ArrayLayout(unsigned(self.element_bits), p.lanes)
        words = p.bank_rows * p.row_columns

        # -- the arrays and the global buffer ---------------------------------------------------
        # (the buffer at least two words: a one-word memory has a zero-width address, which
        # Verilog cannot declare)
        arrays = []
        for bank in range(p.banks):
            m.submodules[f"array{bank}"] = array = BankArray(words, p.lanes, self.element_bits)
            arrays.append(array)
        # (a write and a MAC_ABK's read are never in one cycle: WR_GB and MAC are phases apart)
        gb_write, gb_read = simple_dual_port(m, "gbuf", shape=column_shape, depth=max(2, p.gb_columns))

        macs = []
        for bank in range(p.banks):
            m.submodules[f"mac{bank}"] = mac = self._bank_mac()
            macs.append(mac)

        # -- sequencer state ------------------------------------------------------------------------
        bank_bits, group_bits = index_bits(p.banks), index_bits(p.bank_groups)
        phase = StateMachine(m, ("IDLE", "WR_GB", "PRE", "REF", "ACT", "MAC", "RD"))
        beats = Signal.like(self.host.payload.beats)
        slots_left = Signal.like(self.host.payload.slots)
        beat = Signal.like(beats)
        row = Signal.like(self.host.payload.row)          # the DRAM row the current beat needs
        col = Signal(index_bits(p.row_columns))
        open_row = Signal.like(row)
        is_open = Signal()
        act_index = Signal(bank_bits)
        refresh_pending = Signal()
        timer_started = Signal()
        last_count = Signal.like(self.host.payload.last_count)

        act_banks = act_order(p.banks, p.bank_groups)
        act_bank = Signal(bank_bits)
        m.d.comb += act_bank.eq(select([Const(b, bank_bits) for b in act_banks], act_index))
        act_group = Signal(group_bits)
        m.d.comb += act_group.eq(select([Const(bank_group(b, p.banks, p.bank_groups), group_bits)
                                         for b in act_banks], act_index))

        issue = Signal()
        kind = Signal(3)
        issued = {state: issue & phase.is_in(state) for state in ("WR_GB", "PRE", "REF", "ACT", "MAC", "RD")}
        column = issued["WR_GB"] | issued["MAC"] | issued["RD"]

        # -- timing state: one down-counter per rule, started by the command it follows -----------
        # (the scheduler keeps issue cycles; a counter per rule is the same test, ``t >= e + d``
        # for the latest such command e, without a timestamp comparison on the critical path)
        def since(name, started, cycles):
            return elapsed(m, started, cycles, name, cut=True)

        # ACT to ACT: tRC in the bank, tRRD_L in its group, tRRD_S in any (RC >= RRDL >= RRDS, a
        # timing rule, so checking all three that apply is the scheduler's test); tFAW against
        # the fourth ACT back: four counters in turn, the oldest restarted by the next ACT
        act_bank_done = [since(f"rc{bank}", issued["ACT"] & equals(act_bank, bank), t.RC)
                         for bank in range(p.banks)]
        act_group_done = [since(f"rrdl{group}", issued["ACT"] & equals(act_group, group), t.RRDL)
                          for group in range(p.bank_groups)]
        faw_turn = Signal(2)
        with m.If(issued["ACT"]):
            m.d.sync += faw_turn.eq(faw_turn + 1)
        faw_done = [since(f"faw{k}", issued["ACT"] & equals(faw_turn, k), t.FAW) for k in range(4)]
        act_ok = all_of([since("rp", issued["PRE"], t.RP), since("rfc", issued["REF"], t.RFC),
                         since("rrds", issued["ACT"], t.RRDS), select(faw_done, faw_turn),
                         select(act_bank_done, act_bank), select(act_group_done, act_group)])
        pre_ok = since("ras", issued["ACT"], t.RAS) & since("rtp", issued["MAC"], t.RTP)
        ref_ok = since("rp_ref", issued["PRE"], t.RP) & since("rfc_ref", issued["REF"], t.RFC)
        ccdl_ok = since("ccdl", column, t.CCDL)
        mac_ok = since("rcdrd", issued["ACT"], t.RCDRD) & ccdl_ok & since("read_to_mac", issued["RD"],
                                                                         self.read_to_mac)
        wrgb_ok = since("ccds", column, t.CCDS) & self.x.valid
        # An RD_MAC's count and last go in at issue, its accumulators when they come out of the
        # MAC pipeline; y leaves with both once y_delay cycles have passed. The results never
        # outnumber the reads, so the reads' free space alone admits an RD_MAC.
        y_meta = data.StructLayout({"count": self.y.payload.count.shape(), "last": unsigned(1)})
        m.submodules.reads = reads = fifo.SyncFIFOBuffered(width=y_meta.size, depth=self.y_depth)
        m.submodules.results = results = fifo.SyncFIFOBuffered(
            width=len(self.y.payload.acc.as_value()), depth=self.y_depth)
        rd_ok = ccdl_ok & reads.w_rdy

        # each phase issues one kind of command, when its timing rules allow
        for state, command, allowed in (("WR_GB", Command.WR_GB, wrgb_ok), ("PRE", Command.PRE, pre_ok),
                                        ("REF", Command.REF, ref_ok), ("ACT", Command.ACT, act_ok),
                                        ("MAC", Command.MAC_ABK, mac_ok), ("RD", Command.RD_MAC, rd_ok)):
            with phase.state(state):
                m.d.comb += [kind.eq(command), issue.eq(allowed)]

        # the command bus
        m.d.comb += [
            self.cmd.valid.eq(issue),
            self.cmd.payload.cmd.eq(kind),
            self.cmd.payload.bank.eq(Mux(phase.is_in("ACT"), act_bank, 0)),
            self.cmd.payload.row.eq(Mux((phase.is_in("ACT")) | (phase.is_in("MAC")), row, 0)),
            self.cmd.payload.col.eq(Mux(phase.is_in("MAC"), col, Mux(phase.is_in("WR_GB"), beat, 0))),
        ]

        # -- program order -------------------------------------------------------------------------
        # Decisions are taken in the cycle a command issues, for the cycle after it (when the
        # next command is first presented): refresh is due then if REFI cycles have passed.
        # (the refresh timer restarts at each REF and at the first GEMV)
        timer_start = Signal()
        due_next = elapsed(m, issued["REF"] | timer_start, t.REFI - 1, "refresh", cut=True)
        next_col_wraps = col == p.row_columns - 1

        def open_beat(m, needed_row, first_of_slot):
            """Enter a beat: refresh if due, open ``needed_row`` if it is not, else MAC."""
            hit = is_open & (open_row == needed_row)
            with m.If(due_next & (first_of_slot | ~hit)):
                m.d.sync += [refresh_pending.eq(1), phase.to_either(is_open, "PRE", "REF")]
            with m.Elif(~hit):
                m.d.sync += [act_index.eq(0), phase.to_either(is_open, "PRE", "ACT")]
            with m.Else():
                m.d.sync += phase.to("MAC")

        m.d.comb += self.host.ready.eq(phase.is_in("IDLE"))
        host = self.host.payload
        with m.If(phase.is_in("IDLE")):
            with m.If(self.host.valid & (host.kind == GEMV)):
                m.d.sync += [beats.eq(host.beats), slots_left.eq(host.slots), beat.eq(0),
                             last_count.eq(host.last_count), row.eq(host.row), col.eq(0),
                             phase.to("WR_GB")]
                m.d.sync += timer_started.eq(1)
                m.d.comb += timer_start.eq(~timer_started)
        with m.Elif(phase.is_in("WR_GB")):
            with m.If(issue):
                m.d.sync += beat.eq(beat + 1)
                with m.If(beat == beats - 1):
                    m.d.sync += beat.eq(0)
                    open_beat(m, row, Const(1))
        with m.Elif(phase.is_in("PRE")):
            with m.If(issue):
                m.d.sync += [is_open.eq(0), act_index.eq(0),
                             phase.to_either(refresh_pending, "REF", "ACT")]
        with m.Elif(phase.is_in("REF")):
            with m.If(issue):
                m.d.sync += [refresh_pending.eq(0), act_index.eq(0), phase.to("ACT")]
        with m.Elif(phase.is_in("ACT")):
            with m.If(issue):
                m.d.sync += act_index.eq(act_index + 1)
                with m.If(act_index == p.banks - 1):
                    m.d.sync += [is_open.eq(1), open_row.eq(row), phase.to("MAC")]
        with m.Elif(phase.is_in("MAC")):
            with m.If(issue):
                m.d.sync += [col.eq(Mux(next_col_wraps, 0, col + 1)),
                             row.eq(Mux(next_col_wraps, row + 1, row))]
                with m.If(beat == beats - 1):
                    m.d.sync += phase.to("RD")
                with m.Else():
                    m.d.sync += beat.eq(beat + 1)
                    open_beat(m, Mux(next_col_wraps, row + 1, row), Const(0))
        with m.Elif(phase.is_in("RD")):
            with m.If(issue):
                m.d.sync += [beat.eq(0), slots_left.eq(slots_left - 1)]
                with m.If(slots_left == 1):
                    m.d.sync += phase.to("IDLE")
                with m.Else():
                    open_beat(m, row, Const(1))

        # -- data path ---------------------------------------------------------------------------
        load = self.host.valid & self.host.ready & (host.kind == LOAD)
        address = host.row * p.row_columns + host.col
        for bank in range(p.banks):
            m.d.comb += [arrays[bank].write_addr.eq(address), arrays[bank].write_data.eq(host.data[bank]),
                         arrays[bank].write_en.eq(host.mask[bank].as_value() & load.replicate(p.lanes))]
        mac_issue = issue & (phase.is_in("MAC"))
        # The address's last register is one per bank, near its block RAMs (one register for
        # all, at 4 banks x 8 lanes, drove 128 of them: 76.5 MHz, 11.6 ns of routing).
        mac_column = delay(m, row * p.row_columns + col, ADDRESS_STAGES - 1, "mac_column")
        bank_addresses = register_copies(m, mac_column, p.banks, "mac_address")
        for bank in range(p.banks):
            m.d.comb += arrays[bank].read_addr.eq(bank_addresses[bank])
        m.d.comb += [gb_write.addr.eq(beat), gb_write.data.eq(self.x.payload),
                     gb_write.en.eq(issue & (phase.is_in("WR_GB"))),
                     self.x.ready.eq(issue & (phase.is_in("WR_GB"))),
                     gb_read.addr.eq(delay(m, beat, ADDRESS_STAGES, "gb_address"))]
        read_issue = issue & (phase.is_in("RD"))
        # the column and the strobes, ARRAY_STAGES cycles after the command; each bank's MAC unit
        # takes them from registers of its own (the last stage copied per bank), so no one
        # flip-flop drives the lanes of every bank across the die
        vectors = register_copies(m, delay(m, gb_read.data, ARRAY_STAGES - ADDRESS_STAGES - 2, "vector"),
                                  p.banks, "vector")
        mac_strobes = register_copies(m, delay(m, mac_issue, ARRAY_STAGES - 1, "mac_strobe"), p.banks, "mac_strobe")
        read_strobes = register_copies(m, delay(m, read_issue, ARRAY_STAGES - 1, "read_strobe"), p.banks,
                                       "read_strobe")
        for bank, mac in enumerate(macs):
            vector, mac_strobe, read_strobe = vectors[bank], mac_strobes[bank], read_strobes[bank]
            weights = delay(m, arrays[bank].read_data, ARRAY_STAGES - ADDRESS_STAGES - ARRAY_READ_LATENCY,
                            f"weights{bank}")
            # RD_MAC reads every accumulator and clears it (a load of +0)
            m.d.comb += [mac.weights.eq(weights), mac.vector.eq(vector), mac.mac.eq(mac_strobe),
                         mac.read.eq(read_strobe), mac.load.eq(read_strobe), mac.bias.eq(0)]

        # RD_MAC: its y beat leaves y_delay cycles later (every MAC unit has the same timing,
        # so the first one's result_valid stands for all)
        last_slot = slots_left == 1
        meta_in = Signal(y_meta)
        m.d.comb += [meta_in.count.eq(Mux(last_slot, last_count, p.banks)), meta_in.last.eq(last_slot),
                     reads.w_en.eq(read_issue), reads.w_data.eq(meta_in),
                     results.w_en.eq(macs[0].result_valid),
                     results.w_data.eq(Cat(*[mac.result for mac in macs]))]
        meta_out = Signal(y_meta)
        m.d.comb += meta_out.eq(reads.r_data)
        # The beats whose y_delay has passed and that y has not taken: a count fed by the issue
        # strobe through y_delay - 1 registers (a 32-bit cycle stamp compared with a running
        # cycle count, its carry chain in front of y's valid and both FIFOs' levels, held the
        # flow point to 96.0 MHz)
        released = delay(m, read_issue, self.y_delay - 1, "released")
        taken = self.y.valid & self.y.ready
        ready_beats = Signal(range(self.y_depth + 1))
        m.d.sync += ready_beats.eq(ready_beats + released - taken)
        m.d.comb += [self.y.valid.eq(reads.r_rdy & results.r_rdy & (ready_beats != 0)),
                     self.y.payload.acc.eq(results.r_data),
                     self.y.payload.count.eq(meta_out.count), self.y.payload.last.eq(meta_out.last),
                     reads.r_en.eq(self.y.valid & self.y.ready),
                     results.r_en.eq(self.y.valid & self.y.ready)]
        return m

    # -- reference and model -------------------------------------------------------------------
    def _requests(self, inputs):
        W = np.asarray(inputs["W"])
        x = np.asarray(inputs["x"])
        if W.ndim != 2:
            raise ValueError(f"pim_channel field 'W' must be a matrix (rows, cols), got shape {W.shape}")
        x = x[None, :] if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != W.shape[1]:
            raise ValueError(f"pim_channel field 'x' must have shape (cols,) or (vectors, cols) with "
                             f"cols={W.shape[1]} to match W, got {np.shape(inputs['x'])}")
        problem = check_fits(W.shape[0], W.shape[1], self.layout)
        if problem:
            raise ValueError(f"pim_channel: {problem}")
        for name, values in (("W", W), ("x", x)):
            self._check_elements(name, values)
        return W.astype(np.int64), x.astype(np.int64)

    def _check_elements(self, name, values):
        bits = self.element_bits
        if values.dtype.kind not in "iu":
            raise ValueError(f"pim_channel field '{name}' must hold integers ({self.p.dtype} "
                             f"{'bit patterns' if dtypes.is_float(self.p.dtype) else 'values'}), "
                             f"got dtype {values.dtype}")
        low, high = ((0, (1 << bits) - 1) if dtypes.is_float(self.p.dtype)
                     else (-(1 << (bits - 1)), (1 << (bits - 1)) - 1))
        if values.size and (int(values.min()) < low or int(values.max()) > high):
            raise ValueError(f"pim_channel field '{name}' holds values outside {low}..{high}")

    def _padded(self, W, x):
        """W as (slots * banks, beats, lanes) and x as (vectors, beats, lanes), zero-padded:
        the padding is what the arrays and the global buffer hold there."""
        p = self.p
        rows, cols = W.shape
        beats = beats_per_row(cols, p.lanes)
        padded_rows = slots(rows, p.banks) * p.banks
        Wp = np.zeros((padded_rows, beats * p.lanes), dtype=np.int64)
        Wp[:rows, :cols] = W
        xp = np.zeros((x.shape[0], beats * p.lanes), dtype=np.int64)
        xp[:, :cols] = x
        return Wp.reshape(padded_rows, beats, p.lanes), xp.reshape(x.shape[0], beats, p.lanes)

    # -- raw mode: host beats and x columns as fields ------------------------------------------
    def raw_inputs(self, fields) -> dict:
        """The input fields in raw form (``host_*``, ``x_columns``): given as such (graph use,
        where host beats may come from another block), or made from ``W`` and ``x``."""
        if "host_kind" in fields:
            raw = {f"host_{name}": np.asarray(fields[f"host_{name}"]) for name in HOST_FIELDS}
            raw["x_columns"] = np.asarray(fields.get("x_columns", np.zeros((0, self.p.lanes), np.int64)))
            return raw
        W, x = self._requests(fields)
        Wp, xp = self._padded(W, x)
        host = self._host_beats(W.shape, Wp, xp.shape[0])
        raw = {f"host_{name}": value for name, value in host.items()}
        raw["x_columns"] = xp.reshape(-1, self.p.lanes)
        return raw

    def _interpret(self, raw) -> dict:
        p = self.p
        return channel_golden.interpret(raw, p.banks, p.lanes, p.row_columns, p.bank_rows, p.dtype,
                                        p.acc, self.acc_bits, p.ftz,
                                        acc_slots=accumulator_shape(p.acc_latency, self.timing.CCDL)["slots"])

    def _vectors_from_y(self, acc, count, last):
        """(vectors, rows) accumulator values from y beats: the ``count`` first of each beat,
        a vector ending at each ``last``."""
        vectors, current = [], []
        for values, used, end in zip(acc, np.asarray(count).tolist(), np.asarray(last).tolist()):
            current.extend(values[:used])
            if end:
                vectors.append(current)
                current = []
        if current or len({len(v) for v in vectors}) > 1:
            return None
        return self._acc_values(np.asarray(vectors, dtype=object).reshape(len(vectors), -1))

    # -- reference and model -------------------------------------------------------------------
    def golden(self, inputs):
        y_beats = self._interpret(self.raw_inputs(inputs))
        if "host_kind" in inputs:
            return y_beats
        return {"y": self._vectors_from_y(y_beats["y_acc"], y_beats["y_count"], y_beats["y_last"])}

    def _acc_values(self, patterns):
        """Accumulator patterns as field values: float patterns unchanged (uint64), integers
        sign-extended (int64: the accumulator is at most 64 bits)."""
        if dtypes.is_float(self.p.dtype):
            return np.asarray(patterns, dtype=np.uint64)
        bits = self.acc_bits
        return np.asarray([int(v) - (1 << bits) if int(v) >> (bits - 1) else int(v)
                           for v in np.ravel(patterns)], dtype=np.int64).reshape(np.shape(patterns))

    def stimulus(self, rng, n, rows=None, cols=None):
        """A random matrix and ``n`` vectors. The default shape is not a multiple of banks or
        lanes and spans DRAM rows, so padding, row switches and partial slots are exercised."""
        p = self.p
        rows = rows or min(3 * p.banks - 1, p.bank_rows * p.banks)
        # as many beats per matrix row as the global buffer and each bank's DRAM rows hold
        beats = min(p.gb_columns, p.bank_rows * p.row_columns // slots(rows, p.banks))
        cols = cols or max(1, min(beats * p.lanes, 2 * p.lanes + 3))
        return {"W": channel_golden.element_stimulus(rng, p.dtype, (rows, cols)),
                "x": channel_golden.element_stimulus(rng, p.dtype, (n, cols))}

    def vector_count(self, inputs):
        if "host_kind" in inputs:
            return int(np.sum(np.asarray(inputs["host_kind"]) == GEMV))
        x = np.asarray(inputs["x"])
        return 1 if x.ndim == 1 else x.shape[0]

    def workload(self, inputs):
        if "host_kind" in inputs:
            raw = self.raw_inputs(inputs)
            return {"host": tuple((int(k), int(s), int(b), int(r)) for k, s, b, r in zip(
                raw["host_kind"], raw["host_slots"], raw["host_beats"], raw["host_row"]))}
        W = np.asarray(inputs["W"])
        return {"rows": W.shape[0], "cols": W.shape[1], "vectors": self.vector_count(inputs)}

    def scheduler(self) -> ChannelScheduler:
        return ChannelScheduler(self.layout, self.timing, self.p.bank_groups,
                                read_to_mac=self.read_to_mac, result_delay=self.result_delay)

    def host_sequence(self, workload) -> tuple:
        """The workload as host beats (kind, slots, beats, base row): a matrix-vector
        workload is its LOAD beats, then one GEMV per vector."""
        if "host" in workload:
            return workload["host"]
        rows, cols = workload["rows"], workload["cols"]
        beats = beats_per_row(cols, self.p.lanes)
        loads = ((LOAD, 0, 0, 0),) * (slots(rows, self.p.banks) * beats)
        return loads + ((GEMV, slots(rows, self.p.banks), beats, 0),) * workload["vectors"]

    def schedule(self, workload):
        """Run the command-level model over the host beats, each taken as soon as the
        controller is idle (LOADs one per cycle). Returns the scheduler (with its trace) and,
        per GEMV, (cycle accepted, RD_MAC cycles)."""
        scheduler = self.scheduler()
        cycle, runs = 0, []
        for kind, slot_count, beats, base_row in self.host_sequence(workload):
            if kind == LOAD:
                cycle += 1
                continue
            free, reads = scheduler.gemv_slots(cycle, slot_count, beats, base_row)
            runs.append((cycle, reads))
            cycle = free
        return scheduler, runs

    def model(self, workload):
        _, runs = self.schedule(workload)
        return model.estimate(runs, self.host_sequence(workload), self.y_delay, self.p.banks,
                              self.p.lanes, self.element_bits, self.acc_bits)

    def check_traces(self, traces):
        """The command trace, checked against the timing preset by the independent checker."""
        from ..timing_check import check_trace

        violations = check_trace(traces["cmd"], self.timing, self.p.banks, self.p.bank_groups)
        if not violations:
            return []
        more = f" (and {len(violations) - 3} more)" if len(violations) > 3 else ""
        return [f"DRAM timing: {'; '.join(map(str, violations[:3]))}{more}"]

    def statistics(self, workload) -> dict:
        """MAC utilization, row-hit rate and command counts of the modelled run."""
        scheduler, runs = self.schedule(workload)
        trace = scheduler.trace
        gemv_cycles = sum(reads[-1] + self.y_delay - accepted + 1 for accepted, reads in runs)
        useful = workload["rows"] * workload["cols"] * workload["vectors"]
        counts = {c.name: sum(1 for i in trace if i.cmd == c) for c in Command}
        macs = counts["MAC_ABK"]
        return {
            "gemv_cycles": gemv_cycles,
            "mac_utilization": useful / (self.p.lanes * self.p.banks * gemv_cycles),
            "row_hit_rate": 1 - counts["ACT"] / (self.p.banks * macs) if macs else 0.0,
            "row_hit_rate_mapping": row_hit_rate(workload["rows"], workload["cols"], self.layout),
            "commands": counts,
        }

    # -- fields <-> beats ----------------------------------------------------------------------
    def fields_to_beats(self, fields):
        beats = {}
        if "host_kind" in fields or "W" in fields:
            raw = self.raw_inputs(fields)
            beats["host"] = {name: raw[f"host_{name}"] for name in HOST_FIELDS}
            beats["x"] = raw["x_columns"]
        elif "x_columns" in fields:
            beats["x"] = np.asarray(fields["x_columns"])
        if "y_acc" in fields:
            beats["y"] = {"acc": np.asarray(fields["y_acc"], dtype=object),
                          "count": np.asarray(fields["y_count"]), "last": np.asarray(fields["y_last"])}
        elif "y" in fields:
            y = np.asarray(fields["y"], dtype=object)
            y = y[None, :] if y.ndim == 1 else y
            vectors, rows = y.shape
            per_slot = slots(rows, self.p.banks)
            padded = np.zeros((vectors, per_slot * self.p.banks), dtype=object)
            padded[:, :rows] = y
            mask = (1 << self.acc_bits) - 1
            count = np.full((vectors, per_slot), self.p.banks, dtype=np.int64)
            count[:, -1] = rows - (per_slot - 1) * self.p.banks
            last = np.zeros((vectors, per_slot), dtype=np.int64)
            last[:, -1] = 1
            beats["y"] = {"acc": np.vectorize(lambda v: int(v) & mask, otypes=[object])(
                              padded.reshape(-1, self.p.banks)),
                          "count": count.reshape(-1), "last": last.reshape(-1)}
        return beats

    def _host_beats(self, shape, Wp, vectors):
        p = self.p
        rows, cols = shape
        beats = beats_per_row(cols, p.lanes)
        slot_count = slots(rows, p.banks)
        count = slot_count * beats
        # every (slot, beat) is one column of every bank: bank b holds matrix row slot*banks + b
        data_beats = Wp.reshape(slot_count, p.banks, beats, p.lanes).transpose(0, 2, 1, 3)
        data_beats = data_beats.reshape(count, p.banks, p.lanes)
        where = [column_address(s, b, beats, p.row_columns) for s in range(slot_count) for b in range(beats)]
        zeros = np.zeros(count + vectors, dtype=np.int64)
        data_all = np.zeros((count + vectors, p.banks, p.lanes), dtype=np.int64)
        data_all[:count] = data_beats
        row_all, col_all = zeros.copy(), zeros.copy()
        row_all[:count] = [r for r, _ in where]
        col_all[:count] = [c for _, c in where]
        kind = zeros.copy()
        kind[count:] = GEMV
        slots_all, beats_all, last_all = zeros.copy(), zeros.copy(), zeros.copy()
        slots_all[count:] = slot_count
        beats_all[count:] = beats
        last_all[count:] = rows - (slot_count - 1) * p.banks
        mask = np.zeros((count + vectors, p.banks, p.lanes), dtype=np.int64)
        mask[:count] = 1
        return {"kind": kind, "row": row_all, "col": col_all, "slots": slots_all,
                "beats": beats_all, "last_count": last_all, "mask": mask, "data": data_all}

    def beats_to_fields(self, beats):
        fields = {}
        if "host" in beats:
            fields.update({f"host_{name}": np.asarray(beats["host"][name]) for name in HOST_FIELDS})
        if "x" in beats:
            fields["x_columns"] = np.asarray(beats["x"])
        if "y" in beats:
            acc, count, last = (np.asarray(beats["y"][k]) for k in ("acc", "count", "last"))
            fields.update({"y_acc": acc, "y_count": count, "y_last": last})
            vectors = self._vectors_from_y(acc, count, last)
            if vectors is not None:
                fields["y"] = vectors
        return fields


def all_of(conditions):
    """AND of 1-bit conditions."""
    result = Const(1)
    for condition in conditions:
        result = result & condition
    return result
