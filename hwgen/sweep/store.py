"""Where sweep results live: one SQLite file per sweep, and a content-addressed cache shared
by all sweeps on a machine.

``sweep.db`` holds one row per point, written and committed the moment the point finishes
(WAL journal, synchronous=FULL), so killing a sweep at any moment loses only the points in
flight. Schema::

    meta(key TEXT PRIMARY KEY, value TEXT)        -- 'spec' (JSON), 'spec_hash', 'created'
    points(
        point_id    INTEGER PRIMARY KEY,  -- position in the expanded sweep, from 0
        point_key   TEXT NOT NULL,        -- content hash: block, parameters, metrics, code
        block       TEXT NOT NULL,
        params      TEXT NOT NULL,        -- JSON: the full parameter set (as given if invalid)
        status      TEXT NOT NULL,        -- ok | failed | timeout | invalid
        metrics     TEXT NOT NULL,        -- JSON object of metric name -> value ({} if none)
        error       TEXT,                 -- ParamError text, exception or timeout message
        wall_s      REAL,                 -- seconds spent on the point (0 when cached)
        cached      INTEGER NOT NULL,     -- 1 if reused from the machine-wide cache
        hwgen_version TEXT NOT NULL,
        finished_at TEXT NOT NULL         -- UTC, ISO 8601
    )
"""

from __future__ import annotations

import datetime
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..core.cache import cache_root

STATUSES = ("ok", "failed", "timeout", "invalid")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    point_id INTEGER PRIMARY KEY,
    point_key TEXT NOT NULL,
    block TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'timeout', 'invalid')),
    metrics TEXT NOT NULL,
    error TEXT,
    wall_s REAL,
    cached INTEGER NOT NULL DEFAULT 0,
    hwgen_version TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class PointRow:
    point_id: int
    point_key: str
    block: str
    params: dict[str, Any]
    status: str
    metrics: dict[str, Any]
    error: str | None
    wall_s: float
    cached: bool
    hwgen_version: str
    finished_at: str


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


class SweepDB:
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = _connect(self.path)
        self.connection.executescript(_SCHEMA)

    def close(self) -> None:
        self.connection.close()

    def meta(self, key: str) -> str | None:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def done_ids(self) -> set[int]:
        return {row[0] for row in self.connection.execute("SELECT point_id FROM points")}

    def record(self, point_id: int, point_key: str, block: str, params: dict, status: str,
               metrics: dict, error: str | None, wall_s: float, cached: bool, version: str) -> None:
        """Commit one finished point (autocommit: durable when this returns)."""
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        self.connection.execute(
            "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (point_id, point_key, block, json.dumps(params, sort_keys=True), status,
             json.dumps(metrics, sort_keys=True), error, wall_s, int(cached), version,
             datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")))

    def rows(self) -> Iterator[PointRow]:
        for row in self.connection.execute("SELECT * FROM points ORDER BY point_id"):
            (point_id, point_key, block, params, status, metrics, error, wall_s, cached,
             version, finished_at) = row
            yield PointRow(point_id, point_key, block, json.loads(params), status,
                           json.loads(metrics), error, wall_s or 0.0, bool(cached), version,
                           finished_at)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for status, count in self.connection.execute(
                "SELECT status, COUNT(*) FROM points GROUP BY status"):
            counts[status] = count
        return counts


class PointCache:
    """Finished points by content hash, shared by every sweep on this machine
    (``$HWGEN_CACHE_DIR/points.sqlite`` or ``~/.cache/hwgen/points.sqlite``). Only points that
    completed (``ok``) are cached: a failure or time-out may be the machine's, not the point's."""

    def __init__(self, path: Path | str | None = None):
        if path is None:
            path = cache_root() / "points.sqlite"
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.connection = _connect(Path(path))
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS points (point_key TEXT PRIMARY KEY, metrics TEXT NOT NULL)")

    def get(self, point_key: str) -> dict | None:
        row = self.connection.execute("SELECT metrics FROM points WHERE point_key = ?",
                                      (point_key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, point_key: str, metrics: dict) -> None:
        self.connection.execute("INSERT OR REPLACE INTO points VALUES (?, ?)",
                                (point_key, json.dumps(metrics, sort_keys=True)))

    def close(self) -> None:
        self.connection.close()
