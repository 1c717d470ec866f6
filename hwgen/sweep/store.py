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
import fcntl
import json
import os
import sqlite3
import sys
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


class StoreError(ValueError):
    """A sweep database or point cache that cannot be used as asked; the message names it."""


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=60, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


class SweepDB:
    """A sweep's database. ``SweepDB(path)`` opens it for writing (created if missing; the
    caller holds the sweep's lock, see :class:`SweepLock`); ``SweepDB.read_only(path)`` opens an
    existing one for reports, changing nothing in it, and refuses a file that is not one."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.connection = _connect(self.path)
            self.connection.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as error:
            raise StoreError(f"sweep database {self.path}: {error}") from None

    @classmethod
    def read_only(cls, path: Path | str) -> "SweepDB":
        path = Path(path)
        if not path.exists():
            raise StoreError(f"sweep database {path} does not exist")
        if not path.is_file():
            raise StoreError(f"sweep database {path} is a folder, not a file")
        db = cls.__new__(cls)
        db.path = path
        try:
            db.connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                            timeout=60, isolation_level=None)
            tables = {row[0] for row in db.connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.Error as error:
            raise StoreError(f"{path} is not a sweep database ({error})") from None
        columns = [row[1] for row in db.connection.execute("PRAGMA table_info(points)")]
        if "meta" not in tables or columns != list(PointRow.__dataclass_fields__):
            db.close()
            raise StoreError(f"{path} is not a sweep database (no sweep's meta and points "
                             f"tables): give the sweep.db that 'hwgen sweep' wrote")
        return db

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

    def __init__(self, path: Path | str | None = None, warn=None):
        self.path = Path(path) if path is not None else cache_root() / "points.sqlite"
        try:
            self.connection = self._open()
        except sqlite3.DatabaseError as error:
            # only a cache: a corrupt one is set aside and rebuilt, with a warning naming it
            (warn or _warn)(f"hwgen: warning: point cache {self.path} is unreadable ({error}); "
                            f"moved to {self.path.name}.corrupt and started afresh")
            for suffix in ("", "-wal", "-shm"):
                old = Path(f"{self.path}{suffix}")
                if old.exists():
                    old.replace(Path(f"{self.path}{suffix}.corrupt"))
            self.connection = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"point cache {self.path}: {error}") from None
        connection = _connect(self.path)
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS points "
                               "(point_key TEXT PRIMARY KEY, metrics TEXT NOT NULL)")
            columns = [row[1] for row in connection.execute("PRAGMA table_info(points)")]
            if columns != ["point_key", "metrics"]:
                raise sqlite3.DatabaseError(f"its points table has columns {', '.join(columns)}")
            connection.execute("SELECT COUNT(*) FROM points").fetchone()
            if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError:
            connection.close()
            raise
        return connection

    def get(self, point_key: str) -> dict | None:
        row = self.connection.execute("SELECT metrics FROM points WHERE point_key = ?",
                                      (point_key,)).fetchone()
        try:
            return json.loads(row[0]) if row else None
        except ValueError:  # a damaged entry: computed again
            return None

    def put(self, point_key: str, metrics: dict) -> None:
        self.connection.execute("INSERT OR REPLACE INTO points VALUES (?, ?)",
                                (point_key, json.dumps(metrics, sort_keys=True)))

    def close(self) -> None:
        self.connection.close()


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class SweepLock:
    """An exclusive lock on a sweep's database (``<db>.lock``, holding the owner's pid), held
    for a whole run: a second sweep (or a ``--resume``) on the same database is refused in one
    line naming the holder, instead of both running the same points. The lock goes with the
    process that holds it, killed or not (``flock``)."""

    def __init__(self, db_path: Path | str):
        self.path = Path(f"{db_path}.lock")
        self.handle = None

    def __enter__(self) -> "SweepLock":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")
        except OSError as error:
            raise StoreError(f"sweep lock {self.path}: {error}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            db = self.path.with_name(self.path.name[:-len(".lock")])
            raise StoreError(f"{db} is in use by another sweep (pid {holder}); wait for it to "
                             f"finish, or give this one another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None
