"""Per-candidate retrieval features: what a learned scoring head sees about each candidate of a query.

``build_features(candidates, memories, query_time)`` returns a ``(n, F)`` float32 matrix whose columns are
``FEATURE_NAMES``. Every feature is finite (missing values become 0 with an indicator), and the scale-bound
ones are also given per query (relative to the best candidate), which is what carries over between datasets
whose absolute score levels differ (short chat turns vs long assistant replies).

Context features that need the neighbours of a memory (previous and next turn, the same session) are added by
the ranking-policy layer, which knows how memories are grouped; this module only needs the candidate set and
the candidates' records.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from reme.policy.fusion import linear_fusion, reciprocal_rank
from reme.policy.rank_features import CONTEXT_NAMES, FEATURE_NAMES, NEIGHBOUR_TEXT_NAMES
from reme.retrieval.candidates import CandidateSet
from reme.retrieval.keyword import tokenize
from reme.schema import MemoryNode
from reme.schema import now as clock_now


def _parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_features(
    candidates: CandidateSet,
    memories: Sequence[MemoryNode | None] | None = None,
    query_time: datetime | None = None,
    vector_weight: float = 0.7,
    query: str | None = None,
) -> np.ndarray:
    """Feature matrix ``(len(candidates), len(FEATURE_NAMES))``; ``memories`` parallel to the candidates
    (``None`` entries, or no list at all, give zero text and time features)."""
    n = len(candidates)
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    cos = np.nan_to_num(candidates.vector_score.astype(np.float64), nan=0.0)
    kw = np.nan_to_num(candidates.keyword_score.astype(np.float64), nan=0.0)
    raw = np.nan_to_num(candidates.keyword_raw.astype(np.float64), nan=0.0)
    fused = linear_fusion(cos, kw, vector_weight)
    in_dense = candidates.dense_rank >= 0
    in_kw = candidates.keyword_rank >= 0
    out[:, 0] = cos
    out[:, 1] = cos - cos.max()
    out[:, 2] = kw
    out[:, 3] = np.log1p(np.maximum(raw, 0.0))
    out[:, 4] = np.where(in_dense, reciprocal_rank(candidates.dense_rank), 0.0)
    out[:, 5] = np.where(in_kw, reciprocal_rank(candidates.keyword_rank), 0.0)
    out[:, 6] = in_dense
    out[:, 7] = in_kw
    out[:, 8] = fused
    out[:, 9] = fused - fused.max()
    if memories is not None:
        if len(memories) != n:
            raise ValueError(f"{len(memories)} memories for {n} candidates")
        now = query_time or clock_now()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        for i, memory in enumerate(memories):
            if memory is None:
                continue
            out[i, 10] = math.log1p(len(memory.index_text)) / 10.0
            when = _parse_time(memory.message_time) or _parse_time(memory.time_created)
            if when is not None:
                days = max(0.0, (now - when).total_seconds() / 86400.0)
                out[i, 11] = math.log1p(days) / 10.0
                out[i, 12] = 1.0
        sessions: dict[str, list[int]] = {}
        for i, memory in enumerate(memories):
            if memory is not None and (key := _session_key(memory)):
                sessions.setdefault(key, []).append(i)
        for rows in sessions.values():
            out[rows, 13] = cos[rows].max()
            out[rows, 14] = math.log1p(len(rows) - 1)
            out[rows, 18] = kw[rows].max()
        text = query if query is not None else candidates.query
        q_tokens = set(tokenize(text)) if text else set()
        if q_tokens:
            for i, memory in enumerate(memories):
                if memory is None:
                    continue
                out[i, 15] = word_overlap(q_tokens, memory.index_text)
                speaker = memory.metadata.get("speaker")
                if isinstance(speaker, str) and speaker and set(tokenize(speaker)) & q_tokens:
                    out[i, 16] = 1.0
                    out[i, 17] = cos[i]
    return out


def _session_key(memory: MemoryNode) -> str:
    """The conversation stretch a memory belongs to: its ``session_id`` metadata, else the day of its time."""
    session = memory.metadata.get("session_id")
    if isinstance(session, str | int) and str(session):
        return f"s:{session}"
    return f"d:{memory.message_time[:10]}" if memory.message_time else ""


def word_overlap(query_tokens: set[str], text: str | None) -> float:
    """Share of the query's content words that ``text`` contains (0 without query words or text)."""
    if not query_tokens or not text:
        return 0.0
    return len(query_tokens & set(tokenize(text))) / len(query_tokens)


def neighbour_text_features(query: str, neighbours: Sequence[tuple[str | None, str | None]]) -> np.ndarray:
    """``(n, 2)`` word overlap of the query with each candidate's previous and next memory's text."""
    q_tokens = set(tokenize(query))
    out = np.zeros((len(neighbours), len(NEIGHBOUR_TEXT_NAMES)), dtype=np.float32)
    for row, (prev, nxt) in enumerate(neighbours):
        out[row, 0] = word_overlap(q_tokens, prev)
        out[row, 1] = word_overlap(q_tokens, nxt)
    return out


def context_features(
    ids: np.ndarray,
    present: set[int] | dict[int, int],
    cosine_of: dict[int, float],
    bm25_norm_of: dict[int, float],
) -> np.ndarray:
    """``(len(ids), len(CONTEXT_NAMES))`` neighbour features. ``present``: keys stored in the target;
    ``cosine_of`` / ``bm25_norm_of``: query scores of the candidates and their neighbours (keys at offsets
    -2..+2), as computed by the store."""
    out = np.zeros((len(ids), len(CONTEXT_NAMES)), dtype=np.float32)
    for row, key in enumerate(int(i) for i in ids):
        prev, nxt = key - 1, key + 1
        if prev in present:
            out[row, 0] = cosine_of.get(prev, 0.0)
            out[row, 2] = bm25_norm_of.get(prev, 0.0)
            out[row, 5] = 1.0
        if nxt in present:
            out[row, 1] = cosine_of.get(nxt, 0.0)
            out[row, 3] = bm25_norm_of.get(nxt, 0.0)
            out[row, 6] = 1.0
        window = [cosine_of[j] for j in range(key - 2, key + 3) if j in present and j in cosine_of]
        out[row, 4] = max(window) if window else 0.0
    return out
