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

from reme.retrieval.candidates import CandidateSet
from reme.retrieval.keyword import tokenize
from reme.schema import MemoryNode

RRF_K = 60
"""The constant of reciprocal-rank features, 1 / (RRF_K + rank), as in reciprocal rank fusion."""

FEATURE_NAMES: tuple[str, ...] = (
    "cosine",  # cosine of query and memory
    "cosine_gap",  # cosine minus the best candidate's cosine (<= 0)
    "bm25_norm",  # BM25 / best keyword candidate's BM25, in [0, 1]
    "bm25_log",  # log(1 + raw BM25)
    "dense_rr",  # 1 / (60 + dense rank); 0 when the dense side did not retrieve it
    "keyword_rr",  # 1 / (60 + keyword rank); 0 when the keyword side did not retrieve it
    "in_dense",  # 1 when retrieved by FAISS
    "in_keyword",  # 1 when retrieved by BM25
    "fused",  # ReMe's 0.7 * cosine + 0.3 * bm25_norm
    "fused_gap",  # fused minus the best candidate's fused score
    "log_length",  # log(1 + characters of the memory's text) / 10
    "age_days_log",  # log(1 + days between the memory's time and the query time) / 10
    "has_time",  # 1 when the memory has a time that the age could be computed from
    "session_max_cosine",  # best cosine among candidates of the same session (metadata session_id, else day)
    "session_candidates_log",  # log(1 + other candidates of the same session)
    "word_overlap",  # share of the query's content words (BM25 tokens) that the memory contains
    "speaker_in_query",  # 1 when the query names the memory's speaker (metadata "speaker")
    "cosine_x_speaker",  # cosine times speaker_in_query
    "session_max_bm25",  # best bm25_norm among candidates of the same session
)


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
    fused = vector_weight * cos + (1 - vector_weight) * kw
    in_dense = candidates.dense_rank >= 0
    in_kw = candidates.keyword_rank >= 0
    out[:, 0] = cos
    out[:, 1] = cos - cos.max()
    out[:, 2] = kw
    out[:, 3] = np.log1p(np.maximum(raw, 0.0))
    out[:, 4] = np.where(in_dense, 1.0 / (RRF_K + candidates.dense_rank), 0.0)
    out[:, 5] = np.where(in_kw, 1.0 / (RRF_K + candidates.keyword_rank), 0.0)
    out[:, 6] = in_dense
    out[:, 7] = in_kw
    out[:, 8] = fused
    out[:, 9] = fused - fused.max()
    if memories is not None:
        if len(memories) != n:
            raise ValueError(f"{len(memories)} memories for {n} candidates")
        now = query_time or datetime.now(UTC)
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


CONTEXT_NAMES: tuple[str, ...] = (
    "prev_cosine",  # cosine of the query with the memory stored just before this one in the target (0 if none)
    "next_cosine",  # ... just after it
    "prev_bm25_norm",  # keyword score of the previous memory, on the candidates' scale
    "next_bm25_norm",  # ... of the next memory
    "window_max_cosine",  # best cosine within two memories either side (the same conversation stretch)
    "has_prev",
    "has_next",
)
"""Neighbour context: memories added one after another (turns of a conversation) answer questions together."""

NEIGHBOUR_TEXT_NAMES: tuple[str, ...] = (
    "prev_word_overlap",  # share of the query's content words in the memory stored just before
    "next_word_overlap",  # ... just after
)

RANK_FEATURES: tuple[str, ...] = FEATURE_NAMES + CONTEXT_NAMES + NEIGHBOUR_TEXT_NAMES
"""The input columns of ranking policies."""


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
