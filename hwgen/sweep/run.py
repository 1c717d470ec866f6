"""Running a sweep: expand the spec, skip what is done or cached, evaluate the rest on an
executor, and commit each point as it finishes.

The executor is a local process pool by default, or a Dask cluster's executor: both are
``concurrent.futures.Executor``s running ``hwgen.sweep.point.run_point``, so there is one code
path. Invalid points are recognised here, before dispatch, from the ``ParamError``.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import blocks
from ..core.params import ParamError
from .point import code_version, die_with_parent, import_extras, point_key, run_point
from .spec import SpecError, SweepSpec
from .store import PointCache, SweepDB, SweepLock


@dataclass
class Task:
    point_id: int
    key: str
    params: dict

    def payload(self, spec: SweepSpec, local_pool: bool) -> dict:
        return {"block": spec.block, "params": self.params, "metrics": spec.metrics,
                "timeout": spec.timeout, "imports": list(spec.imports),
                "die_with_parent": local_pool}


@contextmanager
def executor(workers: int | None = None, dask: str | None = None):
    """A local process pool, or the executor of the Dask cluster at ``dask``."""
    if dask:
        try:
            from distributed import Client
        except ImportError:
            raise SpecError("--dask needs dask.distributed: pip install 'dask[distributed]'") from None
        client = Client(dask, timeout=30)
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
    else:
        # a pool worker dies with the sweep, and its point process with it (see run_point)
        with cf.ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1,
                                    initializer=die_with_parent) as pool:
            yield pool


def open_db(spec: SweepSpec, db_path: Path, resume: bool, fresh: bool) -> SweepDB:
    if db_path.exists() and fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    existed = db_path.exists()
    db = SweepDB(db_path)
    stored = db.meta("spec_hash")
    if existed and stored is not None:
        if stored != spec.digest:
            db.close()
            raise SpecError(f"{db_path} holds a sweep of a different spec; use --fresh to start "
                            f"over or another --out")
        if not resume and db.done_ids():
            count = len(db.done_ids())
            db.close()
            raise SpecError(f"{db_path} already holds {count} points of this sweep; pass --resume "
                            f"to run the missing ones or --fresh to start over")
    db.set_meta("spec", json.dumps(spec.as_dict(), sort_keys=True))
    db.set_meta("spec_hash", spec.digest)
    db.set_meta("block", spec.block)
    return db


def plan(spec: SweepSpec, db: SweepDB, cache: PointCache | None, version: str) -> list[Task]:
    """Record invalid and cached points at once; return the tasks left to run."""
    done = db.done_ids()
    tasks = []
    for point_id, params in enumerate(spec.points()):
        if point_id in done:
            continue
        try:
            full = dict(blocks.get(spec.block, **params).param_values)
        except ParamError as error:
            key = point_key(spec.block, {"invalid": params}, spec.metrics)
            db.record(point_id, key, spec.block, params, "invalid", {}, str(error), 0.0, False, version)
            continue
        key = point_key(spec.block, full, spec.metrics)
        hit = cache.get(key) if cache is not None else None
        if hit is not None:
            db.record(point_id, key, spec.block, full, "ok", hit, None, 0.0, True, version)
            continue
        tasks.append(Task(point_id, key, full))
    return tasks


def run_sweep(spec: SweepSpec, db_path: Path, *, workers: int | None = None,
              dask: str | None = None, resume: bool = False, fresh: bool = False,
              use_cache: bool = True, report: Callable[[str, dict], None] | None = None) -> dict[str, int]:
    """Run (or finish) a sweep into ``db_path``; return the counts by status.

    ``report(event, info)`` is called with ``("planned", {total, remaining})`` once and
    ``("point", {point_id, status, ...})`` for every point finished here.
    """
    import_extras(spec.imports)
    blocks.block_class(spec.block)  # an unknown block is a ParamError naming the known ones
    version = code_version()
    with SweepLock(db_path):  # one writer per database, from --fresh's delete to the last point
        cache = PointCache() if use_cache else None
        try:
            return _run_locked(spec, Path(db_path), version, workers, dask, resume, fresh, cache,
                               report or (lambda event, info: None))
        finally:
            if cache is not None:
                cache.close()


def _run_locked(spec, db_path, version, workers, dask, resume, fresh, cache, report):
    db = open_db(spec, db_path, resume, fresh)
    try:
        tasks = plan(spec, db, cache, version)
        report("planned", {"total": len(spec.points()), "remaining": len(tasks),
                           "counts": db.counts()})
        if tasks:
            with executor(workers, dask) as pool:
                futures = {pool.submit(run_point, task.payload(spec, local_pool=not dask)): task
                           for task in tasks}
                for future in cf.as_completed(futures):
                    task = futures[future]
                    try:
                        result = future.result()
                    except Exception as error:  # the worker itself died
                        result = {"status": "failed", "metrics": {}, "wall_s": 0.0,
                                  "error": f"worker failed: {type(error).__name__}: {error}"}
                    db.record(task.point_id, task.key, spec.block, task.params, result["status"],
                              result["metrics"], result.get("error"), result["wall_s"], False, version)
                    if result["status"] == "ok" and cache is not None:
                        cache.put(task.key, result["metrics"])
                    report("point", {"point_id": task.point_id, "params": task.params, **result})
        return db.counts()
    finally:
        db.close()


