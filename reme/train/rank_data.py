"""Training data for the ranking head: every scored question of a dataset as the rank policy sees it, the
batches the rank trainers stack from it, their result, and the validation metrics of a head's scores
(``reme.eval.metrics``'s recall and NDCG).

An episode (a conversation; a LongMemEval haystack) is indexed in its own store, exactly as ``reme eval
retrieval`` does (``reme.eval.question_states``), so training, validation and evaluation see the same
candidates (``per_side`` from FAISS and from BM25) and the same features. Splits are by conversation, never
by question (``reme.train.episodes.split_episodes``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reme.eval.metrics import ndcg_of_hits, question_states, recall_of_hits
from reme.policy.rank import MLPRankPolicy
from reme.retrieval.embedding import Encoder
from reme.schema import Episode


@dataclass
class RankExample:
    """One question: candidate features, which candidates are evidence, and how many evidence turns exist."""

    episode_id: str
    question_id: str
    features: np.ndarray
    """``(n, F)`` float32, ``RANK_FEATURES`` columns."""
    relevant: np.ndarray
    """``(n,)`` bool: the candidate is an evidence turn."""
    n_evidence: int
    """All evidence turns of the question (recall's denominator), found among the candidates or not."""


def build_examples(
    episodes: Sequence[Episode],
    per_side: int = 60,
    text_format: str = "dated",
    encoder: Encoder | None = None,
    show_progress: bool = False,
) -> list[RankExample]:
    """Rank examples of every scored question (``per_side`` = 3 * max(k) of the evaluation, 60 for k <= 20)."""
    examples = []
    for item in question_states(episodes, per_side, text_format, encoder=encoder, show_progress=show_progress):
        examples.append(
            RankExample(
                item.episode_id,
                item.question.question_id,
                item.state.features,
                item.relevant,
                len(set(item.question.evidence)),
            )
        )
    return examples


def pad_features(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``(n_i, F)`` candidate features into ``(B, N, F)`` (zeros past each n_i) and a ``(B, N)`` mask."""
    n_max = max(len(f) for f in features)
    x = np.zeros((len(features), n_max, features[0].shape[1]), dtype=np.float32)
    valid = np.zeros((len(features), n_max), dtype=bool)
    for i, f in enumerate(features):
        x[i, : len(f)] = f
        valid[i, : len(f)] = True
    return x, valid


def pad(examples: Sequence[RankExample], device: Any) -> tuple[Any, Any, Any, Any]:
    """Stack examples into ``(B, N, F)`` features, ``(B, N)`` valid mask and relevance, ``(B,)`` evidence."""
    import torch

    x, valid = pad_features([ex.features for ex in examples])
    rel = np.zeros(valid.shape, dtype=np.float32)
    for i, ex in enumerate(examples):
        rel[i, : len(ex.relevant)] = ex.relevant
    n_ev = np.asarray([max(ex.n_evidence, 1) for ex in examples], dtype=np.float32)
    return (
        torch.from_numpy(x).to(device),
        torch.from_numpy(valid).to(device),
        torch.from_numpy(rel).to(device),
        torch.from_numpy(n_ev).to(device),
    )


@dataclass
class TrainResult:
    """What a rank trainer returns: the head, its logged steps and validations, and the training time."""

    policy: MLPRankPolicy
    steps: list[dict[str, float]] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter, repr=False)

    def record(
        self,
        step: int,
        stats: dict[str, float],
        last_step: int,
        eval_every: int,
        validate: Callable[[MLPRankPolicy], dict[str, Any]] | None,
        progress: Callable[[int, dict[str, float]], None] | None,
    ) -> None:
        """Log step ``step`` (rounded ``stats``), validate every ``eval_every`` steps and at ``last_step``, report
        progress: the tail of every rank trainer's loop."""
        self.steps.append({"step": step, **{k: round(float(v), 6) for k, v in stats.items()}})
        if validate is not None and (step % eval_every == 0 or step == last_step):
            self.policy.refresh_version()
            self.validation.append({"step": step, "results": validate(self.policy)})
        if progress is not None:
            progress(step, stats)

    def finish(self) -> TrainResult:
        """The head back on the CPU with a fresh version, and the seconds since the result was created."""
        self.policy.head.cpu()
        self.policy.refresh_version()
        self.seconds = round(time.perf_counter() - self.started, 2)
        return self


def data_hash(examples: Sequence[RankExample]) -> str:
    """A hash of the training data (question ids and features), recorded in the checkpoint."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.question_id.encode())
        digest.update(np.ascontiguousarray(ex.features).tobytes())
        digest.update(ex.relevant.tobytes())
    return digest.hexdigest()[:16]


def evaluate_scores(
    examples: Sequence[RankExample], scores: Sequence[np.ndarray], ks: Sequence[int] = (1, 5, 10, 20)
) -> dict[str, float]:
    """Recall@k and NDCG@10 of the orderings that sort each example's candidates by ``scores`` (stable)."""
    sums = {f"recall@{k}": 0.0 for k in ks} | {"ndcg@10": 0.0}
    for ex, s in zip(examples, scores):
        order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
        order = order[np.isfinite(np.asarray(s)[order])]
        hits = ex.relevant[order]
        for k in ks:
            sums[f"recall@{k}"] += recall_of_hits(hits[:k], max(ex.n_evidence, 1))
        sums["ndcg@10"] += ndcg_of_hits(hits, ex.n_evidence, 10)
    n = max(len(examples), 1)
    return {key: round(value / n, 4) for key, value in sums.items()}
