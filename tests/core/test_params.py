"""Parameter declaration and validation: errors name the parameter, the value and what is
allowed, and come before any elaboration."""

from __future__ import annotations

import pytest

import hwgen
from hwgen import blocks
from hwgen.blocks.mac_array.params import required_acc_width, tree_depth
from hwgen.core.params import Param, ParamError, ParamSet, params_hash


def test_param_error_is_value_error():
    assert issubclass(hwgen.ParamError, ValueError)


@pytest.mark.parametrize("name, value, fragment", [
    ("lanes", 0, "lanes=0 is out of range: allowed 1..256"),
    ("lanes", 257, "lanes=257 is out of range: allowed 1..256"),
    ("width", 1, "width=1 is out of range: allowed 2..32"),
    ("width", 33, "width=33 is out of range: allowed 2..32"),
    ("vector_length", 4097, "vector_length=4097 is out of range: allowed 1..4096"),
    ("tree_stages", -1, "tree_stages=-1 is out of range: allowed 0..8"),
    ("signed", 1, "signed=1: expected true or false"),
    ("lanes", 2.0, "lanes=2.0: expected an integer"),
    ("lanes", True, "lanes=True: expected an integer"),
])
def test_out_of_range_names_parameter_value_and_range(name, value, fragment):
    with pytest.raises(ParamError) as error:
        blocks.get("mac_array", **{name: value})
    assert fragment in str(error.value)
    assert str(error.value).startswith("mac_array: ")


def test_cross_parameter_rules():
    with pytest.raises(ParamError, match=r"tree_stages=3 exceeds the adder tree depth "
                                         r"ceil\(log2\(lanes=4\)\)=2: allowed 0..2"):
        blocks.get("mac_array", lanes=4, tree_stages=3)
    with pytest.raises(ParamError, match=r"tree_stages=1 exceeds .*lanes=1.*allowed 0..0"):
        blocks.get("mac_array", lanes=1, tree_stages=1)
    need = required_acc_width(8, 8, True, 16)
    with pytest.raises(ParamError, match=rf"acc_width={need - 1} is too narrow .* allowed 0 "
                                         rf"\(automatic\) or {need}..256"):
        blocks.get("mac_array", acc_width=need - 1)
    assert blocks.get("mac_array", acc_width=need).info()["acc_width"] == need
    with pytest.raises(ParamError, match=r"requant: shift=9 exceeds in_width=8: allowed 0..8"):
        blocks.get("requant", in_width=8, shift=9)


def test_errors_come_before_elaboration(monkeypatch):
    from hwgen.blocks.mac_array.rtl import MacArray

    def never(self, platform):
        raise AssertionError("elaborated an invalid block")

    monkeypatch.setattr(MacArray, "elaborate", never)
    with pytest.raises(ParamError):
        MacArray(lanes=0)


def test_unknown_parameter_and_block():
    with pytest.raises(ParamError, match="mac_array has no parameter bogus; its parameters are lanes"):
        blocks.get("mac_array", bogus=3)
    with pytest.raises(ParamError, match="unknown block 'nope'; the blocks are .*mac_array"):
        blocks.get("nope")


def test_command_line_parsing():
    params = blocks.block_class("mac_array").params
    assert params.parse_assignments(["lanes=0x10", "signed=false", "width= 12"]) == \
        {"lanes": 16, "signed": False, "width": 12}
    for bad, fragment in [("lanes", "expected name=value"), ("lanes=ten", "expected an integer"),
                          ("signed=maybe", "expected true or false"), ("x=1", "unknown parameter 'x'")]:
        with pytest.raises(ParamError, match=fragment):
            params.parse_assignments([bad])


def test_defaults_fill_in_and_hash_is_stable():
    block = blocks.get("mac_array", lanes=4)
    assert dict(block.param_values) == {"lanes": 4, "width": 8, "signed": True,
                                        "vector_length": 16, "tree_stages": 1, "acc_width": 0}
    # the hash covers the full set: naming a default explicitly changes nothing
    assert blocks.get("mac_array", lanes=4, width=8).param_hash == block.param_hash
    assert blocks.get("mac_array", lanes=5).param_hash != block.param_hash
    assert params_hash("mac_array", block.param_values) == block.param_hash
    assert len(block.param_hash) == 8 and int(block.param_hash, 16) >= 0


def test_declaration_rejects_invalid_default():
    with pytest.raises(ParamError):
        ParamSet(params=(Param("n", int, 0, "count", min=1, max=4),))


def test_accumulator_width_is_exact():
    # brute force over small configurations: the width holds the extremes, one bit less does not
    for width in (2, 3, 5):
        for signed in (True, False):
            for terms in (1, 2, 3, 7):
                low, high = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
                corners = [x * y * terms for x in (low, high) for y in (low, high)]
                need = required_acc_width(terms, width, signed, 1)
                fits = (lambda v, n: -(1 << (n - 1)) <= v < (1 << (n - 1))) if signed else \
                    (lambda v, n: 0 <= v < (1 << n))
                assert all(fits(v, need) for v in corners)
                assert not all(fits(v, need - 1) for v in corners)


def test_tree_depth():
    assert [tree_depth(n) for n in (1, 2, 3, 4, 5, 8, 9, 256)] == [0, 1, 2, 2, 3, 3, 4, 8]
