"""Parameters of ``spgemm_hash`` and the memory layout they imply (docs/spgemm.md)."""

from __future__ import annotations

from ...core.params import Param, ParamSet

VALUE_TYPES = ("int32", "fp32")
HASHES = ("multiplicative", "modulo")
HASH_MULTIPLIER = 0x9E3779B1     # Knuth's multiplicative hash, 2^32 / golden ratio (odd)
ELEMENT_BITS = 64                # an element: index (low 32 bits) and value (high 32 bits)


def _rules(p):
    if p["banks"] > p["table_size"]:
        return f"banks={p['banks']} exceeds table_size={p['table_size']}: allowed 1..{p['table_size']}"
    return None


PARAMS = ParamSet(
    params=(
        Param("lanes", int, 2, "multipliers; one memory word carries lanes elements",
              choices=(1, 2, 4, 8)),
        Param("table_size", int, 64, "hash-table entries in all (the most distinct columns a "
              "row pass can hold; the sorter holds as many)",
              choices=(16, 32, 64, 128, 256, 512, 1024)),
        Param("banks", int, 2, "scratchpad banks (each table_size / banks entries, one update "
              "a cycle)", choices=(1, 2, 4, 8)),
        Param("value_type", str, "int32", "int32 (wrapping) or fp32 (IEEE, RNE; partial "
              "products added in increasing k)", choices=VALUE_TYPES),
        Param("hash", str, "multiplicative", "column -> slot: multiplicative (Knuth) or modulo",
              choices=HASHES),
        Param("mem_latency", int, 4, "cycles from a memory read request to its data (bench "
              "and model)", min=1, max=10_000),
        Param("mem_interval", int, 1, "the memory takes one request (a word of lanes "
              "elements) every mem_interval cycles: its bandwidth (bench and model)",
              min=1, max=64),
    ),
    rules=(_rules,),
)


def slot_of(column: int, table_size: int, banks: int, hash_kind: str) -> tuple[int, int]:
    """(bank, home slot in the bank) of a column: h = column (modulo) or the top log2
    table_size bits of column * 0x9E3779B1 mod 2^32 (multiplicative); bank = h mod banks,
    slot = h div banks."""
    bits = table_size.bit_length() - 1
    if hash_kind == "modulo":
        h = column & (table_size - 1)
    else:
        h = ((column * HASH_MULTIPLIER) & 0xFFFFFFFF) >> (32 - bits)
    return h % banks, h // banks
