"""What the retrieval metrics score, computed once: which questions count, recall@k and NDCG@k (the one
definition of each, on the hits of a ranking: ``recall_of_hits``, ``ndcg_of_hits``; ``recall_at`` / ``ndcg_at``
read a ranking of ids, the rank trainers a ranking of candidate rows), session order, and the ranking state of
each question (``question_states``, shared by the evaluator, the rank trainers and the
environments). ``reme.eval`` runs the evaluation over these; definitions are in ``docs/evaluation.md``."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from reme.config import EmbeddingConfig, RetrievalConfig, cache_root
from reme.datasets.dates import parse_date
from reme.errors import BadInputError
from reme.policy.rank import RankState
from reme.retrieval.embedding import Encoder
from reme.schema import DEFAULT_TARGET, Episode, MemoryType, Question

__all__ = [
    "RETRIEVAL_CATEGORIES", "QuestionState", "dcg_discounts", "default_cache_path", "ideal_dcg", "is_scored",
    "ndcg_at", "ndcg_of_hits", "parse_ks", "question_states", "recall_at", "recall_of_hits", "sessions_in_order",
]  # fmt: skip


RETRIEVAL_CATEGORIES = {"1", "2", "3", "4"}
"""LoCoMo categories scored for retrieval (5, adversarial, has no answer to find)."""


def default_cache_path() -> Path:
    """Where evaluation keeps its embedding cache across runs (``$REME_CACHE_DIR`` or ``~/.cache/reme``)."""
    return cache_root() / "embeddings.db"


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


def recall_of_hits(hits: Sequence[bool] | np.ndarray, n_relevant: int) -> float:
    """Recall of a ranking cut at k: ``hits`` says which of its first k items are relevant; ``n_relevant`` is the
    number of relevant items in all (found or not)."""
    return int(np.count_nonzero(hits)) / n_relevant


def dcg_discounts(k: int) -> np.ndarray:
    """``1 / log2(i + 2)`` for the positions ``i < k`` (float64): the discount of every DCG in reme."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def ideal_dcg(n_relevant: int, k: int) -> float:
    """The DCG of a ranking that puts ``min(n_relevant, k)`` relevant items first."""
    return float(dcg_discounts(min(n_relevant, k)).sum())


def ndcg_of_hits(hits: Sequence[bool] | np.ndarray, n_relevant: int, k: int = 10) -> float:
    """Binary-relevance NDCG@k of a ranking whose positions are relevant where ``hits`` is true; the ideal DCG puts
    ``min(n_relevant, k)`` relevant items first (0 when there is none)."""
    gains = np.asarray(hits[:k], dtype=np.float64)
    dcg = float((gains * dcg_discounts(len(gains))).sum())
    ideal = ideal_dcg(n_relevant, k)
    return dcg / ideal if ideal > 0 else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the ``relevant`` ids among the first ``k`` of ``ranked`` (``recall_of_hits``)."""
    return recall_of_hits([item in relevant for item in ranked[:k]], len(relevant))


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int = 10) -> float:
    """Binary-relevance NDCG of a ranking of ids (``ndcg_of_hits``)."""
    return ndcg_of_hits([item in relevant for item in ranked[:k]], len(relevant), k)


def sessions_in_order(ranked_turns: Sequence[str], session_of: dict[str, str]) -> list[str]:
    """Sessions ordered by the first appearance of one of their turns in the ranking."""
    seen: dict[str, None] = {}
    for turn in ranked_turns:
        seen.setdefault(session_of[turn], None)
    return list(seen)


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
