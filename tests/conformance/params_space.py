"""Parameter draws for any registered block, from its ``ParamSet`` alone (no per-block code)."""

from __future__ import annotations

import importlib
import os

from hypothesis import strategies as st

from hwgen import blocks


def product_blocks() -> list[str]:
    """The registered blocks hwgen ships (tests register throwaway blocks of their own), and
    those of the modules named in ``HWGEN_CONFORMANCE_MODULES`` (comma-separated: a family
    written outside the tree, imported here so that it registers, runs the same suite)."""
    extra = [name for name in os.environ.get("HWGEN_CONFORMANCE_MODULES", "").split(",") if name]
    for module in extra:
        importlib.import_module(module)
    return [name for name in blocks.names()
            if blocks.block_class(name).__module__.startswith(("hwgen.", *extra))]


def extremes(param) -> list:
    """The values at the edges of a parameter's declared range (every choice of a choice)."""
    if param.type is bool:
        return [False, True]
    if param.choices is not None:
        return list(param.choices)
    return [v for v in (param.min, param.max) if v is not None]


def small_bound(cls, param) -> int:
    """The largest value drawn for a simulated point: the flow point's or the default,
    whichever is larger, so that a draw stays a design that simulates in seconds."""
    return max(param.min or 0, cls.flow_params.get(param.name, param.default))


def value_strategy(cls, param, small: bool):
    if param.type is bool:
        return st.booleans()
    if param.choices is not None:
        choices = list(param.choices)
        if small and param.type is int:
            choices = [c for c in choices if c <= small_bound(cls, param)] or choices[:1]
        return st.sampled_from(choices)
    if param.type is int:
        low = param.min if param.min is not None else 0
        high = param.max if param.max is not None else low + 1024
        if small:
            high = min(high, small_bound(cls, param))
        step = param.step or 1
        # weighted toward the ends, where the rules bite
        return st.one_of(st.integers(low // step, high // step).map(lambda v: v * step),
                         st.sampled_from([low, high // step * step]))
    return st.just(param.default)  # free-form strings (presets, lists): their defaults


def outside(param) -> list:
    """Values just outside the declared range, for spoiled draws."""
    if param.type is bool or param.type is str and param.choices is None:
        return []
    if param.choices is not None:
        return ["no_such_choice"] if param.type is str else [max(param.choices) + 1]
    values = [param.min + 1] if param.step and param.step > 1 else []
    if param.min is not None:
        values.append(param.min - 1)
    if param.max is not None:
        values.append(param.max + 1)
    return values


@st.composite
def drawn_params(draw, name: str, small: bool = False, spoil: bool = True):
    """A full assignment of ``name``'s parameters; with ``spoil``, one draw in eight puts one
    parameter just outside its range. Parameters that follow others are left unset half of
    the time, so that their adaptation is exercised too."""
    cls = blocks.block_class(name)
    values = {}
    for param in cls.params:
        if param.depends_on and draw(st.integers(0, 3)):
            continue
        values[param.name] = draw(value_strategy(cls, param, small), label=param.name)
    spoilable = [p for p in cls.params if outside(p)]
    if spoil and spoilable and draw(st.integers(0, 7)) == 0:
        param = draw(st.sampled_from(spoilable))
        values[param.name] = draw(st.sampled_from(outside(param)))
    return values
