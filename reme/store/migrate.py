"""``reme migrate``: copy a workspace's records between its SQLite file and PostgreSQL (issue 22), both ways.

What moves: every memory row with its ``memory_id``, fields, vector and ``vector_model``, and the store's ``meta``
(the id key, so that ids keep their meaning, and the embedding model the vectors came from). The rows are copied in
batches, each one transaction, in ``seq`` order; the destination's generations are bumped as its own writes, so its
workers rebuild their indexes. The destination must hold no memories (a half-copied destination of an interrupted
migration is refused: empty it or drop its schema, and run again).

``copy_log`` moves the trajectory log the same way: every readable record of the source log (the workspace's
segments, or the schema's ``trajectory`` table) appended in order to the empty destination log, so that
``reme trajectories verify`` and ``reme learn`` read the same decisions and rewards after the move. The registry and
the rest of the workspace folder stay where they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.trajectory import read_records

__all__ = ["copy_log", "copy_records"]

META_KEYS = ("format_version", "id_key", "embedding_config", "embedding_model_id")


def copy_records(source: Any, dest: Any, batch: int = 500, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy every memory and the meta of ``source`` into the empty ``dest`` (both record stores); returns the count."""
    if dest.count() > 0:
        raise BadInputError(f"the destination {dest.path} already holds {dest.count()} memories: empty it first")
    total = source.count()
    for key in META_KEYS:
        value = source.get_meta(key)
        if value is not None:
            dest.set_meta(key, value)
    dest.id_key = source.id_key
    done = 0
    for target in source.targets():
        _, keys, _, vectors = source.index_rows(target)
        nodes = source.get_by_seqs([int(k) for k in keys])
        models = source.vector_models([int(k) for k in keys])
        for start in range(0, len(keys), batch):
            chunk = [int(k) for k in keys[start : start + batch]]
            for model in sorted({models[k] for k in chunk}):
                picked = [i for i, k in enumerate(chunk) if models[k] == model]
                rows = np.stack([vectors[start + i] for i in picked])
                dest.upsert_many([nodes[chunk[i]] for i in picked], rows, model)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    if dest.count() != total:
        raise BadInputError(f"copied {dest.count()} of {total} memories: the source changed during the migration")
    return total


def copy_log(source: Any, dest: Any, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Append every readable record of the log ``source`` to the empty log ``dest`` (each a ``TrajectoryLog`` or a
    ``PostgresTrajectoryLog``), oldest first; returns ``(copied, unreadable lines left behind)``."""
    if next(iter(read_records(dest)), None) is not None:
        raise BadInputError(f"the destination's trajectory log {dest.directory} already holds records: empty it first")
    copied = unreadable = 0
    for entry in read_records(source):
        if entry.record is None:
            unreadable += 1
            continue
        dest.append(entry.record)
        copied += 1
        if progress is not None and copied % 1000 == 0:
            progress(copied)
    return copied, unreadable
