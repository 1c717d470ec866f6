"""Checks of what a user hands hwgen outside a block's parameters: command-line numbers, output
folders, input files. Each failure is one line naming the option or file, the value and what is
allowed, raised before any work starts (elaboration, simulation, synthesis, a sweep), so that a
mistake costs a second, not the minutes of work that would run before it shows.

The limits here are hwgen's, stated once: ``MAX_VECTORS`` (the stimulus is generated and held in
memory at once), ``MAX_SEED`` (NumPy's seeds are unsigned; 32 bits is what the benches' stall
generators take).
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

MAX_VECTORS = 10_000_000
MAX_SEED = (1 << 32) - 1
MIN_FREQ_MHZ = 1.0      # a clock target for synthesis, in MHz; ECP5 logic tops out near 400
MAX_FREQ_MHZ = 1000.0
MAX_WORKERS = 1024
MAX_SECONDS = 7 * 24 * 3600   # a time-out: a sweep point's, a formal check's
MAX_FORMAL_DEPTH = 1000       # cycles a formal check unrolls
# hwgen flow --formal: BMC depth and seconds per design (a default, not a limit; here so that
# the command line reads it without importing the flow)
FLOW_FORMAL_DEPTH = 10
FLOW_FORMAL_SECONDS = 300.0


class InputError(ValueError):
    """An option, file or field a user gave is not usable; the message names it."""


class MissingFileError(FileNotFoundError):
    """A file a user named does not exist; the message names it and what it was for."""


def integer(option: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int within ``low..high`` (either bound may be open)."""
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, float) or (isinstance(value, str) and not value.strip()):
                raise ValueError
            value = int(str(value).strip(), 0)
        except ValueError:
            raise InputError(f"{option}={value!r}: expected an integer{_range(low, high)}") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise InputError(f"{option}={value} is out of range:{_range(low, high, lead=' allowed')}")
    return value


def real(option: str, value, low: float | None = None, high: float | None = None, *,
         high_open: bool = False) -> float:
    """``value`` as a finite float within ``low..high`` (the upper bound excluded if
    ``high_open``)."""
    if isinstance(value, bool):
        raise InputError(f"{option}={value!r}: expected a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{option}={value!r}: expected a number") from None
    allowed = _real_range(low, high, high_open)
    if not math.isfinite(number):
        raise InputError(f"{option}={value}: expected a finite number, allowed {allowed}")
    if ((low is not None and number < low)
            or (high is not None and (number > high or (high_open and number == high)))):
        raise InputError(f"{option}={value} is out of range: allowed {allowed}")
    return number


def _range(low, high, lead: str = ",") -> str:
    if low is not None and high is not None:
        return f"{lead} {low}..{high}"
    if low is not None:
        return f"{lead} >= {low}"
    if high is not None:
        return f"{lead} <= {high}"
    return ""


def _real_range(low, high, high_open) -> str:
    parts = []
    if low is not None:
        parts.append(f"{low:g} <= x")
    if high is not None:
        parts.append(f"{'' if parts else 'x '}{'<' if high_open else '<='} {high:g}")
    return " ".join(parts) or "any finite number"


def vectors(option: str, value) -> int:
    return integer(option, value, 1, MAX_VECTORS)


def seed(option: str, value) -> int:
    return integer(option, value, 0, MAX_SEED)


def probability(option: str, value) -> float:
    """A chance per cycle: 0 <= p < 1 (1 would stall a stream for ever)."""
    return real(option, value, 0.0, 1.0, high_open=True)


def writable_folder(option: str, path: Path | str) -> Path:
    """``path`` as a folder this process can write in: created if missing, then tried with a
    file of its own, so that a read-only or misspelled output fails before the work runs."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".hwgen-write-test-"):
            pass
    except OSError as error:
        raise InputError(f"{option} {path}: cannot write there ({error.strerror or error})") from None
    return path


def input_file(what: str, path: Path | str) -> Path:
    """``path`` as an existing, readable regular file."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"{what} {path} does not exist")
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder, not a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{what} {path} cannot be read (permission denied)")
    return path
