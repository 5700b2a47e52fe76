"""Training data for the ranking head: every scored question of a dataset as the rank policy sees it.

An episode (a conversation; a LongMemEval haystack) is indexed in its own store, exactly as ``reme eval
retrieval`` does (``reme.eval.question_states``), so training, validation and evaluation see the same
candidates (``per_side`` from FAISS and from BM25) and the same features. Splits are by conversation, never
by question.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reme.errors import BadInputError
from reme.retrieval.embedding import Encoder
from reme.schema import Episode
from reme.scoring import question_states


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


def split_episodes(episodes: Sequence[Episode], val_fraction: float, seed: int) -> tuple[list[Episode], list[Episode]]:
    """Hold out whole episodes, chosen by a seeded shuffle: ``(train, validation)``."""
    if not 0.0 <= val_fraction < 1.0:
        raise BadInputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    order = sorted(episodes, key=lambda e: e.episode_id)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * val_fraction)
    if val_fraction > 0 and n_val == 0 and len(order) > 1:
        n_val = 1
    if n_val >= len(order) and val_fraction > 0:
        raise BadInputError(f"--val-fraction {val_fraction} leaves no conversation to train on")
    val_ids = {e.episode_id for e in order[:n_val]}
    return [e for e in episodes if e.episode_id not in val_ids], [e for e in episodes if e.episode_id in val_ids]


def data_hash(examples: Sequence[RankExample]) -> str:
    """A hash of the training data (question ids and features), recorded in the checkpoint."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(ex.question_id.encode())
        digest.update(np.ascontiguousarray(ex.features).tobytes())
        digest.update(ex.relevant.tobytes())
    return digest.hexdigest()[:16]


def recall_at(order: np.ndarray, relevant: np.ndarray, n_evidence: int, k: int) -> float:
    """Fraction of the evidence turns among the first k positions of ``order``."""
    return float(relevant[order[:k]].sum()) / max(n_evidence, 1)


def ndcg_at(order: np.ndarray, relevant: np.ndarray, n_evidence: int, k: int = 10) -> float:
    """Binary NDCG@k with the ideal DCG over ``min(n_evidence, k)`` (``reme.eval.ndcg_at``'s definition)."""
    gains = relevant[order[:k]].astype(np.float64)
    dcg = float((gains / np.log2(np.arange(2, len(gains) + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(n_evidence, k) + 2))).sum())
    return dcg / ideal if ideal > 0 else 0.0


def evaluate_scores(
    examples: Sequence[RankExample], scores: Sequence[np.ndarray], ks: Sequence[int] = (1, 5, 10, 20)
) -> dict[str, float]:
    """Recall@k and NDCG@10 of the orderings that sort each example's candidates by ``scores`` (stable)."""
    sums = {f"recall@{k}": 0.0 for k in ks} | {"ndcg@10": 0.0}
    for ex, s in zip(examples, scores):
        order = np.argsort(-np.asarray(s, dtype=np.float64), kind="stable")
        order = order[np.isfinite(np.asarray(s)[order])]
        for k in ks:
            sums[f"recall@{k}"] += recall_at(order, ex.relevant, ex.n_evidence, k)
        sums["ndcg@10"] += ndcg_at(order, ex.relevant, ex.n_evidence, 10)
    n = max(len(examples), 1)
    return {key: round(value / n, 4) for key, value in sums.items()}
