"""Which parameter points run in the default suite and which only with ``pytest -m long``
(docs/architecture.md, "The test suite"), and the lint points of the floating-point operators."""

from __future__ import annotations

import pytest


def in_suite_or_long(values, suite) -> list:
    """``values`` as pytest parameters: those in ``suite`` as they are, the others marked
    ``long``. A value that is a tuple stands for several arguments."""
    return [pytest.param(*(value if isinstance(value, tuple) else (value,)),
                         marks=[] if value in suite else [pytest.mark.long])
            for value in values]


def lint_points(formats, latencies: int = 5) -> list[tuple]:
    """Each format at two neighbouring latencies, the pair turning with the format, so that
    every latency is linted on several formats: an operator's pipeline registers depend on the
    latency and its datapath on the format, independently of each other."""
    return [(fmt, latency) for index, fmt in enumerate(formats)
            for latency in (index % latencies, (index + 1) % latencies)]
