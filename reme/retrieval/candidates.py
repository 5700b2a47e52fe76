"""The candidate set of one query: the union of FAISS and BM25 candidates with their scores and ranks.

Rankers and the feature builder read this; nothing here decides an order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CandidateSet:
    """Parallel arrays over the candidates of one query, dense candidates first (in dense order), then
    keyword-only candidates (in keyword order).

    Candidates are the union of the top ``n`` of each side, but both scores are known for every candidate: the
    store fills in the cosine of a keyword-only candidate and the BM25 of a dense-only one (``fill``). The ranks
    say which side retrieved it (-1: not retrieved by that side). Scores that were never filled are NaN."""

    query: str
    ids: np.ndarray
    """Store keys (int64)."""
    vector_score: np.ndarray
    """Cosine of query and memory; NaN when unknown."""
    keyword_raw: np.ndarray
    """Raw BM25 score; NaN when unknown."""
    keyword_score: np.ndarray
    """BM25 divided by the best keyword candidate's BM25 (in [0, 1]); NaN when unknown."""
    dense_rank: np.ndarray
    """0-based rank among dense candidates, -1 when absent."""
    keyword_rank: np.ndarray
    """0-based rank among keyword candidates, -1 when absent."""
    context: np.ndarray | None = None
    """Neighbour features (``CONTEXT_NAMES`` columns), filled by the store that knows the neighbours."""

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

    def fill(self, vector_score: np.ndarray, keyword_raw: np.ndarray) -> None:
        """Set the exact scores of every candidate (NaNs in the arguments leave the current value)."""
        self.vector_score = np.where(np.isnan(vector_score), self.vector_score, vector_score).astype(np.float32)
        self.keyword_raw = np.where(np.isnan(keyword_raw), self.keyword_raw, keyword_raw).astype(np.float32)
        retrieved = self.keyword_rank >= 0
        best = float(self.keyword_raw[retrieved].max()) if retrieved.any() else 0.0
        if best > 0:
            self.keyword_score = (self.keyword_raw / best).astype(np.float32)
