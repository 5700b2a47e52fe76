"""The columns a ranking policy sees, one row per candidate: the names live with the decision that reads them
(``reme.retrieval.features`` computes the values under these names, in this order)."""

from __future__ import annotations

__all__ = ["CONTEXT_NAMES", "FEATURE_NAMES", "NEIGHBOUR_TEXT_NAMES", "RANK_FEATURES"]

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
