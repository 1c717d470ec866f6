"""The real sparse matrices in ``../shared/data/matrices`` (beside the repository's root):
tests fail, never skip, when they are missing."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "matrices"
KNOWN = ("ash85", "bcspwr03", "bcspwr04", "bcsstk01", "blckhole", "bp___200", "can__144")
NAMES = sorted(set(KNOWN) | ({p.stem for p in SHARED.glob("*.mtx")} if SHARED.is_dir() else set()))


def shared(name: str) -> Path:
    """A shared matrix; a missing folder or file fails (never skips)."""
    assert SHARED.is_dir(), (f"shared matrices folder {SHARED} is missing: the repository expects "
                             f"shared/data/matrices beside its root")
    path = SHARED / f"{name}.mtx"
    assert path.is_file(), f"shared matrix {path} is missing"
    return path


def all_shared() -> list[Path]:
    return [shared(name) for name in NAMES]
