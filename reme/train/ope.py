"""Off-policy evaluation of a candidate rank head on logged sampled decisions (``reme policy evaluate``).

Each logged ranking was drawn by a behaviour policy mu and earned a return R (recall@k of the evidence, as
``reme trajectories record`` logs it). Two estimators of the candidate pi's expected return:

**Pseudoinverse (PI, default).** Recall@k is additive over the memories placed in the top k: with x the
0/1 vector of which candidates the ranking's top k holds, R = phi . x for an unknown per-memory relevance phi.
Then E_pi[R] = phi . p_pi with p_pi = E_pi[x], and since E_mu[R x] = Gamma_mu phi with Gamma_mu = E_mu[x x^T],

    V_PI = mean_i  R_i * x_i^T Gamma_mu^+ p_pi

(Swaminathan et al., 2017, "Off-policy evaluation for slate recommendation")

is unbiased whenever p_pi lies in the span of Gamma_mu (every candidate pi may place, mu may place too).
Gamma_mu and p_pi are computed per question by Monte Carlo from the two Plackett-Luce policies (Gumbel-top-k,
seeded). It needs the behaviour policy itself, rebuilt from the records (a heuristic from its parameters, a
learned head from the registry), and a return that is additive over the top-k set. A greedy search under rank
exploration (``LoggedRankSample.epsilon`` below 1) was logged by the mixture of the greedy top k ``g`` and, for an
epsilon share, a Plackett-Luce draw: ``Gamma_mu = (1 - eps) g g^T + eps Gamma_PL``; the candidate is then valued as
it would serve under the same exploration, ``p_pi = (1 - eps) top_k(pi) + eps E_PL[x]``.

**Self-normalised importance sampling (SNIS) over whole orderings**, reported as a diagnostic:
``w_i = pi(o_i) / mu(o_i)``, ``V = sum(w R) / sum(w)``, ``ESS = sum(w)^2 / sum(w^2)``. Over orderings of ten
positions the weights degenerate as soon as pi differs from mu (measured: ESS 1 of 4,656 for a GRPO head),
which is why it is not the default.

Both come with a 95% percentile bootstrap interval over questions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reme.errors import BadInputError
from reme.policy.decision import Decision
from reme.policy.rank import RankState
from reme.train.logs import LoggedRankSample


def _inclusion(scores: np.ndarray, k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """``(m, n)`` 0/1 matrix: which candidates m Plackett-Luce samples place in their top k."""
    finite = np.isfinite(scores)
    noisy = np.where(finite, scores, -np.inf)[None, :] + rng.gumbel(size=(m, len(scores)))
    k = min(k, int(finite.sum()))
    top = np.argpartition(-noisy, k - 1, axis=1)[:, :k]
    x = np.zeros((m, len(scores)))
    np.put_along_axis(x, top, 1.0, axis=1)
    return x


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """0/1 vector of the candidates the greedy ordering places in its top k."""
    out = np.zeros(len(scores))
    out[np.argsort(-scores, kind="stable")[: min(k, int(np.isfinite(scores).sum()))]] = 1.0
    return out


def bootstrap_interval(
    units: Sequence[np.ndarray], rng: np.random.Generator, rounds: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of the mean of the concatenated ``units`` (one array of terms per question or decision),
    resampling whole units: the one bootstrap of the estimates here and of ``reme learn``."""
    sums = np.asarray([float(np.sum(u)) for u in units])
    sizes = np.asarray([len(u) for u in units], dtype=np.float64)
    rows = rng.integers(0, len(units), (rounds, len(units)))
    means = sums[rows].sum(axis=1) / sizes[rows].sum(axis=1)
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def behaviour_policy(sample: LoggedRankSample, workspace: str | Path) -> Any:
    """Rebuild the policy that took a logged decision (heuristic from its parameters, or a registry version)."""
    from reme.policy.registry import policy_for_record

    name, version, params = sample.behaviour
    stub = Decision(kind="rank", policy=name, version=version, mode="sample", action=[], logprob=0.0)
    stub.extra["params"] = params
    try:
        return policy_for_record(workspace, stub)
    except (ValueError, OSError) as exc:
        raise BadInputError(f"cannot rebuild the behaviour policy {name}@{version}: {exc}") from None


def evaluate_offpolicy(
    samples: Sequence[LoggedRankSample],
    candidate: Any,
    workspace: str | Path | None = None,
    monte_carlo: int = 4000,
    bootstrap: int = 1000,
    seed: int = 0,
    terms: bool = False,
) -> dict[str, Any]:
    """Estimate ``candidate``'s expected return on the logged decisions (PI when ``workspace`` is given to
    rebuild the behaviour policy, else SNIS only). ``terms``: also return the PI terms per question (arrays, under
    ``"terms"``), for a paired comparison of two policies evaluated from the same ``seed``."""
    if not samples:
        raise BadInputError("the log holds no sampled, rewarded rank decision to evaluate on")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[LoggedRankSample]] = defaultdict(list)
    for s in samples:
        groups[s.group_id or s.decision_id].append(s)
    # --- SNIS over whole orderings
    snis_w: list[np.ndarray] = []
    snis_r: list[np.ndarray] = []
    for group in groups.values():
        state = RankState(group[0].features, len(group[0].ordering))
        logp = np.asarray([candidate.logprob(state, s.ordering) for s in group])
        snis_w.append(logp - np.asarray([s.behaviour_logprob for s in group]))
        snis_r.append(np.asarray([s.ret for s in group]))
    log_w = np.concatenate(snis_w)
    w = np.exp(log_w - log_w.max())
    r = np.concatenate(snis_r)
    snis = {
        "estimate": round(float((w * r).sum() / w.sum()), 4),
        "ess": round(float(w.sum() ** 2 / (w**2).sum()), 1),
    }
    result: dict[str, Any] = {
        "n": len(samples),
        "questions": len(groups),
        "behaviour_return": round(float(r.mean()), 4),
        "snis": snis,
    }
    if workspace is None:
        result.update(method="snis", estimate=snis["estimate"], ess=snis["ess"])
        return result
    per_question, weights = pseudoinverse_terms(list(groups.values()), candidate, workspace, monte_carlo, rng)
    all_w = np.concatenate(weights)
    low, high = bootstrap_interval(per_question, rng, bootstrap)
    result.update(
        method="pseudoinverse",
        estimate=round(float(np.mean(np.concatenate(per_question))), 4),
        ci_low=round(low, 4),
        ci_high=round(high, 4),
        ess=round(float(np.abs(all_w).sum() ** 2 / (all_w**2).sum()), 1),
    )
    if terms:
        result["terms"] = per_question
    return result


def pseudoinverse_terms(
    groups: Sequence[Sequence[LoggedRankSample]],
    candidate: Any,
    workspace: str | Path,
    monte_carlo: int,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per question (a group of samples of one state): the pseudoinverse terms ``R_i x_i^T Gamma_mu^+ p_pi`` and
    the weights ``x_i^T Gamma_mu^+ p_pi``. The random draws depend only on the questions, never on ``candidate``:
    two policies evaluated from the same seed get the same Gumbel noise (common random numbers), so their terms
    subtract into a paired difference whose Monte Carlo error mostly cancels (``reme learn``'s promotion rule)."""
    cache: dict[tuple[str, str], Any] = {}
    per_question: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for group in groups:
        key = group[0].behaviour[:2]
        if key not in cache:
            cache[key] = behaviour_policy(group[0], workspace)
        mu = cache[key]
        state = RankState(group[0].features, len(group[0].ordering))
        k = len(group[0].ordering)
        behaviour_scores = mu.scores(state) / _temperature(mu)
        x_mu = _inclusion(behaviour_scores, k, monte_carlo, rng)
        gamma = x_mu.T @ x_mu / monte_carlo
        candidate_scores = candidate.scores(state) / _temperature(candidate)
        p_pi = _inclusion(candidate_scores, k, monte_carlo, rng).mean(axis=0)
        epsilon = group[0].epsilon
        if epsilon < 1.0:
            # greedy under exploration: the logger took its greedy top k but for the epsilon share it sampled, and
            # the candidate is valued as it would serve, the same way
            greedy = _top_k(behaviour_scores, k)
            gamma = (1.0 - epsilon) * np.outer(greedy, greedy) + epsilon * gamma
            p_pi = (1.0 - epsilon) * _top_k(candidate_scores, k) + epsilon * p_pi
        z = np.linalg.lstsq(gamma, p_pi, rcond=1e-6)[0]
        x = np.zeros((len(group), len(state.features)))
        for row, s in enumerate(group):
            x[row, s.ordering] = 1.0
        w_pi = x @ z
        weights.append(w_pi)
        per_question.append(np.asarray([s.ret for s in group]) * w_pi)
    return per_question, weights


def _temperature(policy: Any) -> float:
    """Heuristic rank policies keep their temperature outside ``scores``; learned heads fold it in."""
    return float(policy.params.get("temperature", 1.0)) if policy.name.startswith("heuristic") else 1.0
