"""The index lifecycle of a workspace: one in-memory FAISS + BM25 index per target, kept in step with the records.

The records (SQLite or PostgreSQL) are the truth; a target's index is a cache valid for the target's *generation*
(a counter the database bumps on every write to the target). ``TargetIndexes.index_for`` returns the in-memory index
when current, else the saved copy under ``index/`` when current, else rebuilds it from the records (and saves it when
large). This process's own writes update the index incrementally (``after_upsert`` / ``after_delete``); a write
by another process moves the generation past it, and the next use rebuilds. ``save`` writes the large indexes
that changed since they were saved (at close). With ``store.dense: pgvector`` the dense side is the database's own
(``reme.store.pgvector_search``): the index then holds BM25 and a handle, never the vectors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reme.config import RetrievalConfig
from reme.schema import MemoryNode
from reme.store.records import RecordStore

log = logging.getLogger("reme.memory")

__all__ = ["TargetIndex", "TargetIndexes"]


@dataclass
class TargetIndex:
    """In-memory FAISS + BM25 of one target, valid for the records at ``generation``."""

    generation: int
    dense: Any  # DenseIndex
    bm25: Any | None  # BM25Index, None when it must be rebuilt before the next search
    saved_generation: int = -1
    """Generation of the copy under ``index/`` (-1: none)."""


class TargetIndexes:
    """The indexes of every target of one workspace, guarded by the workspace's lock (``lock``, an ``RLock``
    shared with ``Memory``: a search holds it while it reads an index, a write while it commits and updates one).

    Args:
        records: the workspace's record store.
        index_dir: where large indexes are saved (``Workspace.index_dir``).
        retrieval: index thresholds (``ann_threshold``, ``ivf_nprobe``), BM25 parameters and the dense device.
        model_id: the embedding model of the vectors (a saved index of another model is not loaded).
        lock: the workspace's lock.
    """

    def __init__(
        self,
        records: RecordStore,
        index_dir: Path,
        retrieval: RetrievalConfig,
        model_id: str,
        lock: threading.RLock,
    ):
        self.records = records
        self.index_dir = index_dir
        self.retrieval = retrieval
        self.model_id = model_id
        self.lock = lock
        self._indexes: dict[str, TargetIndex] = {}
        self._backend: Any = None

    @property
    def backend(self) -> Any:
        """The dense-candidate backend (``reme.retrieval.backend.DenseBackend``), chosen on first use."""
        if self._backend is None:
            from reme.retrieval.backend import choose_backend

            self._backend = choose_backend(self.retrieval.device)
        return self._backend

    def clear(self) -> None:
        """Forget every in-memory index (they are rebuilt or loaded on next use)."""
        self._indexes.clear()

    def index_for(self, target: str, rebuild: bool = False) -> TargetIndex:
        """The target's index: in memory if current, else the saved copy under ``index/`` if current, else
        rebuilt from the records (and saved when large). ``rebuild`` skips the saved copy."""
        from reme.retrieval.backend import build_dense
        from reme.retrieval.keyword import BM25Index
        from reme.store.index_cache import PERSIST_MIN, load_index, save_index

        cfg = self.retrieval
        backend = self.backend
        records: Any = self.records
        in_database = getattr(records, "dense", "local") == "pgvector"  # PostgreSQL serves the dense side
        with self.lock:
            current = self.records.generation(target)
            index = self._indexes.get(target)
            if index is not None and index.generation == current:
                needs_ivf = index.dense.kind == "flat" and len(index.dense) > cfg.ann_threshold
                if index.bm25 is not None and not needs_ivf:
                    return index
            elif backend.name == "faiss-cpu" and not rebuild and not in_database:
                loaded = load_index(
                    self.index_dir, target, current, self.model_id,
                    cfg.ann_threshold, cfg.ivf_nprobe, cfg.bm25_k1, cfg.bm25_b,
                )  # fmt: skip
                if loaded is not None:
                    index = TargetIndex(current, loaded[0], loaded[1], saved_generation=current)
                    self._indexes[target] = index
                    return index
            if in_database:
                generation, ids, texts, dim = records.keyword_rows(target)
            else:
                generation, ids, texts, vectors = self.records.index_rows(target)
            bm25 = BM25Index(ids, texts, cfg.bm25_k1, cfg.bm25_b)
            if index is not None and index.generation == generation:
                # only the keyword side is behind this process's own writes (or the target outgrew exact search)
                if index.dense.kind == "flat" and len(ids) > cfg.ann_threshold:
                    index.dense = build_dense(backend, ids, vectors, cfg.ann_threshold, cfg.ivf_nprobe)
                index.bm25 = bm25
                return index
            if index is not None:
                log.info("index of %s is stale (generation %d -> %d): rebuilding", target, index.generation, generation)
            if in_database:
                dense = records.dense_index(target, len(ids), dim)
            else:
                dense = build_dense(backend, ids, vectors, cfg.ann_threshold, cfg.ivf_nprobe)
            index = TargetIndex(generation, dense, bm25)
            self._indexes[target] = index
            if (
                dense.kind in ("flat", "ivf")
                and backend.name == "faiss-cpu"
                and len(ids) >= PERSIST_MIN
                and save_index(self.index_dir, target, generation, self.model_id, dense, bm25)
            ):
                index.saved_generation = generation
            return index

    def rebuild(self, targets: Sequence[str]) -> dict[str, int]:
        """Rebuild the indexes of ``targets`` from the records, ignoring any saved copy (and save the large ones).
        Returns the number of memories indexed per target."""
        out: dict[str, int] = {}
        with self.lock:
            for name in targets:
                self._indexes.pop(name, None)
                out[name] = len(self.index_for(name, rebuild=True).dense)
        return out

    def delete_saved(self, target: str) -> bool:
        """Remove the target's saved copy under ``index/`` (the in-memory index stays); whether there was one."""
        from reme.store.index_cache import delete_index

        return delete_index(self.index_dir, target)

    def after_upsert(
        self,
        nodes: Sequence[MemoryNode],
        vectors: np.ndarray,
        seqs: Sequence[int],
        generations: dict[str, int],
        replaced: set[str],
    ) -> None:
        """Bring the in-memory indexes up to date with a committed ``RecordStore.upsert_many`` (its ``seqs``,
        ``generations`` and ``replaced``): add the new vectors, or drop an index that someone else's write (or a
        move of rows) made stale. The keyword side is rebuilt on next use. Call under ``lock``."""
        for node_target, new_gen in generations.items():
            index = self._indexes.get(node_target)
            if index is None:
                continue
            if index.generation != new_gen - 1 or node_target in replaced:
                del self._indexes[node_target]  # someone else wrote in between, or rows moved: rebuild later
                continue
            mine = [i for i, n in enumerate(nodes) if n.memory_target == node_target]
            index.dense.add(np.asarray([seqs[i] for i in mine]), vectors[mine])
            index.bm25 = None
            index.generation = new_gen

    def after_delete(self, gone: Sequence[tuple[int, str]], generations: dict[str, int]) -> None:
        """Bring the in-memory indexes up to date with a committed ``RecordStore.delete_many`` (``gone``: the
        ``(seq, target)`` of each deleted record). Call under ``lock``."""
        for gone_target, new_gen in generations.items():
            index = self._indexes.get(gone_target)
            if index is None:
                continue
            if index.generation != new_gen - 1:
                del self._indexes[gone_target]
                continue
            index.dense.remove(np.asarray([s for s, t in gone if t == gone_target]))
            index.bm25 = None
            index.generation = new_gen

    def save(self) -> None:
        """Save the large indexes that changed since they were saved (and are still current), then forget them
        all. A device-resident scan is not saved: it is rebuilt from the records."""
        from reme.store.index_cache import PERSIST_MIN, save_index

        with self.lock:
            for target, index in self._indexes.items():
                if index.bm25 is None or index.generation == index.saved_generation or len(index.dense) < PERSIST_MIN:
                    continue
                if index.dense.kind not in ("flat", "ivf"):
                    continue  # a device-resident scan is rebuilt from the records, not saved
                if self.records.generation(target) == index.generation:
                    save_index(self.index_dir, target, index.generation, self.model_id, index.dense, index.bm25)
            self._indexes.clear()
