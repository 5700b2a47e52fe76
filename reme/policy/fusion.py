"""The one copy of ReMe's score-fusion formulas: the linear fusion of ReMe 0.3.1.x's ``hybrid_search``
(``w * cosine + (1 - w) * bm25 / max(bm25)``) with its one-side fallbacks, and ReMe 0.4's reciprocal-rank fusion.

Plain numpy over per-candidate arrays, so that every layer that fuses the two candidate lists imports it downward:
the rank policies (``reme.policy.rank``), the rank features (``reme.retrieval.features``), the store's ``min_score``
floor (``reme.memory.search``) and the environments' in-memory search (``reme.envs.hybrid``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "RRF_K",
    "fused_scores",
    "linear_fusion",
    "one_side_scores",
    "reciprocal_rank",
    "rrf_fusion",
]

RRF_K = 60
"""The constant of reciprocal-rank fusion, ``1 / (RRF_K + rank)`` (ReMe 0.4's and the rank features')."""


def linear_fusion(cosine: np.ndarray, bm25_norm: np.ndarray, vector_weight: float) -> np.ndarray:
    """ReMe 0.3.1.x's fused score ``w * cosine + (1 - w) * bm25_norm`` (``bm25_norm``: BM25 / the query's best)."""
    return vector_weight * cosine + (1 - vector_weight) * bm25_norm


def one_side_scores(
    cosine: np.ndarray, bm25_norm: np.ndarray, in_dense: np.ndarray, in_keyword: np.ndarray
) -> np.ndarray | None:
    """ReMe's one-side fallbacks: when the keyword side found nothing, the dense list with its cosines (``-inf`` for
    the rest); when the dense side found nothing, the keyword list with its scores; ``None`` when both sides found
    something (then the caller fuses)."""
    if not in_keyword.any():
        return np.where(in_dense, cosine, -np.inf)
    if not in_dense.any():
        return np.where(in_keyword, bm25_norm, -np.inf)
    return None


def fused_scores(
    cosine: np.ndarray,
    bm25_norm: np.ndarray,
    in_dense: np.ndarray,
    in_keyword: np.ndarray,
    vector_weight: float = 0.7,
    missing: str = "exact",
) -> np.ndarray:
    """ReMe 0.3.1.x's ``hybrid_search`` score of each candidate: the one-side fallbacks, else the linear fusion.
    ``missing="zero"`` gives a candidate found by one side 0 for the other (ReMe's stores knew only their own top-n
    scores); ``"exact"`` keeps the true scores the store computes for every candidate."""
    fallback = one_side_scores(cosine, bm25_norm, in_dense, in_keyword)
    if fallback is not None:
        return fallback
    if missing == "zero":
        cosine, bm25_norm = np.where(in_dense, cosine, 0.0), np.where(in_keyword, bm25_norm, 0.0)
    return linear_fusion(cosine, bm25_norm, vector_weight)


def reciprocal_rank(rank: np.ndarray, k: float = RRF_K, weight: float = 1.0) -> np.ndarray:
    """``weight / (k + rank)``, the reciprocal-rank term of one list."""
    return weight / (k + rank)


def rrf_fusion(
    rank_dense: np.ndarray,
    rank_keyword: np.ndarray,
    in_dense: np.ndarray,
    in_keyword: np.ndarray,
    vector_weight: float = 0.7,
    k: float = RRF_K,
) -> np.ndarray:
    """ReMe 0.4's reciprocal-rank fusion ``w / (k + rank_dense) + (1 - w) / (k + rank_keyword)``; a side that did
    not find a candidate adds nothing, and a candidate neither side found gets ``-inf``."""
    fused = np.where(in_dense, reciprocal_rank(rank_dense, k, vector_weight), 0.0) + np.where(
        in_keyword, reciprocal_rank(rank_keyword, k, 1 - vector_weight), 0.0
    )
    return np.where(in_dense | in_keyword, fused, -np.inf)
