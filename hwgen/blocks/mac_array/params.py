"""Parameters of ``mac_array`` and the quantities derived from them."""

from __future__ import annotations

from typing import Any, Mapping

from ...core.params import Param, ParamSet


def tree_depth(lanes: int) -> int:
    """Adder levels needed to reduce ``lanes`` products to one: ceil(log2(lanes))."""
    return (lanes - 1).bit_length()


def operand_range(width: int, signed: bool) -> tuple[int, int]:
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def required_acc_width(lanes: int, width: int, signed: bool, vector_length: int) -> int:
    """The narrowest accumulator that holds any sum of ``lanes * vector_length`` products."""
    low, high = operand_range(width, signed)
    terms = lanes * vector_length
    corners = [x * y for x in (low, high) for y in (low, high)]
    smallest, largest = terms * min(corners), terms * max(corners)
    if signed:
        # two's complement: n bits hold -2**(n-1) .. 2**(n-1) - 1
        return max(largest.bit_length(), (-smallest - 1).bit_length()) + 1
    return max(largest.bit_length(), 1)


def acc_width(p: Mapping[str, Any]) -> int:
    """The accumulator width in use: the requested one, or the minimum when 0 (automatic)."""
    return p["acc_width"] or required_acc_width(p["lanes"], p["width"], p["signed"], p["vector_length"])


def _tree_stages_fit(p: Mapping[str, Any]) -> str | None:
    depth = tree_depth(p["lanes"])
    if p["tree_stages"] > depth:
        return (
            f"tree_stages={p['tree_stages']} exceeds the adder tree depth "
            f"ceil(log2(lanes={p['lanes']}))={depth}: allowed 0..{depth}"
        )
    return None


def _acc_wide_enough(p: Mapping[str, Any]) -> str | None:
    need = required_acc_width(p["lanes"], p["width"], p["signed"], p["vector_length"])
    if p["acc_width"] and p["acc_width"] < need:
        return (
            f"acc_width={p['acc_width']} is too narrow for {p['lanes']} lanes x "
            f"{p['vector_length']} beats of {p['width']}-bit "
            f"{'signed' if p['signed'] else 'unsigned'} products: allowed 0 (automatic) or "
            f"{need}..256"
        )
    return None


PARAMS = ParamSet(
    params=(
        Param("lanes", int, 8, "operand pairs multiplied per beat", min=1, max=256),
        Param("width", int, 8, "operand width in bits", min=2, max=32),
        Param("signed", bool, True, "operands (and the result) are two's complement"),
        Param("vector_length", int, 16, "beats accumulated into one result", min=1, max=4096),
        Param("tree_stages", int, 1, "pipeline registers inside the adder tree (0..ceil(log2 lanes)); "
              "unset, 1 or the tree depth when that is 0", min=0, max=8, depends_on=("lanes",),
              follows=lambda p: min(1, tree_depth(p["lanes"]))),
        Param("acc_width", int, 0, "accumulator width in bits; 0 picks the narrowest exact one",
              min=0, max=256, depends_on=("lanes", "width", "signed", "vector_length")),
    ),
    rules=(_tree_stages_fit, _acc_wide_enough),
)
