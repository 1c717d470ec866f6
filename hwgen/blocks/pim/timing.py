"""DRAM timing presets for the PIM channel, in command-clock cycles (tCK).

The default preset is GDDR6-2000 as used by the public Ramulator2-based GDDR6-AiM simulator
(tCK = 0.57 ns). A preset is replaceable: the channel's ``timing`` parameter takes a preset
name, optionally followed by overrides, e.g. ``gddr6_2000,FAW=32,REFI=1000``.

Two values are not in the AiM preset and are our assumptions: ``RRDL`` (ACT to ACT in the same
bank group; set equal to RRDS) and ``RTP`` (column read to PRE; 4 cycles, GDDR6's short tRTP).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ...core.params import ParamError


@dataclass(frozen=True)
class Timing:
    CL: int      # read latency: RD_MAC to its data on the bus
    RCDRD: int   # ACT to a column read (MAC_ABK) in that bank
    RCDWR: int   # ACT to a column write in that bank (kept for completeness; GEMV never writes a bank)
    RP: int      # PRE to ACT (and to REF)
    RAS: int     # ACT to PRE in the same bank
    RC: int      # ACT to ACT in the same bank
    CCDS: int    # column command to column command, different bank groups
    CCDL: int    # column command to column command, same bank group
    RRDS: int    # ACT to ACT, different bank groups
    RRDL: int    # ACT to ACT, same bank group
    FAW: int     # at most four ACTs in any window of FAW cycles
    RFC: int     # REF to any other command (all banks)
    REFI: int    # average refresh interval
    RTP: int     # column read (MAC_ABK) to PRE
    tck_ns: float = 0.57

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PRESETS = {
    "gddr6_2000": Timing(CL=24, RCDRD=26, RCDWR=16, RP=26, RAS=53, RC=79, CCDS=4, CCDL=6,
                         RRDS=7, RRDL=7, FAW=28, RFC=210, REFI=3333, RTP=4),
}

_INTEGER_FIELDS = [f.name for f in fields(Timing) if f.name != "tck_ns"]
MAX_CYCLES = 1 << 16


def parse_timing(text: str) -> Timing:
    """``<preset>[,NAME=cycles ...]`` -> Timing; a bad name or value raises ParamError."""
    preset, *overrides = [part.strip() for part in text.split(",")]
    if preset not in PRESETS:
        raise ParamError(f"timing={text!r}: unknown preset {preset!r}: allowed {', '.join(PRESETS)}")
    timing = PRESETS[preset]
    for item in overrides:
        name, sep, value = item.partition("=")
        if not sep or name not in _INTEGER_FIELDS:
            raise ParamError(f"timing={text!r}: {item!r} is not NAME=cycles with NAME one of "
                             f"{', '.join(_INTEGER_FIELDS)}")
        try:
            cycles = int(value, 0)
        except ValueError:
            raise ParamError(f"timing={text!r}: {name}={value!r} is not an integer") from None
        if not 1 <= cycles < MAX_CYCLES:
            raise ParamError(f"timing={text!r}: {name}={cycles} is out of range: allowed 1..{MAX_CYCLES - 1}")
        timing = replace(timing, **{name: cycles})
    return timing


def timing_rule(p) -> str | None:
    """ParamSet rule: the ``timing`` parameter parses, and its values are self-consistent."""
    try:
        t = parse_timing(p["timing"])
    except ParamError as error:
        return str(error)
    if t.RC < t.RAS + t.RP:
        return f"timing={p['timing']!r}: RC={t.RC} is below RAS+RP={t.RAS + t.RP}: allowed RC >= RAS+RP"
    if t.RC < t.RRDL:
        return (f"timing={p['timing']!r}: RC={t.RC} is below RRDL={t.RRDL}: allowed RC >= RRDL "
                f"(a bank is in its own bank group)")
    if t.RRDL < t.RRDS or t.CCDL < t.CCDS:
        return f"timing={p['timing']!r}: the same-group delays (RRDL, CCDL) must not be below RRDS, CCDS"
    return None
