"""Parameter sweeps: ``hwgen sweep SPEC.toml`` and ``hwgen sweep report sweep.db``."""

from .run import run_sweep
from .spec import SpecError, SweepSpec, load_spec, parse_spec

__all__ = ["SpecError", "SweepSpec", "load_spec", "parse_spec", "run_sweep"]
