"""The error contract on bad input fields, for every registered block from the registry alone:
a missing field, an extra axis, strings, NaN in an integer field, an integer beyond 64 bits, a
per-vector field one entry shorter than the others and per-vector fields left empty are each
refused before any build with one line that names the block and the field."""

from __future__ import annotations

import numpy as np
import pytest

from hwgen import blocks
from sim.runner import per_vector_fields, prepare

from .params_space import product_blocks

NAMES = product_blocks()


def small(name):
    cls = blocks.block_class(name)
    return cls(**cls.flow_params)


def spoiled(inputs: dict, name: str, per_vector: list[str]) -> dict[str, dict]:
    """Each way of spoiling field ``name`` that no block may accept."""
    values = np.asarray(inputs[name])
    rest = {key: value for key, value in inputs.items() if key != name}
    cases = {
        "missing": rest,
        "extra axis": {**rest, name: values[..., None]},
        "strings": {**rest, name: np.full(values.shape, "x")},
    }
    if name in per_vector and len(per_vector) > 1:
        cases["one entry short"] = {**rest, name: values[:-1]}
    if values.dtype.kind in "iu" and values.size:
        cases["NaN in an integer field"] = {**rest, name: np.where(np.arange(values.size).reshape(values.shape) == 0,
                                                                   np.nan, values.astype(float))}
        cases["beyond 64 bits"] = {**rest, name: np.full(values.shape, -(1 << 70), dtype=object)}
    return cases


@pytest.mark.parametrize("name", NAMES)
def test_bad_fields_are_refused_in_one_line_naming_the_field(name):
    block = small(name)
    inputs = block.stimulus(np.random.default_rng(3), 4)
    prepare(block, inputs, 4, 1)  # the block's own stimulus is accepted
    problems = []
    per_vector = per_vector_fields(block, 1)
    if per_vector:
        empty = {**inputs, **{field: np.asarray(inputs[field])[:0] for field in per_vector}}
        try:
            prepare(block, empty, 4, 1)
            problems.append("empty per-vector fields: accepted")
        except ValueError as error:
            if f"field '{per_vector[0]}' is empty" not in str(error):
                problems.append(f"empty per-vector fields: {error}")
    for field in inputs:
        for case, bad in spoiled(inputs, field, per_vector).items():
            try:
                prepare(block, bad, 4, 1)
                problems.append(f"{field}, {case}: accepted")
            except (ValueError, TypeError) as error:
                message = str(error)
                if "\n" in message or f"'{field}'" not in message or name not in message:
                    problems.append(f"{field}, {case}: {type(error).__name__}: {message}")
    assert not problems, f"{name}:\n" + "\n".join(problems)
