"""Retrieval evaluation: index each episode in its own store, ask its questions, score the rankings.

Every rank policy of one run orders the *same* candidate set (FAISS + BM25, ``3 * max(k)`` from each side) of the
same indexed text, so differences come from the rankers alone. No ``min_score`` is applied. Definitions of
every metric are in ``docs/evaluation.md``.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from reme.config import EmbeddingConfig, RetrievalConfig
from reme.datasets.dates import parse_date
from reme.errors import BadInputError
from reme.policy.rank import RankState
from reme.progress import progress_bar
from reme.retrieval.embedding import Encoder
from reme.schema import DEFAULT_TARGET, Episode, MemoryType, Question

RETRIEVAL_CATEGORIES = {"1", "2", "3", "4"}
"""LoCoMo categories scored for retrieval (5, adversarial, has no answer to find)."""


def default_cache_path() -> Path:
    """Where evaluation keeps its embedding cache across runs (``$REME_CACHE_DIR`` or ``~/.cache/reme``)."""
    root = os.environ.get("REME_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "reme")
    return Path(root) / "embeddings.db"


def parse_ks(text: str) -> list[int]:
    """``"1,5,10,20"`` -> ``[1, 5, 10, 20]``."""
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise BadInputError(f"--k must be comma-separated positive integers, got {text!r}") from None
    if not ks or ks[0] < 1 or ks[-1] > 1000:
        raise BadInputError(f"--k values must be in [1, 1000], got {text!r}")
    return ks


def is_scored(question: Question, fmt: str) -> bool:
    """Whether a question enters the retrieval metrics (see ``docs/evaluation.md``)."""
    if fmt == "longmemeval":
        return bool(question.answer_session_ids) and not question.adversarial
    return question.category in RETRIEVAL_CATEGORIES and bool(question.evidence)


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Binary-relevance NDCG; the ideal DCG puts ``min(|relevant|, k)`` relevant items first."""
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal


def sessions_in_order(ranked_turns: Sequence[str], session_of: dict[str, str]) -> list[str]:
    """Sessions ordered by the first appearance of one of their turns in the ranking."""
    seen: dict[str, None] = {}
    for turn in ranked_turns:
        seen.setdefault(session_of[turn], None)
    return list(seen)


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


@dataclass
class QuestionState:
    """One scored question of an episode with its candidates as a rank policy sees them."""

    episode_id: str
    question: Question
    state: RankState
    turn_ids: list[str]
    """Turn id of each candidate (parallel to the state's rows)."""
    session_of: dict[str, str]

    @property
    def relevant(self) -> np.ndarray:
        """Which candidates are evidence turns."""
        evidence = set(self.question.evidence)
        return np.asarray([t in evidence for t in self.turn_ids], dtype=bool)


def question_states(
    episodes: Sequence[Episode],
    per_side: int,
    text_format: str = "dated",
    embedding: EmbeddingConfig | None = None,
    encoder: Encoder | None = None,
    cache_path: str | Path | None = None,
    show_progress: bool = False,
) -> Iterator[QuestionState]:
    """Index each episode in its own temporary store and yield the rank state of each scored question:
    ``per_side`` FAISS and BM25 candidates, all of them rankable (k = every candidate). Evaluation and the
    trainers read questions through this one function, so they see the same candidates and features."""
    from reme.memory import Memory
    from reme.policy.registry import heuristic_for
    from reme.settings import TrajectorySettings, WorkspaceSettings

    if text_format not in ("dated", "plain"):
        raise BadInputError(f"unknown text format {text_format!r}: use 'dated' or 'plain'")
    retrieval = RetrievalConfig(min_score=0.0)
    cache = cache_path or default_cache_path()
    for episode in episodes:
        scored = [q for q in episode.questions if is_scored(q, episode.format)]
        if not scored:
            continue
        with tempfile.TemporaryDirectory(prefix="reme-eval-") as tmp:
            mem = Memory(
                tmp,
                embedding,
                retrieval,
                encoder=encoder,
                embedding_cache=cache,
                show_progress=show_progress,
                write_policy=heuristic_for("write"),  # one memory per turn, as the metrics assume
                settings=WorkspaceSettings(trajectories=TrajectorySettings(enabled=False)),
            )
            try:
                items = [
                    {
                        "content": turn.render(text_format),
                        "memory_id": f"turn-{i}",
                        "memory_type": MemoryType.history,
                        "message_time": parse_date(turn.date),
                        "metadata": {"turn_id": turn.turn_id, "session_id": turn.session_id, "speaker": turn.speaker},
                    }
                    for i, turn in enumerate(episode.turns)
                ]
                mem.add_many(items, show_progress=False, batch_size=4096)
                turn_of = {f"turn-{i}": turn.turn_id for i, turn in enumerate(episode.turns)}
                session_of = {t.turn_id: t.session_id for t in episode.turns}
                qvecs = mem.encode_queries([q.question for q in scored])
                # ages are measured from the question's date (LongMemEval), else from the last session's
                last_session = max((d for d in (parse_date(t.date) for t in episode.turns) if d), default="")
                for question, qvec in zip(scored, qvecs):
                    asked = parse_date(question.question_date) or last_session
                    query_time = datetime.fromisoformat(asked) if asked else None
                    _, state, _ = mem.rank_state(
                        question.question, per_side, 2 * per_side, DEFAULT_TARGET, qvec, query_time=query_time
                    )
                    turn_ids = [turn_of[m] for m in state.memory_ids]
                    yield QuestionState(episode.episode_id, question, state, turn_ids, session_of)
            finally:
                mem.close()


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
