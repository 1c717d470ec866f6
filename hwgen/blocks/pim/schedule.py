"""The command-level cycle model of a PIM channel: which DRAM commands a GEMV needs, in which
order, and the earliest cycle each can issue under the timing preset.

This is the controller's specification; the RTL controller (``channel.py``) implements it with
counters and the testbench checks the two agree command by command. The policy:

* **In order, as early as legal.** Commands issue in program order, one per cycle at most, each
  at the first cycle at which every timing constraint against earlier commands holds.
* **Program order of a GEMV.** First one WR_GB per vector column (the vector goes to the global
  buffer), then for each slot (``banks`` matrix rows) and each of its beats: a decision point
  when the beat opens a slot or needs a different DRAM row; a MAC_ABK; and after the slot's
  last beat (or each ``segment`` beats) a RD_MAC that reads and clears every accumulator.
* **Open-row policy.** A row stays open until a beat needs another row (PRE, then one ACT per
  bank, bank groups interleaved) or a refresh is due.
* **Refresh.** The refresh timer starts when the first GEMV is accepted (the device is taken as
  freshly refreshed then) and restarts at each REF. At a decision point where
  ``REFI`` cycles have passed since, the controller closes the open row (PRE), issues REF and
  re-opens the row it needs. A decision point comes at least once per slot, so a REF is never
  later than one slot past due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from .mapping import ChannelLayout, beats_per_row, column_address, slots
from .timing import Timing


class Command(IntEnum):
    ACT = 1
    PRE = 2      # all banks (PREab)
    REF = 3      # all banks (REFab)
    WR_GB = 4    # write one global-buffer column
    MAC_ABK = 5  # MAC in all banks on one column of the open row
    RD_MAC = 6   # read every bank's accumulator (and clear it)
    WR_BIAS = 7  # write every bank's accumulator (not used by GEMV)


COLUMN_COMMANDS = (Command.WR_GB, Command.MAC_ABK, Command.RD_MAC)


@dataclass(frozen=True)
class Issued:
    cycle: int
    cmd: Command
    bank: int = 0
    row: int = 0
    col: int = 0


def act_order(banks: int, bank_groups: int) -> list[int]:
    """Banks in ACT order: one from each group in turn, so consecutive ACTs fall in different
    groups and only RRDS (not RRDL) separates them."""
    per_group = banks // bank_groups
    return [group * per_group + index for index in range(per_group) for group in range(bank_groups)]


def bank_group(bank: int, banks: int, bank_groups: int) -> int:
    return bank // (banks // bank_groups)


@dataclass
class ChannelScheduler:
    """Issues commands at their earliest legal cycles; holds the timing state between GEMVs."""

    layout: ChannelLayout
    timing: Timing
    bank_groups: int
    # The bank MAC units' two rules (pim_channel.read_to_mac, .result_delay): a MAC_ABK comes
    # at least ``read_to_mac`` cycles after an RD_MAC (the interleaved accumulator finishes its
    # sum first), and an RD_MAC's result leaves ``result_delay`` cycles after it (at least CL).
    read_to_mac: int = 1
    result_delay: int = 0
    trace: list[Issued] = field(default_factory=list)
    open_row: int | None = None
    refresh_base: int | None = None
    next_free: int = 0                      # the command bus: one command per cycle
    acts: list[tuple[int, int]] = field(default_factory=list)   # (cycle, bank), oldest first
    last_pre: int | None = None
    last_ref: int | None = None
    last_column: tuple[int, Command] | None = None
    last_mac: int | None = None
    last_read: int | None = None

    # -- constraints -----------------------------------------------------------------------------
    def _earliest(self, cmd: Command, bank: int = 0) -> int:
        t = self.timing
        bounds = [self.next_free]
        if cmd == Command.ACT:
            group = bank_group(bank, self.layout.banks, self.bank_groups)
            for cycle, other in self.acts:
                if other == bank:
                    bounds.append(cycle + t.RC)
                elif bank_group(other, self.layout.banks, self.bank_groups) == group:
                    bounds.append(cycle + t.RRDL)
                else:
                    bounds.append(cycle + t.RRDS)
            if len(self.acts) >= 4:
                bounds.append(self.acts[-4][0] + t.FAW)
            if self.last_pre is not None:
                bounds.append(self.last_pre + t.RP)
            if self.last_ref is not None:
                bounds.append(self.last_ref + t.RFC)
        elif cmd == Command.PRE:
            bounds += [cycle + t.RAS for cycle, _ in self.acts[-self.layout.banks:]]
            if self.last_mac is not None:
                bounds.append(self.last_mac + t.RTP)
        elif cmd == Command.REF:
            if self.last_pre is not None:
                bounds.append(self.last_pre + t.RP)
            if self.last_ref is not None:
                bounds.append(self.last_ref + t.RFC)
        else:  # column commands
            if self.last_column is not None:
                gap = t.CCDS if cmd == Command.WR_GB else t.CCDL
                bounds.append(self.last_column[0] + gap)
            if cmd == Command.MAC_ABK:
                bounds += [cycle + t.RCDRD for cycle, _ in self.acts[-self.layout.banks:]]
                if self.last_read is not None:
                    bounds.append(self.last_read + self.read_to_mac)
        return max(bounds)

    @property
    def y_delay(self) -> int:
        """Cycles from an RD_MAC to its result: CL, or the MAC pipeline's if that is longer."""
        return max(self.timing.CL, self.result_delay)

    def issue(self, cmd: Command, bank: int = 0, row: int = 0, col: int = 0) -> int:
        cycle = self._earliest(cmd, bank)
        self.trace.append(Issued(cycle, cmd, bank, row, col))
        self.next_free = cycle + 1
        if cmd == Command.ACT:
            # only the last `banks` ACTs can constrain a later command (tRC, RRD, FAW: 4)
            self.acts = (self.acts + [(cycle, bank)])[-max(4, self.layout.banks):]
        elif cmd == Command.PRE:
            self.last_pre = cycle
            self.open_row = None
        elif cmd == Command.REF:
            self.last_ref = cycle
            self.refresh_base = cycle
        else:
            self.last_column = (cycle, cmd)
            if cmd == Command.MAC_ABK:
                self.last_mac = cycle
            elif cmd == Command.RD_MAC:
                self.last_read = cycle
        return cycle

    # -- program order ---------------------------------------------------------------------------
    def _decide(self, row: int) -> None:
        """A decision point: refresh if due, then make sure ``row`` is open."""
        if self.next_free - self.refresh_base >= self.timing.REFI:
            if self.open_row is not None:
                self.issue(Command.PRE)
            self.issue(Command.REF)
        if self.open_row != row:
            if self.open_row is not None:
                self.issue(Command.PRE)
            for bank in act_order(self.layout.banks, self.bank_groups):
                self.issue(Command.ACT, bank, row)
            self.open_row = row

    def gemv(self, accepted: int, rows: int, cols: int, base_row: int = 0,
             segment: int | None = None) -> tuple[int, list[int]]:
        """Schedule one GEMV of a rows x cols matrix whose request was accepted at cycle
        ``accepted``. Returns the cycle the controller is free for the next request and the
        RD_MAC cycles. ``segment`` (RD_MAC every that many beats) is a model-only extension for
        per-head partial sums; the RTL reads once per slot."""
        return self.gemv_slots(accepted, slots(rows, self.layout.banks),
                               beats_per_row(cols, self.layout.lanes), base_row, segment)

    def gemv_slots(self, accepted: int, slot_count: int, beats: int, base_row: int = 0,
                   segment: int | None = None) -> tuple[int, list[int]]:
        """``gemv`` in the request's own terms: slots of ``banks`` rows, beats per row."""
        if self.refresh_base is None:
            self.refresh_base = accepted
        self.next_free = max(self.next_free, accepted + 1)
        segment = segment or beats
        for beat in range(beats):
            self.issue(Command.WR_GB, col=beat)
        reads = []
        for slot in range(slot_count):
            for beat in range(beats):
                row, col = column_address(slot, beat, beats, self.layout.row_columns, base_row)
                if beat == 0 or row != self.open_row:
                    self._decide(row)
                self.issue(Command.MAC_ABK, row=row, col=col)
                if (beat + 1) % segment == 0 or beat == beats - 1:
                    reads.append(self.issue(Command.RD_MAC))
        return self.next_free, reads
