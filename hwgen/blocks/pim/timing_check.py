"""An independent checker of PIM channel command traces against a DRAM timing preset.

It knows nothing of the controller: it replays the trace (cycle, command, bank, row, column),
tracks which banks are open, and checks every rule of the preset between every pair of
commands it constrains. Written from the rule list in docs/pim.md, not from the controller or
its scheduler model, so a bug shared by those two still shows up here.

Rules (all in cycles):

* one command per cycle;
* ACT only to a closed bank; MAC_ABK only when every bank is open on the row it names;
  REF only when every bank is closed;
* ACT to ACT: RC in the same bank, RRDL in the same bank group, RRDS otherwise; no more than
  four ACTs in any FAW window;
* ACT to MAC_ABK: RCDRD (every bank); ACT to PRE: RAS; MAC_ABK to PRE: RTP;
* PRE to ACT and to REF: RP; REF to ACT and to REF: RFC;
* column commands (WR_GB, MAC_ABK, RD_MAC): CCDL between two that both touch the banks
  (MAC_ABK, RD_MAC), CCDS when one of them is a WR_GB (the global buffer is outside the
  bank groups);
* refresh: counting from the first command, at most 8 refreshes may be owed at any time
  (the JEDEC postponement limit), i.e. REF number k comes no later than (k + 9) * REFI.
"""

from __future__ import annotations

from dataclasses import dataclass

ACT, PRE, REF, WR_GB, MAC_ABK, RD_MAC, WR_BIAS = range(1, 8)
NAMES = {ACT: "ACT", PRE: "PRE", REF: "REF", WR_GB: "WR_GB", MAC_ABK: "MAC_ABK",
         RD_MAC: "RD_MAC", WR_BIAS: "WR_BIAS"}
BANK_COLUMN = (MAC_ABK, RD_MAC, WR_BIAS)
MAX_POSTPONED = 8


@dataclass(frozen=True)
class Violation:
    cycle: int
    command: str
    rule: str

    def __str__(self) -> str:
        return f"cycle {self.cycle}: {self.command}: {self.rule}"


def check_trace(trace: dict, timing, banks: int, bank_groups: int) -> list[Violation]:
    """Violations of ``timing`` in ``trace`` (a dict of equal-length arrays ``edge``, ``cmd``,
    ``bank``, ``row``, ``col``, as ``SimResult.traces["cmd"]``). Empty means legal."""
    t = timing
    per_group = banks // bank_groups
    found: list[Violation] = []
    open_row: dict[int, int] = {}            # bank -> open row
    last_act: dict[int, int] = {}            # bank -> cycle of its last ACT
    act_cycles: list[tuple[int, int]] = []   # (cycle, bank) of every ACT
    last_pre = last_ref = last_mac = None
    last_column: tuple[int, int] | None = None
    refreshes = 0
    start = None
    previous = None

    def fail(cycle, cmd, rule):
        found.append(Violation(cycle, NAMES.get(cmd, str(cmd)), rule))

    def at_least(cycle, cmd, since, gap, name):
        if since is not None and cycle - since < gap:
            fail(cycle, cmd, f"{name}: {cycle - since} cycles after cycle {since}, needs {gap}")

    rows = zip(*(list(map(int, trace[key])) for key in ("edge", "cmd", "bank", "row", "col")))
    for cycle, cmd, bank, row, _col in rows:
        start = cycle if start is None else start
        if previous is not None and cycle <= previous:
            fail(cycle, cmd, f"issued in the same cycle as (or before) the previous command at {previous}")
        previous = cycle
        owed = (cycle - start) // t.REFI - refreshes
        if owed > MAX_POSTPONED:
            fail(cycle, cmd, f"refresh: {owed} refreshes owed, at most {MAX_POSTPONED} may be postponed")

        if cmd == ACT:
            if bank in open_row:
                fail(cycle, cmd, f"bank {bank} is already open (row {open_row[bank]})")
            group = bank // per_group
            for other_cycle, other in act_cycles[-banks:]:
                if other == bank:
                    at_least(cycle, cmd, other_cycle, t.RC, f"tRC (bank {bank})")
                elif other // per_group == group:
                    at_least(cycle, cmd, other_cycle, t.RRDL, f"tRRD_L (bank {other} to bank {bank})")
                else:
                    at_least(cycle, cmd, other_cycle, t.RRDS, f"tRRD_S (bank {other} to bank {bank})")
            if len(act_cycles) >= 4:
                at_least(cycle, cmd, act_cycles[-4][0], t.FAW, "tFAW (five ACTs in the window)")
            at_least(cycle, cmd, last_pre, t.RP, "tRP (PRE to ACT)")
            at_least(cycle, cmd, last_ref, t.RFC, "tRFC (REF to ACT)")
            open_row[bank] = row
            last_act[bank] = cycle
            act_cycles.append((cycle, bank))
        elif cmd == PRE:
            for other, when in last_act.items():
                if other in open_row:
                    at_least(cycle, cmd, when, t.RAS, f"tRAS (bank {other})")
            at_least(cycle, cmd, last_mac, t.RTP, "tRTP (MAC_ABK to PRE)")
            open_row.clear()
            last_pre = cycle
        elif cmd == REF:
            if open_row:
                fail(cycle, cmd, f"banks {sorted(open_row)} are open")
            at_least(cycle, cmd, last_pre, t.RP, "tRP (PRE to REF)")
            at_least(cycle, cmd, last_ref, t.RFC, "tRFC (REF to REF)")
            last_ref = cycle
            refreshes += 1
        elif cmd in (WR_GB, MAC_ABK, RD_MAC, WR_BIAS):
            if last_column is not None:
                both_banks = cmd in BANK_COLUMN and last_column[1] in BANK_COLUMN
                gap, name = (t.CCDL, "tCCD_L") if both_banks else (t.CCDS, "tCCD_S")
                at_least(cycle, cmd, last_column[0], gap, f"{name} (after {NAMES[last_column[1]]})")
            if cmd == MAC_ABK:
                closed = [b for b in range(banks) if open_row.get(b) != row]
                if closed:
                    fail(cycle, cmd, f"banks {closed} do not have row {row} open")
                for other, when in last_act.items():
                    if other in open_row:
                        at_least(cycle, cmd, when, t.RCDRD, f"tRCDRD (bank {other})")
                last_mac = cycle
            last_column = (cycle, cmd)
        else:
            fail(cycle, cmd, "unknown command code")
    return found
