"""In-memory hybrid search over a small, changing set of memories: the store of the write and compaction
environments.

A rollout of those environments stores a different subset of a conversation's memories each time, and asks every
question of the conversation against it; building a SQLite workspace per rollout would cost a hundred times more
than the search itself. ``hybrid_top_k`` therefore reproduces, on arrays, exactly what ``Memory.search`` does with
the heuristic rank policy and ``min_score=0``: the top ``per_side = min(200, max(1, 3 * k))`` memories by cosine
(FAISS's exact inner product) and by BM25 (bm25s, the same tokenizer and parameters), merged dense-first, both
scores known for every candidate, ordered by ``0.7 * cosine + 0.3 * bm25 / max bm25`` (stable on ties).
``tests/test_envs_hybrid.py`` checks the equivalence against a real workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.policy.fusion import linear_fusion
from reme.retrieval.embedding import Encoder, build_encoder

__all__ = ["cached_encoder", "hybrid_top_k", "per_side"]


def per_side(k: int, retrieval: RetrievalConfig | None = None) -> int:
    """Candidates taken from each side for a search of ``k`` results (``RetrievalConfig.candidates_for``, the rule
    ``Memory.search`` applies)."""
    return (retrieval or RetrievalConfig()).candidates_for(k)


def cached_encoder(
    embedding: EmbeddingConfig | None = None, encoder: Encoder | None = None, cache_path: str | Path | None = None
) -> Encoder:
    """``encoder`` (default: built from ``embedding``) behind the persistent embedding cache of evaluation."""
    from reme.eval.metrics import default_cache_path
    from reme.retrieval.cache import CachedEncoder, EmbeddingCache

    base = encoder if encoder is not None else build_encoder(embedding or EmbeddingConfig())
    return CachedEncoder(base, EmbeddingCache(cache_path or default_cache_path()))


def _bm25_scores(
    memory_tokens: Sequence[Sequence[str]], query_tokens: Sequence[Sequence[str]], retrieval: RetrievalConfig
) -> np.ndarray:
    """``(queries, memories)`` raw BM25 scores (bm25s with ``RetrievalConfig``'s ``bm25_k1`` / ``bm25_b``, as the
    store's index)."""
    out = np.zeros((len(query_tokens), len(memory_tokens)), dtype=np.float32)
    if not memory_tokens or not any(memory_tokens):
        return out
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    retriever = bm25s.BM25(k1=retrieval.bm25_k1, b=retrieval.bm25_b)
    retriever.index([list(t) for t in memory_tokens], show_progress=False)
    for qi, tokens in enumerate(query_tokens):
        if tokens:
            out[qi] = np.asarray(retriever.get_scores(list(tokens)), dtype=np.float32)
    return out


def hybrid_top_k(
    memory_vectors: np.ndarray,
    memory_tokens: Sequence[Sequence[str]],
    query_vectors: np.ndarray,
    query_tokens: Sequence[Sequence[str]],
    k: int = 10,
    vector_weight: float | None = None,
    retrieval: RetrievalConfig | None = None,
) -> list[np.ndarray]:
    """For each query, the indices (into the memory arrays) of its top ``k`` memories, best first.

    ``memory_vectors`` / ``query_vectors`` are L2-normalised rows; ``*_tokens`` are ``reme.retrieval.keyword.tokenize``
    outputs. Candidate counts, BM25 parameters and the fusion weight are ``retrieval``'s (default
    ``RetrievalConfig()``, the store's); ``vector_weight`` overrides the weight. Fewer than ``k`` come back when
    fewer memories exist."""
    retrieval = retrieval or RetrievalConfig()
    weight = retrieval.vector_weight if vector_weight is None else vector_weight
    m = len(memory_tokens)
    if m == 0:
        return [np.zeros(0, dtype=np.int64) for _ in query_tokens]
    n = per_side(k, retrieval)
    cosines = np.asarray(query_vectors, dtype=np.float32) @ np.asarray(memory_vectors, dtype=np.float32).T
    bm25 = _bm25_scores(memory_tokens, query_tokens, retrieval)
    results: list[np.ndarray] = []
    for qi in range(len(query_tokens)):
        cos, raw = cosines[qi], bm25[qi]
        dense = np.argsort(-cos, kind="stable")[:n]
        keyword = np.argsort(-raw, kind="stable")[:n]
        keyword = keyword[raw[keyword] > 0]
        seen = set(dense.tolist())
        union = np.concatenate([dense, np.asarray([i for i in keyword.tolist() if i not in seen], dtype=np.int64)])
        if len(keyword):
            fused = linear_fusion(cos[union], raw[union] / float(raw[keyword].max()), weight)
        else:  # the keyword side found nothing: the dense list by cosine
            fused = cos[union]
        results.append(union[np.argsort(-fused, kind="stable")[:k]].astype(np.int64))
    return results
