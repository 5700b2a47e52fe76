"""Test helper (was ``reme/retrieval/rankers.py``, which nothing in the library imported): ReMe 0.3.1.x's linear
fusion rule as a plain scorer over a ``CandidateSet``.

``Memory.search`` and the evaluation rank through policies (``reme.policy.rank``); ``FusionRanker`` scores a
``CandidateSet`` straight from its arrays with the library's one fusion formula (``reme.policy.fusion``), the
reference the heuristic rank policy's feature path is tested against (same order). ``load_ranker`` /
``save_ranker`` read and write fusion checkpoint directories (``policy.json`` with ``kind: fusion``), the ones
``reme eval retrieval --policy`` takes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from reme.errors import BadInputError
from reme.policy.checkpoint import read_spec
from reme.policy.fusion import fused_scores
from reme.retrieval.candidates import CandidateSet


class Ranker(Protocol):
    name: str

    def score(self, candidates: CandidateSet) -> np.ndarray:
        """One score per candidate, higher is better."""
        ...


def rank(ranker: Ranker, candidates: CandidateSet, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions into ``candidates`` of the top ``limit`` by score, and their scores. Ties keep candidate order
    (dense candidates first), as Python's stable sort did in ReMe."""
    scores = ranker.score(candidates)
    order = np.argsort(-scores, kind="stable")
    order = order[np.isfinite(scores[order])][:limit]
    return order, scores[order]


class FusionRanker:
    """ReMe 0.3.1.x ``hybrid_search``: ``vector_weight * cosine + (1 - vector_weight) * bm25 / max(bm25)``.

    When the keyword side retrieved nothing the result is the dense list with its cosine scores; when the dense
    side retrieved nothing, the keyword list with its scores (ReMe's fallbacks).

    ``missing``: what a candidate retrieved by only one side gets from the other. ``exact`` (default) uses its
    true cosine / BM25, which the store computes for every candidate; ``zero`` reproduces ReMe's stores, which
    knew only the scores of their own top-n lists and added 0. See ``docs/evaluation.md`` for both measured.
    """

    kind = "fusion"

    def __init__(self, vector_weight: float = 0.7, name: str = "heuristic", missing: str = "exact"):
        if not 0.0 <= vector_weight <= 1.0:
            raise BadInputError(f"vector_weight must be in [0, 1], got {vector_weight}")
        if missing not in ("exact", "zero"):
            raise BadInputError(f"missing must be 'exact' or 'zero', got {missing!r}")
        self.vector_weight = vector_weight
        self.name = name
        self.missing = missing

    def score(self, candidates: CandidateSet) -> np.ndarray:
        vec = np.nan_to_num(candidates.vector_score.astype(np.float64), nan=0.0)
        kw = np.nan_to_num(candidates.keyword_score.astype(np.float64), nan=0.0)
        in_dense, in_kw = candidates.dense_rank >= 0, candidates.keyword_rank >= 0
        return fused_scores(vec, kw, in_dense, in_kw, self.vector_weight, self.missing)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "vector_weight": self.vector_weight, "missing": self.missing}


def load_ranker(path: str | Path) -> Ranker:
    """A ranker from a checkpoint directory (``policy.json`` plus, for learned heads, their weights).

    The directory's name labels the ranker in evaluation output.
    """
    directory = Path(path)
    spec = read_spec(directory)
    kind = spec.get("kind")
    label = directory.resolve().name
    if kind == FusionRanker.kind:
        return FusionRanker(
            vector_weight=float(spec.get("vector_weight", 0.7)), name=label, missing=str(spec.get("missing", "exact"))
        )
    raise BadInputError(f"policy checkpoint {directory} has unknown kind {kind!r} (known: 'fusion')")


def save_ranker(ranker: FusionRanker, path: str | Path) -> Path:
    """Write a checkpoint directory that ``load_ranker`` reads back."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.json").write_text(json.dumps(ranker.to_config(), indent=2) + "\n", encoding="utf-8")
    return directory
