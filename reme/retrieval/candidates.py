"""The candidate set of one query: the union of FAISS and BM25 candidates with their scores and ranks.

Rankers and the feature builder read this; nothing here decides an order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CandidateSet:
    """Parallel arrays over the candidates of one query, dense candidates first (in dense order), then
    keyword-only candidates (in keyword order). Missing sides are NaN scores and rank -1."""

    query: str
    ids: np.ndarray
    """Store keys (int64)."""
    vector_score: np.ndarray
    """Cosine of query and memory; NaN when the memory is not a dense candidate."""
    keyword_raw: np.ndarray
    """Raw BM25 score; NaN when not a keyword candidate."""
    keyword_score: np.ndarray
    """BM25 divided by the best keyword candidate's BM25 (in [0, 1]); NaN when not a keyword candidate."""
    dense_rank: np.ndarray
    """0-based rank among dense candidates, -1 when absent."""
    keyword_rank: np.ndarray
    """0-based rank among keyword candidates, -1 when absent."""

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def has_dense(self) -> bool:
        return bool((self.dense_rank >= 0).any())

    @property
    def has_keyword(self) -> bool:
        return bool((self.keyword_rank >= 0).any())

    @classmethod
    def merge(
        cls,
        query: str,
        dense_ids: np.ndarray,
        dense_scores: np.ndarray,
        kw_ids: np.ndarray,
        kw_scores: np.ndarray,
    ) -> CandidateSet:
        """Union of both candidate lists, deduplicated by id (ReMe merged by ``path:start:end``)."""
        keep = dense_ids >= 0
        dense_ids, dense_scores = dense_ids[keep], dense_scores[keep]
        position: dict[int, int] = {}
        order: list[int] = []
        for i in dense_ids.tolist():
            if i not in position:
                position[i] = len(order)
                order.append(i)
        for i in kw_ids.tolist():
            if i not in position:
                position[i] = len(order)
                order.append(i)
        n = len(order)
        vec = np.full(n, np.nan, dtype=np.float32)
        raw = np.full(n, np.nan, dtype=np.float32)
        drank = np.full(n, -1, dtype=np.int64)
        krank = np.full(n, -1, dtype=np.int64)
        for r, (i, s) in enumerate(zip(dense_ids.tolist(), dense_scores.tolist())):
            p = position[i]
            if drank[p] < 0:
                vec[p], drank[p] = s, r
        for r, (i, s) in enumerate(zip(kw_ids.tolist(), kw_scores.tolist())):
            p = position[i]
            if krank[p] < 0:
                raw[p], krank[p] = s, r
        best = float(np.nanmax(raw)) if np.isfinite(raw).any() else 0.0
        kw = raw / best if best > 0 else np.full(n, np.nan, dtype=np.float32)
        return cls(query, np.asarray(order, dtype=np.int64), vec, raw, kw.astype(np.float32), drank, krank)
