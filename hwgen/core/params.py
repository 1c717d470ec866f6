"""Declared, validated block parameters.

A block declares its parameters once, as a :class:`ParamSet` of :class:`Param`. Values arrive
as Python objects (from the API) or as strings (from ``-p name=value`` on the command line);
both are checked against the declaration before any hardware is elaborated, so a bad value is
reported in terms of the parameter, not as an Amaranth traceback.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping


class ParamError(ValueError):
    """A block parameter (or a combination of parameters) is outside what the block allows."""


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter: its type, default, allowed range or choices, and a one-line doc."""

    name: str
    type: type
    default: Any
    doc: str
    min: int | None = None
    max: int | None = None
    choices: tuple | None = None
    step: int | None = None  # an int range that holds only multiples of step (min is one)
    # When the user leaves this parameter unset, ``follows(values)`` (the other parameters,
    # resolved) gives its value instead of ``default``: a parameter whose range depends on
    # another (pipeline registers inside a tree whose depth depends on ``lanes``) then adapts,
    # so that setting one documented parameter to its documented minimum never fails on this one.
    follows: Callable[[Mapping[str, Any]], Any] | None = field(default=None, compare=False)
    # The parameters that bound this one's range (``follows`` reads them); a value set beyond
    # that bound is rejected by a rule naming both.
    depends_on: tuple[str, ...] = ()

    def allowed(self) -> str:
        """What values are allowed, in words (used in errors and ``hwgen list``)."""
        if self.type is bool:
            return "true or false"
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.step is not None:
            return f"{self.min}..{self.max} in steps of {self.step}"
        if self.min is not None and self.max is not None:
            return f"{self.min}..{self.max}"
        if self.min is not None:
            return f">= {self.min}"
        if self.max is not None:
            return f"<= {self.max}"
        return f"any {self.type.__name__}"

    def parse(self, text: str) -> Any:
        """Convert a command-line string into this parameter's type."""
        if self.type is bool:
            lowered = text.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ParamError(f"parameter {self.name}={text!r}: expected true or false")
        if self.type is int:
            try:
                return int(text, 0)
            except ValueError:
                raise ParamError(
                    f"parameter {self.name}={text!r}: expected an integer, allowed {self.allowed()}"
                ) from None
        if self.type is float:
            try:
                return float(text)  # NaN and infinities parse, and check() refuses them
            except ValueError:
                raise ParamError(
                    f"parameter {self.name}={text!r}: expected a number, allowed {self.allowed()}"
                ) from None
        return self.type(text)

    def check(self, value: Any) -> Any:
        """Return ``value`` if it is allowed, else raise :class:`ParamError`."""
        if self.type is bool:
            if not isinstance(value, bool):
                raise ParamError(f"parameter {self.name}={value!r}: expected true or false")
        elif self.type is int:
            # bool is an int subclass; `lanes=True` is a mistake, not 1.
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParamError(
                    f"parameter {self.name}={value!r}: expected an integer, allowed {self.allowed()}"
                )
        elif not isinstance(value, self.type):
            raise ParamError(
                f"parameter {self.name}={value!r}: expected {self.type.__name__}, "
                f"allowed {self.allowed()}"
            )
        elif self.type is float and not math.isfinite(value):
            # NaN passes every comparison of a range check, and no hardware is built from it
            raise ParamError(f"parameter {self.name}={value!r}: expected a finite number, "
                             f"allowed {self.allowed()}")
        out_of_range = (
            (self.choices is not None and value not in self.choices)
            or (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
            or (self.step is not None and value % self.step)
        )
        if out_of_range:
            raise ParamError(f"parameter {self.name}={value!r} is out of range: allowed {self.allowed()}")
        return value


@dataclass(frozen=True)
class ParamSet:
    """The parameters of a block, and the rules that tie several of them together.

    Each rule is a function of the full (already individually valid) value mapping that returns
    an error message, or ``None`` when the combination is allowed.
    """

    params: tuple[Param, ...]
    rules: tuple[Callable[[Mapping[str, Any]], str | None], ...] = field(default=())

    def __post_init__(self):
        names = {p.name for p in self.params}
        for p in self.params:
            p.check(p.default)  # a declaration whose default is invalid is a bug
            unknown = set(p.depends_on) - names
            if unknown:
                raise ValueError(f"parameter {p.name} depends on unknown {', '.join(sorted(unknown))}")

    def __iter__(self):
        return iter(self.params)

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def resolve(self, block: str, values: Mapping[str, Any]) -> Mapping[str, Any]:
        """Fill in defaults, check every value and every rule; return a read-only mapping."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise ParamError(
                f"{block} has no parameter {', '.join(unknown)}; "
                f"its parameters are {', '.join(self.names())}"
            )
        resolved = {}
        for p in self.params:
            value = values.get(p.name, p.default)
            try:
                if isinstance(value, str) and p.type is not str:
                    value = p.parse(value)
                resolved[p.name] = p.check(value)
            except ParamError as error:
                raise ParamError(f"{block}: {error}") from None
        for p in self.params:  # unset dependent parameters follow the others
            if p.follows is not None and p.name not in values:
                resolved[p.name] = p.check(p.follows(resolved))
        for rule in self.rules:
            message = rule(resolved)
            if message:
                raise ParamError(f"{block}: {message}")
        return MappingProxyType(resolved)

    def parse_assignments(self, assignments: Iterable[str], block: str = "") -> dict[str, Any]:
        """Parse ``name=value`` strings (the CLI's ``-p``) into typed values."""
        prefix = f"{block}: " if block else ""
        values: dict[str, Any] = {}
        for item in assignments:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise ParamError(f"{prefix}parameter assignment {item!r}: expected name=value")
            if name not in self.names():
                raise ParamError(
                    f"{prefix}unknown parameter {name!r}; the parameters are {', '.join(self.names())}"
                )
            try:
                values[name] = self[name].parse(text)
            except ParamError as error:
                raise ParamError(f"{prefix}{error}") from None
        return values


def smallest_point(cls) -> dict[str, Any]:
    """The parameters of block class ``cls``'s smallest configuration: each integer parameter
    (that does not follow others) at its least value, in declaration order, where the
    parameters set so far allow it; the rest at their defaults. Cheap designs for checks that
    grow with size (formal proofs, Amaranth's simulator)."""
    values: dict[str, Any] = {}
    for param in cls.params:
        if param.type is not int or param.follows is not None:
            continue
        least = min(param.choices) if param.choices else param.min
        if least is None:
            continue
        try:
            cls.params.resolve(cls.name, {**values, param.name: least})
        except ParamError:
            continue
        values[param.name] = least
    return values


def params_hash(block: str, values: Mapping[str, Any]) -> str:
    """8 hex digits identifying a block and its full parameter set (the output folder name)."""
    text = json.dumps({"block": block, "params": dict(values)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
