"""Dense candidates from PostgreSQL itself (``store.dense: pgvector``): one target's memories searched by pgvector's
cosine distance, with the interface of ``reme.retrieval.dense.DenseIndex`` so the search above does not change.

Two plans, chosen per target by its size:

- **exact** (a target under ``store.hnsw_min_rows`` memories, or no HNSW index yet): ``ORDER BY vector <=> q`` over
  the target's rows, found through the ``(memory_target, seq)`` b-tree; the same candidates as FAISS's flat index in
  SQLite mode (ties broken by ``seq``);
- **hnsw**: pgvector's HNSW index over every memory of the schema's dimension (``reme hnsw`` builds it, an expression
  index on ``vector::vector(D)``), filtered to the target with pgvector 0.8's iterative index scans
  (``hnsw.iterative_scan = relaxed_order``, re-sorted after the scan), ``hnsw.ef_search`` from ``store.ef_search``.

Nothing of the vectors is held by the worker: ``vectors(ids)`` reads the few a search needs (the keyword-only
candidates' cosines). ``add`` / ``remove`` only keep the count: the rows are the index.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

log = logging.getLogger("reme.store")

__all__ = ["HNSW_NAME", "PgVectorIndex", "hnsw_dims"]

HNSW_NAME = "memories_hnsw_{dim}"
"""The HNSW index of the schema's ``dim``-dimensional vectors."""

HNSW_CHECK_S = 10.0
"""How long a target's index trusts what it last saw of the HNSW index (built or dropped by another process)."""


def hnsw_dims(store: Any, valid: bool = True) -> list[int]:
    """The dimensions that have an HNSW index in ``store``'s schema (``valid=False``: those whose index a failed
    concurrent build left unusable)."""
    rows = store._read(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON "
        "n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname LIKE 'memories_hnsw_%%' AND i.indisvalid = %s",
        (store.schema, valid),
    )
    return sorted(int(str(r[0]).rsplit("_", 1)[1]) for r in rows)


class PgVectorIndex:
    """One target's dense side in PostgreSQL (see the module docstring)."""

    kind = "pgvector"
    on_gpu = False

    def __init__(self, store: Any, target: str, count: int, dim: int, hnsw_min_rows: int, ef_search: int) -> None:
        self.store = store
        self.target = target
        self.count = count
        self.dim = dim
        self.hnsw_min_rows = hnsw_min_rows
        self.ef_search = ef_search
        self._warned = False
        self._hnsw_seen: tuple[float, int, bool] = (-1e9, -1, False)

    def __len__(self) -> int:
        return self.count

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) and not self.dim:
            self.dim = int(np.asarray(vectors).shape[1])
        self.count += len(ids)

    def remove(self, ids: np.ndarray) -> None:
        self.count = max(0, self.count - len(ids))

    @property
    def plan(self) -> str:
        """``exact`` or ``hnsw``: how this target is searched now."""
        if self.count < self.hnsw_min_rows or not self.dim:
            return "exact"
        checked, epoch, has = self._hnsw_seen
        # built or dropped by this process: seen at once; by another: within HNSW_CHECK_S
        if epoch != self.store.hnsw_epoch or time.monotonic() - checked > HNSW_CHECK_S:
            has = self.dim in hnsw_dims(self.store)
            self._hnsw_seen = (time.monotonic(), self.store.hnsw_epoch, has)
        if has:
            return "hnsw"
        if not self._warned:
            log.warning(
                "target %s has %d memories but %s has no HNSW index of %d dimensions: searching exactly "
                "(build one with `reme hnsw`)", self.target, self.count, self.store.path, self.dim,
            )  # fmt: skip
            self._warned = True
        return "exact"

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (each a memory of this target), in that order."""
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [int(i) for i in ids]
        rows = self.store._read("SELECT seq, vector FROM {s}.memories WHERE seq = ANY(%s)", (keys,))
        got = {int(seq): np.asarray(vec.to_numpy(), dtype=np.float32) for seq, vec in rows}
        return np.stack([got[k] for k in keys])

    def search(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` per query by cosine: ``(scores, ids)`` of shape ``(m, n')``, best first (as ``DenseIndex``)."""
        n = min(n, self.count)
        m = queries.shape[0]
        if n <= 0:
            return np.zeros((m, 0), dtype=np.float32), np.zeros((m, 0), dtype=np.int64)
        plan = self.plan
        scores = np.full((m, n), -np.inf, dtype=np.float32)
        ids = np.full((m, n), -1, dtype=np.int64)
        with self.store._conn() as conn:
            for row, query in enumerate(np.asarray(queries, dtype=np.float32)):
                got = self._exact(conn, query, n) if plan == "exact" else self._hnsw(conn, query, n)
                for col, (seq, distance) in enumerate(got):
                    ids[row, col], scores[row, col] = int(seq), 1.0 - float(distance)
        width = int((ids >= 0).sum(axis=1).min()) if m else 0
        return scores[:, :width], ids[:, :width]

    def _exact(self, conn: Any, query: np.ndarray, n: int) -> list[Any]:
        sql = (
            "SELECT seq, vector <=> %s AS d FROM {s}.memories WHERE memory_target = %s AND vector IS NOT NULL "
            "ORDER BY d, seq LIMIT %s"
        )
        return list(conn.execute(self.store._q(sql), (query, self.target, n)).fetchall())

    def _hnsw(self, conn: Any, query: np.ndarray, n: int) -> list[Any]:
        typed = f"vector::vector({self.dim})"
        sql = (
            f"WITH c AS MATERIALIZED (SELECT seq, {typed} <=> %s::vector({self.dim}) AS d FROM {{s}}.memories "
            f"WHERE memory_target = %s AND vector_dims(vector) = {self.dim} "
            f"ORDER BY {typed} <=> %s::vector({self.dim}) LIMIT %s) SELECT seq, d FROM c ORDER BY d, seq"
        )
        with conn.transaction():
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute(f"SET LOCAL hnsw.ef_search = {int(max(self.ef_search, n))}")
            return list(conn.execute(self.store._q(sql), (query, self.target, query, n)).fetchall())
