"""Off-policy evaluation of a candidate rank head on logged sampled decisions (``reme policy evaluate``).

Each logged ranking o_i was drawn by a behaviour policy mu with log-probability log mu(o_i) and earned the
return R_i. Self-normalised importance sampling estimates the candidate's expected return:

    w_i = pi(o_i) / mu(o_i),    V = sum(w_i R_i) / sum(w_i),    ESS = sum(w_i)^2 / sum(w_i^2)

with a percentile bootstrap interval over the logged decisions. A small ESS (a few percent of n) means the
candidate rarely takes the actions the log holds, and the estimate rests on few of them: look at it before
promoting a head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.rank import RankState
from reme.train.logs import LoggedRankSample


def evaluate_offpolicy(
    samples: Sequence[LoggedRankSample], candidate: Any, bootstrap: int = 1000, seed: int = 0
) -> dict[str, float]:
    """SNIS estimate of ``candidate``'s return on the logged decisions, with ESS and a 95% interval."""
    if not samples:
        raise BadInputError("the log holds no sampled, rewarded rank decision to evaluate on")
    logp = np.asarray(
        [candidate.logprob(RankState(s.features, len(s.ordering)), s.ordering) for s in samples], dtype=np.float64
    )
    behaviour = np.asarray([s.behaviour_logprob for s in samples], dtype=np.float64)
    returns = np.asarray([s.ret for s in samples], dtype=np.float64)
    log_w = logp - behaviour
    w = np.exp(log_w - log_w.max())  # a common factor cancels in the self-normalised estimate
    estimate = float((w * returns).sum() / w.sum())
    ess = float(w.sum() ** 2 / (w**2).sum())
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(bootstrap):
        rows = rng.integers(0, len(samples), len(samples))
        boot.append(float((w[rows] * returns[rows]).sum() / w[rows].sum()))
    low, high = np.percentile(boot, [2.5, 97.5])
    return {
        "estimate": round(estimate, 4),
        "ci_low": round(float(low), 4),
        "ci_high": round(float(high), 4),
        "ess": round(ess, 1),
        "n": len(samples),
        "behaviour_return": round(float(returns.mean()), 4),
    }
