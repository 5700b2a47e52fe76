"""Plackett-Luce distributions over orderings of the top k of n scored candidates.

For scores s (temperature already applied) and an ordering (i_1, ..., i_k):

    log p = sum_{j=1..k} [ s_{i_j} - logsumexp_{m not in {i_1..i_{j-1}}} s_m ]

Sampling with Gumbel-top-k (add Gumbel(0, 1) noise, take the k largest) draws exactly from this distribution.
Candidates with a score of -inf cannot be placed; k is capped by the number of finite scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rankable(scores: np.ndarray, k: int) -> int:
    """How many positions an ordering has: ``min(k, #finite scores)``."""
    return int(min(k, int(np.isfinite(scores).sum())))


def logprob(scores: np.ndarray, ordering: Sequence[int]) -> float:
    """log-probability of ``ordering`` (positions into ``scores``, best first) under Plackett-Luce (float64)."""
    s = np.asarray(scores, dtype=np.float64)
    order = [int(i) for i in ordering]
    if len(set(order)) != len(order):
        raise ValueError("an ordering may not repeat a candidate")
    if any(i < 0 or i >= len(s) for i in order):
        raise ValueError("ordering refers to a candidate that does not exist")
    if any(not np.isfinite(s[i]) for i in order):
        raise ValueError("ordering places a candidate that cannot be ranked (score -inf)")
    remaining = np.isfinite(s)
    total = 0.0
    for i in order:
        pool = s[remaining]
        m = pool.max()
        total += s[i] - (m + np.log(np.exp(pool - m).sum()))
        remaining[i] = False
    return float(min(total, 0.0))


def greedy(scores: np.ndarray, k: int) -> list[int]:
    """The k best positions, ties in candidate order (a stable sort)."""
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    return [int(i) for i in order[: rankable(s, k)]]


def sample(scores: np.ndarray, k: int, rng: np.random.Generator) -> list[int]:
    """One ordering of the top k drawn from Plackett-Luce (Gumbel-top-k)."""
    s = np.asarray(scores, dtype=np.float64)
    noisy = s + rng.gumbel(size=s.shape)
    noisy[~np.isfinite(s)] = -np.inf
    order = np.argsort(-noisy, kind="stable")
    return [int(i) for i in order[: rankable(s, k)]]
