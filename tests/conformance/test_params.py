"""Every registered block's parameters, from the registry alone: each at its declared minimum
and maximum (others at their defaults), and fuzzed combinations. A rejection is one line that
names a parameter it rejects with that parameter's value."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings

from hwgen import blocks
from hwgen.core.params import ParamError

from .params_space import drawn_params, extremes, outside, product_blocks

NAMES = product_blocks()


@pytest.mark.parametrize("name", NAMES)
def test_each_parameter_at_its_extremes(name):
    """Works, or the parameter set is one whose range another bounds (``depends_on``) and the
    error names both; a parameter that depends on the one set adapts by itself."""
    cls = blocks.block_class(name)
    for param in cls.params:
        for value in extremes(param):
            try:
                cls(**{param.name: value})
            except ParamError as error:
                message = str(error)
                assert "\n" not in message
                assert names(param.name, message) and param.depends_on and any(
                    names(other, message) for other in param.depends_on), (
                    f"{name}: {param.name}={value!r} with every other parameter at its default "
                    f"is rejected, and no parameter adapts: {message}")


@pytest.mark.parametrize("name", NAMES)
def test_each_parameter_just_outside_its_range_is_refused(name):
    """Each value just outside a declared range (below the minimum, above the maximum, off
    the step, an unknown choice, a flag that is not one), the others at their defaults, is
    refused in one line naming the parameter and the value."""
    cls = blocks.block_class(name)
    tried = 0
    for param in cls.params:
        for value in outside(param) or (["maybe"] if param.type is bool else []):
            tried += 1
            with pytest.raises(ParamError) as refused:
                cls(**{param.name: value})
            message = str(refused.value)
            assert "\n" not in message and names(param.name, message, value), message
    assert tried or not any(p.type is not str or p.choices for p in cls.params), name


def names(parameter: str, message: str, value=None) -> bool:
    """Whether ``message`` names ``parameter=`` (with ``value``, when given) as a whole word."""
    if value is None:
        return re.search(rf"(?<![\w.]){re.escape(parameter)}=", message) is not None
    return any(re.search(rf"(?<![\w.]){re.escape(f'{parameter}={shown}')}(?![\w.])", message)
               for shown in {repr(value), str(value)})


def rejection_names_a_drawn_value(message: str, values: dict) -> bool:
    return any(names(key, message, value) for key, value in values.items()) or "has no parameter" in message


@pytest.mark.parametrize("name", NAMES)
def test_fuzzed_parameters_resolve_or_name_the_culprit(name, record_property):
    """100 draws over each block's whole declared space: at least half are valid, and every
    rejection is one line naming a drawn parameter and its value."""
    counts = {"valid": 0, "rejected": 0}

    @settings(max_examples=100, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(values=drawn_params(name, spoil=True))
    def draw(values):
        try:
            block = blocks.get(name, **values)
        except ParamError as error:
            counts["rejected"] += 1
            message = str(error)
            assert "\n" not in message and rejection_names_a_drawn_value(message, values), (values, message)
            return
        counts["valid"] += 1
        # a parameter the user did not set and that follows others is within its own range
        for param in block.params:
            param.check(block.param_values[param.name])

    draw()
    record_property("draws", counts)
    print(f"{name}: {counts['valid']} valid draws, {counts['rejected']} rejected")
    assert counts["valid"] >= (counts["valid"] + counts["rejected"]) / 2, counts
