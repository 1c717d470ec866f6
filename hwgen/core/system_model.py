"""System models: the whole-system performance models that ``hwgen model <name>`` runs.

A family registers each of its system models (the PIM-GPT decode latency, the InstInfer
throughput, the SpGEMM traffic) with :func:`register`: a :class:`SystemModel` with a name (the
command-line word), a help line and a description, its arguments declared as a
:class:`~hwgen.core.params.ParamSet`, and a run function from the checked values to the text it
prints. The command line builds one subcommand per registered model and one flag per parameter
(``flash_channels`` becomes ``--flash-channels``), with no family code, and every value is
checked by the model's ``ParamSet`` before the model runs: a bad value is one line naming the
parameter and what is allowed, as for a block parameter.

Arguments that are not plain scalars have their own declarations here:

* :class:`Arg`: a ``Param`` that also says how the command line shows it (``metavar``), may be
  required (no default) or left unset (default ``None``, meaning ``unset``), may take an
  exclusive lower bound (``above=0``: "> 0") and accepts an int for a float;
* :func:`int_list`: comma-separated integers (``--batch 4,8,16``), each within ``min..max``;
  the value is a tuple;
* :class:`BlockParams`: parameters of a block the model builds, given as repeated
  ``-p NAME=VALUE`` and checked by the block's own ``ParamSet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from .params import Param, ParamError, ParamSet

METAVARS = {int: "N", float: "X", str: "NAME", Path: "FILE", tuple: "N,N,..."}


@dataclass(frozen=True)
class Arg(Param):
    """A model argument: a :class:`Param` plus what the command line needs to show it."""

    metavar: str | None = None
    # no default: the user must give a value
    required: bool = False
    # the default is None, which means this (e.g. "tCK"); None is then an allowed value
    unset: str | None = None
    # exclusive lower bound: the value must be greater than this
    above: float | None = None

    def allowed(self) -> str:
        if self.above is None:
            return super().allowed()
        return f"> {self.above:g}" + (f" and <= {self.max}" if self.max is not None else "")

    def parse(self, text: str) -> Any:
        try:
            return super().parse(text)
        except (TypeError, ValueError) as error:
            if isinstance(error, ParamError):
                raise
            raise ParamError(f"parameter {self.name}={text!r}: expected {_a(self.type.__name__)}, "
                             f"allowed {self.allowed()}") from None

    def check(self, value: Any) -> Any:
        if value is None and (self.required or self.unset is not None):
            return None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        value = super().check(value)
        if self.above is not None and not value > self.above:
            raise ParamError(f"parameter {self.name}={value!r} is out of range: allowed {self.allowed()}")
        return value

    def show(self, value: Any) -> str:
        """``value`` as the user would type it."""
        if value is None:
            return self.unset or ""
        if isinstance(value, bool):
            return str(value).lower()
        return f"{value:g}" if isinstance(value, float) else str(value)


def _a(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


@dataclass(frozen=True)
class IntList(Arg):
    """Comma-separated integers (``4,8,16``), each within ``min..max`` (or one of
    ``choices``); the value is a non-empty tuple of ints. Declare with :func:`int_list`."""

    def item_allowed(self) -> str:
        return Param.allowed(self) if (self.min, self.max, self.choices) != (None, None, None) else "any int"

    def allowed(self) -> str:
        return f"comma-separated integers, each {self.item_allowed()}"

    def parse(self, text: str) -> tuple[int, ...]:
        try:
            values = tuple(int(v) for v in text.split(",") if v.strip())
        except ValueError:
            values = ()
        if not values:
            raise ParamError(f"parameter {self.name}={text!r}: expected comma-separated integers, "
                             f"e.g. 4,16, each {self.item_allowed()}")
        return values

    def check(self, value: Any) -> tuple[int, ...]:
        if isinstance(value, int) and not isinstance(value, bool):
            value = (value,)
        if not isinstance(value, (tuple, list)) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ParamError(f"parameter {self.name}={value!r}: expected {self.allowed()}")
        for v in value:
            if ((self.choices is not None and v not in self.choices)
                    or (self.min is not None and v < self.min) or (self.max is not None and v > self.max)):
                raise ParamError(f"parameter {self.name}={v} is out of range: allowed {self.item_allowed()}")
        return tuple(value)

    def show(self, value: Any) -> str:
        return ",".join(str(v) for v in value)


def int_list(name: str, default: Iterable[int], doc: str, **kwargs) -> IntList:
    """A comma-separated integer list argument (``--batch 4,8,16``)."""
    kwargs.setdefault("metavar", "N,N,...")
    return IntList(name, tuple, tuple(default), doc, **kwargs)


def metavar(p: Param) -> str:
    """How the command line names ``p``'s value in its help."""
    return getattr(p, "metavar", None) or METAVARS.get(p.type, "VALUE")


def show(p: Param, value: Any) -> str:
    """``value`` of ``p`` as the user would type it."""
    if isinstance(p, Arg):
        return p.show(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class BlockParams:
    """Parameters of a block that the model builds (every channel a ``pim_channel``, say),
    given as repeated ``-p NAME=VALUE`` and checked by the block's ``ParamSet``, rules
    included. The run values hold them under ``name``: a dict of the parameters set."""

    name: str
    block: str
    params: ParamSet
    doc: str

    def parse(self, assignments: Iterable[str]) -> dict[str, Any]:
        values = self.params.parse_assignments(assignments, block=self.block)
        self.params.resolve(self.block, values)  # every value and the rules between them
        return values


@dataclass(frozen=True)
class Output:
    """What a model prints: ``text`` on standard output, each of ``notes`` on standard error."""

    text: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SystemModel:
    """A registered system model: ``hwgen model <name>``."""

    name: str
    help: str           # one line, in the list of ``hwgen model --help``
    description: str    # the paragraph of ``hwgen model <name> --help``
    params: ParamSet
    run: Callable[[Mapping[str, Any]], str | Output]
    block_params: BlockParams | None = None

    def __post_init__(self):
        if self.block_params is not None and self.block_params.name in self.params.names():
            raise ValueError(f"model {self.name}: block parameters {self.block_params.name!r} "
                             f"shadow a parameter")

    def resolve(self, values: Mapping[str, Any] | None = None,
                assignments: Iterable[str] = ()) -> Mapping[str, Any]:
        """Check ``values`` (typed, or strings as typed on the command line) and the block
        parameter ``assignments``; fill in the defaults."""
        values = dict(values or {})
        for p in self.params:
            if getattr(p, "required", False) and values.get(p.name) is None:
                raise ParamError(f"{self.name}: parameter {p.name} is required")
        resolved = dict(self.params.resolve(self.name, values))
        if self.block_params is not None:
            resolved[self.block_params.name] = self.block_params.parse(assignments)
        elif list(assignments):
            raise ParamError(f"{self.name} takes no block parameters")
        return MappingProxyType(resolved)

    def __call__(self, values: Mapping[str, Any] | None = None, assignments: Iterable[str] = ()) -> Output:
        out = self.run(self.resolve(values, assignments))
        return out if isinstance(out, Output) else Output(out)


_REGISTRY: dict[str, SystemModel] = {}


def register(model: SystemModel) -> SystemModel:
    """Make ``model`` available by name to :func:`get` and ``hwgen model``."""
    for p in model.params:
        # without a ceiling, --batch 99999999999999999999 runs (or allocates) instead of
        # being refused in one line
        if p.type in (int, float, tuple) and p.choices is None and p.max is None:
            raise ValueError(f"system model {model.name}: argument {p.name} declares no maximum "
                             f"(give max= or choices=)")
    known = _REGISTRY.get(model.name)
    where = lambda m: f"{m.run.__module__}.{m.run.__qualname__}"  # noqa: E731
    if known is not None and where(known) != where(model):
        raise ValueError(f"two system models are registered as {model.name!r}: "
                         f"{where(known)} and {where(model)}")
    _REGISTRY[model.name] = model
    return model


def registry() -> dict[str, SystemModel]:
    return dict(sorted(_REGISTRY.items()))


def get(name: str) -> SystemModel:
    models = registry()
    if name not in models:
        raise ParamError(f"unknown system model {name!r}; the models are {', '.join(models)}")
    return models[name]
