"""Retrieval evaluation: index each episode in its own store, ask its questions, score the rankings.

Every rank policy of one run orders the *same* candidate set (FAISS + BM25, ``3 * max(k)`` from each side) of the
same indexed text, so differences come from the rankers alone. No ``min_score`` is applied. Definitions of
every metric are in ``docs/evaluation.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reme.config import EmbeddingConfig
from reme.errors import BadInputError
from reme.eval.metrics import (
    is_scored,
    ndcg_at,
    question_states,
    recall_at,
    sessions_in_order,
)
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.schema import Episode, Question

__all__ = ["evaluate_retrieval"]


class _Accumulator:
    """Sums of per-question metrics for one ranker."""

    def __init__(self, ks: list[int], with_sessions: bool):
        self.ks = ks
        self.with_sessions = with_sessions
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, key: str, value: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.counts[key] = self.counts.get(key, 0) + 1

    def result(self) -> dict[str, float]:
        keys = [f"recall@{k}" for k in self.ks] + ["ndcg@10"]
        if self.with_sessions:
            keys += ["session_recall@5", "session_recall@10"]
        return {key: round(self.sums[key] / self.counts[key], 4) if self.counts.get(key) else 0.0 for key in keys}


def evaluate_retrieval(
    episodes: Sequence[Episode],
    policies: Mapping[str, Any],
    ks: Sequence[int] = (1, 5, 10, 20),
    text_format: str = "dated",
    embedding: EmbeddingConfig | None = None,
    encoder: Encoder | None = None,
    cache_path: str | Path | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Score each rank policy (label -> policy) on the episodes with its greedy ordering of every candidate;
    returns ``{"format", "queries", "results": {label: metrics}}``."""
    if not policies:
        raise BadInputError("give at least one policy")
    labels = list(policies)
    if text_format not in ("dated", "plain"):
        raise BadInputError(f"unknown text format {text_format!r}: use 'dated' or 'plain'")
    ks = sorted(set(ks))
    max_k = ks[-1]
    fmt = episodes[0].format if episodes else "locomo"
    with_sessions = fmt == "longmemeval"
    acc = {label: _Accumulator(ks, with_sessions) for label in labels}
    queries = 0
    total_questions = sum(sum(is_scored(q, fmt) for q in ep.questions) for ep in episodes)
    with progress_bar("evaluating", total=total_questions, enabled=show_progress) as advance:
        for item in question_states(episodes, 3 * max_k, text_format, embedding, encoder, cache_path, show_progress):
            for label, policy in policies.items():
                order = policy.decide(item.state, "greedy").action
                _score_question(acc[label], item.question, [item.turn_ids[i] for i in order], item.session_of, ks)
            queries += 1
            advance(1)
    return {
        "format": fmt,
        "queries": queries,
        "results": {label: acc[label].result() for label in labels},
    }


def _score_question(
    acc: _Accumulator, question: Question, ranked: list[str], session_of: dict[str, str], ks: Sequence[int]
) -> None:
    relevant = set(question.evidence)
    if relevant:
        for k in ks:
            acc.add(f"recall@{k}", recall_at(ranked, relevant, k))
        acc.add("ndcg@10", ndcg_at(ranked, relevant, 10))
    if acc.with_sessions and question.answer_session_ids:
        sessions = sessions_in_order(ranked, session_of)
        answer = set(question.answer_session_ids)
        for k in (5, 10):
            acc.add(f"session_recall@{k}", len(answer.intersection(sessions[:k])) / len(answer))
